import { allPages, auditToFhir, consentsToFhir, fhirCollection } from '@medchain/client';
import { MAX_PAGE_SIZE } from '@medchain/ledger';
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
      const consents =
        id !== undefined
          ? [await client.consent(id)]
          : provider !== undefined
            ? await allPages(
                (page) => client.providerConsents(provider, patient!, page),
                MAX_PAGE_SIZE,
              )
            : await client.allConsents(patient!);
      const resources = await consentsToFhir(client, consents);
      const result = id !== undefined ? resources[0] : fhirCollection(resources);
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
    const resources = await auditToFhir(client, await client.allAudit(options.patient));
    outputOf(cmd).result(fhirCollection(resources), render);
  });
}
