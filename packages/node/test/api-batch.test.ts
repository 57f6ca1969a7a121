import { encodeCanonical, toHex } from '@medchain/crypto';
import { encodeTransaction, type Transaction, transactionHash } from '@medchain/ledger';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ApiServer,
  createApiServer,
  MAX_BATCH_BODY_BYTES,
  MAX_BATCH_TXS,
} from '../src/api/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { type LedgerBackend, populatedBackend, signer } from './api-chain.js';

/**
 * POST /v1/txs over fastify's inject, on the api-chain ledger (its mempool admits as a node's
 * does: chain, duplicates, signature, nonce, capacity): per-transaction results in order, the
 * two body formats, the limits, and that no body gets a 5xx. Authentication stays on
 * ('required'): the route is public like POST /v1/tx, each transaction's signature its own.
 */

const servers: ApiServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

function serve(backend: LedgerBackend) {
  const server = createApiServer({
    backend,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    port: 0,
    genesis: backend.doc,
  });
  servers.push(server);
  return async (payload: string | Buffer | object, contentType = 'application/json') => {
    const response = await server.fastify.inject({
      method: 'POST',
      url: '/v1/txs',
      payload,
      headers: { 'content-type': contentType },
    });
    return {
      status: response.statusCode,
      headers: response.headers,
      body: response.json() as {
        accepted?: number;
        results?: Array<{
          accepted: boolean;
          hash?: string;
          code?: string;
          message?: string;
          status?: number;
        }>;
        error?: { code: string; message: string };
      },
    };
  };
}

/** Fresh patients registering: independent transactions the ledger admits. */
function registrations(backend: LedgerBackend, count: number, label = 'batch'): Transaction[] {
  return Array.from({ length: count }, (_, i) =>
    backend.sign(signer(`${label}/${i}`), 'patient.register', {}),
  );
}

const hexBody = (txs: readonly Uint8Array[]) => ({ txs: txs.map(toHex) });
const canonicalBody = (txs: readonly Uint8Array[]) => Buffer.from(encodeCanonical([...txs]));

