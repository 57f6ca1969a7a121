import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bytesEqual, concatBytes, sha256 } from '@medchain/crypto';
import { NodeError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { WalLog } from './shell/ports.js';

/*
 * Write-ahead log for the consensus driver.
 *
 * A WAL directory holds one live segment file, `<seq as 16 hex digits>.wal`:
 *   header (20 B): "MCWAL" 0x00 version(1) flags(1) | seq (u64 BE) | checksum (4 B)
 *   then records:  length (u32 BE) | checksum (4 B) | payload (length bytes)
 * A checksum is the first 4 bytes of sha256 over everything before it in the header, or over
 * the length bytes and the payload of a record, so a flipped length is caught too.
 *
 * Segments are only ever created whole: written to `*.tmp`, fsynced, renamed, then the
 * directory is fsynced. `checkpoint(snapshot)` makes the next segment start with the snapshot
 * records and then deletes the older ones; a crash in between leaves both on disk, and open()
 * keeps only the newest, which already holds everything that matters.
 */

const MAGIC = Uint8Array.of(0x4d, 0x43, 0x57, 0x41, 0x4c, 0x00); // "MCWAL\0"
const VERSION = 1;
const HEADER_BYTES = 20;
const FRAME_HEADER_BYTES = 8;
const CHECKSUM_BYTES = 4;
const SEGMENT_PATTERN = /^([0-9a-f]{16})\.wal$/;

export const DEFAULT_MAX_WAL_RECORD_BYTES = 16 * 1024 * 1024;

function checksum(...parts: Uint8Array[]): Uint8Array {
  return sha256(parts.length === 1 ? parts[0]! : concatBytes(...parts)).subarray(0, CHECKSUM_BYTES);
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

function encodeHeader(seq: number): Uint8Array {
  const head = new Uint8Array(HEADER_BYTES - CHECKSUM_BYTES);
  head.set(MAGIC, 0);
  head[6] = VERSION;
  head[7] = 0;
  new DataView(head.buffer).setBigUint64(8, BigInt(seq));
  return concatBytes(head, checksum(head));
}

function headerIsValid(bytes: Uint8Array, seq: number): boolean {
  if (bytes.length < HEADER_BYTES) return false;
  return bytesEqual(bytes.subarray(0, HEADER_BYTES), encodeHeader(seq));
}

/** One frame: length, checksum over (length, payload), payload. */
export function encodeWalRecord(payload: Uint8Array): Uint8Array {
  const length = u32(payload.length);
  return concatBytes(length, checksum(length, payload), payload);
}

type FrameResult =
  | { ok: true; payload: Uint8Array; end: number }
  | { ok: false; declaredEnd: number | undefined };

function readFrame(bytes: Uint8Array, offset: number, maxRecordBytes: number): FrameResult {
  if (offset + FRAME_HEADER_BYTES > bytes.length) return { ok: false, declaredEnd: undefined };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(offset);
  const end = offset + FRAME_HEADER_BYTES + length;
  if (length > maxRecordBytes || end > bytes.length) return { ok: false, declaredEnd: undefined };
  const payload = bytes.subarray(offset + FRAME_HEADER_BYTES, end);
  const expected = checksum(bytes.subarray(offset, offset + 4), payload);
  if (!bytesEqual(expected, bytes.subarray(offset + 4, offset + FRAME_HEADER_BYTES))) {
    return { ok: false, declaredEnd: end };
  }
  return { ok: true, payload, end };
}

export type WalCorruption = 'none' | 'torn-tail' | 'mid-log';

export interface WalScan {
  /** Payloads of the intact records, in append order (copies, safe to keep). */
  records: Uint8Array[];
  /** Byte offset just past the last intact record. */
  validBytes: number;
  /** Bytes after the last intact record (a torn or corrupt tail). */
  droppedBytes: number;
  /**
   * `torn-tail`: the bytes after the last intact record do not hold a valid record, as after a
   * crash during a write. `mid-log`: a record failed its checksum but the record its length
   * points to is intact, so data in the middle was damaged (disk fault), not torn.
   */
  corruption: WalCorruption;
}

/** Reads the records of one segment's bytes; stops at the first bad record. Never throws. */
export function scanWalSegment(
  bytes: Uint8Array,
  maxRecordBytes = DEFAULT_MAX_WAL_RECORD_BYTES,
): WalScan {
  const records: Uint8Array[] = [];
  let offset = HEADER_BYTES;
  while (offset < bytes.length) {
    const frame = readFrame(bytes, offset, maxRecordBytes);
    if (!frame.ok) {
      const next = frame.declaredEnd;
      const intactAfter =
        next !== undefined && next < bytes.length && readFrame(bytes, next, maxRecordBytes).ok;
      return {
        records,
        validBytes: offset,
        droppedBytes: bytes.length - offset,
        corruption: intactAfter ? 'mid-log' : 'torn-tail',
      };
    }
    records.push(frame.payload.slice());
    offset = frame.end;
  }
  return { records, validBytes: offset, droppedBytes: 0, corruption: 'none' };
}

export interface WalOptions {
  logger?: Logger;
  metrics?: Metrics;
  /** Largest record accepted by append() and believed by replay. Default 16 MiB. */
  maxRecordBytes?: number;
  /**
   * What open() does when a record in the middle of the log is damaged (`mid-log`). By default
   * it refuses with NODE_WAL_CORRUPT: the records after it may hold this validator's own votes,
   * and silently forgetting them could make it sign twice. With `true` it cuts the log at the
   * damaged record, like a torn tail, and reports it.
   */
  repairMidLogCorruption?: boolean;
}

async function listSegments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .map((name) => SEGMENT_PATTERN.exec(name)?.[1])
    .filter((hex): hex is string => hex !== undefined)
    .map((hex) => Number.parseInt(hex, 16))
    .sort((a, b) => a - b);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates a whole segment (header plus records) under its final name, atomically. */
async function createSegment(dir: string, seq: number, records: Uint8Array[]): Promise<void> {
  const path = join(dir, segmentName(seq));
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(concatBytes(encodeHeader(seq), ...records.map(encodeWalRecord)));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await syncDirectory(dir);
}

/**
 * The consensus driver's write-ahead log: `append(records)` buffers, `sync()` writes and
 * fsyncs (call it before sending any message those records justify), `replay()` returns what
 * survived, `checkpoint(snapshot)` replaces the log with a snapshot.
 */
export class Wal implements WalLog {
  private pending: Uint8Array[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when a write or fsync failed: after that nothing on disk can be vouched for. */
  private failure: Error | undefined;

  private constructor(
    readonly dir: string,
    private seq: number,
    private handle: FileHandle,
    private size: number,
    private readonly options: WalOptions & { maxRecordBytes: number },
    /** What open() found and repaired. */
    readonly opened: Omit<WalScan, 'records'> & { records: number },
  ) {}

  /** Opens (or creates) the WAL in `dir`, cutting a torn tail so appends continue after the last intact record. */
  static async open(dir: string, options: WalOptions = {}): Promise<Wal> {
    const settings = {
      ...options,
      maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_WAL_RECORD_BYTES,
    };
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      if (name.endsWith('.wal.tmp')) await rm(join(dir, name), { force: true });
    }
    const segments = await listSegments(dir);
    let seq = segments.at(-1);
    if (seq === undefined) {
      seq = 1;
      await createSegment(dir, seq, []);
    }
    // Older segments were superseded by a checkpoint that crashed before deleting them.
    for (const old of segments.slice(0, -1)) await rm(join(dir, segmentName(old)), { force: true });

    const path = join(dir, segmentName(seq));
    const bytes = new Uint8Array(await readFile(path));
    if (!headerIsValid(bytes, seq)) {
      throw new NodeError('NODE_WAL_CORRUPT', `WAL segment ${path} has a damaged header`);
    }
    const scan = scanWalSegment(bytes, settings.maxRecordBytes);
    if (scan.corruption === 'mid-log' && settings.repairMidLogCorruption !== true) {
      throw new NodeError(
        'NODE_WAL_CORRUPT',
        `WAL segment ${path} is damaged at byte ${scan.validBytes} with intact records after it; ` +
          'refusing to drop them (open with repairMidLogCorruption to cut the log there)',
      );
    }
    if (scan.droppedBytes > 0) {
      await truncate(path, scan.validBytes);
      settings.logger?.warn(
        {
          segment: path,
          corruption: scan.corruption,
          droppedBytes: scan.droppedBytes,
          keptRecords: scan.records.length,
        },
        'WAL tail cut at the first bad record',
      );
      settings.metrics?.wal.bytesDropped.inc(scan.droppedBytes);
    }
    const handle = await open(path, 'r+');
    return new Wal(dir, seq, handle, scan.validBytes, settings, {
      records: scan.records.length,
      validBytes: scan.validBytes,
      droppedBytes: scan.droppedBytes,
      corruption: scan.corruption,
    });
  }

  /** Reads the intact records on disk now (what a restart would replay). Pending, unsynced records are not included. */
  async replay(): Promise<Uint8Array[]> {
    return this.serialized(async () => {
      const bytes = new Uint8Array(await readFile(join(this.dir, segmentName(this.seq))));
      return scanWalSegment(bytes, this.options.maxRecordBytes).records;
    });
  }

  /** Buffers records in memory; nothing is durable until sync() resolves. */
  append(records: readonly Uint8Array[]): void {
    this.assertOpen();
    this.assertRecordSizes(records);
    for (const record of records) {
      const frame = encodeWalRecord(record);
      this.pending.push(frame);
    }
    this.options.metrics?.wal.recordsAppended.inc(records.length);
  }

  /** Writes every appended record with one write and fdatasync; resolves once they are durable. */
  sync(): Promise<void> {
    this.assertOpen();
    return this.serialized(() => this.flush());
  }

  /**
   * Replaces the log with `snapshot`: pending records are synced first, then a new segment
   * starting with the snapshot records is created whole, then older segments are deleted.
   * After it, replay returns the snapshot followed by whatever is appended next.
   */
  checkpoint(snapshot: readonly Uint8Array[]): Promise<void> {
    this.assertOpen();
    this.assertRecordSizes(snapshot);
    return this.serialized(async () => {
      await this.flush();
      const next = this.seq + 1;
      await createSegment(this.dir, next, [...snapshot]);
      const handle = await open(join(this.dir, segmentName(next)), 'r+');
      const size = (await handle.stat()).size;
      const old = this.seq;
      await this.handle.close();
      this.handle = handle;
      this.seq = next;
      this.size = size;
      await rm(join(this.dir, segmentName(old)), { force: true });
      await syncDirectory(this.dir);
    });
  }

  /** Bytes in the live segment, synced records only. */
  get sizeBytes(): number {
    return this.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.failure === undefined) await this.serialized(() => this.flush());
    } finally {
      this.closed = true;
      await this.handle.close();
    }
  }

  private assertRecordSizes(records: readonly Uint8Array[]): void {
    for (const record of records) {
      if (record.length > this.options.maxRecordBytes) {
        throw new NodeError(
          'NODE_WAL_RECORD_TOO_LARGE',
          `WAL record of ${record.length} bytes exceeds ${this.options.maxRecordBytes}`,
        );
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new NodeError('NODE_WAL_CLOSED', 'the WAL is closed');
    if (this.failure !== undefined) {
      throw new NodeError(
        'NODE_WAL_FAILED',
        `an earlier WAL write failed (${this.failure.message}); restart the node to recover from disk`,
      );
    }
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const started = performance.now();
    const bytes = concatBytes(...this.pending);
    this.pending = [];
    try {
      await this.handle.write(bytes, 0, bytes.length, this.size);
      await this.handle.datasync();
    } catch (error) {
      // The records were not made durable, and after a failed fsync the kernel may have
      // dropped the dirty pages: refuse further use so the driver stops instead of sending
      // votes it cannot prove it saved. Cut a partial frame off so a restart replays cleanly.
      this.failure = error as Error;
      await this.handle.truncate(this.size).catch(() => undefined);
      throw new NodeError('NODE_WAL_FAILED', `WAL write failed: ${(error as Error).message}`);
    }
    this.size += bytes.length;
    this.options.metrics?.wal.syncSeconds.observe((performance.now() - started) / 1000);
  }
}
