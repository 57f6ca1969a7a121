/**
 * A clinician of this node's hospital stores a record for a patient: the record's fingerprint is
 * anchored on the ledger (record.anchor, signed by the clinician, awaited), then the FHIR JSON
 * goes into this node's encrypted vault, which takes only what that key anchored.
 */
import { ClientError, type MedchainClient, type StoredRecord } from '@medchain/client';
import { useState } from 'preact/hooks';
import {
  ErrorBox,
  Field,
  KeyField,
  Notice,
  Panel,
  Progress,
  parseKeyInput,
  useAction,
} from '../ui/index.js';

const EXAMPLE = JSON.stringify(
  {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    valueQuantity: {
      value: 72,
      unit: 'beats/minute',
      system: 'http://unitsofmeasure.org',
      code: '/min',
    },
  },
  null,
  2,
);

/** The content as FHIR JSON bytes, or a message saying what is wrong with it. */
function fhirContent(text: string): Uint8Array | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `Not valid JSON: ${(error as Error).message}`;
  }
  const type = (parsed as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string' || !/^[A-Z][A-Za-z]{1,63}$/.test(type)) {
    return 'A FHIR resource is a JSON object with a resourceType such as "Observation".';
  }
  return new TextEncoder().encode(JSON.stringify(parsed));
}

export function StorePanel({ client }: { client: MedchainClient }) {
  const [patient, setPatient] = useState('');
  const [text, setText] = useState(EXAMPLE);
  const [invalid, setInvalid] = useState<{ patient?: string; content?: string }>({});
  const store = useAction(async (patientKey: Uint8Array, content: Uint8Array) =>
    client.putRecord({ patient: patientKey, content }, { timeoutMs: 60_000 }),
  );
  const submit = (event: Event) => {
    event.preventDefault();
    const content = fhirContent(text);
    const key = parseKeyInput(patient);
    setInvalid({
      ...(key.ok ? {} : { patient: key.error }),
      ...(typeof content === 'string' ? { content } : {}),
    });
    if (key.ok && typeof content !== 'string') void store.run(key.value, content);
  };
  const stored: StoredRecord | undefined = store.result;
  return (
    <Panel title="Store a record for a patient">
      <p class="hint">
        For clinicians of the hospital running this node. The record’s fingerprint goes on the
        ledger; its content stays in this hospital’s encrypted vault.
      </p>
      <form onSubmit={submit}>
        <KeyField
          label="Patient key for the new record"
          value={patient}
          onValue={setPatient}
          error={invalid.patient}
        />
        <Field label="FHIR resource (JSON)" error={invalid.content}>
          {(control) => (
            <textarea
              {...control}
              class="mono"
              rows={10}
              spellcheck={false}
              value={text}
              onInput={(event) => setText(event.currentTarget.value)}
            />
          )}
        </Field>
        <button type="submit" disabled={store.pending}>
          Anchor and store the record
        </button>
      </form>
      {store.pending && (
        <Progress label="Anchoring the record’s fingerprint on the ledger (waiting for the commit), then storing it in this hospital’s vault…" />
      )}
      <StoreError error={store.error} />
      {stored !== undefined && (
        <Notice>
          Stored {stored.resourceType} record <span class="mono">{stored.recordId}</span> (version{' '}
          {stored.version}), anchored at height {stored.tx.height ?? '?'}. Give the patient this
          record id to share it.
        </Notice>
      )}
    </Panel>
  );
}

const STORE_ERRORS: Record<string, string> = {
  NOT_CUSTODIAN_PROVIDER:
    'Only an active provider of the hospital running this node can store records here. Use your own hospital’s node, or ask its operator to register you.',
  PROVIDER_NOT_FOUND:
    'Your key is not a registered provider. Ask your hospital’s operator to register it.',
  VAULT_NOT_ANCHORED_BY_SIGNER:
    'This node’s vault refused the content: it belongs to another hospital than yours. Use your own hospital’s node.',
  FORBIDDEN:
    'This node’s vault takes records only from its own hospital’s providers. Use your own hospital’s node.',
};

function StoreError({ error }: { error: unknown }) {
  if (error instanceof ClientError && STORE_ERRORS[error.code] !== undefined) {
    return (
      <div class="error-box" role="alert">
        <p class="error-title">
          <strong>The record was not stored</strong> <code>{error.code}</code>
        </p>
        <p>{STORE_ERRORS[error.code]}</p>
      </div>
    );
  }
  return <ErrorBox error={error} />;
}
