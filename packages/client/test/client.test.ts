import { createServer, type Server } from 'node:net';
import { decryptKeystore, sha256, toHex, utf8, verify } from '@medchain/crypto';
import { signingDigest, verifyTransactionSignature } from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDidKey } from '../src/did-key.js';
import {
  accessRequestFromJson,
  accessRequestJson,
  type ChainEvent,
  ClientError,
  exportKeystore,
  importKeystore,
  KeySigner,
  keystorePublicKey,
  MedchainClient,
  signAccessRequest,
  signTransaction,
  WebCryptoSigner,
} from '../src/index.js';
import { seedOf, startNode } from './node-harness.js';

const FAST_SCRYPT = { N: 2 ** 10, r: 8, p: 1 };

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ClientError) return { code: error.code, status: error.status };
    throw error;
  }
  throw new Error('expected a ClientError');
}

describe('keys', () => {
  it('writes the keystore format the CLI reads, and reads it back', () => {
    const signer = KeySigner.generate();
    const text = exportKeystore(signer, 'correct horse', FAST_SCRYPT);
    expect(toHex(keystorePublicKey(text))).toBe(toHex(signer.publicKey));
    // crypto's decryptKeystore is what the CLI's openKeystore calls.
    expect(toHex(decryptKeystore(text, 'correct horse').seed)).toBe(toHex(signer.seed));
    expect(toHex(importKeystore(text, 'correct horse').publicKey)).toBe(toHex(signer.publicKey));
    expect(() => importKeystore(text, 'wrong')).toThrow(
      expect.objectContaining({ code: 'WRONG_PASSPHRASE' }),
    );
    expect(() => importKeystore('{"not":"a keystore"}', 'x')).toThrow(
      expect.objectContaining({ code: 'KEYSTORE_INVALID' }),
    );
  });

  it('signs transactions with a non-extractable WebCrypto key', async () => {
    const signer = await WebCryptoSigner.generate();
    const tx = await signTransaction(signer, {
      chainId: 'medchain-test',
      kind: 'patient.register',
      body: {},
      nonce: 1,
    });
    expect(verifyTransactionSignature(tx)).toBe(true);
    expect(verify(signer.publicKey, signingDigest(tx), tx.signature)).toBe(true);
    const other = await signTransaction(KeySigner.generate(), {
      chainId: tx.chainId,
      kind: 'patient.register',
      body: {},
      nonce: 2,
    });
    expect(verifyTransactionSignature({ ...other, signer: signer.publicKey })).toBe(false);
  });
});

