/**
 * CPU time, garbage collection and heap growth per changed key of a 1,000-key commit
 * (half updates, half new keys), measured with process.cpuUsage so a loaded machine
 * inflates it less than wall time. Sizes: STATE_BENCH_SIZES (default 1000,100000).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { utf8 } from '@medchain/crypto';
import { AuthenticatedState, MemoryStore } from '../src/state/index.js';

const BUILD_BATCH = 10_000;
const BLOCK_KEYS = 1_000;
const BLOCKS = 7;

/** What a commit benchmark needs from a state implementation (so two versions compare in one process). */
export interface CommitTarget {
  readonly AuthenticatedState: typeof AuthenticatedState;
  readonly MemoryStore: typeof MemoryStore;
}

const stateKey = (i: number) => utf8(`consent/patient-${i}/grant`);

function stateValue(i: number, version: number): Uint8Array {
  const bytes = new Uint8Array(120);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, i);
  view.setUint32(4, version);
  bytes.fill(i % 251, 8);
  return bytes;
}

const sample = (n: number, size: number) => (n * 7_919 + 13) % size;

let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
});

export interface CommitCost {
  /** CPU (user + system) µs per changed key, best block. */
  readonly cpuMicrosPerKey: number;
  /** Median block. */
  readonly medianCpuMicrosPerKey: number;
  /** GC pause ms per block, median. */
  readonly gcMsPerBlock: number;
}

export interface CommitBench {
  /** Runs one more block and returns its CPU µs per changed key. */
  block(): number;
}

/** A state of `size` keys, ready to time blocks (the build is not timed). */
export function prepare(target: CommitTarget, size: number): CommitBench {
  const store = new target.MemoryStore();
  const state = new target.AuthenticatedState(store);
  for (let built = 0; built < size; built += BUILD_BATCH) {
    const end = Math.min(size, built + BUILD_BATCH);
    for (let i = built; i < end; i++) state.set(stateKey(i), stateValue(i, 0));
    store.write(state.commit().ops);
  }
  let next = size;
  let blockNumber = 0;
  return {
    block() {
      blockNumber++;
      for (let j = 0; j < BLOCK_KEYS / 2; j++) {
        const i = sample(blockNumber * BLOCK_KEYS + j, size);
        state.set(stateKey(i), stateValue(i, blockNumber));
        state.set(stateKey(next), stateValue(next, blockNumber));
        next++;
      }
      const before = process.cpuUsage();
      const { ops } = state.commit();
      store.write(ops);
      const used = process.cpuUsage(before);
      return (used.user + used.system) / BLOCK_KEYS;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function measure(benches: CommitBench[], blocks = BLOCKS): Promise<CommitCost[]> {
  const cpu: number[][] = benches.map(() => []);
  const gc: number[][] = benches.map(() => []);
  gcObserver.observe({ entryTypes: ['gc'] });
  for (let b = 0; b < blocks; b++) {
    // Interleaved, so two implementations see the same machine load.
    for (let k = 0; k < benches.length; k++) {
      const gcBefore = gcMs;
      cpu[k]!.push(benches[k]!.block());
      // GC entries arrive asynchronously: let them in before reading the total.
      await new Promise((resolve) => setImmediate(resolve));
      gc[k]!.push(gcMs - gcBefore);
    }
  }
  gcObserver.disconnect();
  return benches.map((_, k) => ({
    cpuMicrosPerKey: Math.min(...cpu[k]!),
    medianCpuMicrosPerKey: median(cpu[k]!),
    gcMsPerBlock: median(gc[k]!),
  }));
}

export async function run(): Promise<void> {
  const sizes = (process.env.STATE_BENCH_SIZES ?? '1000,100000').split(',').map(Number);
  console.log('commit CPU per changed key (1,000-key blocks, best / median of 7, GC ms per block)');
  for (const size of sizes) {
    const [cost] = await measure([prepare({ AuthenticatedState, MemoryStore }, size)]);
    console.log(
      `${size} keys: ${cost!.cpuMicrosPerKey.toFixed(1)} / ${cost!.medianCpuMicrosPerKey.toFixed(1)} µs CPU per key, GC ${cost!.gcMsPerBlock.toFixed(1)} ms per block`,
    );
  }
}
