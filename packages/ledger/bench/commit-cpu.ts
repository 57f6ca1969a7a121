/**
 * The state commit against its hashing floor. Per changed key of a block (half updates of
 * existing keys, half new keys): CPU µs of `commit()` (process.cpuUsage, so a loaded machine
 * inflates it less than wall time) and of the MemoryStore write apart, the hashes the commit
 * computes, one node hash's time, and the ratio of the commit to its floor: the tree-node
 * hashes (the levels below the block's shared top, each touched node once) times one node
 * hash. Sizes: STATE_BENCH_SIZES (default 1000,100000,1000000); block:
 * STATE_BENCH_BLOCK (default 1000); blocks measured: STATE_BENCH_BLOCKS (default 7); the
 * state's cacheDepth: STATE_BENCH_CACHE_DEPTH (default: the state's).
 */
import { loadavg } from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { binaryString, taggedHashBinary, utf8 } from '@medchain/crypto';
import { AuthenticatedState, MemoryStore, NODE_PREFIX, stateNodeHash } from '../src/state/index.js';

const BUILD_BATCH = 10_000;

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

/** One measured block, per changed key. */
export interface BlockCost {
  /** CPU µs of `commit()` per changed key. */
  readonly commitMicros: number;
  /** CPU µs of writing the ops to the MemoryStore per changed key (the node writes LevelDB instead). */
  readonly writeMicros: number;
  /** Tree nodes hashed per changed key: every new node is one hash and one put. */
  readonly treeHashes: number;
  /** Plus each changed key's path hash and each new value's hash. */
  readonly allHashes: number;
}

export interface CommitBench {
  readonly keys: number;
  /** Runs one more block of `blockKeys` changed keys. */
  block(): BlockCost;
}

/** A state of `size` keys, ready to time blocks (the build is not timed). */
export function prepare(
  target: CommitTarget,
  size: number,
  blockKeys = 1_000,
  cacheDepth?: number,
): CommitBench {
  const store = new target.MemoryStore();
  const state = new target.AuthenticatedState(store, undefined, { cacheDepth });
  for (let built = 0; built < size; built += BUILD_BATCH) {
    const end = Math.min(size, built + BUILD_BATCH);
    for (let i = built; i < end; i++) state.set(stateKey(i), stateValue(i, 0));
    store.write(state.commit().ops);
  }
  let next = size;
  let blockNumber = 0;
  return {
    keys: size,
    block() {
      blockNumber++;
      for (let j = 0; j < blockKeys / 2; j++) {
        const i = sample(blockNumber * blockKeys + j, size);
        state.set(stateKey(i), stateValue(i, blockNumber));
        state.set(stateKey(next), stateValue(next, blockNumber));
        next++;
      }
      const before = process.cpuUsage();
      const { ops } = state.commit();
      const committed = process.cpuUsage(before);
      store.write(ops);
      const written = process.cpuUsage(before);
      let nodePuts = 0;
      let valuePuts = 0;
      for (const op of ops) {
        if (op.type !== 'put') continue;
        if (op.key[0] === NODE_PREFIX) nodePuts++;
        else valuePuts++;
      }
      const commitCpu = committed.user + committed.system;
      return {
        commitMicros: commitCpu / blockKeys,
        writeMicros: (written.user + written.system - commitCpu) / blockKeys,
        treeHashes: nodePuts / blockKeys,
        allHashes: (nodePuts + blockKeys + valuePuts) / blockKeys,
      };
    },
  };
}

/**
 * One node hash now, best of 5 rounds: the tree's own (`taggedHashBinary` on ids) and the
 * public `stateNodeHash` on byte arrays (the unit earlier figures used).
 */