describe('access requests', () => {
  it('round-trips a signed request through its JSON form and refuses a changed one', async () => {
    const requester = KeySigner.generate();
    const signed = await signAccessRequest(requester, {
      recordId: sha256(utf8('a record')),
      action: 'access',
      purpose: 'TREAT',
      time: 1_750_000_000_000,
    });
    const json = accessRequestJson(signed);
    const back = accessRequestFromJson(json);
    expect(accessRequestJson(back)).toEqual(json);
    const changed = { ...json, request: { ...json.request, purpose: 'HRESCH' } };
    expect(() => accessRequestFromJson(changed)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('against a real node API', () => {
  let node: Awaited<ReturnType<typeof startNode>>;
  const clientFor = (signer?: KeySigner) =>
    new MedchainClient({ url: node.url, ...(signer === undefined ? {} : { signer }) });
  const alice = new KeySigner(seedOf('patient/alice'));
  const clinician = new KeySigner(seedOf('a/clinician'));
  const bClinician = new KeySigner(seedOf('b/clinician'));

  beforeAll(async () => {
    node = await startNode({ commitEveryMs: 20 });
  });
  afterAll(async () => {
    await node.close();
  });

  it('builds, signs, submits a transaction and awaits its receipt', async () => {
    const client = clientFor(alice);
    const sent = await client.sendTransaction('patient.policy', {
      patient: alice.publicKey,
      breakGlassOptOut: false,
      researchOptOut: true,
    });
    expect(sent.status).toBe('committed');
    expect(sent.receipt?.code).toBe('OK');
    const tx = await client.tx(sent.hash);
    expect(tx.status).toBe('committed');
    expect(tx.tx.nonce).toBe(sent.nonce);
    expect((await client.patient(alice.publicKey)).researchOptOut).toBe(true);
  });

  it('sends back to back without waiting, each with its own nonce', async () => {
    const client = clientFor(alice);
    const body = { patient: alice.publicKey, breakGlassOptOut: false, researchOptOut: false };
    const first = await client.sendTransaction('patient.policy', body, { wait: false });
    const second = await client.sendTransaction('patient.policy', body, { wait: false });
    expect(second.nonce).toBe(first.nonce + 1);
    const receipts = await Promise.all([
      client.waitForReceipt(first.hash),
      client.waitForReceipt(second.hash),
    ]);
    expect(receipts.map((r) => r.receipt.code)).toEqual(['OK', 'OK']);
  });

  it('two clients of one signer, same body back to back: the proven nonce lags, both commit', async () => {
    const body = { patient: alice.publicKey, breakGlassOptOut: true, researchOptOut: false };
    const first = await clientFor(alice).sendTransaction('patient.policy', body);
    // A fresh client knows no nonce it used; the node's proof is one block behind.
    const second = await clientFor(alice).sendTransaction('patient.policy', body);
    expect(second.nonce).toBe(first.nonce + 1);
    expect(second.receipt?.code).toBe('OK');
  });

  it('waits out a 503 with Retry-After (mempool full) and submits again', async () => {
    node.backend.mempoolCapacity = 0;
    const refusals: string[] = [];
    const client = new MedchainClient({
      url: node.url,
      signer: alice,
      // The mempool frees up once the node has refused the first attempt.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).endsWith('/v1/tx') && response.status === 503) {
          refusals.push(response.headers.get('retry-after') ?? '');
          node.backend.mempoolCapacity = 1000;
        }
        return response;
      },
    });
    const sent = await client
      .sendTransaction('patient.policy', {
        patient: alice.publicKey,
        breakGlassOptOut: true,
        researchOptOut: true,
      })
      .finally(() => {
        node.backend.mempoolCapacity = 1000;
      });
    expect(refusals).toEqual(['1']);
    expect(sent.receipt?.code).toBe('OK');
  });

  it("throws a failed receipt's code with the receipt in details", async () => {
    const error = await clientFor(alice)
      .sendTransaction('consent.revoke', { consentId: sha256(utf8('no such consent')) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toMatch(/^[A-Z_]+$/);
    expect((error as ClientError).code).not.toBe('OK');
  });

  it("reads a patient's data signed as the patient, keys as hex or did:key", async () => {
    const client = clientFor(alice);
    const consents = await client.consents(toDidKey(alice.publicKey));
    expect(consents.items.map((c) => c.id)).toContain(toHex(node.consentId));
    expect((await client.consent(node.consentId)).grantee.id).toBe(toHex(bClinician.publicKey));
    const audit = await client.allAudit(alice.publicKey);
    expect(audit[0]?.requester).toBe(toHex(bClinician.publicKey));
    const records = await client.patientRecords(toHex(alice.publicKey));
    expect(records.items.map((r) => r.id)).toContain(toHex(node.record));
    expect((await client.record(node.record)).record.patient).toBe(toHex(alice.publicKey));
    expect((await client.status()).chainId).toBe(node.backend.doc.chainId);
    expect((await client.organizations()).items).toHaveLength(4);
    expect((await client.provider(clinician.publicKey)).org).toBe(toHex(node.a.id));
    expect((await client.header(1)).header.height).toBe(1);
    expect((await client.genesis()).genesis).toMatchObject({ chainId: node.backend.doc.chainId });
    expect((await client.validatorSets()).items[0]?.fromHeight).toBe(1);
    expect(await client.metrics()).toContain('medchain_http_requests_total');
  });

  it('answers API errors with their code and status', async () => {
    const stranger = KeySigner.generate();
    expect(await codeOf(clientFor().consents(alice.publicKey))).toMatchObject({ status: 401 });
    expect([401, 403]).toContain(
      (await codeOf(clientFor(stranger).consents(alice.publicKey))).status,
    );
    expect(await codeOf(clientFor(alice).delegate(alice.publicKey, stranger.publicKey))).toEqual({
      code: 'DELEGATE_NOT_FOUND',
      status: 404,
    });
    expect(await codeOf(clientFor(alice).patient('did:key:zNotAKey'))).toEqual({
      code: 'INVALID_ARGUMENT',
      status: undefined,
    });
  });

  it('stores and anchors a record, then fetches and opens it as the consented clinician', async () => {
    const content = utf8(JSON.stringify({ resourceType: 'Observation', id: 'bp', value: 120 }));
    const stored = await clientFor(clinician).putRecord({ patient: alice.publicKey, content });
    expect(stored.tx.receipt?.code).toBe('OK');
    const time = node.backend.time + 1000;
    const fetched = await clientFor(bClinician).fetchRecord(bClinician, {
      recordId: stored.recordId,
      action: 'access',
      purpose: 'TREAT',
      time,
    });
    expect(toHex(fetched.content)).toBe(toHex(content));
    // The same record asked for by a registered clinician without consent: denied, logged.
    const denied = await codeOf(
      clientFor(clinician).fetchRecord(clinician, {
        recordId: stored.recordId,
        action: 'access',
        purpose: 'HRESCH',
        time: node.backend.time + 1000,
      }),
    );
    expect(denied).toEqual({ code: 'RECORD_ACCESS_DENIED', status: 403 });
  });

  it("logs access as the custodian: the node's decision is what the ledger commits", async () => {
    const ask = () =>
      signAccessRequest(bClinician, {
        recordId: node.record,
        action: 'access',
        purpose: 'TREAT',
        time: node.backend.time + 1000,
      });
    const lastAudit = async () => (await clientFor(alice).allAudit(alice.publicKey)).at(-1);
    // Only the record's custodian may ask: not the requester, nor the patient.
    for (const as of [bClinician, alice]) {
      expect(await codeOf(clientFor(as).logAccess(await ask()))).toEqual({
        code: 'FORBIDDEN',
        status: 403,
      });
    }
    const permitted = await clientFor(clinician).logAccess(await ask());
    expect(permitted.decision).toEqual({
      decision: 'permit',
      basis: 'consent',
      consentId: node.consentId,
    });
    expect(permitted.tx.receipt?.code).toBe('OK');
    expect(await lastAudit()).toMatchObject({
      txHash: permitted.tx.hash,
      decision: 'permit',
      consentId: toHex(node.consentId),
    });
    const revoked = await clientFor(alice).sendTransaction('consent.revoke', {
      consentId: node.consentId,
    });
    expect(revoked.receipt?.code).toBe('OK');
    const denied = await clientFor(clinician).logAccess(await ask());
    expect(denied.decision).toEqual({ decision: 'deny', reason: 'NO_CONSENT', consentId: null });
    expect(denied.tx.receipt?.code).toBe('OK');
    expect(await lastAudit()).toMatchObject({
      txHash: denied.tx.hash,
      decision: 'deny',
      denyReason: 'NO_CONSENT',
    });
  });

  it("streams blocks and a patient's audit entries, resuming after Last-Event-ID", async () => {
    // The block stream is for members (admins, validators); a patient's stream for its side.
    const client = clientFor(alice).withSigner(node.a.admin);
    const height = (await client.status()).height;
    const blocks: ChainEvent[] = [];
    for await (const event of client.events({ lastEventId: height - 3 })) {
      blocks.push(event);
      if (blocks.length === 3) break;
    }
    expect(blocks.map((e) => e.id)).toEqual([height - 2, height - 1, height]);
    const audit: ChainEvent[] = [];
    for await (const event of clientFor(alice).events({
      patient: alice.publicKey,
      lastEventId: 0,
    })) {
      audit.push(event);
      break;
    }
    expect(audit[0]).toMatchObject({ type: 'audit', id: 1 });
  });
});

describe('event stream reconnection', () => {
  it('reconnects when the node ends a long replay, and misses nothing', async () => {
    const node = await startNode({ events: { maxReplay: 2 } });
    try {
      for (let i = 0; i < 4; i++) node.backend.commit();
      const height = node.backend.height;
      const client = new MedchainClient({ url: node.url, signer: node.a.admin });
      const ids: number[] = [];
      for await (const event of client.events({ lastEventId: 0, initialBackoffMs: 10 })) {
        ids.push(event.id);
        if (event.id === height) break;
      }
      expect(ids).toEqual(Array.from({ length: height }, (_, i) => i + 1));
    } finally {
      await node.close();
    }
  });

  it('a quiet stream the node ends at its maximum lifetime is not a failure', async () => {
    const node = await startNode({ events: { maxStreamMs: 1 } });
    try {
      const height = node.backend.height;
      // Two streams end empty; before the third opens, a block is committed for it to replay.
      let streams = 0;
      const client = new MedchainClient({
        url: node.url,
        signer: node.a.admin,
        fetch: (input, init) => {
          if (String(input).includes('/v1/events')) {
            streams += 1;
            if (streams === 3) node.backend.commit();
          }
          return fetch(input, init);
        },
      });
      // With no reconnects allowed, one empty stream counted as a failure would throw.
      let first: ChainEvent | undefined;
      for await (const event of client.events({
        lastEventId: height,
        maxReconnects: 0,
        initialBackoffMs: 1,
        maxBackoffMs: 1,
      })) {
        first = event;
        break;
      }
      // Outside the loop: a stream that ended with no event at all must fail here too.
      expect(first?.id).toBe(height + 1);
      expect(streams).toBeGreaterThanOrEqual(3);
    } finally {
      await node.close();
    }
  });
});

describe('transport errors', () => {
  let silent: Server;
  let silentUrl: string;
  beforeAll(async () => {
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address() as { port: number };
    silentUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => {
    silent.close();
  });

  it('TIMEOUT for a node that does not answer, NODE_UNREACHABLE for one that is not there', async () => {
    const slow = new MedchainClient({ url: silentUrl, timeoutMs: 200 });
    expect(await codeOf(slow.status())).toEqual({ code: 'TIMEOUT', status: undefined });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const gone = new MedchainClient({ url: `http://127.0.0.1:${port}` });
    expect(await codeOf(gone.status())).toEqual({ code: 'NODE_UNREACHABLE', status: undefined });
  });
});
