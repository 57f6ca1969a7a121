/**
 * Authenticated state costs at growing sizes, in a MemoryStore: building the map in blocks
 * of 10k keys, committing a 1,000-key block, and get / prove / verify of single keys.
 * Sizes: STATE_BENCH_SIZES=1000,100000,1000000 (the default).
 */
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  encodeStateProof,
  MemoryStore,
  NODE_PREFIX,
  type StateProof,
  stateNodeHash,
  verifyStateProof,
} from '../src/state/index.js';

const BUILD_BATCH = 10_000;
const BLOCK_KEYS = 1_000;
const BLOCKS = 5;
const POINT_OPS = 10_000;

const stateKey = (i: number) => utf8(`consent/patient-${i}/grant`);

/** ~120-byte values that differ per key and per version, without randomness. */
function stateValue(i: number, version: number): Uint8Array {
  const bytes = new Uint8Array(120);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, i);
  view.setUint32(4, version);
  bytes.fill(i % 251, 8);
  return bytes;
}

/** Spreads point reads over the whole key range (a fixed stride, coprime with any size). */
const sample = (n: number, size: number) => (n * 7_919 + 13) % size;

function time(action: () => void): number {
  const start = performance.now();
  action();
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function fmt(value: number, digits = 1): string {
  return value.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

/**
 * One inner-node hash on this machine right now (best of 3 short rounds). Each block is
 * divided by the unit measured around it, so runs on a busy machine stay comparable.
 */
function hashMicros(): number {
  const left = new Uint8Array(32).fill(1);
  const right = new Uint8Array(32).fill(2);
  const rounds = 2_000;
  const times = Array.from({ length: 3 }, () =>
    time(() => {
      for (let i = 0; i < rounds; i++) stateNodeHash(left, right);
    }),
  );
  return (Math.min(...times) * 1000) / rounds;
}

function benchSize(size: number): string {
  const store = new MemoryStore();
  const state = new AuthenticatedState(store);
  let built = 0;
  const buildMs = time(() => {
    while (built < size) {
      const end = Math.min(size, built + BUILD_BATCH);
      for (let i = built; i < end; i++) state.set(stateKey(i), stateValue(i, 0));
      store.write(state.commit().ops);
      built = end;
    }
  });

  // A block: half the keys change existing values, half are new.
  let next = size;
  const blockMs: number[] = [];
  const blockHashTimes: number[] = [];
  let nodeWrites = 0;
  for (let block = 1; block <= BLOCKS; block++) {
    for (let j = 0; j < BLOCK_KEYS / 2; j++) {
      const i = sample(block * BLOCK_KEYS + j, size);
      state.set(stateKey(i), stateValue(i, block));
      state.set(stateKey(next), stateValue(next, block));
      next++;
    }
    const unitBefore = hashMicros();
    const ms = time(() => {
      const { ops } = state.commit();
      nodeWrites += [...ops].filter((op) => op.type === 'put' && op.key[0] === NODE_PREFIX).length;
      store.write(ops);
    });
    blockMs.push(ms);
    blockHashTimes.push((ms * 1000) / BLOCK_KEYS / ((unitBefore + hashMicros()) / 2));
  }

  const keys = Array.from({ length: POINT_OPS }, (_, n) => stateKey(sample(n, size)));
  const getMs = time(() => {
    for (const key of keys) state.get(key);
  });
  const proofs: StateProof[] = [];
  const proveMs = time(() => {
    for (const key of keys) proofs.push(state.prove(key));
  });
  const values = keys.map((key) => state.get(key));
  const root = state.root();
  let verified = 0;
  const verifyMs = time(() => {
    for (let n = 0; n < POINT_OPS; n++) {
      if (verifyStateProof(root, keys[n]!, values[n], proofs[n]!)) verified++;
    }
  });
  if (verified !== POINT_OPS) throw new Error(`only ${verified} of ${POINT_OPS} proofs verified`);
  const proofBytes =
    proofs.reduce((sum, proof) => sum + encodeStateProof(proof).length, 0) / POINT_OPS;
  const depth = proofs.reduce((sum, proof) => sum + proof.depth, 0) / POINT_OPS;
  const block = median(blockMs);
  // The fastest block is the one least disturbed by other work on the machine.
  const perKey = (Math.min(...blockMs) * 1000) / BLOCK_KEYS;
  const us = (ms: number) => fmt((ms * 1000) / POINT_OPS, 1);
  return [
    fmt(size, 0),
    `${fmt(buildMs / 1000, 1)} s`,
    `${fmt(Math.min(...blockMs), 0)} ms (median ${fmt(block, 0)})`,
    `${fmt(perKey, 0)} µs = ${fmt(Math.min(...blockHashTimes), 0)}`,
    fmt(nodeWrites / (BLOCKS * BLOCK_KEYS), 1),
    us(getMs),
    us(proveMs),
    us(verifyMs),
    `${fmt(depth, 1)} / ${fmt(proofBytes, 0)} B`,
    fmt(store.size, 0),
  ].join(' | ');
}

export function run(): void {
  const sizes = (process.env.STATE_BENCH_SIZES ?? '1000,100000,1000000').split(',').map(Number);
  console.log(
    `load average ${loadavg()
      .map((load) => fmt(load, 1))
      .join(' ')} on ${availableParallelism()} cores`,
  );
  console.log(`one state node hash: ${fmt(hashMicros(), 2)} µs`);
  const header = [
    '| keys | build (commits of 10k keys) | commit of a 1,000-key block, best of 5 | per key, in node-hash times | node writes per key | get µs | prove µs | verify µs | proof depth / bytes | store entries |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  console.log(header.join('\n'));
  // Print each row as it is done: the million-key row takes minutes.
  for (const size of sizes) console.log(`| ${benchSize(size)} |`);
}
