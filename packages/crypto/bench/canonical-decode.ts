/**
 * decodeCanonical on signed transactions as the node receives them (API submit, gossip, block
 * decode), against the former decode + re-encode + compare and the former unchecked msgpackr
 * decoding that state reads used (both in test/former-decode.ts). One process, interleaved:
 * ROUNDS rounds, each giving every contender a slice in turn, the order rotating. Per
 * contender: CPU µs per decode (median and range over rounds), bytes allocated per decode
 * and scavenges (young-generation GCs) per 10,000 decodes.
 * Run alone: `tsx --tsconfig tsconfig.test.json packages/crypto/bench/canonical-decode.ts`.
 */
import { loadavg } from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import {
  accessRequestDigest,
  decodeTransaction,
  encodeTransaction,
  recordId,
  signTransaction,
  type TxKind,
} from '@medchain/ledger';
import {
  bytesEqual,
  type Canonical,
  decodeCanonical,
  encodeCanonical,
  Signer,
  sha256,
  utf8,
} from '../src/index.js';
import { formerDecodeCanonical, formerDecodeStored } from '../test/former-decode.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const SLICE_MS = Number(process.env.BENCH_MS ?? 1000) / 10;

const key = (label: string) => new Signer(sha256(utf8(label)));
const patient = key('bench/patient');
const clinician = key('bench/clinician');
const custodian = key('bench/custodian');
const T0 = 1_795_536_000_000;

function signed(by: Signer, kind: TxKind, body: Canonical, nonce: number): Uint8Array {
  const tx = signTransaction(
    { chainId: 'medchain-devnet', kind, body, signer: by.publicKey, nonce },
    by,
  );
  const bytes = encodeTransaction(tx);
  decodeTransaction(bytes); // a transaction the ledger would take, body shape included
  return bytes;
}

// The bodies of the ledger's admission bench (packages/ledger/bench/admission.ts).
const grant = signed(
  patient,
  'consent.grant',
  {
    patient: patient.publicKey,
    grantee: { type: 'provider', id: clinician.publicKey },
    recordIds: [],
    resourceTypes: ['Observation'],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: T0,
    validUntil: T0 + 86_400_000,
  },
  17,
);
const request = {
  recordId: recordId(custodian.publicKey, patient.publicKey, sha256(utf8('record')).slice(0, 16)),
  requester: clinician.publicKey,
  action: 'access',
  purpose: 'TREAT',
  time: T0,
  nonce: sha256(utf8('request')).slice(0, 16),
} as const;
const log = signed(
  custodian,
  'access.log',
  {
    request,
    requestSignature: clinician.sign(accessRequestDigest(request)),
    decision: 'deny',
    consentId: null,
  },
  4_242,
);

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

let scavenges = 0;
const gcObserver = new PerformanceObserver((list) => {
  // kind 1 is a scavenge (NODE_PERFORMANCE_GC_MINOR).
  for (const entry of list.getEntries()) {
    if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === 1) scavenges++;
  }
});

/**
 * Bytes allocated per call: the heap's used size before and after batches of calls, keeping
 * the batches no GC ran in (the used size only grows between collections), less the cost of
 * reading the heap statistics itself. Median over batches.
 */
function allocatedPerCall(op: () => unknown): number {
  const BATCH = 100;
  const perBatch = (body: () => unknown): number[] => {
    const deltas: number[] = [];
    for (let b = 0; b < 300; b++) {
      const before = getHeapStatistics().used_heap_size;
      for (let i = 0; i < BATCH; i++) body();
      const after = getHeapStatistics().used_heap_size;
      if (after >= before) deltas.push(after - before);
    }
    return deltas.sort((x, y) => x - y);
  };
  const median = (values: number[]) => values[values.length >> 1] ?? Number.NaN;
  const baseline = median(perBatch(() => 0));
  return Math.max(0, (median(perBatch(op)) - baseline) / BATCH);
}

async function compare(
  title: string,
  bytes: Uint8Array,
  contenders: [string, () => unknown][],
): Promise<void> {
  const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  const runs = new Map<string, number>(contenders.map(([name]) => [name, 0]));
  const gcs = new Map<string, number>(contenders.map(([name]) => [name, 0]));
  for (const [, op] of contenders) for (let i = 0; i < 2_000; i++) op();
  console.log(`${title} (${bytes.length} bytes): load average ${load()}`);
  gcObserver.observe({ entryTypes: ['gc'] });
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, op] = contenders[(round + i) % contenders.length]!;
      let count = 0;
      const gcBefore = scavenges;
      const wallStart = performance.now();
      const cpuStart = process.cpuUsage();
      while (performance.now() - wallStart < SLICE_MS) {
        op();
        count++;
      }
      const cpu = process.cpuUsage(cpuStart);
      samples.get(name)!.push((cpu.user + cpu.system) / count);
      runs.set(name, runs.get(name)! + count);
      // GC entries reach the observer on a later turn of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 5));
      gcs.set(name, gcs.get(name)! + scavenges - gcBefore);
    }
  }
  gcObserver.disconnect();
  for (const [name, op] of contenders) {
    const sorted = samples.get(name)!.sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    const range = `${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)}`;
    const bytesPerCall = allocatedPerCall(op);
    const gcPer10k = (gcs.get(name)! / runs.get(name)!) * 10_000;
    console.log(
      `  ${name.padEnd(40)} ${median.toFixed(2).padStart(7)} µs median (range ${range})  ` +
        `${Math.round(bytesPerCall).toLocaleString('en-US').padStart(6)} B/call  ` +
        `${gcPer10k.toFixed(2)} scavenges/10k`,
    );
  }
  console.log(`  load average after: ${load()}`);
}

for (const [title, bytes] of [
  ['decode a signed consent.grant', grant],
  ['decode a signed access.log', log],
] as const) {
  // Both must read the same value before their speed means anything.
  if (
    !bytesEqual(
      encodeCanonical(decodeCanonical(bytes)),
      encodeCanonical(formerDecodeCanonical(bytes)),
    )
  ) {
    throw new Error(`${title}: the two decoders disagree`);
  }
  await compare(title, bytes, [
    ['former: msgpackr + re-encode + compare', () => formerDecodeCanonical(bytes)],
    ['decodeCanonical (single pass)', () => decodeCanonical(bytes)],
    ['former decodeStoredCanonical (no check)', () => formerDecodeStored(bytes)],
  ]);
}
