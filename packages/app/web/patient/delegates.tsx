import {
  ClientError,
  type DelegateJson,
  fromHex,
  type MedchainClient,
  toHex,
} from '@medchain/client';
import { DELEGATE_RELATIONS, type DelegateRelation, type LedgerParams } from '@medchain/ledger';
import { useCallback, useEffect, useState } from 'preact/hooks';
import {
  Countdown,
  ErrorBox,
  formatTime,
  KeyField,
  Notice,
  Panel,
  Progress,
  parseExpiry,
  parseKeyInput,
  SelectField,
  shortKey,
  TextField,
  toLocalInput,
  useAction,
} from '../ui/index.js';
import { RELATION_LABELS } from './vocabulary.js';

/**
 * The node answers a delegate by (patient, delegate) but keeps no list of a patient's delegates,
 * so this browser remembers the keys it named (or looked up) for each patient; the ledger says
 * whether each is still a delegate, and until when.
 */
const listKey = (patient: string) => `medchain.delegates.${patient}`;

function knownDelegates(patient: string): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(listKey(patient)) ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((k): k is string => typeof k === 'string') : [];
  } catch {
    return [];
  }
}

function remember(patient: string, keys: readonly string[]): void {
  localStorage.setItem(listKey(patient), JSON.stringify([...new Set(keys)]));
}

type Row = { key: string; delegate: DelegateJson | null };

export function Delegates({
  client,
  patientKey,
  params,
}: {
  client: MedchainClient;
  patientKey: string;
  params: LedgerParams;
}) {
  const [rows, setRows] = useState<Row[] | undefined>(undefined);
  const load = useAction(async () => {
    const loaded = await Promise.all(
      knownDelegates(patientKey).map(async (key): Promise<Row> => {
        try {
          return { key, delegate: await client.delegate(patientKey, key) };
        } catch (error) {
          if (error instanceof ClientError && error.code === 'DELEGATE_NOT_FOUND') {
            return { key, delegate: null };
          }
          throw error;
        }
      }),
    );
    setRows(loaded);
  });
  const reload = useCallback(() => load.run(), [load.run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const live = (rows ?? []).filter(
    (row): row is { key: string; delegate: DelegateJson } =>
      row.delegate !== null && row.delegate.expiresAt > Date.now(),
  );
  return (
    <Panel title="Delegates">
      <p class="hint">
        A delegate (a guardian or a proxy) can grant and revoke consents and read your audit trail
        for you, until the delegation ends.
      </p>
      {load.pending && rows === undefined && <Progress label="Reading your delegates…" />}
      <ErrorBox error={load.error} />
      {rows !== undefined && live.length === 0 && <p>No delegate known to this browser.</p>}
      {live.length > 0 && (
        <ul class="list" aria-label="Your delegates">
          {live.map((row) => (
            <DelegateItem
              key={row.key}
              client={client}
              patientKey={patientKey}
              delegate={row.delegate}
              onRemoved={reload}
            />
          ))}
        </ul>
      )}
      <AddDelegate
        client={client}
        patientKey={patientKey}
        params={params}
        onAdded={(key) => {
          remember(patientKey, [...knownDelegates(patientKey), key]);
          return reload();
        }}
      />
    </Panel>
  );
}

function DelegateItem({
  client,
  patientKey,
  delegate,
  onRemoved,
}: {
  client: MedchainClient;
  patientKey: string;
  delegate: DelegateJson;
  onRemoved: () => Promise<unknown>;
}) {
  const remove = useAction(async () => {
    await client.sendTransaction('patient.undelegate', {
      patient: fromHex(patientKey),
      delegate: fromHex(delegate.delegate),
    });
    remember(
      patientKey,
      knownDelegates(patientKey).filter((key) => key !== delegate.delegate),
    );
    await onRemoved();
  });
  return (
    <li>
      <p>
        <strong>{RELATION_LABELS[delegate.relation]}</strong>{' '}
        <span class="mono">{shortKey(delegate.delegate)}</span>
      </p>
      <dl class="facts">
        <dt>Key</dt>
        <dd class="mono">{delegate.delegate}</dd>
        <dt>Since</dt>
        <dd>{formatTime(delegate.grantedAt)}</dd>
        <dt>Until</dt>
        <dd>
          {formatTime(delegate.expiresAt)} · <Countdown until={delegate.expiresAt} />
        </dd>
      </dl>
      <button
        type="button"
        class="danger"
        onClick={() => void remove.run()}
        disabled={remove.pending}
        aria-label={`Remove delegate ${shortKey(delegate.delegate)}`}
      >
        Remove
      </button>
      {remove.pending && <Progress label="Removing: waiting for the block to commit…" />}
      <ErrorBox error={remove.error} />
    </li>
  );
}

function AddDelegate({
  client,
  patientKey,
  params,
  onAdded,
}: {
  client: MedchainClient;
  patientKey: string;
  params: LedgerParams;
  onAdded: (key: string) => Promise<unknown>;
}) {
  const [key, setKey] = useState('');
  const [relation, setRelation] = useState<DelegateRelation>('proxy');
  const [expiry, setExpiry] = useState(() => toLocalInput(Date.now() + 365 * 86_400_000));
  const [problems, setProblems] = useState<{ key?: string; expiry?: string }>({});
  const add = useAction(async (delegate: Uint8Array, expiresAt: number) => {
    await client.sendTransaction('patient.delegate', {
      patient: fromHex(patientKey),
      delegate,
      relation,
      expiresAt,
    });
    await onAdded(toHex(delegate));
    setKey('');
    return expiresAt;
  });
  return (
    <form
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        const parsed = parseKeyInput(key);
        const until = parseExpiry(expiry, Date.now(), params.maxDelegationDurationMs);
        const found = {
          ...(parsed.ok
            ? toHex(parsed.value) === patientKey
              ? { key: 'That is your own key: a delegate is someone else.' }
              : {}
            : { key: parsed.error }),
          ...(until.ok ? {} : { expiry: until.error }),
        };
        setProblems(found);
        if (Object.keys(found).length === 0 && parsed.ok && until.ok) {
          void add.run(parsed.value, until.value);
        }
      }}
    >
      <h3>Add or renew a delegate</h3>
      <KeyField
        label="Delegate’s key"
        value={key}
        onValue={setKey}
        hint="64 hexadecimal characters, or did:key:z6Mk…"
        error={problems.key}
      />
      <SelectField
        label="Relation"
        value={relation}
        onValue={setRelation}
        options={DELEGATE_RELATIONS.map((r) => ({ value: r, label: RELATION_LABELS[r] }))}
      />
      <TextField
        label="Delegation ends"
        type="datetime-local"
        value={expiry}
        onValue={setExpiry}
        required
        hint="Required; naming the same key again replaces the end."
        error={problems.expiry}
      />
      <button type="submit" disabled={add.pending}>
        Add delegate
      </button>
      {add.pending && <Progress label="Adding: waiting for the block to commit…" />}
      {add.result !== undefined && !add.pending && (
        <Notice>Delegate added until {formatTime(add.result)}.</Notice>
      )}
      <ErrorBox error={add.error} />
    </form>
  );
}
