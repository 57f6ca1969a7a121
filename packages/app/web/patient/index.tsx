import type { MedchainClient } from '@medchain/client';
import { type UnlockedKey, useRole } from '../session.js';
import { ErrorBox, formatTime, NeedsKey, Notice, Panel, Progress, useAction } from '../ui/index.js';
import { AuditTrail } from './audit.js';
import { ActiveConsents, PastConsents } from './consents.js';
import { usePatientData } from './data.js';
import { Delegates } from './delegates.js';
import { FhirExport } from './fhir.js';
import { GrantConsent } from './grant.js';
import { Policy } from './policy.js';

/**
 * The patient's screens: register, who can see my data and until when, grant and revoke,
 * delegates, opt-outs, the live audit trail, FHIR export. Everything acts with the unlocked
 * patient key (Keys tab); every transaction is awaited until committed.
 */
export function PatientScreen() {
  const { key, client } = useRole('patient');
  return (
    <>
      <h1>Patient</h1>
      {key === undefined || client === undefined ? (
        // biome-ignore lint/a11y/useValidAriaRole: NeedsKey's role is the medchain role, not ARIA
        <NeedsKey role="patient" />
      ) : (
        <PatientHome key={key.entry.publicKey} unlocked={key} client={client} />
      )}
    </>
  );
}

function PatientHome({ unlocked, client }: { unlocked: UnlockedKey; client: MedchainClient }) {
  const patientKey = unlocked.entry.publicKey;
  const { data, error, loading, reload } = usePatientData(client, patientKey);
  const register = useAction(async () => {
    await client.sendTransaction('patient.register', {});
    await reload();
  });
  return (
    <>
      <p>
        Acting as <strong>{unlocked.entry.name}</strong>,{' '}
        <span class="mono" title={unlocked.entry.did}>
          {patientKey}
        </span>
        . The ledger knows you only by this key: no name, no medical data.
      </p>
      {data === undefined && loading && <Progress label="Reading your data from the ledger…" />}
      {error !== undefined && (
        <>
          <ErrorBox error={error} />
          <button type="button" onClick={() => void reload()} disabled={loading}>
            Try again
          </button>
        </>
      )}
      {data !== undefined && data.patient === undefined && (
        <Panel title="Register">
          <p>
            This key is not registered as a patient yet. Registering writes only your public key to
            the ledger; then you can grant and revoke access to your records.
          </p>
          <button type="button" onClick={() => void register.run()} disabled={register.pending}>
            Register as a patient
          </button>
          {register.pending && <Progress label="Registering: waiting for the block to commit…" />}
          <ErrorBox error={register.error} />
        </Panel>
      )}
      {data?.patient !== undefined && (
        <>
          <Notice>
            Registered since {formatTime(data.patient.registeredAt)}.{' '}
            {loading && <span class="hint">Refreshing…</span>}
          </Notice>
          <ActiveConsents
            client={client}
            consents={data.consents}
            organizations={data.organizations}
            onChanged={reload}
          />
          <div class="grid">
            <GrantConsent
              client={client}
              patientKey={patientKey}
              records={data.records}
              organizations={data.organizations}
              params={data.params}
              onGranted={reload}
            />
            <div>
              <Policy client={client} patient={data.patient} onChanged={reload} />
              <Delegates client={client} patientKey={patientKey} params={data.params} />
            </div>
          </div>
          <AuditTrail client={client} patientKey={patientKey} />
          <PastConsents consents={data.consents} organizations={data.organizations} />
          <FhirExport client={client} patientKey={patientKey} />
        </>
      )}
    </>
  );
}