describe('POST /v1/txs', () => {
  it('admits every transaction of a JSON batch and answers one hash each, in order', async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const txs = registrations(backend, 3);
    const answer = await post(hexBody(txs.map(encodeTransaction)));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      accepted: 3,
      results: txs.map((tx) => ({ accepted: true, hash: toHex(transactionHash(tx)) })),
    });
    expect(answer.headers['retry-after']).toBeUndefined();
    expect(backend.mempool.size).toBe(3);
    expect(backend.commit().receipts.map((r) => r.code)).toEqual(['OK', 'OK', 'OK']);
  });

  it('takes the canonical list of transaction bytes as application/octet-stream', async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const txs = registrations(backend, 2, 'octet');
    const answer = await post(
      canonicalBody(txs.map(encodeTransaction)),
      'application/octet-stream',
    );
    expect(answer.status).toBe(200);
    expect(answer.body.results?.map((r) => r.hash)).toEqual(
      txs.map((tx) => toHex(transactionHash(tx))),
    );
  });

  it('admits each as if posted alone: one signer’s nonces in sequence, a repeat is DUPLICATE', async () => {
    const { backend, alice, bClinician } = populatedBackend();
    const post = serve(backend);
    const grant = (type: string) =>
      backend.admit(
        backend.sign(alice, 'consent.grant', {
          patient: alice.publicKey,
          grantee: { type: 'provider', id: bClinician.publicKey },
          recordIds: [],
          resourceTypes: [type],
          actions: ['access'],
          purposes: ['TREAT'],
          validFrom: backend.time,
          validUntil: backend.time + 86_400_000,
        }),
      );
    // Signed with consecutive nonces (sign counts what is pending), then taken back out.
    const first = grant('TypeA');
    const second = grant('TypeB');
    backend.mempool.clear();
    const bytes = [first, second, first].map(encodeTransaction);
    const answer = await post(hexBody(bytes));
    expect(answer.body.accepted).toBe(2);
    expect(answer.body.results).toMatchObject([
      { accepted: true, hash: toHex(transactionHash(first)) },
      { accepted: true, hash: toHex(transactionHash(second)) },
      { accepted: false, code: 'DUPLICATE', status: 409 },
    ]);
  });

  it('refuses the bad ones with the code and status POST /v1/tx would give, and admits the rest', async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const [good, other, otherChain, forged] = registrations(backend, 4, 'mix') as [
      Transaction,
      Transaction,
      Transaction,
      Transaction,
    ];
    const wrongChain = { ...otherChain, chainId: 'another-chain' };
    const badSignature = {
      ...forged,
      signature: Uint8Array.from(forged.signature, (b, i) => (i === 0 ? b ^ 1 : b)),
    };
    const answer = await post(
      hexBody([
        encodeTransaction(good),
        Uint8Array.of(0xc0, 0xff, 0xee),
        encodeTransaction(wrongChain),
        encodeTransaction(badSignature),
        encodeTransaction(other),
      ]),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.accepted).toBe(2);
    expect(answer.body.results).toMatchObject([
      { accepted: true, hash: toHex(transactionHash(good)) },
      { accepted: false, code: 'MALFORMED', status: 400 },
      { accepted: false, code: 'WRONG_CHAIN', status: 400 },
      { accepted: false, code: 'BAD_SIGNATURE', status: 400 },
      { accepted: true, hash: toHex(transactionHash(other)) },
    ]);
    for (const result of answer.body.results!.filter((r) => !r.accepted)) {
      expect(result.message).toEqual(expect.any(String));
    }
    expect(answer.headers['retry-after']).toBeUndefined();
  });

  it('says Retry-After when some were refused for now (a full mempool)', async () => {
    const { backend } = populatedBackend();
    backend.mempoolCapacity = 1;
    const post = serve(backend);
    const answer = await post(hexBody(registrations(backend, 2, 'full').map(encodeTransaction)));
    expect(answer.status).toBe(200);
    expect(answer.body.results).toMatchObject([
      { accepted: true },
      { accepted: false, code: 'MEMPOOL_FULL', status: 503 },
    ]);
    expect(answer.headers['retry-after']).toBe('1');
  });

  it(`refuses more than ${MAX_BATCH_TXS} transactions (413 TOO_MANY_TRANSACTIONS), in either format, admitting none`, async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const txs = registrations(backend, MAX_BATCH_TXS + 1, 'many').map(encodeTransaction);
    for (const answer of [
      await post(hexBody(txs)),
      await post(canonicalBody(txs), 'application/octet-stream'),
    ]) {
      expect(answer.status).toBe(413);
      expect(answer.body.error?.code).toBe('TOO_MANY_TRANSACTIONS');
    }
    expect(backend.mempool.size).toBe(0);
    // The limit itself passes.
    const full = await post(canonicalBody(txs.slice(1)), 'application/octet-stream');
    expect(full.body.accepted).toBe(MAX_BATCH_TXS);
  });

  it(`refuses a body over ${MAX_BATCH_BODY_BYTES} bytes (413 PAYLOAD_TOO_LARGE)`, async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const big = new Uint8Array(MAX_BATCH_BODY_BYTES);
    const answer = await post(canonicalBody([big]), 'application/octet-stream');
    expect(answer.status).toBe(413);
    expect(answer.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses malformed bodies with 400 BAD_REQUEST and other media types with 415', async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const tx = encodeTransaction(registrations(backend, 1, 'bad')[0]!);
    const cases: Array<[string, string | Buffer | object, string, number, string]> = [
      ['no txs', {}, 'application/json', 400, 'BAD_REQUEST'],
      ['an empty list', { txs: [] }, 'application/json', 400, 'BAD_REQUEST'],
      ['not hex', { txs: ['zz'] }, 'application/json', 400, 'BAD_REQUEST'],
      ['uppercase hex', { txs: [toHex(tx).toUpperCase()] }, 'application/json', 400, 'BAD_REQUEST'],
      ['odd hex', { txs: ['abc'] }, 'application/json', 400, 'BAD_REQUEST'],
      ['a string, not a list', { txs: toHex(tx) }, 'application/json', 400, 'BAD_REQUEST'],
      ['an extra field', { txs: [toHex(tx)], more: 1 }, 'application/json', 400, 'BAD_REQUEST'],
      ['broken JSON', '{"txs": [', 'application/json', 400, 'BAD_REQUEST'],
      ['raw bytes', Buffer.from(tx), 'application/octet-stream', 400, 'BAD_REQUEST'],
      ['an empty body', Buffer.alloc(0), 'application/octet-stream', 400, 'BAD_REQUEST'],
      [
        'an empty canonical list',
        canonicalBody([]),
        'application/octet-stream',
        400,
        'BAD_REQUEST',
      ],
      [
        'a list of numbers',
        Buffer.from(encodeCanonical([1, 2])),
        'application/octet-stream',
        400,
        'BAD_REQUEST',
      ],
      ['text', 'txs', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ];
    for (const [label, payload, type, status, code] of cases) {
      const answer = await post(payload, type);
      expect({ label, status: answer.status, code: answer.body.error?.code }).toEqual({
        label,
        status,
        code,
      });
    }
    expect(backend.mempool.size).toBe(0);
  });

  it('any body gets a coded 4xx, or one result per transaction; never a 5xx', async () => {
    const { backend } = populatedBackend();
    const post = serve(backend);
    const [valid] = registrations(backend, 1, 'prop');
    const validHex = toHex(encodeTransaction(valid!));
    const hexItem = fc.oneof(
      fc.constant(validHex),
      fc.uint8Array({ maxLength: 64 }).map(toHex),
      fc.string({ maxLength: 8 }),
    );
    const body = fc.oneof(
      fc
        .record({ txs: fc.array(hexItem, { maxLength: 6 }) })
        .map((b) => [JSON.stringify(b), 'application/json'] as const),
      fc.json().map((text) => [text, 'application/json'] as const),
      fc.string().map((text) => [text, 'application/json'] as const),
      fc
        .array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 })
        .map((list) => [canonicalBody(list), 'application/octet-stream'] as const),
      fc
        .uint8Array({ maxLength: 200 })
        .map((b) => [Buffer.from(b), 'application/octet-stream'] as const),
      fc
        .tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 40 }))
        .map(([text, type]) => [text, type] as const),
    );
    await fc.assert(
      fc.asyncProperty(body, async ([payload, type]) => {
        const answer = await post(payload, type);
        expect(answer.status).toBeLessThan(500);
        if (answer.status === 200) {
          expect(answer.body.results?.length).toBeGreaterThan(0);
          expect(answer.body.accepted).toBe(answer.body.results!.filter((r) => r.accepted).length);
          for (const result of answer.body.results!) {
            expect(result.accepted ? result.hash : result.code).toEqual(expect.any(String));
          }
        } else {
          expect(answer.status).toBeGreaterThanOrEqual(400);
          expect(answer.body.error?.code).toEqual(expect.any(String));
        }
      }),
      { numRuns: 300 },
    );
  });
});
