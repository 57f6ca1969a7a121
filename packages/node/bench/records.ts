/**
 * Record exchange throughput and latency on an in-process 4-validator cluster (real libp2p on
 * 127.0.0.1): hospital B's node fetches from hospital A's, the custodian logs each access and
 * waits for the commit before sealing the record; the requester opens it and checks the hash.
 *
 *   npx tsx --tsconfig tsconfig.test.json packages/node/bench/records.ts [concurrency]
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { openServedRecord, signAccessRequest } from '@medchain/client';
import { type Canonical, encodeEnvelope, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  recordId as deriveRecordId,
  encodeTransaction,
  signTransaction,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import type { MedchainNode } from '../src/index.js';
import { CHAIN_ID, makeNetwork, startNode, waitUntil } from '../test/cluster-harness.js';

const concurrency = Number(process.argv[2] ?? 16);
const network = await makeNetwork({ validators: 4, logLevel: 'error' });
const nodes: MedchainNode[] = [];
for (const home of network.homes) nodes.push(await startNode(home));
const [A, B] = [nodes[0]!, nodes[1]!];
const nonces = new Map<string, number>();

async function send(signer: Signer, kind: TxKind, body: Canonical): Promise<void> {
  const id = toHex(signer.publicKey);
  const nonce = (nonces.get(id) ?? 0) + 1;
  nonces.set(id, nonce);
  const tx = signTransaction(
    { chainId: CHAIN_ID, kind, body, signer: signer.publicKey, nonce },
    signer,
  );
  const result = A.parts.backend.submitTransaction(encodeTransaction(tx));
  if (!result.accepted) throw new Error(`${kind}: ${result.code}`);
  for (const node of [A, B]) {
    await waitUntil(
      kind,
      () => node.parts.backend.transaction(transactionHash(tx)).status === 'committed',
    );
  }
}

const seedOf = (label: string) => sha256(utf8(`records-bench:${label}`));
const author = new Signer(seedOf('author'));
const clinicianSeed = seedOf('clinician');
const clinician = new Signer(clinicianSeed);
const patient = new Signer(seedOf('patient'));
const admin = (i: number) => new Signer(sha256(utf8(`cluster-test:admin:${i}:${network.root}`)));
const orgA = sha256(utf8('cluster-test:org:0'));
await send(admin(0), 'provider.register', { provider: author.publicKey, role: 'clinician' });
await send(admin(1), 'provider.register', { provider: clinician.publicKey, role: 'clinician' });
await send(patient, 'patient.register', {});
await send(patient, 'consent.grant', {
  patient: patient.publicKey,
  grantee: { type: 'provider', id: clinician.publicKey },
  recordIds: [],
  resourceTypes: ['Observation'],
  actions: ['access'],
  purposes: ['TREAT'],
  validFrom: Date.now() - 60_000,
  validUntil: Date.now() + 3_600_000,
});

async function anchored(size: number): Promise<{ id: Uint8Array; content: Uint8Array }> {
  const filler = randomBytes(Math.ceil((size * 3) / 4))
    .toString('base64')
    .slice(0, size - 60);
  const content = utf8(
    JSON.stringify({ resourceType: 'Observation', status: 'final', note: filler }),
  );
  const nonce = new Uint8Array(randomBytes(16));
  const id = deriveRecordId(orgA, patient.publicKey, nonce);
  await A.parts.records.putRecord({
    recordId: id,
    patient: patient.publicKey,
    version: 1,
    content,
  });
  await send(author, 'record.anchor', {
    patient: patient.publicKey,
    custodian: orgA,
    resourceType: 'Observation',
    contentHash: sha256(content),
    nonce,
  });
  return { id, content };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function run(label: string, size: number, total: number, inFlight: number): Promise<void> {
  const { id, content } = await anchored(size);
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      const t0 = performance.now();
      const signed = await signAccessRequest(clinician, {
        recordId: id,
        action: 'access',
        purpose: 'TREAT',
      });
      const fetched = await B.parts.records.fetch(signed);
      const bytes = openServedRecord({
        request: signed.request,
        envelope: encodeEnvelope(fetched.answer.envelope),
        recipientSeed: clinicianSeed,
        custodianKey: fetched.custodianKey,
        anchoredHash: fetched.record.contentHash,
      });
      if (bytes.length !== content.length) throw new Error('wrong record');
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((x, y) => x - y);
  console.log(
    `${label.padEnd(6)} ${String(total).padStart(4)} reads, ${inFlight} in flight: ${(total / seconds).toFixed(1)} records/s, ` +
      `${((total * size) / seconds / 1e6).toFixed(2)} MB/s, latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms`,
  );
}

try {
  await run('4 KB', 4 * 1024, 400, concurrency);
  // 1 MB answers share the protocol deadline with the log wait: past ~16 in flight on this
  // machine the transfer of the last ones runs out of it (the requester gets UNREACHABLE).
  await run('1 MB', 1024 * 1024, 60, Math.min(concurrency, 16));
} finally {
  for (const node of nodes) await node.stop();
  await network.remove();
}
