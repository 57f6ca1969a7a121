import { connect } from 'node:net';
import { signRequest } from '@medchain/client';
import { type Signer, toHex, utf8 } from '@medchain/crypto';
import { encodeTransaction, stateKeys } from '@medchain/ledger';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX, createApiServer } from '../src/api/index.js';
import { ROUTES } from '../src/api/routes.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { populatedBackend, signer } from './api-chain.js';

const world = populatedBackend();
const BODY_LIMIT = 2048;
const api = createApiServer({
  backend: world.backend,
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics(),
  port: 0,
  bodyLimit: BODY_LIMIT,
  genesis: world.backend.doc,
  nodeKey: world.a.validator.publicKey,
  // Enough for every run of the property from one address.
  rateLimit: { perAddress: 100_000, perKey: 100_000 },
});

beforeAll(() => api.fastify.ready());
afterAll(() => api.close());

const validTx = toHex(encodeTransaction(world.access));
const hexOf = (length: number) =>
  fc.uint8Array({ minLength: length, maxLength: length }).map((b) => toHex(b));

/** Values a client might put in a path segment or a query value, valid or not. */
const segment = fc.oneof(
  hexOf(32),
  fc.constant(toHex(world.alice.publicKey)),
  fc.constant(toHex(world.record)),
  fc.integer({ min: 0, max: 1000 }).chain((n) => hexOf(n % 70)),
  fc.constantFrom(
    'latest',
    '0',
    '1',
    '3',
    '-1',
    '1e3',
    '9007199254740993',
    '..',
    '.',
    'null',
    '[]',
  ),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constant('a'.repeat(3000)),
  fc.constant(toHex(stateKeys.patient(world.alice.publicKey))),
);

const templatePath = fc
  .constantFrom(...ROUTES.map((route) => `${API_PREFIX}${route.path}`))
  .chain((path) => {
    const names = [...path.matchAll(/:([A-Za-z]+)/g)].length;
    return fc.array(segment, { minLength: names, maxLength: names }).map((values) => {
      let i = 0;
      return path.replace(/:([A-Za-z]+)/g, () => encodeURIComponent(values[i++]!));
    });
  });

const path = fc.oneof(
  { weight: 4, arbitrary: templatePath },
  { weight: 1, arbitrary: fc.webPath().map((p) => `/${p.replace(/^\//, '')}`) },
  { weight: 1, arbitrary: fc.webPath().map((p) => `${API_PREFIX}/${p.replace(/^\//, '')}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/v1//status',
      '/v1/%2e%2e/status',
      '/v1/tx/%00',
      '/%ZZ',
      '/v1/status%',
    ),
  },
);

const queryKey = fc.oneof(
  fc.constantFrom('offset', 'limit', 'reverse', 'key', 'patient', '__proto__', 'constructor'),
  fc.string({ maxLength: 10 }),
);
const query = fc
  .array(fc.tuple(queryKey, segment), { maxLength: 4 })
  .map((pairs) => new URLSearchParams(pairs).toString());

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/octet-stream',
  'text/plain',
  'text/event-stream',
  'multipart/form-data; boundary=zz',
  'application/x-www-form-urlencoded',
  'application/jsonx',
  ';;;',
  '',
];

const body = fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(Buffer.alloc(BODY_LIMIT + 1)),
  fc.constant('x'.repeat(BODY_LIMIT * 2)),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc
    .oneof(
      fc.constant(validTx),
      fc.integer({ min: 1, max: validTx.length - 1 }).map((n) => validTx.slice(0, n)),
      hexOf(40),
      fc.string(),
      fc.constant(validTx.toUpperCase()),
    )
    .map((tx) => JSON.stringify({ tx })),
  fc.constant('{"tx": "00", "tx": 5}'),
  fc.constant('{"__proto__": {"tx": "00"}}'),
);

const headers = fc.record({
  'content-type': fc.constantFrom(...CONTENT_TYPES),
  extra: fc.dictionary(fc.stringMatching(/^x-[a-z]{1,10}$/), fc.stringMatching(/^[ -~]{0,40}$/), {
    maxKeys: 3,
  }),
});

/** The keys a request may be signed with: every role, and none. */
const SIGNERS: Signer[] = [
  world.alice,
  world.clinician,
  world.bClinician,
  world.a.admin,
  world.b.validator,
  signer('fuzz/stranger'),
];

/** How a request is signed: not at all, properly, or with one part spoiled. */
const signing = fc.oneof(
  fc.constant({ mode: 'none' as const }),
  fc.record({
    mode: fc.constantFrom('valid', 'expired', 'future', 'corrupt', 'other-body', 'garbage'),
    who: fc.constantFrom(...SIGNERS),
    seed: fc.integer({ min: 0, max: 2 ** 30 }),
  }),
);

let nonceCounter = 0;

async function signatureHeaders(
  how: { mode: string; who?: Signer; seed?: number },
  method: string,
  url: string,
  payload: string | Buffer | undefined,
): Promise<Record<string, string>> {
  if (how.mode === 'none' || how.who === undefined) return {};
  if (how.mode === 'garbage') {
    return { signature: `medchain=:${how.seed}:`, 'signature-input': `medchain=(${how.seed})` };
  }
  const bytes =
    payload === undefined
      ? undefined
      : typeof payload === 'string'
        ? utf8(payload)
        : new Uint8Array(payload);
  const now =
    Date.now() + (how.mode === 'expired' ? -600_000 : how.mode === 'future' ? 600_000 : 0);
  const signed = how.mode === 'other-body' ? utf8(`{"other":${how.seed}}`) : bytes;
  nonceCounter += 1;
  let headers: Record<string, string>;
  try {
    headers = await signRequest(
      { method, url: `http://localhost${url}`, ...(signed === undefined ? {} : { body: signed }) },
      how.who,
      { now, nonce: `fuzz-nonce-${nonceCounter.toString().padStart(8, '0')}` },
    );
  } catch {
    return {}; // a URL the client refuses to sign goes unsigned
  }
  if (how.mode === 'corrupt') {
    headers.signature = headers.signature!.replace(/[A-Za-z]/, (c) => (c === 'A' ? 'B' : 'A'));
  }
  return headers;
}

