import { binaryString, binaryStringCost, fromBinaryString, LruCache } from '@medchain/crypto';
import type { KeyValueStore, WriteOp } from '@medchain/ledger';
import { NodeError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { Bucket } from './buckets.js';
import type { Database, WriteBatch } from './controller.js';

/**
 * A cached value as a binary string, one heap object: as Uint8Arrays the cache's tree nodes and
 * values cost 3-6x their bytes in RSS (view, ArrayBuffer, malloc'd backing store), and were the
 * largest part of a validator's heap. `null` records "known absent", so repeated misses do not
 * go to LevelDB again.
 */
type Cached = string | null;

/** Default byte budget of the state cache (config memory.stateCacheBytes). */
export const DEFAULT_STATE_CACHE_BYTES = 16 * 1024 * 1024;

const cachedCost = (value: Cached): number => (value === null ? 0 : binaryStringCost(value));

/**
 * The ledger's KeyValueStore over the `state` bucket. Reads are synchronous: a bounded LRU
 * cache, then LevelDB's getSync. `write(ops)` keeps the ops as the state handed them over; the
 * node moves them into the block's batch with `stageInto(batch)`, so state, block and receipts
 * land in one atomic LevelDB write, and the cache learns them once that batch is on disk.
 *
 * Until then reads do not see them, and need not: the ledger's AuthenticatedState serves its
 * last commit from memory and never asks the store for it (packages/ledger/STATE.md). A copy
 * per op here (an entry and a key string each, kept until the batch landed) was 7% of all a
 * validator promoted to the old generation. What that relies on is enforced: one commit's ops
 * at a time, from `write` until their batch is written (`NODE_STATE_UNFLUSHED` otherwise), as
 * the chain writes each block's batch before it executes the next.
 */
export class StateStore implements KeyValueStore {
  private readonly cache: LruCache<Cached>;
  /** The ops of the last write, until they are staged into a batch. */
  private unstaged: Iterable<WriteOp> | undefined;
  /** Staged into a batch that is not written yet. */
  private inFlight = false;
  private readonly metrics: Metrics | undefined;

  constructor(
    private readonly db: Database,
    options: { cacheEntries?: number; cacheBytes?: number; metrics?: Metrics } = {},
  ) {
    this.cache = new LruCache(options.cacheEntries ?? 100_000, {
      maxBytes: options.cacheBytes ?? DEFAULT_STATE_CACHE_BYTES,
      sizeOf: cachedCost,
    });
    this.metrics = options.metrics;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const id = binaryString(key);
    const known = this.cached(id);
    if (known !== undefined) return known ?? undefined;
    this.metrics?.storage.stateCacheMisses.inc();
    const stored = this.db.getSync(Bucket.state, key);
    this.cache.set(id, stored === undefined ? null : binaryString(stored));
    return stored;
  }

  peek(key: Uint8Array): Uint8Array | null | undefined {
    return this.cached(binaryString(key));
  }

  /** The cache's answer: the value, null for known absent, undefined when not cached. */
  private cached(id: string): Uint8Array | null | undefined {
    const hit = this.cache.get(id);
    if (hit === undefined) return undefined;
    this.metrics?.storage.stateCacheHits.inc();
    // A fresh array per read: callers may keep it.
    return hit === null ? null : fromBinaryString(hit);
  }

  write(ops: Iterable<WriteOp>): void {
    if (this.unstaged !== undefined || this.inFlight) {
      throw new NodeError(
        'NODE_STATE_UNFLUSHED',
        'state ops written before the previous ones reached the database',
      );
    }
    this.unstaged = ops;
  }

  /**
   * Moves the written ops into `batch`; the cache learns them once the batch is written, reading
   * them back from the batch. Nothing per op is kept meanwhile (a deleted key's string, held
   * until the fsync, was promoted only to die), so the ledger's op objects and byte arrays die
   * young.
   */
  stageInto(batch: WriteBatch): void {
    const ops = this.unstaged;
    if (ops === undefined) return;
    this.unstaged = undefined;
    this.inFlight = true;
    const first = batch.size;
    /** Positions (from `first`) of the puts the state keeps in memory: not cached. */
    const held: number[] = [];
    for (const op of ops) {
      if (op.type === 'del') {
        batch.del(Bucket.state, op.key);
      } else {
        if (op.heldInMemory === true) held.push(batch.size - first);
        batch.put(Bucket.state, op.key, op.value);
      }
    }
    const count = batch.size - first;
    batch.onCommitted(() => this.committed(batch, first, count, held));
  }

  /**
   * Learns the staged ops. A deleted key leaves the cache rather than staying as "known
   * absent": most deletes are replaced tree nodes, content-addressed and never read again, and
   * as tombstones they took as many cache entries as the new nodes, evicting nodes in use.
   */
  private committed(
    batch: WriteBatch,
    first: number,
    count: number,
    held: readonly number[],
  ): void {
    this.inFlight = false;
    let position = 0;
    let nextHeld = 0;
    for (const op of batch.ops(first)) {
      if (position === count) break;
      if (op.type === 'put' && held[nextHeld] === position) {
        nextHeld++;
      } else {
        // The batch's keys start with the bucket byte.
        const id = binaryString(op.key.subarray(1));
        if (op.type === 'del') this.cache.delete(id);
        else this.cache.set(id, binaryString(op.value));
      }
      position++;
    }
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
