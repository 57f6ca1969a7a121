import { type AuditEntryJson, type MedchainClient, toHex } from '@medchain/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import { lightClient } from '../session.js';
import { ErrorBox, explainError, formatTime, Panel, Progress, shortKey } from '../ui/index.js';
import {
  ACTION_LABELS,
  DENY_REASON_LABELS,
  EMERGENCY_REASON_LABELS,
  PURPOSE_LABELS,
} from './vocabulary.js';

type Verification =
  | { readonly state: 'checking' }
  | { readonly state: 'verified'; readonly height: number }
  | { readonly state: 'failed'; readonly why: string };

/** Entries shown (newest first); the FHIR export has them all. */
const SHOWN = 100;
/** Entries verified on arrival, newest first; older ones on request. */
const VERIFIED_ON_LOAD = 20;
/**
 * A new entry is provable once the block after its own certifies the state (a header carries
 * its parent's state root); the node makes that block promptly, so a few short retries do.
 */
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000];

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Every record an entry names: a research release lists all it disclosed. */
const recordsOf = (entry: AuditEntryJson): readonly string[] => entry.recordIds ?? [entry.recordId];

/** The proven entry must be the one the node listed: same transaction, same outcome. */
function sameEntry(listed: AuditEntryJson, proven: Record<string, unknown>): boolean {
  const hex = (value: unknown) => (value instanceof Uint8Array ? toHex(value) : value);
  return (
    hex(proven.txHash) === listed.txHash &&
    hex(proven.requester) === listed.requester &&
    hex(proven.recordId) === listed.recordId &&
    (Array.isArray(proven.recordIds) ? proven.recordIds.map(hex).join() : proven.recordIds) ===
      listed.recordIds?.join() &&
    proven.decision === listed.decision &&
    proven.emergency === listed.emergency
  );
}

async function verify(
  patientKey: string,
  entry: AuditEntryJson,
  signal: AbortSignal,
): Promise<Verification> {
  const light = await lightClient('patient');
  for (const delay of [0, ...RETRY_DELAYS_MS]) {
    if (delay > 0) await sleep(delay, signal);
    if (signal.aborted) return { state: 'checking' };
    const proven = await light.proveAuditEntry(patientKey, entry.index);
    if (proven.value === undefined) continue; // not in a certified state yet
    return sameEntry(entry, proven.value as unknown as Record<string, unknown>)
      ? { state: 'verified', height: proven.check.height }
      : { state: 'failed', why: 'the node listed an entry that differs from the certified one' };
  }
  return { state: 'failed', why: 'no certified block holds this entry yet; try again later' };
}

/**
 * The audit trail, live: the committed entries, then each new one from the event stream as its
 * block commits; each checked against a certified header by the light client (the trail against
 * the audit accumulator in the state, the entry's transaction in its block); emergency
 * (break-glass) entries flagged.
 */
export function AuditTrail({ client, patientKey }: { client: MedchainClient; patientKey: string }) {
  const [entries, setEntries] = useState<ReadonlyMap<number, AuditEntryJson>>(new Map());
  const [checks, setChecks] = useState<ReadonlyMap<number, Verification>>(new Map());
  const [loading, setLoading] = useState(true);
  const [streamError, setStreamError] = useState<unknown>(undefined);
  const [connection, setConnection] = useState(0);
  const queue = useRef<{ push: (entry: AuditEntryJson) => void } | undefined>(undefined);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    const known = new Map<number, AuditEntryJson>();
    const pending: AuditEntryJson[] = [];
    let verifying = false;
    const setCheck = (index: number, check: Verification) =>
      setChecks((before) => new Map(before).set(index, check));
    const drain = async () => {
      if (verifying) return;
      verifying = true;
      while (pending.length > 0 && !signal.aborted) {
        // Newest first: the entry that just arrived is the one the patient is looking at.
        pending.sort((a, b) => b.index - a.index);
        const entry = pending.shift()!;
        let check: Verification;
        try {
          check = await verify(patientKey, entry, signal);
        } catch (error) {
          // The advice matters here: CHAIN_MISMATCH, say, is fixed under Node settings.
          const explained = explainError(error);
          check = {
            state: 'failed',
            why: `${explained.code}: ${explained.what} ${explained.todo}`,
          };
        }
        if (!signal.aborted) setCheck(entry.index, check);
      }
      verifying = false;
    };
    const enqueue = (entry: AuditEntryJson) => {
      setCheck(entry.index, { state: 'checking' });
      pending.push(entry);
      void drain();
    };
    queue.current = { push: enqueue };
    const add = (list: readonly AuditEntryJson[]) => {
      for (const entry of list) known.set(entry.index, entry);
      setEntries(new Map(known));
    };

    void (async () => {
      setLoading(true);
      setStreamError(undefined);
      try {
        const initial = await client.allAudit(patientKey);
        if (signal.aborted) return;
        add(initial);
        setLoading(false);
        for (const entry of [...initial].reverse().slice(0, VERIFIED_ON_LOAD)) enqueue(entry);
        const last = initial.at(-1)?.index;
        const stream = client.events({
          patient: patientKey,
          signal,
          ...(last === undefined ? {} : { lastEventId: last }),
        });
        for await (const event of stream) {
          if (event.type !== 'audit' || known.has(event.entry.index)) continue;
          const highest = Math.max(-1, ...known.keys());
          if (event.entry.index > highest + 1) {
            // Entries committed between the first read and the stream opening: read them.
            add((await client.allAudit(patientKey)).filter((e) => !known.has(e.index)));
          }
          add([event.entry]);
          enqueue(event.entry);
        }
      } catch (error) {
        if (!signal.aborted) {
          setLoading(false);
          setStreamError(error);
        }
      }
    })();
    return () => controller.abort();
  }, [client, patientKey, connection]);

  const newestFirst = [...entries.values()].sort((a, b) => b.index - a.index).slice(0, SHOWN);
  const emergencies = newestFirst.filter((entry) => entry.emergency).length;
  return (
    <Panel title="Audit trail" id="audit-trail">
      <p>
        Every access to your records, allowed or denied, is written to the ledger before any data
        moves. New entries appear here as their block commits. “Verified” means this browser checked
        the entry against a block header certified by the hospitals’ validators, so the node cannot
        have invented or hidden it.
      </p>
      {loading && <Progress label="Reading your audit trail…" />}
      {streamError !== undefined && (
        <>
          <ErrorBox error={streamError} />
          <button type="button" onClick={() => setConnection((n) => n + 1)}>
            Reconnect the live audit trail
          </button>
        </>
      )}
      {!loading && streamError === undefined && (
        <p class="hint" role="status">
          Live: {entries.size} entr{entries.size === 1 ? 'y' : 'ies'}
          {emergencies > 0 && `, ${emergencies} emergency access${emergencies > 1 ? 'es' : ''}`}.
        </p>
      )}
      {!loading && entries.size === 0 && <p>Nobody has asked for your records yet.</p>}
      {newestFirst.length > 0 && (
        <ol class="list" aria-label="Audit entries, newest first" reversed>
          {newestFirst.map((entry) => (
            <AuditItem
              key={entry.index}
              entry={entry}
              patientKey={patientKey}
              check={checks.get(entry.index)}
              onVerify={() => queue.current?.push(entry)}
            />
          ))}
        </ol>
      )}
      {entries.size > SHOWN && (
        <p class="hint">
          The {SHOWN} newest of {entries.size} entries are shown; the FHIR export has them all.
        </p>
      )}
    </Panel>
  );
}

