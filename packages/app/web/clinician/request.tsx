/**
 * A record request, the clinician's side of log-then-serve: the access request is signed here
 * with the clinician's key; the node relays it to the custodian hospital, which decides, commits
 * the access entry to the ledger and only then sends the record, sealed to this key; the
 * envelope is opened here and checked against the fingerprint the ledger anchors.
 */
import {
  ClientError,
  type ConsentJson,
  type FetchedRecord,
  hashHex,
  MedchainClient,
} from '@medchain/client';
import {
  type ConsentAction,
  EMERGENCY_REASONS,
  type EmergencyReason,
  PURPOSES,
  type Purpose,
} from '@medchain/ledger';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { UnlockedKey } from '../session.js';
import { publicClient } from '../session.js';
import {
  CheckboxField,
  ErrorBox,
  formatDuration,
  KeyField,
  Panel,
  Progress,
  SelectField,
  shortKey,
  useAction,
  useNow,
} from '../ui/index.js';
import { closestConsent, denyExplanation, type Question, RECORD_ERRORS } from './deny.js';
import { FhirView } from './fhir.js';

/** How long a record request may take: the custodian's commit wait (20 s by default) and the relay. */
const FETCH_TIMEOUT_MS = 45_000;

export interface RequestInput {
  readonly recordId: string;
  readonly action: ConsentAction;
  readonly purpose: Purpose;
  readonly emergencyReason?: EmergencyReason;
  /** The patient, when the request came from their consent (explains a denial). */
  readonly patient?: string;
}

export type Outcome =
  | {
      readonly kind: 'served';
      readonly input: RequestInput;
      readonly fetched: FetchedRecord;
      readonly text: string;
    }
  | {
      readonly kind: 'denied';
      readonly input: RequestInput;
      readonly reason: string;
      readonly logTx: string | undefined;
      readonly closest: ReturnType<typeof closestConsent>;
    };

export const PURPOSE_LABELS: Record<Purpose, string> = {
  TREAT: 'Treatment (TREAT)',
  ETREAT: 'Emergency treatment (ETREAT)',
  HRESCH: 'Research (HRESCH)',
  PUBHLTH: 'Public health (PUBHLTH)',
  HOPERAT: 'Hospital operations (HOPERAT)',
  PATRQT: 'At the patient’s request (PATRQT)',
};

const REASON_LABELS: Record<EmergencyReason, string> = {
  'patient-unconscious': 'The patient is unconscious',
  'life-threatening': 'The situation is life-threatening',
  'consent-unreachable': 'The patient or their delegate cannot be reached for consent',
};

/** A denial the node reports: the ledger's reason and the access.log that recorded it. */
function denialOf(error: unknown): { reason: string; logTx: string | undefined } | undefined {
  if (!(error instanceof ClientError) || error.code !== 'RECORD_ACCESS_DENIED') return undefined;
  const details = (error.details ?? {}) as { reason?: unknown; logTx?: unknown };
  return {
    reason: typeof details.reason === 'string' ? details.reason : 'UNKNOWN',
    logTx: typeof details.logTx === 'string' ? details.logTx : undefined,
  };
}

/**
 * Requests a record; a denial is an outcome, not an error. For NO_CONSENT the patient's consents
 * to this clinician are read again to say which one fell short and why.
 */
export async function requestRecord(
  client: MedchainClient,
  key: UnlockedKey,
  input: RequestInput,
  knownConsents: (recordId: string) => { patient: string } | undefined,
): Promise<Outcome> {
  const recordId = hashHex(input.recordId.trim());
  const fields = {
    recordId,
    action: input.action,
    purpose: input.purpose,
    ...(input.emergencyReason === undefined ? {} : { emergencyReason: input.emergencyReason }),
  };
  const time = client.now();
  // The custodian answers only once its access entry is committed (it waits up to 20 s by
  // default): this one request may take longer than the session client's timeout.
  const requester = new MedchainClient({
    url: client.url,
    signer: key.signer,
    timeoutMs: FETCH_TIMEOUT_MS,
  });
  try {
    const fetched = await requester.fetchRecord(key.signer, { ...fields, time });
    return { kind: 'served', input, fetched, text: new TextDecoder().decode(fetched.content) };
  } catch (error) {
    const denial = denialOf(error);
    if (denial === undefined) throw error;
    const owner = input.patient ?? knownConsents(recordId)?.patient;
    let consents: ConsentJson[] = [];
    if (denial.reason === 'NO_CONSENT' && owner !== undefined) {
      // Best effort: the denial stands whether or not the consents can be read now.
      consents = await client
        .providerConsents(key.entry.publicKey, owner, { limit: 200 })
        .then((page) => page.items)
        .catch(() => []);
    }
    const question: Question = { recordId, action: input.action, purpose: input.purpose, time };
    return {
      kind: 'denied',
      input,
      ...denial,
      closest: closestConsent(consents, question),
    };
  }
}

