/**
 * The clinician's screen: their key and standing, the consents their patients gave them, a
 * record request through log-then-serve with the record rendered, break-glass, and storing a
 * record at their own hospital.
 */
import {
  ClientError,
  type ConsentJson,
  type MedchainClient,
  orUndefined,
  type ProviderJson,
} from '@medchain/client';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type UnlockedKey, useRole } from '../session.js';
import {
  type Action,
  ErrorBox,
  NeedsKey,
  Panel,
  Progress,
  shortKey,
  useAction,
} from '../ui/index.js';
import { PatientsPanel, type PickedRecord } from './consents.js';
import { usePatientList } from './patients.js';
import { BreakGlassForm, RequestForm, useRecordRequest } from './request.js';
import { StorePanel } from './store.js';
import './clinician.css';

export function ClinicianScreen() {
  const { key, client } = useRole('clinician');
  return (
    <>
      <h1>Clinician</h1>
      {key === undefined || client === undefined ? (
        // biome-ignore lint/a11y/useValidAriaRole: NeedsKey's role is the medchain role, not ARIA
        <NeedsKey role="clinician" />
      ) : (
        <ClinicianWorkspace key={key.entry.publicKey} unlocked={key} client={client} />
      )}
    </>
  );
}

function Standing({
  provider,
  unlocked,
}: {
  provider: Action<[], ProviderJson | undefined>;
  unlocked: UnlockedKey;
}) {
  const entry = provider.result;
  // A key the node does not know at all answers 401 KEY_UNKNOWN: that is "not registered" too.
  const unknown = provider.error instanceof ClientError && provider.error.code === 'KEY_UNKNOWN';
  return (
    <Panel title="Your key">
      <dl class="facts">
        <dt>Name</dt>
        <dd>{unlocked.entry.name}</dd>
        <dt>Key</dt>
        <dd class="mono">{unlocked.entry.did}</dd>
        {entry !== undefined && (
          <>
            <dt>Role</dt>
            <dd>{entry.role}</dd>
            <dt>Hospital</dt>
            <dd class="mono" title={entry.org}>
              {shortKey(entry.org)}
            </dd>
            <dt>Standing</dt>
            <dd>
              <span class={entry.status === 'active' ? 'badge ok' : 'badge error'}>
                {entry.status}
              </span>
            </dd>
          </>
        )}
      </dl>
      {provider.pending && <Progress label="Reading your registration on the ledger…" />}
      {(unknown ||
        (provider.result === undefined && !provider.pending && provider.error === undefined)) && (
        <p class="warning" role="status">
          This key is not registered as a provider. Give your hospital’s operator the key above:
          they register it on the Operator screen.
        </p>
      )}
      {entry?.status === 'suspended' && (
        <p class="warning" role="status">
          Your hospital suspended this key: requests made with it are denied.
        </p>
      )}
      {!unknown && <ErrorBox error={provider.error} />}
    </Panel>
  );
}

function ClinicianWorkspace({
  unlocked,
  client,
}: {
  unlocked: UnlockedKey;
  client: MedchainClient;
}) {
  const me = unlocked.entry.publicKey;
  const list = usePatientList(me);
  // Which patient's consent names which record: explains a denial of a record typed by hand.
  const byRecord = useRef(new Map<string, string>());
  const onLoaded = useCallback((patient: string, consents: readonly ConsentJson[]) => {
    for (const consent of consents) {
      for (const id of consent.recordIds) byRecord.current.set(id, patient);
    }
  }, []);
  const knownConsents = useCallback((recordId: string) => {
    const patient = byRecord.current.get(recordId);
    return patient === undefined ? undefined : { patient };
  }, []);
  const runner = useRecordRequest(client, unlocked, knownConsents);
  const [draft, setDraft] = useState<PickedRecord | undefined>(undefined);
  const provider = useAction(() => orUndefined(client.provider(me)));
  useEffect(() => {
    void provider.run();
  }, [client]);
  const onOpen = (picked: PickedRecord) => {
    setDraft(picked);
    void runner.run({
      recordId: picked.recordId,
      purpose: picked.purpose,
      action: 'access',
      patient: picked.patient,
    });
    document.getElementById('request-record')?.scrollIntoView({ block: 'start' });
  };
  return (
    <>
      <Standing provider={provider} unlocked={unlocked} />
      <PatientsPanel
        client={client}
        me={me}
        list={list}
        onLoaded={onLoaded}
        onOpen={onOpen}
        busy={runner.pending}
      />
      <div id="request-record">
        <RequestForm runner={runner} draft={draft} />
      </div>
      <BreakGlassForm runner={runner} role={provider.result?.role} />
      <StorePanel client={client} />
    </>
  );
}
