import { readFileSync, writeFileSync } from 'node:fs';
import { toHex } from '@medchain/crypto';
import {
  CONSENT_ACTIONS,
  type ConsentAction,
  EMERGENCY_REASONS,
  type EmergencyReason,
  PURPOSES,
  type Purpose,
} from '@medchain/ledger';
import type { Command } from 'commander';
import { hash32, oneOf } from '../../util/args.js';
import {
  clientOf,
  example,
  outputOf,
  type SignerOptions,
  sendOptionsOf,
  signerOf,
  withNode,
  withPassphrase,
  withSigner,
} from '../../util/common.js';
import { usageError } from '../../util/errors.js';
import { loadSigner, publicKeyArg } from '../../util/keys.js';
import { fields } from '../../util/output.js';

const recordIdArg = hash32('a record id');

function readContent(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw usageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

const lines = (result: Record<string, unknown>) => fields(result);

export function registerRecord(program: Command): void {
  const record = program
    .command('record')
    .description("records in a hospital's vault, and consent-gated reads from other hospitals");

  example(
    withSigner(
      record
        .command('put')
        .description(
          "anchor a FHIR record's hash on the ledger, then store it in this hospital's vault (encrypted; the vault takes only what your key anchored)",
        )
        .requiredOption('--file <file>', 'FHIR R4 JSON (a resource or a Bundle)')
        .requiredOption('--patient <key>', 'patient public key (hex, did:key) or keystore', (v) =>
          publicKeyArg(v, '--patient'),
        ),
      { noWait: false },
    ),
    'medchain record put --file obs.json --patient 9a2e... --key dr-ada.json --node http://127.0.0.1:7701',
  ).action(async (options: SignerOptions & { file: string; patient: Uint8Array }, cmd: Command) => {
    const content = readContent(options.file);
    const signer = await signerOf(options);
    const stored = await clientOf(cmd, signer).putRecord(
      { patient: options.patient, content },
      sendOptionsOf(options),
    );
    const result = {
      recordId: stored.recordId,
      version: stored.version,
      resourceType: stored.resourceType,
      contentHash: stored.contentHash,
      anchorTx: stored.tx.hash,
      status: stored.tx.status,
    };
    outputOf(cmd).result(result, lines);
  });

  example(
    withSigner(
      record
        .command('amend')
        .description('anchor the hash of a new version (record.amend), then store it in the vault')
        .argument('<record-id>', 'the record id', recordIdArg)
        .requiredOption('--file <file>', 'the new FHIR R4 JSON'),
      { noWait: false },
    ),
    'medchain record amend 77ab... --file obs-v2.json --key dr-ada.json',
  ).action(async (id: Uint8Array, options: SignerOptions & { file: string }, cmd: Command) => {
    const content = readContent(options.file);
    const signer = await signerOf(options);
    const stored = await clientOf(cmd, signer).amendRecord(
      { recordId: id, content },
      sendOptionsOf(options),
    );
    const result = {
      recordId: stored.recordId,
      version: stored.version,
      contentHash: stored.contentHash,
      amendTx: stored.tx.hash,
      status: stored.tx.status,
    };
    outputOf(cmd).result(result, lines);
  });

  example(
    withSigner(
      record
        .command('erase')
        .description(
          'submit record.erase, then make sure this vault crypto-shredded the record (data key and ciphertext)',
        )
        .argument('<record-id>', 'the record id', recordIdArg),
    ),
    'medchain record erase 77ab... --key dr-ada.json',
  ).action(async (id: Uint8Array, options: SignerOptions, cmd: Command) => {
    const signer = await signerOf(options);
    // With --no-wait the erasure is not committed yet: the node shreds by itself once it is.
    const erased = await clientOf(cmd, signer).eraseRecord(id, sendOptionsOf(options));
    const result = {
      recordId: erased.recordId,
      shredded: erased.shredded,
      eraseTx: erased.tx.hash,
    };
    outputOf(cmd).result(result, lines);
  });

  example(
    withPassphrase(
      withNode(
        record
          .command('get')
          .description(
            "read a record from its custodian: sign the request, let this hospital's node fetch it, open it with your key and check it against the anchored hash",
          )
          .argument('<record-id>', 'the record id', recordIdArg)
          .requiredOption('--key <keystore>', "the requester's keystore (clinician or patient)")
          .requiredOption('--purpose <purpose>', PURPOSES.join(', '), oneOf(PURPOSES))
          .requiredOption('--out <file>', 'write the record here (mode 0600)')
          .option('--action <action>', CONSENT_ACTIONS.join(', '), oneOf(CONSENT_ACTIONS), 'access')
          .option(
            '--emergency <reason>',
            `break-glass (purpose ETREAT): ${EMERGENCY_REASONS.join(', ')}`,
            oneOf(EMERGENCY_REASONS),
          ),
      ),
    ),
    'medchain record get 77ab... --key dr-bob.json --purpose TREAT --out obs.json --node http://127.0.0.1:7711',
  ).action(
    async (
      id: Uint8Array,
      options: {
        key: string;
        passphraseFile?: string;
        purpose: Purpose;
        out: string;
        action: ConsentAction;
        emergency?: EmergencyReason;
      },
      cmd: Command,
    ) => {
      if (options.emergency !== undefined && options.purpose !== 'ETREAT') {
        throw usageError('break-glass (--emergency) needs --purpose ETREAT');
      }
      const requester = await loadSigner(options.key, options);
      const { content, answer } = await clientOf(cmd, requester).fetchRecord(requester, {
        recordId: id,
        action: options.action,
        purpose: options.purpose,
        ...(options.emergency === undefined ? {} : { emergencyReason: options.emergency }),
      });
      writeFileSync(options.out, content, { mode: 0o600 });
      const result = {
        recordId: toHex(id),
        version: answer.version,
        resourceType: answer.resourceType,
        contentHash: answer.contentHash,
        bytes: content.length,
        out: options.out,
        accessLogTx: answer.logTx,
      };
      outputOf(cmd).result(result, lines);
    },
  );
}
