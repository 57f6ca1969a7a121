import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ClientError, MedchainClient } from '@medchain/client';
import {
  type Canonical,
  encryptKeystore,
  formatKeystore,
  fromHex,
  Signer,
  sha256,
  toHex,
  utf8,
} from '@medchain/crypto';
import {
  encodeTransaction,
  recordCommitment,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import type { MedchainNode } from '@medchain/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeNetwork,
  type Network,
  nextNonceSigner,
  startNode,
  waitUntil,
} from '../../../node/test/cluster-harness.js';
import { cli, json, jsonError, tempDir } from '../helpers.js';

const PASSPHRASE = 'record-test-passphrase';

/**
 * `medchain record` against an in-process 4-validator cluster on real libp2p, authentication on:
 * hospital A's author puts (anchor, then the vault takes the bytes its key anchored), amends and
 * erases through A's node; hospital B's clinician reads through B's node, and the CLI opens the
 * envelope and checks the anchored hash. `tx sign-request` + `tx log-access`: B's clinician signs,
 * A's admin or provider commits the node's decision. Every request is signed by the acting key.
 */
describe('medchain record', () => {
  let network: Network;
  const nodes: MedchainNode[] = [];
  const dir = tempDir('record');
  const sign = nextNonceSigner();

  const keyOf = (label: string, seed = sha256(utf8(`cli-record-test:${label}`))) => {
    const path = join(dir, `${label}.json`);
    const file = encryptKeystore(seed, PASSPHRASE, (n) => new Uint8Array(randomBytes(n)), {
      N: 2 ** 10,
      r: 8,
      p: 1,
    });
    writeFileSync(path, formatKeystore(file), { mode: 0o600 });
    return { signer: new Signer(seed), path };
  };
  const author = keyOf('author');
  const clinician = keyOf('clinician');
  const patient = keyOf('patient');
  const env = { MEDCHAIN_PASSPHRASE: PASSPHRASE };
  const nodeUrl = (i: number) => nodes[i]!.parts.apiUrl;
  /** Hospital A's admin (the records' custodian), as a keystore: its seed depends on the network. */
  let custodianAdmin: ReturnType<typeof keyOf>;

  /** `record put` of `file` for the patient, signed by the author, through A's node. */
  const putRecord = (file: string) =>
    cli(
      [
        '--json',
        'record',
        'put',
        '--file',
        file,
        '--patient',
        toHex(patient.signer.publicKey),
        '--key',
        author.path,
        '--node',
        nodeUrl(0),
      ],
      { env },
    );

  /** Commits `kind` (seen by A's and B's nodes) and returns the transaction's hash. */
  async function send(signer: Signer, kind: TxKind, body: Canonical): Promise<Uint8Array> {
    const tx = sign(signer, kind, body);
    const result = nodes[0]!.parts.backend.submitTransaction(encodeTransaction(tx));
    if (!result.accepted) throw new Error(`${kind}: ${result.code}`);
    for (const node of nodes.slice(0, 2)) {
      await waitUntil(`${kind} committed`, () => {
        const status = node.parts.backend.transaction(transactionHash(tx));
        if (status.status === 'committed' && status.receipt.code !== 'OK') {
          throw new Error(`${kind} failed: ${status.receipt.code}`);
        }
        return status.status === 'committed';
      });
    }
    return transactionHash(tx);
  }

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    for (const home of network.homes) nodes.push(await startNode(home));
    const adminSeed = (i: number) => sha256(utf8(`cluster-test:admin:${i}:${network.root}`));
    const admin = (i: number) => new Signer(adminSeed(i));
    custodianAdmin = keyOf('a-admin', adminSeed(0));
    await send(admin(0), 'provider.register', {
      provider: author.signer.publicKey,
      role: 'clinician',
    });
    await send(admin(1), 'provider.register', {
      provider: clinician.signer.publicKey,
      role: 'clinician',
    });
    await send(patient.signer, 'patient.register', {});
  }, 120_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await network?.remove();
  });

  const fhir = (value: number) =>
    JSON.stringify({ resourceType: 'Observation', status: 'final', valueQuantity: { value } });

  it('put, grant, get (content identical), amend, get the new version, erase, get refused', async () => {
    const v1 = join(dir, 'obs-v1.json');
    writeFileSync(v1, fhir(72));
    const put = await putRecord(v1);
    expect(put.code, put.stderr).toBe(0);
    const { recordId } = json<{ recordId: string }>(put);

    const out = join(dir, 'out.json');
    const get = (node = 1) =>
      cli(
        [
          '--json',
          'record',
          'get',
          recordId,
          '--key',
          clinician.path,
          '--purpose',
          'TREAT',
          '--out',
          out,
          '--node',
          nodeUrl(node),
        ],
        { env },
      );
    const before = await get();
    expect(before.code).toBe(1);
    expect(jsonError(before).error).toMatchObject({ code: 'RECORD_ACCESS_DENIED' });

    await send(patient.signer, 'consent.grant', {
      patient: patient.signer.publicKey,
      grantee: { type: 'provider', id: clinician.signer.publicKey },
      recordIds: [],
      resourceTypes: ['Observation'],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: Date.now() - 60_000,
      validUntil: Date.now() + 600_000,
    });
    const read = await get();
    expect(read.code, read.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(fhir(72));
    expect(json(read)).toMatchObject({ version: 1, resourceType: 'Observation' });

    const v2 = join(dir, 'obs-v2.json');
    writeFileSync(v2, fhir(80));
    const amend = await cli(
      [
        '--json',
        'record',
        'amend',
        recordId,
        '--file',
        v2,
        '--key',
        author.path,
        '--node',
        nodeUrl(0),
      ],
      { env },
    );
    expect(amend.code, amend.stderr).toBe(0);
    // Reads of a patient's records are signed: the patient asks B's node.
    const asPatient = new MedchainClient({ url: nodeUrl(1), signer: patient.signer });
    await waitUntil(
      'B sees the amendment',
      async () => (await asPatient.record(recordId)).record.version === 2,
    );
    const second = await get();
    expect(second.code, second.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(fhir(80));

    const erase = await cli(
      ['--json', 'record', 'erase', recordId, '--key', author.path, '--node', nodeUrl(0)],
      { env },
    );
    expect(erase.code, erase.stderr).toBe(0);
    expect(json(erase)).toMatchObject({ shredded: true });
    await waitUntil(
      'B sees the erasure',
      async () => (await asPatient.record(recordId)).record.erased,
    );
    const gone = await get();
    expect(gone.code).toBe(1);
    expect(jsonError(gone).error.message).toContain('RECORD_ERASED');
  });

  it('tx anchor-record / amend-record --content-file anchor a salted commitment and print the salt the vault upload needs', async () => {
    const asAuthor = new MedchainClient({ url: nodeUrl(0), signer: author.signer });
    const custodian = (await asAuthor.provider(author.signer.publicKey)).org;
    const anchorTx = (args: string[], content: string) => {
      const file = join(dir, `tx-${toHex(sha256(utf8(content))).slice(0, 8)}.json`);
      writeFileSync(file, content);
      return cli(
        [
          '--json',
          'tx',
          ...args,
          '--content-file',
          file,
          '--key',
          author.path,
          '--node',
          nodeUrl(0),
        ],
        { env },
      );
    };
    type Anchored = { recordId: string; contentHash: string; salt: string };
    /** The printed anchor is the commitment under the printed salt, never the plain sha256. */
    const checked = (run: Awaited<ReturnType<typeof cli>>, content: string) => {
      expect(run.code, run.stderr).toBe(0);
      const out = json<Anchored & { status: string }>(run);
      expect(out.status).toBe('committed');
      const bytes = utf8(content);
      expect(out.contentHash).toBe(toHex(recordCommitment(fromHex(out.salt), bytes)));
      expect(out.contentHash).not.toBe(toHex(sha256(bytes)));
      return out;
    };
    const patientHex = toHex(patient.signer.publicKey);
    const v1 = fhir(61);
    const anchored = checked(
      await anchorTx(
        [
          'anchor-record',
          '--patient',
          patientHex,
          '--custodian',
          custodian,
          '--type',
          'Observation',
        ],
        v1,
      ),
      v1,
    );
    const { recordId } = anchored;
    expect((await asAuthor.record(recordId)).record.contentHash).toBe(anchored.contentHash);
    // Uploaded without the salt the vault refuses it: the anchor links to no plain hash.
    await expect(
      asAuthor.storeVaultRecord({ recordId, patient: patientHex, version: 1, content: utf8(v1) }),
    ).rejects.toMatchObject({
      code: 'VAULT_NOT_ANCHORED_BY_SIGNER',
    } satisfies Partial<ClientError>);
    await asAuthor.storeVaultRecord({
      recordId,
      patient: patientHex,
      version: 1,
      content: utf8(v1),
      salt: fromHex(anchored.salt),
    });

    const v2 = fhir(62);
    const amended = checked(await anchorTx(['amend-record', '--record', recordId], v2), v2);
    expect(amended.salt).not.toBe(anchored.salt);
    await asAuthor.storeVaultRecord({
      recordId,
      patient: patientHex,
      version: 2,
      content: utf8(v2),
      salt: fromHex(amended.salt),
    });
    expect((await asAuthor.record(recordId)).record).toMatchObject({
      version: 2,
      contentHash: amended.contentHash,
    });
  });

  it('refuses content that is not FHIR before anchoring anything (exit 2)', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"id": "no resourceType"}');
    const put = await putRecord(bad);
    expect(put.code).toBe(2);
    expect(jsonError(put).error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('resourceType'),
    });
  });

  it('log-access: the custodian commits the node decision (permit under a consent, deny after revocation); the patient gets FORBIDDEN', async () => {
    const file = join(dir, 'condition.json');
    writeFileSync(file, JSON.stringify({ resourceType: 'Condition', code: { text: 'asthma' } }));
    const put = await putRecord(file);
    expect(put.code, put.stderr).toBe(0);
    const { recordId } = json<{ recordId: string }>(put);
    const consentId = await send(patient.signer, 'consent.grant', {
      patient: patient.signer.publicKey,
      grantee: { type: 'provider', id: clinician.signer.publicKey },
      recordIds: [fromHex(recordId)],
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: Date.now() - 60_000,
      validUntil: Date.now() + 600_000,
    });

    // B's clinician signs; the request's time is after the consent committed.
    const signRequest = async (name: string) => {
      const out = join(dir, name);
      const run = await cli(
        [
          '--json',
          'tx',
          'sign-request',
          '--key',
          clinician.path,
          '--record',
          recordId,
          '--out',
          out,
        ],
        { env },
      );
      expect(run.code, run.stderr).toBe(0);
      return out;
    };
    const logAccess = (key: string, request: string) =>
      cli(
        ['--json', 'tx', 'log-access', '--key', key, '--request', request, '--node', nodeUrl(0)],
        {
          env,
        },
      );
    const asPatient = new MedchainClient({ url: nodeUrl(0), signer: patient.signer });
    const trail = () => asPatient.allAudit(patient.signer.publicKey);
    const before = (await trail()).length;

    const permitted = await logAccess(custodianAdmin.path, await signRequest('request-1.json'));
    expect(permitted.code, permitted.stderr).toBe(0);
    const permit = json<{ hash: string }>(permitted);
    expect(permit).toMatchObject({
      kind: 'access.log',
      status: 'committed',
      receipt: { code: 'OK' },
      decision: 'permit',
      detail: `permit (consent ${toHex(consentId)})`,
    });
    expect((await trail()).slice(before)).toMatchObject([
      {
        recordId,
        requester: toHex(clinician.signer.publicKey),
        decision: 'permit',
        consentId: toHex(consentId),
        txHash: permit.hash,
      },
    ]);

    await send(patient.signer, 'consent.revoke', { consentId });
    const second = await signRequest('request-2.json');
    // The patient is no custodian: the decision route refuses it before anything is sent.
    const refused = await logAccess(patient.path, second);
    expect(refused.code).toBe(1);
    expect(jsonError(refused).error).toMatchObject({ code: 'FORBIDDEN' });
    expect(await trail()).toHaveLength(before + 1);

    // A's provider may log too; the same request, untouched by the refusal, is now denied.
    const denied = await logAccess(author.path, second);
    expect(denied.code, denied.stderr).toBe(0);
    const deny = json<{ hash: string }>(denied);
    expect(deny).toMatchObject({ kind: 'access.log', receipt: { code: 'OK' }, decision: 'deny' });
    expect((await trail()).slice(before + 1)).toMatchObject([
      { recordId, decision: 'deny', consentId: null, txHash: deny.hash },
    ]);
  });
});
