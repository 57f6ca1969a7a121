import { auditToFhir, consentsToFhir, fhirCollection, type MedchainClient } from '@medchain/client';
import { downloadJson, ErrorBox, Panel, Progress, useAction } from '../ui/index.js';

const day = () => new Date().toISOString().slice(0, 10);

/**
 * Downloads the patient's consents (FHIR Consent) and audit trail (FHIR AuditEvent, IHE BALP) as
 * Bundles, mapped in the browser by @medchain/client's `consentsToFhir` / `auditToFhir` (the
 * CLI's `export fhir` makes the same resources).
 */
export function FhirExport({ client, patientKey }: { client: MedchainClient; patientKey: string }) {
  const consents = useAction(async () => {
    const resources = await consentsToFhir(client, await client.allConsents(patientKey));
    downloadJson(
      `consents-${patientKey.slice(0, 8)}-${day()}.fhir.json`,
      fhirCollection(resources),
    );
  });
  const audit = useAction(async () => {
    const resources = await auditToFhir(client, await client.allAudit(patientKey));
    downloadJson(`audit-${patientKey.slice(0, 8)}-${day()}.fhir.json`, fhirCollection(resources));
  });
  return (
    <Panel title="Export as FHIR">
      <p>
        Download your consents (FHIR R4 Consent) or your audit trail (FHIR R4 AuditEvent) as a JSON
        Bundle, for your own records or another health app.
      </p>
      <div class="actions">
        <button type="button" onClick={() => void consents.run()} disabled={consents.pending}>
          Download consents (FHIR)
        </button>
        <button type="button" onClick={() => void audit.run()} disabled={audit.pending}>
          Download audit trail (FHIR)
        </button>
      </div>
      {(consents.pending || audit.pending) && <Progress label="Preparing the export…" />}
      <ErrorBox error={consents.error ?? audit.error} />
    </Panel>
  );
}
