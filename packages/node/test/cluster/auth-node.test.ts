import { randomBytes } from 'node:crypto';
import { signRequest } from '@medchain/client';
import { type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  type AccessRequest,
  accessRequestDigest,
  auditTrail,
  encodeTransaction,
  recordId,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MedchainNode } from '../../src/index.js';
import {
  makeNetwork,
  type Network,
  nextNonceSigner,
  orgAdminOf,
  orgIdOf,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * The outside findings against a real, committing node (one validator, its own vault and record
 * exchange, real HTTP on 127.0.0.1): vault writes only from the key that anchored the version,
 * no tombstone for a never-anchored id, a record request from a key with no role refused with
 * nothing committed, and the octet-stream bodies that used to answer 500.
 */

describe('the outside findings, on a real node', () => {
  let network: Network;
  let node: MedchainNode;
  let base: string;
  const sign = nextNonceSigner();
  const who = (label: string) => new Signer(sha256(utf8(`auth-node:${label}`)));
  const clinician = who('clinician');
  const colleague = who('colleague');
  const patient = who('patient');
  const stranger = who('stranger');
  let admin: Signer;
  const orgId = orgIdOf(0);
  const content = utf8(JSON.stringify({ resourceType: 'Observation', status: 'final' }));
  const recordNonce = new Uint8Array(randomBytes(16));
  const record = recordId(orgId, patient.publicKey, recordNonce);

  async function send(from: Signer, kind: TxKind, body: Canonical): Promise<string> {
    const tx = sign(from, kind, body);
    const response = await fetch(`${base}/v1/tx`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: encodeTransaction(tx),
    });
    expect(response.status).toBe(202);
    const hash = transactionHash(tx);
    let code = '';
    await waitUntil(`${kind} commits`, () => {
      const status = node.parts.backend.transaction(hash);
      if (status.status === 'committed') code = status.receipt.code;
      return status.status === 'committed';
    });
    return code;
  }

  async function post(path: string, body: unknown, as?: Signer) {
    const url = `${base}${path}`;
    const bytes = utf8(JSON.stringify(body));
    const signature =
      as === undefined
        ? {}
        : await signRequest({ method: 'POST', url, body: bytes }, as, {
            now: Date.now(),
            nonce: randomBytes(18).toString('base64url'),
          });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signature },
      body: bytes,
    });
    const json = (await response.json()) as { error?: { code: string } } & Record<string, unknown>;
    return { status: response.status, code: json.error?.code, json };
  }

  const vaultBody = () => ({
    recordId: toHex(record),
    patient: toHex(patient.publicKey),
    version: 1,
    content: toHex(content),
  });

  function signedAccess(requester: Signer) {
    const request: AccessRequest = {
      recordId: record,
      requester: requester.publicKey,
      action: 'access',
      purpose: 'TREAT',
      time: Date.now(),
      nonce: new Uint8Array(randomBytes(16)),
    };
    return {
      request: {
        ...request,
        recordId: toHex(record),
        requester: toHex(requester.publicKey),
        nonce: toHex(request.nonce),
      },
      signature: toHex(requester.sign(accessRequestDigest(request))),
    };
  }

  const audit = () => auditTrail(node.parts.backend.history(), patient.publicKey).total;

  beforeAll(async () => {
    network = await makeNetwork({ validators: 1 });
    admin = orgAdminOf(network, 0);
    node = await startNode(network.homes[0]!);
    base = node.parts.apiUrl;
    for (const provider of [clinician, colleague]) {
      expect(
        await send(admin, 'provider.register', { provider: provider.publicKey, role: 'clinician' }),
      ).toBe('OK');
    }
    expect(await send(patient, 'patient.register', {})).toBe('OK');
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    await network?.remove();
  });

  it('the vault takes a version only after the ledger anchors it, and only from its anchoring key', async () => {
    expect(await post('/v1/vault/records', vaultBody())).toMatchObject({
      status: 401,
      code: 'SIGNATURE_MISSING',
    });
    expect(await post('/v1/vault/records', vaultBody(), stranger)).toMatchObject({
      status: 401,
      code: 'KEY_UNKNOWN',
    });
    // Before the anchor commits, nobody can take the version (the finding: a squatter stored
    // version 2 and the clinician's real amend then failed).
    expect(await post('/v1/vault/records', vaultBody(), clinician)).toMatchObject({
      status: 403,
      code: 'VAULT_NOT_ANCHORED_BY_SIGNER',
    });
    expect(
      await send(clinician, 'record.anchor', {
        patient: patient.publicKey,
        custodian: orgId,
        resourceType: 'Observation',
        contentHash: sha256(content),
        nonce: recordNonce,
      }),
    ).toBe('OK');
    expect(await post('/v1/vault/records', vaultBody(), colleague)).toMatchObject({
      status: 403,
      code: 'VAULT_NOT_ANCHORED_BY_SIGNER',
    });
    expect(await post('/v1/vault/records', vaultBody(), admin)).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    const other = { ...vaultBody(), content: toHex(utf8('{"resourceType":"Observation"}')) };
    expect(await post('/v1/vault/records', other, clinician)).toMatchObject({
      status: 403,
      code: 'VAULT_NOT_ANCHORED_BY_SIGNER',
    });
    expect((await post('/v1/vault/records', vaultBody(), clinician)).status).toBe(201);
  });

  it('a never-anchored record id is not tombstoned through the erase route', async () => {
    const ghost = recordId(orgId, patient.publicKey, sha256(utf8('ghost')).slice(0, 16));
    for (const as of [admin, clinician]) {
      expect(await post(`/v1/vault/records/${toHex(ghost)}/erase`, {}, as)).toMatchObject({
        status: 403,
        code: 'VAULT_NOT_CUSTODIAN',
      });
    }
    expect(await node.parts.vault.isErased(ghost)).toBe(false);
  });

  it("a stranger's record request is refused and nothing is committed; the patient's is served", async () => {
    const auditBefore = audit();
    const heightBefore = node.parts.chain.height;
    const refused = await post(`/v1/records/${toHex(record)}/fetch`, signedAccess(stranger));
    expect(refused).toMatchObject({ status: 403, code: 'REQUESTER_NO_ROLE' });
    expect(node.parts.mempool.size).toBe(0);
    // A later block commits, and still no entry joined the trail.
    expect(await send(who('filler'), 'patient.register', {})).toBe('OK');
    expect(node.parts.chain.height).toBeGreaterThan(heightBefore);
    expect(audit()).toBe(auditBefore);
    // The check lets the people the ledger knows through: the patient reads the record.
    const served = await post(`/v1/records/${toHex(record)}/fetch`, signedAccess(patient));
    expect(served.status).toBe(200);
    expect(audit()).toBe(auditBefore + 1);
  });

  it('octet-stream bodies to the record and vault routes are 415, not 500', async () => {
    for (const path of ['/v1/vault/records', `/v1/records/${toHex(record)}/fetch`]) {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: utf8(JSON.stringify(vaultBody())),
      });
      expect(response.status).toBe(415);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
  });
});
