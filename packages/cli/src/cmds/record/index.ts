import { readFileSync, writeFileSync } from 'node:fs';
import { fromHex, sha256, toHex } from '@medchain/crypto';
import {
  CONSENT_ACTIONS,
  type ConsentAction,
  recordId as deriveRecordId,
  EMERGENCY_REASONS,
  type EmergencyReason,
  PURPOSES,
  type Purpose,
} from '@medchain/ledger';
import type { Command } from 'commander';
import { hash32, oneOf } from '../../util/args.js';
import type { ApiClient, ApiJson } from '../../util/client.js';
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
import { entropy, openKeystore, publicKeyArg, readKeystoreFile } from '../../util/keys.js';
import { fields } from '../../util/output.js';
import { getPassphrase } from '../../util/passphrase.js';
import { sendTransaction } from '../../util/tx.js';
import { fetchRecord } from './fetch.js';

const recordIdArg = hash32('a record id');

function readContent(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw usageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Stores one version in the node's vault (the custodian's own node, loopback API). */
async function putVersion(
  client: ApiClient,
  id: Uint8Array,
  patient: Uint8Array,
  version: number,
  content: Uint8Array,
): Promise<ApiJson> {
  return client.post('/vault/records', {
    recordId: toHex(id),
    patient: toHex(patient),
    version,
    content: toHex(content),
  });
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
          "store a FHIR record in this hospital's vault (encrypted) and anchor its hash on the ledger",
        )
        .requiredOption('--file <file>', 'FHIR R4 JSON (a resource or a Bundle)')
        .requiredOption('--patient <key>', 'patient public key or keystore', (v) =>
          publicKeyArg(v, '--patient'),
        ),
    ),
    'medchain record put --file obs.json --patient 9a2e... --key dr-ada.json --node http://127.0.0.1:7701',
  ).action(async (options: SignerOptions & { file: string; patient: Uint8Array }, cmd: Command) => {
    const client = clientOf(cmd);
    const content = readContent(options.file);
    const signer = await signerOf(options);
    const provider = await client.get(`/providers/${toHex(signer.publicKey)}`);
    const custodian = fromHex(provider.org);
    const nonce = entropy(16);
    const id = deriveRecordId(custodian, options.patient, nonce);
    const stored = await putVersion(client, id, options.patient, 1, content);
    const sent = await sendTransaction(
      client,
      signer,
      'record.anchor',
      {
        patient: options.patient,
        custodian,
        resourceType: stored.resourceType,
        contentHash: sha256(content),
        nonce,
      },
      sendOptionsOf(options),
    );
    const result = {
      recordId: toHex(id),
      version: 1,
      resourceType: stored.resourceType,
      contentHash: stored.contentHash,
      anchorTx: sent.hash,
      status: sent.status,
    };
    outputOf(cmd).result(result, lines);
  });

  example(
    withSigner(
      record
        .command('amend')
        .description('store a new version in the vault and anchor its hash (record.amend)')
        .argument('<record-id>', 'the record id', recordIdArg)
        .requiredOption('--file <file>', 'the new FHIR R4 JSON'),
    ),
    'medchain record amend 77ab... --file obs-v2.json --key dr-ada.json',
  ).action(async (id: Uint8Array, options: SignerOptions & { file: string }, cmd: Command) => {
    const client = clientOf(cmd);
    const content = readContent(options.file);
    const signer = await signerOf(options);
    const anchored = (await client.get(`/records/${toHex(id)}?limit=1`)).record;
    const version = Number(anchored.version) + 1;
    const stored = await putVersion(client, id, fromHex(anchored.patient), version, content);
    const sent = await sendTransaction(
      client,
      signer,
      'record.amend',
      { recordId: id, contentHash: sha256(content) },
      sendOptionsOf(options),
    );
    const result = {
      recordId: toHex(id),
      version,
      contentHash: stored.contentHash,
      amendTx: sent.hash,
      status: sent.status,
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
    const client = clientOf(cmd);
    const signer = await signerOf(options);
    // The ledger erasure first: the vault refuses to shred a record that is live on the ledger.
    const sent = await sendTransaction(
      client,
      signer,
      'record.erase',
      { recordId: id },
      sendOptionsOf(options),
    );
    // The node shreds by itself when the erasure commits; this makes sure before returning
    // (with --no-wait the erasure is not committed yet, and the node will do it then).
    const committed = sent.status === 'committed';
    if (committed) await client.post(`/vault/records/${toHex(id)}/erase`, {});
    const result = { recordId: toHex(id), shredded: committed, eraseTx: sent.hash };
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
      const client = clientOf(cmd);
      readKeystoreFile(options.key);
      const seed = openKeystore(options.key, await getPassphrase(options, options.key)).seed;
      const { content, answer } = await fetchRecord(client, seed, {
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
        contentHash: toHex(sha256(content)),
        bytes: content.length,
        out: options.out,
        accessLogTx: answer.logTx,
      };
      outputOf(cmd).result(result, lines);
    },
  );
}
