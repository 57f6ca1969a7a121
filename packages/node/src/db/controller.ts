import { performance } from 'node:perf_hooks';
import type { EntrySource } from '../home/level-dump.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { KvOp, KvRange, KvStore } from '../shell/ports.js';
import type { Bucket } from './buckets.js';
import { type LevelMemoryOptions, LevelStore } from './level-store.js';

function bucketKey(bucket: Bucket, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = bucket;
  out.set(key, 1);
  return out;
}

const DEL = 0;
const PUT = 1;

/**
 * Writes collected for one atomic LevelDB batch (one per committed block). Each op is copied
 * into one growing byte slab as it comes (kind, bucket-prefixed key, value, with u32 lengths):
 * a block's thousands of ops then hold no object each while the batch waits for its fsync. An
 * op object and a key copy per op, kept that long, were a fifth of all a validator promoted to
 * V8's old generation. Hooks registered with `onCommitted` run only after the batch is on
 * disk, so caches never run ahead of it.
 */
export class WriteBatch {
  readonly committedHooks: Array<() => void> = [];
  #slab = new Uint8Array(4096);
  #view = new DataView(this.#slab.buffer);
  #used = 0;
  #count = 0;

  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): this {
    this.#append(PUT, bucket, key, value);
    return this;
  }

  del(bucket: Bucket, key: Uint8Array): this {
    this.#append(DEL, bucket, key, undefined);
    return this;
  }

  onCommitted(hook: () => void): this {
    this.committedHooks.push(hook);
    return this;
  }

  get size(): number {
    return this.#count;
  }

  /**
   * The ops in order from the `from`th, keys whole (bucket byte first), as fresh views into the
   * slab made one at a time: a store that copies each op as it comes (LevelDB's batch) holds no
   * array of them.
   */
  *ops(from = 0): Generator<KvOp> {
    const slab = this.#slab;
    const view = this.#view;
    let at = 0;
    for (let index = 0; at < this.#used; index++) {
      const kind = slab[at]!;
      const keyLength = view.getUint32(at + 1);
      at += 5;
      const keyAt = at;
      at += keyLength;
      let valueAt = at;
      if (kind === PUT) {
        valueAt += 4;
        at = valueAt + view.getUint32(at);
      }
      if (index < from) continue;
      const key = slab.subarray(keyAt, keyAt + keyLength);
      yield kind === DEL
        ? { type: 'del', key }
        : { type: 'put', key, value: slab.subarray(valueAt, at) };
    }
  }

  #append(kind: number, bucket: Bucket, key: Uint8Array, value: Uint8Array | undefined): void {
    const needed = 5 + 1 + key.length + (value === undefined ? 0 : 4 + value.length);
    if (this.#used + needed > this.#slab.length) {
      const grown = new Uint8Array(Math.max(this.#slab.length * 2, this.#used + needed));
      grown.set(this.#slab.subarray(0, this.#used));
      this.#slab = grown;
      this.#view = new DataView(grown.buffer);
    }
    const slab = this.#slab;
    let at = this.#used;
    slab[at] = kind;
    this.#view.setUint32(at + 1, key.length + 1);
    slab[at + 5] = bucket;
    slab.set(key, at + 6);
    at += 6 + key.length;
    if (value !== undefined) {
      this.#view.setUint32(at, value.length);
      slab.set(value, at + 4);
      at += 4 + value.length;
    }
    this.#used = at;
    this.#count++;
  }
}

export interface RangeOptions {
  /** Sub-key bounds within the bucket (bucket byte excluded); `gt` wins over `gte`. */
  gte?: Uint8Array;
  gt?: Uint8Array;
  lt?: Uint8Array;
  reverse?: boolean;
  limit?: number;
}

export interface DatabaseOptions {
  logger?: Logger;
  metrics?: Metrics;
  /** LevelDB's cache and buffer sizes (used by `open`). Default DEFAULT_LEVEL_MEMORY. */
  level?: LevelMemoryOptions;
}

/**
 * The node's one key-value store seen as buckets: bucket-prefixed keys, byte values, atomic
 * batches. It runs over any KvStore (shell/ports.ts): LevelDB in the node, memory in the
 * simulation.
 */
export class Database {
  constructor(
    private readonly store: KvStore,
    private readonly options: DatabaseOptions = {},
  ) {}

  /** Opens (or creates) the LevelDB at `path`. */
  static async open(path: string, options: DatabaseOptions = {}): Promise<Database> {
    const store = await LevelStore.open(path, options.level);
    options.logger?.debug({ path }, 'database opened');
    return new Database(store, options);
  }

  /** Synchronous point read: for hot paths that cannot await. */
  getSync(bucket: Bucket, key: Uint8Array): Uint8Array | undefined {
    return this.store.getSync(bucketKey(bucket, key));
  }

  async get(bucket: Bucket, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.store.get(bucketKey(bucket, key));
  }

  batch(): WriteBatch {
    return new WriteBatch();
  }

  /**
   * Writes every op of the batch in one store batch: after a crash either all of them or
   * none are visible. `sync` (default true) makes it durable before resolving.
   */
  async write(batch: WriteBatch, options: { sync?: boolean } = {}): Promise<void> {
    const started = performance.now();
    await this.store.write(batch.ops(), { sync: options.sync ?? true });
    const metrics = this.options.metrics;
    metrics?.storage.batchSeconds.observe((performance.now() - started) / 1000);
    metrics?.storage.batchOps.observe(batch.size);
    for (const hook of batch.committedHooks) hook();
  }

  /** Entries of one bucket in key order, keys without the bucket byte. */
  async *entries(
    bucket: Bucket,
    range: RangeOptions = {},
  ): AsyncGenerator<[key: Uint8Array, value: Uint8Array]> {
    for await (const [key, value] of this.store.iterate(bucketRange(bucket, range))) {
      yield [key.subarray(1), value];
    }
  }

  /**
   * A point-in-time view of one bucket (keys without the bucket byte), taken now: state sync
   * pins the state at a height with it while blocks keep committing.
   */
  snapshot(bucket: Bucket): BucketSnapshot {
    const snapshot = this.store.snapshot();
    return {
      async *entries(range: RangeOptions = {}) {
        for await (const [key, value] of snapshot.iterate(bucketRange(bucket, range))) {
          yield [key.subarray(1), value] as [Uint8Array, Uint8Array];
        }
      },
      close: () => snapshot.close(),
    };
  }

  /** Every raw entry (bucket byte included) as of this call: for backups (home/backup-socket.ts). */
  snapshotEntries(): EntrySource {
    const snapshot = this.store.snapshot();
    return (async function* () {
      try {
        for await (const [key, value] of snapshot.iterate({})) yield [key, value];
      } finally {
        await snapshot.close();
      }
    })();
  }

  get isOpen(): boolean {
    return this.store.isOpen;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** A view of one bucket as of when it was taken (Database.snapshot). */
export interface BucketSnapshot {
  entries(range?: RangeOptions): AsyncGenerator<[key: Uint8Array, value: Uint8Array]>;
  close(): Promise<void>;
}

function bucketRange(bucket: Bucket, range: RangeOptions): KvRange {
  return {
    ...(range.gt === undefined
      ? { gte: bucketKey(bucket, range.gte ?? new Uint8Array(0)) }
      : { gt: bucketKey(bucket, range.gt) }),
    lt:
      range.lt !== undefined ? bucketKey(bucket, range.lt) : Uint8Array.of((bucket as number) + 1),
    reverse: range.reverse ?? false,
    limit: range.limit ?? -1,
  };
}
