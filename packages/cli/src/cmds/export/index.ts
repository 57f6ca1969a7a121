import { toHex } from '@medchain/crypto';
import { auditEntryToFhir, consentToFhir, MAX_PAGE_SIZE } from '@medchain/ledger';
import type { Command } from 'commander';
import { allConsents } from '../../util/access.js';
import { hash32 } from '../../util/args.js';
import type { ApiClient, ApiJson } from '../../util/client.js';
import { clientOf, example, outputOf, withNode } from '../../util/common.js';
import { auditFromJson, consentFromJson } from '../../util/entries.js';
import { usageError } from '../../util/errors.js';
import { publicKeyArg } from '../../util/keys.js';

/** Resource types of the records a mapping references, fetched once (the mappers are synchronous). */
async function resourceTypes(client: ApiClient, ids: readonly Uint8Array[]) {
  const types = new Map<string, string>();
  for (const id of new Set(ids.map(toHex))) {
    const answer = await client.get(`/records/${id}?limit=1`).catch(() => undefined);
    if (answer !== undefined) types.set(id, answer.record.resourceType);
  }
  return (id: Uint8Array) => types.get(toHex(id));
}

/** Block time of the head, so "active" means what the ledger would say now. */
async function headTime(client: ApiClient): Promise<number> {
  const latest = await client.get('/blocks/latest').catch(() => undefined);
  return latest?.header.time ?? Date.now();
}

const bundle = (resources: unknown[]) => ({
  resourceType: 'Bundle',
  type: 'collection',
  total: resources.length,
  entry: resources.map((resource) => ({ resource })),
});

const render = (value: unknown) => JSON.stringify(value, null, 2);

export function registerExport(program: Command): void {
  const fhir = program
    .command('export')
    .description('export ledger entries in standard formats')
    .command('fhir')
    .description('FHIR R4 resources (JSON), made by the ledger package from committed entries');

  example(
    withNode(
      fhir
        .command('consent')
        .description("a consent as a FHIR Consent, or all of a patient's consents as a Bundle")
        .option('--id <consent-id>', 'one consent', hash32('a consent id'))
        .option('--patient <key>', "all of a patient's consents", (v: string) =>
          publicKeyArg(v, '--patient'),
        ),
    ),
    'medchain export fhir consent --patient patient.json > consents.json',
  ).action(async (options: { id?: Uint8Array; patient?: Uint8Array }, cmd: Command) => {
    const client = clientOf(cmd);
    const consents =
      options.id !== undefined
        ? [consentFromJson(await client.get(`/consents/${toHex(options.id)}`))]
        : options.patient !== undefined
          ? await allConsents(client, toHex(options.patient))
          : undefined;
    if (consents === undefined) {
      throw usageError('give --id CONSENT or --patient KEY');
    }
    const time = await headTime(client);
    const resourceTypeOf = await resourceTypes(
      client,
      consents.flatMap((c) => c.recordIds),
    );
    const resources = consents.map((consent) => consentToFhir(consent, { time, resourceTypeOf }));
    const result = options.id !== undefined ? resources[0] : bundle(resources);
    outputOf(cmd).result(result, render);
  });

  example(
    withNode(
      fhir
        .command('audit')
        .description("a patient's audit trail as a Bundle of FHIR AuditEvents")
        .requiredOption('--patient <key>', 'patient public key (hex or keystore)', (v: string) =>
          publicKeyArg(v, '--patient'),
        ),
    ),
    'medchain export fhir audit --patient patient.json > audit.json',
  ).action(async (options: { patient: Uint8Array }, cmd: Command) => {
    const client = clientOf(cmd);
    const entries = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const page: ApiJson = await client.get(
        `/patients/${toHex(options.patient)}/audit?offset=${offset}&limit=${MAX_PAGE_SIZE}`,
      );
      entries.push(...page.items.map(auditFromJson));
      offset = page.nextOffset;
    }
    const resourceTypeOf = await resourceTypes(
      client,
      entries.map((e) => e.recordId),
    );
    outputOf(cmd).result(
      bundle(entries.map((entry) => auditEntryToFhir(entry, { resourceTypeOf }))),
      render,
    );
  });
}
