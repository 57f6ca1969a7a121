import { binaryString, binaryStringCost, fromBinaryString, LruCache } from '@medchain/crypto';
import type { KeyValueStore, WriteOp } from '@medchain/ledger';
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

const cached = (value: Uint8Array | null): Cached => (value === null ? null : binaryString(value));

interface Staged {
  /** The key as a binary string (one char per byte): the Map and cache key, cheaper than hex. */
  readonly id: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * The ledger's KeyValueStore over the `state` bucket. Reads are synchronous: staged writes
 * first, then a bounded LRU cache, then LevelDB's getSync. `write(ops)` only stages; the
 * node moves staged ops into the block's batch with `stageInto(batch)`, so state, block and
 * receipts land in one atomic LevelDB write. The cache learns the new values only after that
 * batch is on disk; until then the staged map answers reads (read-your-writes).
 */
export class StateStore implements KeyValueStore {
  private readonly cache: LruCache<Cached>;
  private readonly staged = new Map<string, Staged>();
  private unflushed: Staged[] = [];
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
    const staged = this.staged.get(id);
    if (staged !== undefined) return staged.value ?? undefined;
    const hit = this.cache.get(id);
    if (hit !== undefined) {
      this.metrics?.storage.stateCacheHits.inc();
      // A fresh array per read: callers may keep it.
      return hit === null ? undefined : fromBinaryString(hit);
    }
    this.metrics?.storage.stateCacheMisses.inc();
    const stored = this.db.getSync(Bucket.state, key);
    this.cache.set(id, cached(stored ?? null));
    return stored;
  }

  write(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      const entry: Staged = {
        id: binaryString(op.key),
        key: op.key,
        value: op.type === 'put' ? op.value : null,
      };
      this.staged.set(entry.id, entry);
      this.unflushed.push(entry);
    }
  }

  /** Ops written since the last stageInto. */
  get pendingOps(): number {
    return this.unflushed.length;
  }

  /** Moves every staged op into `batch`; the cache is updated once the batch is written. */
  stageInto(batch: WriteBatch): void {
    const entries = this.unflushed;
    this.unflushed = [];
    for (const entry of entries) {
      if (entry.value === null) batch.del(Bucket.state, entry.key);
      else batch.put(Bucket.state, entry.key, entry.value);
    }
    batch.onCommitted(() => this.committed(entries));
  }

  private committed(entries: readonly Staged[]): void {
    for (const entry of entries) {
      this.cache.set(entry.id, cached(entry.value));
      // Each write stages a new entry: a later write of the key is still waiting for its batch.
      if (this.staged.get(entry.id) === entry) this.staged.delete(entry.id);
    }
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
