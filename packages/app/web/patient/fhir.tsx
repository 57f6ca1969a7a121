import {
  auditFromJson,
  consentFromJson,
  type MedchainClient,
  orUndefined,
  toHex,
} from '@medchain/client';
import { auditEntryToFhir, consentToFhir, type FhirResource } from '@medchain/ledger';
import { publicClient } from '../session.js';
import { downloadJson, ErrorBox, Panel, Progress, useAction } from '../ui/index.js';

/**
 * The resource types of the records the resources reference, read once each (the ledger's
 * mappers are synchronous); a record this key may not read is left without a type.
 */
async function resourceTypes(client: MedchainClient, ids: readonly Uint8Array[]) {
  const types = new Map<string, string>();
  for (const id of new Set(ids.map(toHex))) {
    const answer = await orUndefined(client.record(id, { limit: 1 })).catch(() => undefined);
    if (answer !== undefined) types.set(id, answer.record.resourceType);
  }
  return (id: Uint8Array) => types.get(toHex(id));
}

/** The head block's time, so "active" in the export means what the ledger says now. */
async function headTime(): Promise<number> {
  const api = publicClient();
  const { height } = await api.status();
  if (height === 0) return Date.now();
  return (await orUndefined(api.header(height)))?.header.time ?? Date.now();
}

/** A FHIR R4 Bundle of type collection. */
function bundle(resources: readonly FhirResource[]) {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: new Date().toISOString(),
    total: resources.length,
    entry: resources.map((resource) => ({ resource })),
  };
}

const day = () => new Date().toISOString().slice(0, 10);

/**
 * Downloads the patient's consents (FHIR Consent) and audit trail (FHIR AuditEvent, IHE BALP) as
 * Bundles, mapped in the browser by the ledger's own mappings (the CLI's `export fhir` makes the
 * same resources).
 */
export function FhirExport({ client, patientKey }: { client: MedchainClient; patientKey: string }) {
  const consents = useAction(async () => {
    const entries = (await client.allConsents(patientKey)).map(consentFromJson);
    const [time, resourceTypeOf] = await Promise.all([
      headTime(),
      resourceTypes(
        client,
        entries.flatMap((c) => c.recordIds),
      ),
    ]);
    downloadJson(
      `consents-${patientKey.slice(0, 8)}-${day()}.fhir.json`,
      bundle(entries.map((consent) => consentToFhir(consent, { time, resourceTypeOf }))),
    );
  });
  const audit = useAction(async () => {
    const entries = (await client.allAudit(patientKey)).map(auditFromJson);
    const resourceTypeOf = await resourceTypes(
      client,
      entries.map((e) => e.recordId),
    );
    downloadJson(
      `audit-${patientKey.slice(0, 8)}-${day()}.fhir.json`,
      bundle(entries.map((entry) => auditEntryToFhir(entry, { resourceTypeOf }))),
    );
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
