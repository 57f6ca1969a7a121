import type { SeededRandom } from '@medchain/crypto';
import { compareBytes, toHex } from '@medchain/crypto';
import {
  Bucket,
  decodeHeight,
  type KvOp,
  type KvRange,
  type KvSnapshot,
  type KvStore,
  NodeError,
  type Storage,
  type WalLog,
} from '../../src/index.js';
import type { Incarnation } from './clock.js';
import type { Scheduler } from './scheduler.js';

type Entries = Map<string, readonly [Uint8Array, Uint8Array]>;

/** How a disk write behaves: its latency, and whether the next one crashes the node. */
export interface DiskFaults {
  /** Virtual latency of a synced write or fsync (ms), drawn per write. */
  readonly syncLatency: readonly [number, number];
  /**
   * Asked at the start of every synced write (key-value or WAL): true crashes the node while
   * that write is in flight.
   */
  crashAtWrite(node: number): boolean;
  /** The node crashes: the simulation stops its incarnation. */
  crash(node: number, why: string): void;
}

interface PendingKvBatch {
  readonly ops: readonly KvOp[];
}

/**
 * One node's disk, which outlives its processes: the key-value store and the WAL as they
 * would be found after a power cut, and what is still only in the process (unsynced).
 * `open()` gives a new incarnation its Storage port; `crash()` decides, from the seed, what
 * of the unsynced writes survived, within what the ports' contracts allow.
 */
export class SimDisk {
  /** What survives a crash. */
  private durable: Entries = new Map();
  /** What reads see: durable plus every write started (a batch is applied whole, in order). */
  private current: Entries = new Map();
  /** Batches not yet durable, in the order they were written (a crash keeps a prefix). */
  private volatile: PendingKvBatch[] = [];
  /** Synced WAL records. */
  private walDurable: Uint8Array[] = [];
  /** WAL records being synced now, then those only appended. */
  private walInFlight: Uint8Array[] = [];
  /** A checkpoint being written: after a crash the log is the old one or this one. */
  private walCheckpoint: Uint8Array[] | null = null;
  private life: Incarnation | null = null;
  /** Writes started, per kind, across every incarnation (for reports). */
  readonly writes = { kv: 0, wal: 0 };
  /** Records the crash left at the WAL tail beyond the synced ones, summed over crashes. */
  tornRecordsKept = 0;
  tornRecordsLost = 0;

  constructor(
    readonly node: number,
    private readonly scheduler: Scheduler,
    private readonly random: SeededRandom,
    private readonly faults: DiskFaults,
  ) {}

  /** The Storage port for a new process on this disk (after a crash, what survived). */
  open(life: Incarnation): Storage {
    this.life = life;
    return { kv: new SimKv(this, life), wal: new SimWal(this, life) };
  }

  /** Power cut: unsynced and in-flight writes survive only as the contracts allow. */
  crash(): void {
    const kept = this.random.int(this.volatile.length + 1);
    for (const batch of this.volatile.slice(0, kept)) applyOps(this.durable, batch.ops);
    this.current = new Map(this.durable);
    this.volatile = [];
    if (this.walCheckpoint !== null) {
      if (this.random.chance(0.5)) this.walDurable = this.walCheckpoint;
      this.walCheckpoint = null;
    }
    // A torn tail: a prefix of the records not yet synced made it, never half of one.
    const tail = this.random.int(this.walInFlight.length + 1);
    this.walDurable.push(...this.walInFlight.slice(0, tail));
    this.tornRecordsKept += tail;
    this.tornRecordsLost += this.walInFlight.length - tail;
    this.walInFlight = [];
    this.life = null;
  }

  /** The disk is replaced by an empty one (after a crash). */
  wipe(): void {
    this.durable = new Map();
    this.current = new Map();
    this.volatile = [];
    this.walDurable = [];
    this.walInFlight = [];
    this.walCheckpoint = null;
  }

  /** A clean shutdown: everything written is on disk (the WAL closed after a last sync). */
  shutdown(): void {
    for (const batch of this.volatile) applyOps(this.durable, batch.ops);
    this.volatile = [];
    this.walDurable.push(...this.walInFlight);
    this.walInFlight = [];
    this.life = null;
  }

