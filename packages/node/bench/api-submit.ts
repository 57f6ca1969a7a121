/**
 * The HTTP API's own cost per submitted transaction: POST /v1/tx (one transaction a request)
 * against POST /v1/txs (256 a request, the canonical list), over real keep-alive sockets on
 * 127.0.0.1 with 16 (single) or 4 (batches) requests in flight. Admission is replaced by
 * "accepted", so what is counted is routing, body parsing, answering and the HTTP exchange:
 * µs of CPU per transaction of this one process, client and server together. Three
 * alternating rounds, each line with the load average.
 *
 *   npx tsx --tsconfig tsconfig.test.json packages/node/bench/api-submit.ts [transactions]
 */
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { encodeCanonical } from '@medchain/crypto';
import { encodeTransaction, transactionHash } from '@medchain/ledger';
import type { ApiBackend } from '../src/api/index.js';
import { createApiServer } from '../src/api/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { populatedBackend, signer } from '../test/api-chain.js';

const BATCH = 256;
const N = Math.ceil(Number(process.argv[2] ?? 5120) / BATCH) * BATCH;
const { backend } = populatedBackend();
const txs = Array.from({ length: BATCH }, (_, i) =>
  backend.sign(signer(`api-submit/${i}`), 'patient.register', {}),
);
const bytes = txs.map(encodeTransaction);
const hash = transactionHash(txs[0]!);
const admitted: ApiBackend = Object.assign(Object.create(backend) as ApiBackend, {
  submitTransaction: () => ({ accepted: true, hash }) as const,
  submitTransactions: (list: readonly Uint8Array[]) =>
    list.map(() => ({ accepted: true, hash }) as const),
});
const server = createApiServer({
  backend: admitted,
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics(),
  port: 0,
});
const url = await server.start();
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function post(path: string, body: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function measure(label: string, run: () => Promise<void>): Promise<void> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - t0) / 1000;
  const perTx = (used.user + used.system) / N;
  console.log(
    `${label}: ${perTx.toFixed(1)} µs CPU/tx, ${Math.round(N / seconds)} tx/s (load ${loadavg()[0]!.toFixed(2)})`,
  );
}

const batchBody = encodeCanonical(bytes);
for (let round = 0; round < 3; round++) {
  await measure('POST /v1/tx, 1 a request ', async () => {
    for (let i = 0; i < N; i += 16) {
      await Promise.all(
        Array.from({ length: 16 }, (_, j) => post('/v1/tx', bytes[(i + j) % BATCH]!)),
      );
    }
  });
  await measure(`POST /v1/txs, ${BATCH} a request`, async () => {
    for (let i = 0; i < N; i += 4 * BATCH) {
      await Promise.all(Array.from({ length: 4 }, () => post('/v1/txs', batchBody)));
    }
  });
}
agent.destroy();
await server.close();
