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
    const hit = this.cache.get(id);
    if (hit !== undefined) {
      this.metrics?.storage.stateCacheHits.inc();
      // A fresh array per read: callers may keep it.
      return hit === null ? undefined : fromBinaryString(hit);
    }
    this.metrics?.storage.stateCacheMisses.inc();
    const stored = this.db.getSync(Bucket.state, key);
    this.cache.set(id, stored === undefined ? null : binaryString(stored));
    return stored;
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
   * Moves the written ops into `batch`; the cache learns them once the batch is written. What
   * it will learn is kept as strings, not the ops, so the ledger's op objects and byte arrays
   * die young instead of waiting for the fsync.
   */
  stageInto(batch: WriteBatch): void {
    const ops = this.unstaged;
    if (ops === undefined) return;
    this.unstaged = undefined;
    this.inFlight = true;
    // A deleted key leaves the cache rather than staying as "known absent": most deletes are
    // replaced tree nodes, content-addressed and never read again, and as tombstones they took
    // as many cache entries as the new nodes, evicting nodes still in use.
    const forgotten: string[] = [];
    const learned: string[] = [];
    for (const op of ops) {
      if (op.type === 'del') {
        batch.del(Bucket.state, op.key);
        forgotten.push(binaryString(op.key));
      } else {
        batch.put(Bucket.state, op.key, op.value);
        if (op.heldInMemory !== true) learned.push(binaryString(op.key), binaryString(op.value));
      }
    }
    batch.onCommitted(() => this.committed(forgotten, learned));
  }

  /** `learned` alternates keys and values. */
  private committed(forgotten: readonly string[], learned: readonly string[]): void {
    this.inFlight = false;
    for (const id of forgotten) this.cache.delete(id);
    for (let i = 0; i < learned.length; i += 2) this.cache.set(learned[i]!, learned[i + 1]!);
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