export function nodeHashMicros(): { readonly tree: number; readonly bytes: number } {
  const left = new Uint8Array(32).fill(1);
  const right = new Uint8Array(32).fill(2);
  const leftId = binaryString(left);
  const rightId = binaryString(right);
  const rounds = 5_000;
  const best = (hash: () => unknown) => {
    let fastest = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 5; round++) {
      const start = performance.now();
      for (let i = 0; i < rounds; i++) hash();
      fastest = Math.min(fastest, performance.now() - start);
    }
    return (fastest * 1000) / rounds;
  };
  return {
    tree: best(() => taggedHashBinary('StateNode', leftId, rightId)),
    bytes: best(() => stateNodeHash(left, right)),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export interface CommitCost {
  readonly keys: number;
  /** Best block (the least disturbed by other work on the machine) and median block. */
  readonly best: BlockCost;
  readonly median: BlockCost;
  /** GC pause ms per block, median. */
  readonly gcMsPerBlock: number;
  /** Tree node hash µs, best measured around the blocks. */
  readonly nodeHash: number;
  readonly nodeHashBytes: number;
  /** Best block's commit / (tree hashes × node hash), and the same with every hash. */
  readonly floorRatio: number;
  readonly allHashesRatio: number;
  readonly medianFloorRatio: number;
  /** Load average (1 min) at the start and the end. */
  readonly load: readonly [number, number];
}

function bestOf(costs: BlockCost[], pick: (values: number[]) => number): BlockCost {
  const field = (get: (cost: BlockCost) => number) => pick(costs.map(get));
  return {
    commitMicros: field((cost) => cost.commitMicros),
    writeMicros: field((cost) => cost.writeMicros),
    treeHashes: median(costs.map((cost) => cost.treeHashes)),
    allHashes: median(costs.map((cost) => cost.allHashes)),
  };
}

/** Times `blocks` blocks of each bench, interleaved block by block so all see the same load. */
export async function measure(benches: CommitBench[], blocks = 7): Promise<CommitCost[]> {
  const costs: BlockCost[][] = benches.map(() => []);
  const gc: number[][] = benches.map(() => []);
  const hashes: { tree: number; bytes: number }[] = [nodeHashMicros()];
  const loadStart = loadavg()[0]!;
  gcObserver.observe({ entryTypes: ['gc'] });
  // A block's garbage is partly collected during whatever runs next, so the order rotates
  // each round: every bench takes every place, none always follows another's garbage.
  for (let b = 0; b < blocks; b++) {
    for (let i = 0; i < benches.length; i++) {
      const k = (i + b) % benches.length;
      const gcBefore = gcMs;
      costs[k]!.push(benches[k]!.block());
      // GC entries arrive asynchronously: let them in before reading the total.
      await new Promise((resolve) => setImmediate(resolve));
      gc[k]!.push(gcMs - gcBefore);
    }
    hashes.push(nodeHashMicros());
  }
  gcObserver.disconnect();
  const load: [number, number] = [loadStart, loadavg()[0]!];
  const nodeHash = Math.min(...hashes.map((hash) => hash.tree));
  const nodeHashBytes = Math.min(...hashes.map((hash) => hash.bytes));
  return benches.map((bench, k) => {
    const best = bestOf(costs[k]!, (values) => Math.min(...values));
    const mid = bestOf(costs[k]!, median);
    return {
      keys: bench.keys,
      best,
      median: mid,
      gcMsPerBlock: median(gc[k]!),
      nodeHash,
      nodeHashBytes,
      floorRatio: best.commitMicros / (best.treeHashes * nodeHash),
      allHashesRatio: best.commitMicros / (best.allHashes * nodeHash),
      medianFloorRatio: mid.commitMicros / (mid.treeHashes * nodeHash),
      load,
    };
  });
}

const fmt = (value: number, digits = 1) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const COMMIT_TABLE_HEADER = [
  '| keys | commit CPU µs per key, best / median | store write µs per key | tree hashes per key (all hashes) | node hash µs (taggedHash) | floor µs per key | commit / floor, best / median (all hashes) | GC ms per block | load average |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
].join('\n');

export function commitRow(label: string, cost: CommitCost): string {
  return [
    label,
    `${fmt(cost.best.commitMicros)} / ${fmt(cost.median.commitMicros)}`,
    fmt(cost.median.writeMicros),
    `${fmt(cost.best.treeHashes)} (${fmt(cost.best.allHashes)})`,
    `${fmt(cost.nodeHash, 2)} (${fmt(cost.nodeHashBytes, 2)})`,
    fmt(cost.best.treeHashes * cost.nodeHash),
    `${fmt(cost.floorRatio)} / ${fmt(cost.medianFloorRatio)} (${fmt(cost.allHashesRatio)})`,
    fmt(cost.gcMsPerBlock),
    `${fmt(cost.load[0])}–${fmt(cost.load[1])}`,
  ].join(' | ');
}

export async function run(): Promise<void> {
  const sizes = (process.env.STATE_BENCH_SIZES ?? '1000,100000,1000000').split(',').map(Number);
  const blockKeys = Number(process.env.STATE_BENCH_BLOCK ?? 1_000);
  const blocks = Number(process.env.STATE_BENCH_BLOCKS ?? 7);
  const depth = process.env.STATE_BENCH_CACHE_DEPTH;
  const cacheDepth = depth === undefined ? undefined : Number(depth);
  console.log(
    `state commit against its hashing floor: ${fmt(blockKeys, 0)}-key blocks (half updates, half new keys), best / median of ${blocks}, cacheDepth ${depth ?? 'default'}`,
  );
  console.log(COMMIT_TABLE_HEADER);
  for (const size of sizes) {
    const [cost] = await measure(
      [prepare({ AuthenticatedState, MemoryStore }, size, blockKeys, cacheDepth)],
      blocks,
    );
    console.log(`| ${commitRow(fmt(size, 0), cost!)} |`);
  }
}
