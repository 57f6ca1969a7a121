import {
  type ApiClient,
  allPages,
  auditFromJson,
  consentFromJson,
  orUndefined,
} from '@medchain/client';
import { toHex } from '@medchain/crypto';
import { auditEntryToFhir, consentToFhir, MAX_PAGE_SIZE } from '@medchain/ledger';
import type { Command } from 'commander';
import { hash32 } from '../../util/args.js';
import {
  clientOf,
  example,
  outputOf,
  type ReaderOptions,
  readerOf,
  withReader,
} from '../../util/common.js';
import { usageError } from '../../util/errors.js';
import { publicKeyArg } from '../../util/keys.js';
import { READERS } from '../../util/readers.js';

/**
 * Resource types of the records a mapping references, fetched once (the mappers are
 * synchronous); a record the reading key may not see is left without a type.
 */
async function resourceTypes(client: ApiClient, ids: readonly Uint8Array[]) {
  const types = new Map<string, string>();
  for (const id of new Set(ids.map(toHex))) {
    const answer = await client.record(id, { limit: 1 }).catch(() => undefined);
    if (answer !== undefined) types.set(id, answer.record.resourceType);
  }
  return (id: Uint8Array) => types.get(toHex(id));
}

/**
 * Block time of the head (its public certified header), so "active" means what the ledger
 * would say now.
 */
async function headTime(client: ApiClient): Promise<number> {
  const { height } = await client.status();
  if (height === 0) return Date.now();
  const head = await orUndefined(client.header(height));
  return head?.header.time ?? Date.now();
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
    withReader(
      fhir
        .command('consent')
        .description(
          "a consent as a FHIR Consent, or a patient's consents as a Bundle (all of them, or with --provider those naming that provider or its organization)",
        )
        .option('--id <consent-id>', 'one consent', hash32('a consent id'))
        .option('--patient <key>', "a patient's consents", (v: string) =>
          publicKeyArg(v, '--patient'),
        )
        .option(
          '--provider <key>',
          'with --patient: only those naming this provider',
          (v: string) => publicKeyArg(v, '--provider'),
        ),
      READERS.consents,
    ),
    'medchain export fhir consent --patient patient.json --key patient.json > consents.json',
  ).action(
    async (
      options: ReaderOptions & { id?: Uint8Array; patient?: Uint8Array; provider?: Uint8Array },
      cmd: Command,
    ) => {
      if (options.id === undefined && options.patient === undefined) {
        throw usageError('give --id CONSENT or --patient KEY');
      }
      const client = clientOf(cmd, await readerOf(options, READERS.consents));
      const { id, patient, provider } = options;
      const consents = (
        id !== undefined
          ? [await client.consent(id)]
          : provider !== undefined
            ? await allPages(
                (page) => client.providerConsents(provider, patient!, page),
                MAX_PAGE_SIZE,
              )
            : await client.allConsents(patient!)
      ).map(consentFromJson);
      const time = await headTime(client);
      const resourceTypeOf = await resourceTypes(
        client,
        consents.flatMap((c) => c.recordIds),
      );
      const resources = consents.map((consent) => consentToFhir(consent, { time, resourceTypeOf }));
      const result = options.id !== undefined ? resources[0] : bundle(resources);
      outputOf(cmd).result(result, render);
    },
  );

  example(
    withReader(
      fhir
        .command('audit')
        .description("a patient's audit trail as a Bundle of FHIR AuditEvents")
        .requiredOption(
          '--patient <key>',
          'patient public key (hex, did:key or keystore)',
          (v: string) => publicKeyArg(v, '--patient'),
        ),
      READERS.patientData,
    ),
    'medchain export fhir audit --patient patient.json --key patient.json > audit.json',
  ).action(async (options: ReaderOptions & { patient: Uint8Array }, cmd: Command) => {
    const client = clientOf(cmd, await readerOf(options, READERS.patientData));
    const entries = (await client.allAudit(options.patient)).map(auditFromJson);
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