/** The chain's height, polled while `active` (what the wait for a commit looks like). */
function useChainHeight(active: boolean): number | undefined {
  const [height, setHeight] = useState<number | undefined>(undefined);
  useEffect(() => {
    if (!active) return;
    let stopped = false;
    const poll = async () => {
      while (!stopped) {
        try {
          const status = await publicClient().status();
          if (!stopped) setHeight(status.height);
        } catch {
          // The request's own outcome reports a node that is down.
        }
        await new Promise((resolve) => setTimeout(resolve, 700));
      }
    };
    void poll();
    return () => {
      stopped = true;
    };
  }, [active]);
  return height;
}

/** "Asking the custodian…", with the time waited and the chain moving underneath. */
export function RequestProgress({ emergency }: { emergency: boolean }) {
  const [started] = useState(() => Date.now());
  const now = useNow(500);
  const height = useChainHeight(true);
  const waited = formatDuration(now - started);
  return (
    <Progress
      label={`${emergency ? 'Break-glass request sent. ' : ''}The hospital holding the record is deciding and writing your access to the ledger; it sends the record only once that entry is committed. Waiting ${waited}${height === undefined ? '' : `, chain at height ${height}`}…`}
    />
  );
}

/** A refusal that is not a logged denial (custodian down, stale clock, ...), with what to do. */
function RecordError({ error }: { error: unknown }) {
  if (error instanceof ClientError && RECORD_ERRORS[error.code] !== undefined) {
    return (
      <div class="error-box" role="alert">
        <p class="error-title">
          <strong>The record was not served</strong> <code>{error.code}</code>
        </p>
        <p>{RECORD_ERRORS[error.code]}</p>
      </div>
    );
  }
  return <ErrorBox error={error} />;
}

/** The record, opened: where it came from, its logged access, the FHIR rendering. */
function Served({ outcome }: { outcome: Extract<Outcome, { kind: 'served' }> }) {
  const { answer } = outcome.fetched;
  const emergency = outcome.input.emergencyReason !== undefined;
  return (
    <>
      <p class={emergency ? 'served break-glass-note' : 'served'}>
        {emergency ? (
          <strong>Opened under break-glass: </strong>
        ) : (
          <strong>Opened under the patient’s consent: </strong>
        )}
        your access was committed to the ledger before the record was sent, and the content matches
        the fingerprint anchored on the ledger.
      </p>
      <dl class="facts">
        <dt>Record</dt>
        <dd class="mono">{answer.record.id}</dd>
        <dt>Type, version</dt>
        <dd>
          {answer.resourceType}, version {answer.version}
        </dd>
        <dt>Custodian</dt>
        <dd class="mono" title={answer.record.custodian}>
          {shortKey(answer.record.custodian)}
        </dd>
        <dt>Access logged in</dt>
        <dd class="mono">{answer.logTx}</dd>
        <dt>Anchored fingerprint</dt>
        <dd class="mono">{answer.contentHash}</dd>
      </dl>
      <FhirView content={outcome.text} />
    </>
  );
}

function Denied({ outcome }: { outcome: Extract<Outcome, { kind: 'denied' }> }) {
  return (
    <div class="denial" role="alert">
      <p class="error-title">
        <strong>Access denied</strong> <code>{outcome.reason}</code>
      </p>
      <p>{denyExplanation(outcome.reason)}</p>
      {outcome.closest !== undefined && (
        <p>
          <span class="label">The patient’s latest consent to you:</span>{' '}
          {outcome.closest.gap ??
            'It seems to cover this request; it may name another resource type than this record’s.'}
        </p>
      )}
      <p class="hint">
        The denial is itself on the ledger
        {outcome.logTx === undefined ? (
          ''
        ) : (
          <>
            {' '}
            (transaction <span class="mono">{outcome.logTx}</span>)
          </>
        )}
        , and the patient sees it in their audit trail.
      </p>
    </div>
  );
}

/** Where a request's outcome is shown; focus moves here when it arrives. */
export function OutcomeView({ outcome }: { outcome: Outcome }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [outcome]);
  return (
    <section class="outcome" aria-labelledby="record-outcome-heading">
      <h3 id="record-outcome-heading" tabIndex={-1} ref={heading}>
        {outcome.kind === 'served'
          ? `Record ${shortKey(outcome.fetched.answer.record.id)}`
          : `Request for record ${shortKey(hashHex(outcome.input.recordId.trim()))} denied`}
      </h3>
      {outcome.kind === 'served' ? <Served outcome={outcome} /> : <Denied outcome={outcome} />}
    </section>
  );
}

const recordIdError = (value: string) =>
  value.trim() === '' || /^[0-9a-fA-F]{64}$/.test(value.trim())
    ? undefined
    : 'A record id is 64 hexadecimal characters.';

export interface RequestRunner {
  readonly run: (input: RequestInput) => Promise<Outcome | undefined>;
  readonly pending: boolean;
  readonly error: unknown;
  readonly result: Outcome | undefined;
  /** The input of the request under way or last made. */
  readonly last: RequestInput | undefined;
}

