import { Level } from 'level';
import { NodeError } from '../errors.js';
import type { KvOp, KvRange, KvSnapshot, KvStore } from '../shell/ports.js';

type Bytes = Level<Uint8Array, Uint8Array>;
type LevelSnapshot = ReturnType<Bytes['snapshot']>;

/** LevelDB hands back Buffers; callers get plain Uint8Array views (no copy) so values compare equal. */
function plain(bytes: Uint8Array): Uint8Array;
function plain(bytes: Uint8Array | undefined): Uint8Array | undefined;
function plain(bytes: Uint8Array | undefined): Uint8Array | undefined {
  return bytes === undefined
    ? undefined
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** LevelDB's own memory: what it may hold besides the OS page cache (README "Memory"). */
export interface LevelMemoryOptions {
  /** Block cache: uncompressed data blocks. Default 8 MiB. */
  readonly blockCacheBytes?: number;
  /**
   * Write buffer (memtable); a second one fills while a full one is written out. Default 16 MiB:
   * a block at saturation fills about 7 KB of memtable per transaction, and with 4 MiB (more than
   * one level-0 file a block, and their compactions) a validator spent ~10% more CPU per
   * transaction (devnet/BENCHMARKS.md, "The chain database's write buffer").
   */
  readonly writeBufferBytes?: number;
  /**
   * Table files kept open: each is mapped into memory (LevelDB's reads use mmap on 64-bit), so
   * up to this many × 2 MiB of file pages count in RSS. Default 64.
   */
  readonly maxOpenFiles?: number;
}

export const DEFAULT_LEVEL_MEMORY: Required<LevelMemoryOptions> = {
  blockCacheBytes: 8 * 1024 * 1024,
  writeBufferBytes: 16 * 1024 * 1024,
  maxOpenFiles: 64,
};

/** Entries read per native call while iterating. */
const READ_BATCH = 256;

async function* iterate(
  level: Bytes,
  range: KvRange,
  snapshot?: LevelSnapshot,
): AsyncGenerator<readonly [Uint8Array, Uint8Array]> {
  const iterator = level.iterator({
    ...(range.gte === undefined ? {} : { gte: range.gte }),
    ...(range.gt === undefined ? {} : { gt: range.gt }),
    ...(range.lt === undefined ? {} : { lt: range.lt }),
    reverse: range.reverse ?? false,
    limit: range.limit ?? -1,
    ...(snapshot === undefined ? {} : { snapshot }),
  });
  try {
    for (;;) {
      const batch = await iterator.nextv(READ_BATCH);
      if (batch.length === 0) return;
      for (const [key, value] of batch) yield [plain(key), plain(value)];
    }
  } finally {
    await iterator.close();
  }
}

/** The node's KvStore on LevelDB (classic-level through `level`): the shipped storage port. */
export class LevelStore implements KvStore {
  private constructor(private readonly level: Bytes) {}

  static async open(path: string, memory: LevelMemoryOptions = {}): Promise<LevelStore> {
    const { blockCacheBytes, writeBufferBytes, maxOpenFiles } = {
      ...DEFAULT_LEVEL_MEMORY,
      ...memory,
    };
    const level = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      cacheSize: blockCacheBytes,
      writeBufferSize: writeBufferBytes,
      maxOpenFiles,
    });
    await level.open();
    return new LevelStore(level);
  }

  private assertOpen(): void {
    if (this.level.status !== 'open') {
      throw new NodeError('NODE_DB_NOT_OPEN', `database is ${this.level.status}`);
    }
  }

  getSync(key: Uint8Array): Uint8Array | undefined {
    this.assertOpen();
    return plain(this.level.getSync(key));
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return plain(await this.level.get(key));
  }

  /**
   * Not `async`: the ops are copied into the native batch before this returns, and a suspended
   * async function would keep them (and the views' objects) alive until the fsync is done.
   */
  write(ops: Iterable<KvOp>, options: { readonly sync?: boolean } = {}): Promise<void> {
    try {
      this.assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    // A chained batch feeds ops straight to the native batch: ~1.8x faster than the array
    // form for a block's thousands of puts (measured, bench/io.ts).
    const chained = this.level.batch();
    for (const op of ops) {
      if (op.type === 'put') chained.put(op.key, op.value);
      else chained.del(op.key);
    }
    if (chained.length === 0) return chained.close();
    return chained.write({ sync: options.sync ?? true });
  }

  iterate(range: KvRange): AsyncIterable<readonly [Uint8Array, Uint8Array]> {
    this.assertOpen();
    return iterate(this.level, range);
  }

  snapshot(): KvSnapshot {
    this.assertOpen();
    const snapshot = this.level.snapshot();
    const level = this.level;
    return {
      iterate: (range) => iterate(level, range, snapshot),
      close: () => snapshot.close(),
    };
  }

  get isOpen(): boolean {
    return this.level.status === 'open';
  }

  async close(): Promise<void> {
    await this.level.close();
  }
}
