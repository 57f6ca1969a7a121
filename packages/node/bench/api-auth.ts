/**
 * The cost of request authentication on the node's API: signature verification (RFC 9421
 * medchain profile, Ed25519), the replay cache and role resolution from committed state, in µs
 * of CPU per request.
 *
 * 1. The same party read (GET /v1/patients/:key/consents, a patient's own) through fastify
 *    `inject`, signed with authentication on versus unsigned with it off: the difference is
 *    what authentication adds to a request.
 * 2. The pieces alone: authenticate() (verification + replay cache) and identify() +
 *    standingsOf() (role resolution).
 *
 * Requests are signed beforehand (each with its own nonce), so signing is not counted.
 *
 *   npx tsx --tsconfig tsconfig.test.json packages/node/bench/api-auth.ts [requests]
 */
import { readFileSync } from 'node:fs';
import { signRequest } from '@medchain/client';
import { toHex } from '@medchain/crypto';
import { identify, standingsOf } from '../src/api/auth.js';
import { createApiServer } from '../src/api/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { populatedBackend } from '../test/api-chain.js';

const N = Number(process.argv[2] ?? 4000);
const world = populatedBackend();
const { backend, alice, a } = world;
const now = () => backend.time + 60_000;
const path = `/v1/patients/${toHex(alice.publicKey)}/consents`;
const HOST = 'localhost:7701';

function server(auth: 'required' | 'off') {
  return createApiServer({
    backend,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    port: 0,
    genesis: backend.doc,
    nodeKey: a.validator.publicKey,
    now,
    auth,
    replayCacheSize: 4 * N,
    rateLimit: { perAddress: 10 * N, perKey: 10 * N },
  });
}

const signed = await Promise.all(
  Array.from({ length: N }, (_, i) =>
    signRequest({ method: 'GET', url: `http://${HOST}${path}` }, alice, {
      now: now(),
      nonce: `bench-${String(i).padStart(12, '0')}`,
    }),
  ),
);

const warm = 200;

/** CPU µs per call of `run(i)`: calls 0..warm-1 warm up, warm..N-1 are measured. */
async function cpuPerCall(run: (i: number) => Promise<unknown> | unknown) {
  for (let i = 0; i < warm; i++) await run(i);
  const start = process.cpuUsage();
  const count = N - warm;
  for (let i = warm; i < N; i++) await run(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

const on = server('required');
const off = server('off');
await on.fastify.ready();
await off.fastify.ready();
const inject = (api: typeof on, headers: Record<string, string>) =>
  api.fastify.inject({ url: path, headers: { host: HOST, ...headers } });

// Unsigned before and after the signed run, so warm-up and load drift show.
const unsignedBefore = await cpuPerCall(() => inject(off, {}));
let status = 0;
const signedUs = await cpuPerCall(async (i) => {
  const response = await inject(on, signed[i]!);
  status = response.statusCode;
});
if (status !== 200) throw new Error(`signed request answered ${status}`);
const unsignedAfter = await cpuPerCall(() => inject(off, {}));
const unsignedUs = (unsignedBefore + unsignedAfter) / 2;

// The pieces alone, on fresh nonces.
const fresh = await Promise.all(
  Array.from({ length: N }, (_, i) =>
    signRequest({ method: 'GET', url: `http://${HOST}${path}` }, alice, {
      now: now(),
      nonce: `piece-${String(i).padStart(12, '0')}`,
    }),
  ),
);
const verifyUs = await cpuPerCall((i) =>
  on.authenticator.admit(
    on.authenticator.verify({
      method: 'GET',
      authority: HOST,
      url: path,
      headers: fresh[i]!,
      body: undefined,
    }),
  ),
);
const state = backend.state();
const rolesUs = await cpuPerCall(() =>
  standingsOf(state, identify(state, alice.publicKey), { patient: alice.publicKey }, a.id, now()),
);

await on.close();
await off.close();
const load = readFileSync('/proc/loadavg', 'utf8').trim();
const f = (us: number) => us.toFixed(1);
console.log(`requests: ${N - warm} per run; /proc/loadavg: ${load}`);
console.log(`GET ${path.replace(toHex(alice.publicKey), ':key')} via inject, CPU per request:`);
console.log(`  signed, auth required: ${f(signedUs)} us`);
console.log(
  `  unsigned, auth off:    ${f(unsignedUs)} us (before ${f(unsignedBefore)}, after ${f(unsignedAfter)})`,
);
console.log(`  authentication adds:   ${f(signedUs - unsignedUs)} us`);
console.log(`pieces: verify + replay cache ${f(verifyUs)} us, role resolution ${f(rolesUs)} us`);