/** The screen's one request at a time: its form state lives with the screen. */
export function useRecordRequest(
  client: MedchainClient,
  key: UnlockedKey,
  knownConsents: (recordId: string) => { patient: string } | undefined,
): RequestRunner {
  const [last, setLast] = useState<RequestInput | undefined>(undefined);
  const action = useAction((input: RequestInput) => {
    setLast(input);
    return requestRecord(client, key, input, knownConsents);
  });
  return {
    run: action.run,
    pending: action.pending,
    error: action.error,
    result: action.result,
    last,
  };
}

/** The outcome area both forms share. */
export function RequestResult({ runner }: { runner: RequestRunner }) {
  return (
    <>
      {runner.pending && <RequestProgress emergency={runner.last?.emergencyReason !== undefined} />}
      {runner.error !== undefined && <RecordError error={runner.error} />}
      {runner.result !== undefined && <OutcomeView outcome={runner.result} />}
    </>
  );
}

/** Asks for a record by id under the patient's consent. */
export function RequestForm({
  runner,
  draft,
}: {
  runner: RequestRunner;
  /** A record picked from a consent: fills the form. */
  draft: { recordId: string; purpose: Purpose; patient?: string } | undefined;
}) {
  const [recordId, setRecordId] = useState('');
  const [purpose, setPurpose] = useState<Purpose>('TREAT');
  const [action, setAction] = useState<ConsentAction>('access');
  useEffect(() => {
    if (draft === undefined) return;
    setRecordId(draft.recordId);
    setPurpose(draft.purpose);
  }, [draft]);
  const error = recordIdError(recordId);
  return (
    <Panel title="Request a record">
      <p class="hint">
        The hospital that holds the record writes your access to the ledger first; the patient sees
        it in their audit trail.
      </p>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (error !== undefined || recordId.trim() === '') return;
          void runner.run({
            recordId,
            purpose,
            action,
            ...(draft?.recordId === recordId && draft.patient !== undefined
              ? { patient: draft.patient }
              : {}),
          });
        }}
      >
        <KeyField
          label="Record id"
          value={recordId}
          onValue={setRecordId}
          error={error}
          hint="64 hexadecimal characters, from the patient or from a consent below."
        />
        <div class="inline-form">
          <SelectField
            label="Purpose"
            value={purpose}
            onValue={setPurpose}
            options={PURPOSES.filter((p) => p !== 'ETREAT').map((p) => ({
              value: p,
              label: PURPOSE_LABELS[p],
            }))}
          />
          <SelectField
            label="Action"
            value={action}
            onValue={setAction}
            options={[
              { value: 'access', label: 'Read (access)' },
              { value: 'use', label: 'Use' },
              { value: 'disclose', label: 'Disclose' },
            ]}
          />
        </div>
        <button type="submit" disabled={runner.pending}>
          Request record
        </button>
      </form>
      {runner.last?.emergencyReason === undefined && <RequestResult runner={runner} />}
    </Panel>
  );
}

/** Break-glass: an emergency-role provider reads without consent, flagged on the ledger. */
export function BreakGlassForm({
  runner,
  role,
}: {
  runner: RequestRunner;
  role: string | undefined;
}) {
  const [recordId, setRecordId] = useState('');
  const [reason, setReason] = useState<EmergencyReason>('patient-unconscious');
  const [confirmed, setConfirmed] = useState(false);
  const error = recordIdError(recordId);
  return (
    <section class="panel break-glass" aria-labelledby="break-glass-heading">
      <h2 id="break-glass-heading">
        <span class="badge warn">Emergency</span> Break-glass access
      </h2>
      <p>
        Only in an emergency, when no consent covers the record. The access is written to the ledger{' '}
        <strong>flagged as break-glass</strong> with your reason, and the patient sees it at once in
        their audit trail. Only providers registered with the emergency role may use it
        {role === undefined ? '' : ` (your role: ${role})`}; a patient who opted out is never
        served.
      </p>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (error !== undefined || recordId.trim() === '' || !confirmed) return;
          void runner.run({
            recordId,
            purpose: 'ETREAT',
            action: 'access',
            emergencyReason: reason,
          });
        }}
      >
        <KeyField
          label="Record id (emergency)"
          value={recordId}
          onValue={setRecordId}
          error={error}
        />
        <SelectField
          label="Emergency reason"
          value={reason}
          onValue={setReason}
          options={EMERGENCY_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] }))}
          hint="A code, never free text: no name or diagnosis goes on the ledger."
        />
        <CheckboxField
          label="I confirm this is an emergency and that this access will be flagged and shown to the patient"
          checked={confirmed}
          onChecked={setConfirmed}
        />
        <button type="submit" class="danger" disabled={runner.pending || !confirmed}>
          Break the glass and open the record
        </button>
      </form>
      {runner.last?.emergencyReason !== undefined && <RequestResult runner={runner} />}
    </section>
  );
}