function isEventStream(method: string, url: string): boolean {
  try {
    const pathname = decodeURIComponent(new URL(url, 'http://x').pathname);
    return method === 'GET' && pathname === `${API_PREFIX}/events`;
  } catch {
    return false;
  }
}

describe('the API never answers 5xx and keeps serving, whatever a client sends', () => {
  it('arbitrary methods, paths, queries, headers, bodies and signatures (valid or spoiled, by every role) get 2xx/4xx with an error body', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        path,
        query,
        headers,
        body,
        signing,
        async (method, requestPath, queryString, headerSet, payload, how) => {
          const url = queryString === '' ? requestPath : `${requestPath}?${queryString}`;
          // A valid stream request would (rightly) stay open; streams are tested apart.
          fc.pre(!isEventStream(method, url));
          const signature = await signatureHeaders(how, method, url, payload);
          const response = await api.fastify.inject({
            method: method as 'GET',
            url,
            headers: {
              ...headerSet.extra,
              ...signature,
              host: 'localhost',
              'content-type': headerSet['content-type'],
            },
            ...(payload === undefined ? {} : { payload }),
          });
          expect(response.statusCode, `${method} ${url}`).toBeLessThan(500);
          if (response.statusCode >= 400 && method !== 'HEAD') {
            const error = response.json().error;
            expect(typeof error.code).toBe('string');
            expect(typeof error.message).toBe('string');
          }
          expect((await api.fastify.inject({ url: '/v1/health' })).statusCode).toBe(200);
        },
      ),
      { numRuns: 600 },
    );
  });

  it('the signing the property uses is accepted where the role fits (so valid cases reach handlers)', async () => {
    const url = `${API_PREFIX}/patients/${toHex(world.alice.publicKey)}/consents`;
    const inject = async (how: { mode: string; who: Signer; seed: number }) =>
      (
        await api.fastify.inject({
          url,
          headers: { host: 'localhost', ...(await signatureHeaders(how, 'GET', url, undefined)) },
        })
      ).statusCode;
    expect(await inject({ mode: 'valid', who: world.alice, seed: 0 })).toBe(200);
    expect(await inject({ mode: 'valid', who: world.clinician, seed: 0 })).toBe(403);
    expect(await inject({ mode: 'corrupt', who: world.alice, seed: 0 })).toBe(401);
    expect(await inject({ mode: 'expired', who: world.alice, seed: 0 })).toBe(401);
  });

  it('survives malformed HTTP on a real socket and keeps answering /health', async () => {
    const address = await api.start();
    const { port } = new URL(address);
    const garbage = [
      'GARBAGE\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tx":',
      'POST /v1/tx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n',
      `GET /v1/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'GET /v1/status HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
    ];
    for (const bytes of garbage) {
      const replies = await new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
        });
        socket.on('error', () => resolve(text));
        socket.on('close', () => resolve(text));
        // Half-close so a server waiting for more body bytes sees the end.
        socket.end(bytes);
      });
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(replies)?.[1] ?? '0');
      expect({ bytes: bytes.slice(0, 40), fiveHundred: status >= 500 }).toEqual({
        bytes: bytes.slice(0, 40),
        fiveHundred: false,
      });
      const health = await fetch(`${address}/v1/health`);
      expect(health.status).toBe(200);
    }
  });
});