  /** Every durable entry in key order (the checkers read disks after a run). */
  entries(): (readonly [Uint8Array, Uint8Array])[] {
    return sorted(this.current);
  }

  /** Height of the highest block in the store (blocks are keyed by u64 BE height). */
  storedHeight(): number {
    const blocks = this.range({
      gte: Uint8Array.of(Bucket.blockByHeight),
      lt: Uint8Array.of(Bucket.blockByHeight + 1),
      reverse: true,
      limit: 1,
    });
    const key = blocks[0]?.[0];
    return key === undefined ? 0 : decodeHeight(key, 1);
  }

  // --- for the ports ------------------------------------------------------------------------

  read(key: Uint8Array): Uint8Array | undefined {
    return this.current.get(toHex(key))?.[1];
  }

  range(range: KvRange): (readonly [Uint8Array, Uint8Array])[] {
    return select(sorted(this.current), range);
  }

  snapshotEntries(): (readonly [Uint8Array, Uint8Array])[] {
    return sorted(this.current);
  }

  /**
   * Starts a write: visible to reads at once (LevelDB applies batches in order), durable when
   * a synced write at or after it lands. Resolves when durable (sync) or at once (no sync).
   */
  writeKv(life: Incarnation, ops: readonly KvOp[], sync: boolean): Promise<void> {
    this.writes.kv++;
    const batch: PendingKvBatch = { ops: ops.map(copyOp) };
    applyOps(this.current, batch.ops);
    this.volatile.push(batch);
    if (!sync) return Promise.resolve();
    return this.durably(life, 'kv', () => {
      const upTo = this.volatile.indexOf(batch);
      for (const landed of this.volatile.splice(0, upTo + 1)) applyOps(this.durable, landed.ops);
    });
  }

  walRecords(): Uint8Array[] {
    return this.walDurable.map((record) => record.slice());
  }

  walBytes(): number {
    let bytes = 0;
    for (const record of this.walDurable) bytes += record.length + 8;
    return bytes;
  }

  syncWal(life: Incarnation, records: readonly Uint8Array[]): Promise<void> {
    this.writes.wal++;
    const copies = records.map((record) => record.slice());
    this.walInFlight.push(...copies);
    return this.durably(life, 'wal', () => {
      this.walInFlight.splice(0, copies.length);
      this.walDurable.push(...copies);
    });
  }

  checkpointWal(life: Incarnation, records: readonly Uint8Array[]): Promise<void> {
    this.writes.wal++;
    const copies = records.map((record) => record.slice());
    this.walCheckpoint = copies;
    return this.durably(life, 'wal', () => {
      this.walCheckpoint = null;
      this.walDurable = copies;
    });
  }

  /**
   * A write in flight for a drawn latency. When the fault plan says this write crashes the
   * node, the crash strikes at a drawn moment while it is in flight (the process may still
   * run meanwhile, as a real one does during an fsync). A crashed incarnation's writes never
   * finish (their promises stay pending).
   */
  private durably(life: Incarnation, kind: 'kv' | 'wal', land: () => void): Promise<void> {
    const [low, high] = this.faults.syncLatency;
    const latency = low + this.random.float() * (high - low);
    if (this.faults.crashAtWrite(this.node)) {
      this.scheduler.after(this.random.float() * latency, () => {
        if (life.alive && this.life === life)
          this.faults.crash(this.node, `during a ${kind} write`);
      });
    }
    return new Promise((resolve) => {
      this.scheduler.after(latency, () => {
        if (!life.alive || this.life !== life) return;
        land();
        resolve();
      });
    });
  }
}

function copyOp(op: KvOp): KvOp {
  return op.type === 'put'
    ? { type: 'put', key: op.key.slice(), value: op.value.slice() }
    : { type: 'del', key: op.key.slice() };
}

function applyOps(entries: Entries, ops: readonly KvOp[]): void {
  for (const op of ops) {
    const id = toHex(op.key);
    if (op.type === 'put') entries.set(id, [op.key, op.value]);
    else entries.delete(id);
  }
}