function AuditItem({
  entry,
  patientKey,
  check,
  onVerify,
}: {
  entry: AuditEntryJson;
  patientKey: string;
  check: Verification | undefined;
  onVerify: () => void;
}) {
  const who = entry.requester === patientKey ? 'You' : `Clinician ${shortKey(entry.requester)}`;
  const permitted = entry.decision === 'permit';
  const records = recordsOf(entry);
  return (
    <li class={entry.emergency ? 'flagged' : undefined} data-audit-index={entry.index}>
      <p>
        {entry.emergency && (
          <>
            <span class="badge warn">⚠ Emergency access (break-glass)</span>{' '}
          </>
        )}
        <span class={permitted ? 'badge ok' : 'badge error'}>
          {permitted ? 'allowed' : 'denied'}
        </span>{' '}
        <VerificationBadge check={check} onVerify={onVerify} />
      </p>
      <p>
        <strong>{who}</strong> asked to {ACTION_LABELS[entry.action].toLowerCase()}{' '}
        {records.length === 1 ? 'record' : `${records.length} records`}{' '}
        {records.map((id, i) => (
          <span key={id}>
            {i > 0 && ', '}
            <span class="mono">{shortKey(id)}</span>
          </span>
        ))}{' '}
        for {PURPOSE_LABELS[entry.purpose].toLowerCase()} on {formatTime(entry.time)}
        {permitted
          ? entry.emergency
            ? ', without consent, as an emergency'
            : ', under your consent'
          : `: denied, ${entry.denyReason === null ? 'no reason given' : (DENY_REASON_LABELS[entry.denyReason as keyof typeof DENY_REASON_LABELS] ?? entry.denyReason)}`}
        .
      </p>
      <dl class="facts">
        {entry.emergencyReason !== null && (
          <>
            <dt>Emergency reason</dt>
            <dd>{EMERGENCY_REASON_LABELS[entry.emergencyReason]}</dd>
          </>
        )}
        <dt>Requester</dt>
        <dd class="mono">{entry.requester}</dd>
        <dt>Hospital holding the record</dt>
        <dd class="mono">{entry.custodian}</dd>
        {entry.consentId !== null && (
          <>
            <dt>Consent</dt>
            <dd class="mono">{entry.consentId}</dd>
          </>
        )}
        <dt>Entry</dt>
        <dd>
          #{entry.index}, transaction <span class="mono">{shortKey(entry.txHash)}</span>
        </dd>
      </dl>
    </li>
  );
}

function VerificationBadge({
  check,
  onVerify,
}: {
  check: Verification | undefined;
  onVerify: () => void;
}) {
  if (check === undefined) {
    return (
      <button type="button" class="secondary" onClick={onVerify}>
        Verify this entry
      </button>
    );
  }
  if (check.state === 'checking') return <span class="badge neutral">verifying…</span>;
  if (check.state === 'verified') {
    return (
      <span
        class="badge ok"
        title={`proven against the certified state after block ${check.height}`}
      >
        ✓ verified (block {check.height})
      </span>
    );
  }
  return (
    <>
      <span class="badge error">not verified</span> <span class="hint">{check.why}</span>{' '}
      <button type="button" class="secondary" onClick={onVerify}>
        Verify again
      </button>
    </>
  );
}