function sorted(entries: Entries): (readonly [Uint8Array, Uint8Array])[] {
  // Hex of bytes sorts as the bytes do (two digits per byte, a prefix first).
  return [...entries.keys()].sort().map((id) => entries.get(id)!);
}

function select(
  all: readonly (readonly [Uint8Array, Uint8Array])[],
  range: KvRange,
): (readonly [Uint8Array, Uint8Array])[] {
  let out = all.filter(([key]) => {
    if (range.gt !== undefined) {
      if (compareBytes(key, range.gt) <= 0) return false;
    } else if (range.gte !== undefined && compareBytes(key, range.gte) < 0) {
      return false;
    }
    return range.lt === undefined || compareBytes(key, range.lt) < 0;
  });
  if (range.reverse === true) out = out.reverse();
  const limit = range.limit ?? -1;
  return limit >= 0 ? out.slice(0, limit) : out;
}

/** The KvStore port over a SimDisk, for one incarnation. */
class SimKv implements KvStore {
  private open = true;

  constructor(
    private readonly disk: SimDisk,
    private readonly life: Incarnation,
  ) {}

  get isOpen(): boolean {
    return this.open && this.life.alive;
  }

  getSync(key: Uint8Array): Uint8Array | undefined {
    this.assertOpen();
    return this.disk.read(key);
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return this.disk.read(key);
  }

  write(ops: Iterable<KvOp>, options: { readonly sync?: boolean } = {}): Promise<void> {
    this.assertOpen();
    const list = [...ops];
    if (list.length === 0) return Promise.resolve();
    return this.disk.writeKv(this.life, list, options.sync ?? true);
  }

  async *iterate(range: KvRange): AsyncIterable<readonly [Uint8Array, Uint8Array]> {
    this.assertOpen();
    // Reads the latest state as it goes: one entry at a time, re-seeking after the last key.
    let cursor: KvRange = range;
    let left = range.limit ?? -1;
    for (;;) {
      if (left === 0) return;
      const next = this.disk.range({ ...cursor, limit: 1 })[0];
      if (next === undefined) return;
      yield next;
      if (left > 0) left--;
      cursor =
        range.reverse === true
          ? {
              ...(range.gte === undefined ? {} : { gte: range.gte }),
              ...(range.gt === undefined ? {} : { gt: range.gt }),
              lt: next[0],
              reverse: true,
            }
          : { gt: next[0], ...(range.lt === undefined ? {} : { lt: range.lt }) };
    }
  }

  snapshot(): KvSnapshot {
    this.assertOpen();
    const entries = this.disk.snapshotEntries();
    return {
      async *iterate(range: KvRange) {
        for (const entry of select(entries, range)) yield entry;
      },
      close: async () => undefined,
    };
  }

  async close(): Promise<void> {
    this.open = false;
  }

  private assertOpen(): void {
    if (!this.open) throw new NodeError('NODE_DB_NOT_OPEN', 'database is closed');
  }
}

/** The WalLog port over a SimDisk, for one incarnation (record level, as the port is). */
class SimWal implements WalLog {
  private pending: Uint8Array[] = [];
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly disk: SimDisk,
    private readonly life: Incarnation,
  ) {}

  append(records: readonly Uint8Array[]): void {
    this.assertOpen();
    this.pending.push(...records.map((record) => record.slice()));
  }

  sync(): Promise<void> {
    this.assertOpen();
    return this.serialized(() => this.flush());
  }

  checkpoint(records: readonly Uint8Array[]): Promise<void> {
    this.assertOpen();
    return this.serialized(async () => {
      await this.flush();
      await this.disk.checkpointWal(this.life, records);
    });
  }

  async replay(): Promise<Uint8Array[]> {
    return this.serialized(async () => this.disk.walRecords());
  }

  get sizeBytes(): number {
    return this.disk.walBytes();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.serialized(() => this.flush());
    this.closed = true;
  }

  private flush(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    const records = this.pending;
    this.pending = [];
    return this.disk.syncWal(this.life, records);
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new NodeError('NODE_WAL_CLOSED', 'the WAL is closed');
  }
}
