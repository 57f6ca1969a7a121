import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual } from '@medchain/crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, encodeWalRecord, NodeError, scanWalSegment, Wal } from '../src/index.js';
import { seqOf } from './fixtures/wal-writer.js';
import { killAfterLines, spawnFixture, tempDir } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function walDir(): Promise<string> {
  const dir = await tempDir('wal');
  cleanups.push(dir.remove);
  return dir.path;
}

async function segmentPath(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.wal'));
  expect(names).toHaveLength(1);
  return join(dir, names[0]!);
}

const bytes = (...values: number[]) => Uint8Array.from(values);

/** Writes `batches` (one sync each) to a fresh WAL and closes it. */
async function writeBatches(dir: string, batches: Uint8Array[][]): Promise<void> {
  const wal = await Wal.open(dir);
  for (const batch of batches) {
    wal.append(batch);
    await wal.sync();
  }
  await wal.close();
}

async function reopen(dir: string, options: Parameters<typeof Wal.open>[1] = {}) {
  const wal = await Wal.open(dir, options);
  cleanups.push(() => wal.close());
  return { wal, records: await wal.replay() };
}

function isPrefix(prefix: Uint8Array[], of: Uint8Array[]): boolean {
  return prefix.length <= of.length && prefix.every((record, i) => bytesEqual(record, of[i]!));
}

describe('WAL', () => {
  it('replays what was synced, in order, across reopen and appends after it', async () => {
    const dir = await walDir();
    await writeBatches(dir, [[bytes(1), bytes(2, 2)], [new Uint8Array(0)], [bytes(3)]]);
    const { wal, records } = await reopen(dir);
    expect(records).toEqual([bytes(1), bytes(2, 2), new Uint8Array(0), bytes(3)]);
    expect(wal.opened.corruption).toBe('none');
    wal.append([bytes(4)]);
    expect(await wal.replay()).toHaveLength(4); // not durable before sync
    await wal.sync();
    expect((await wal.replay()).at(-1)).toEqual(bytes(4));
  });

  it('refuses oversize records and use after close, with codes', async () => {
    const dir = await walDir();
    const wal = await Wal.open(dir, { maxRecordBytes: 16 });
    expect(() => wal.append([new Uint8Array(17)])).toThrow(
      expect.objectContaining({ code: 'NODE_WAL_RECORD_TOO_LARGE' }),
    );
    await wal.close();
    expect(() => wal.append([bytes(1)])).toThrow(
      expect.objectContaining({ code: 'NODE_WAL_CLOSED' }),
    );
  });

  it('cuts a torn last write, reports the dropped bytes, and keeps appending cleanly', async () => {
    const dir = await walDir();
    await writeBatches(dir, [[bytes(1)], [bytes(2)], [new Uint8Array(100).fill(3)]]);
    const path = await segmentPath(dir);
    const full = (await stat(path)).size;
    await truncate(path, full - 40); // the last record lost its end
    const metrics = createMetrics();
    const { wal, records } = await reopen(dir, { metrics });
    expect(records).toEqual([bytes(1), bytes(2)]);
    expect(wal.opened).toMatchObject({ corruption: 'torn-tail', droppedBytes: 100 + 8 - 40 });
    expect(
      await metrics.register.getSingleMetricAsString('medchain_wal_bytes_dropped_total'),
    ).toContain(` ${100 + 8 - 40}`);
    wal.append([bytes(9)]);
    await wal.sync();
    await wal.close();
    expect((await reopen(dir)).records).toEqual([bytes(1), bytes(2), bytes(9)]);
  });

  it('cuts a random garbage tail', async () => {
    const dir = await walDir();
    const appended = [[bytes(1), bytes(2)], [bytes(3)]];
    await writeBatches(dir, appended);
    const path = await segmentPath(dir);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (garbage) => {
        const before = (await stat(path)).size;
        await appendFile(path, garbage);
        const wal = await Wal.open(dir);
        const records = await wal.replay();
        await wal.close();
        expect(records).toEqual(appended.flat());
        expect((await stat(path)).size).toBe(before);
      }),
      { numRuns: 60 },
    );
  });

  it('a bit flip in the middle stops replay there: refused by default, cut with repair', async () => {
    const dir = await walDir();
    const records = [bytes(1, 1, 1), bytes(2, 2, 2), bytes(3, 3, 3)];
    await writeBatches(dir, [records]);
    const path = await segmentPath(dir);
    const file = new Uint8Array(await readFile(path));
    const secondPayload = 20 + (8 + 3) + 8; // header, first frame, second frame header
    file[secondPayload + 1]! ^= 0x10;
    await writeFile(path, file);

    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'NODE_WAL_CORRUPT' });
    expect((await stat(path)).size).toBe(file.length); // nothing was cut

    const { wal, records: replayed } = await reopen(dir, { repairMidLogCorruption: true });
    expect(replayed).toEqual([records[0]]);
    expect(wal.opened).toMatchObject({ corruption: 'mid-log', droppedBytes: 2 * (8 + 3) });
  });

  it('a flipped length field is caught by the checksum', () => {
    const frame = encodeWalRecord(bytes(7, 7, 7, 7));
    const segment = new Uint8Array(20 + frame.length);
    segment.set(frame, 20);
    expect(scanWalSegment(segment).records).toHaveLength(1);
    segment[20 + 3] = 2; // length 4 -> 2
    expect(scanWalSegment(segment)).toMatchObject({ records: [], validBytes: 20 });
  });

  it('scanning arbitrary bytes never throws and only returns checksummed records', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }),
        fc.uint8Array({ maxLength: 200 }),
        (records, tail) => {
          const segment = new Uint8Array([
            ...new Uint8Array(20),
            ...records.flatMap((record) => [...encodeWalRecord(record)]),
            ...tail,
          ]);
          const scan = scanWalSegment(segment);
          // Every intact record comes back first; a random tail almost never checksums.
          expect(scan.records.slice(0, records.length)).toEqual(records);
          expect(scan.validBytes + scan.droppedBytes).toBe(segment.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a damaged segment header with a code', async () => {
    const dir = await walDir();
    await writeBatches(dir, [[bytes(1)]]);
    const path = await segmentPath(dir);
    const file = new Uint8Array(await readFile(path));
    file[9]! ^= 1;
    await writeFile(path, file);
    await expect(Wal.open(dir)).rejects.toBeInstanceOf(NodeError);
  });

  it('any truncation point replays a prefix of what was appended and never throws', async () => {
    const dir = await walDir();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (batches, where) => {
          const runDir = join(dir, `run-${runs++}`);
          await writeBatches(runDir, batches);
          const path = await segmentPath(runDir);
          const size = (await stat(path)).size;
          const cut = 20 + Math.floor(where * (size - 20));
          await truncate(path, cut);
          const wal = await Wal.open(runDir);
          const records = await wal.replay();
          expect(isPrefix(records, batches.flat())).toBe(true);
          // Whatever survived plus a new record is what the next open sees.
          wal.append([bytes(0xaa)]);
          await wal.sync();
          await wal.close();
          const again = await Wal.open(runDir);
          expect(await again.replay()).toEqual([...records, bytes(0xaa)]);
          await again.close();
        },
      ),
      { numRuns: 30 },
    );
  });
  let runs = 0;

  it('a failed write or fsync poisons the WAL; a restart replays what was durable', async () => {
    const dir = await walDir();
    const wal = await Wal.open(dir);
    wal.append([bytes(1)]);
    await wal.sync();
    // Make the disk fail the way EIO would, half-way through the next write.
    const handle = (
      wal as unknown as { handle: { write: (...args: unknown[]) => Promise<unknown> } }
    ).handle;
    const realWrite = handle.write.bind(handle);
    handle.write = async (data: unknown, offset: unknown, _length: unknown, position: unknown) => {
      await realWrite(data, offset, 5, position); // a torn frame reaches the file
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    };
    wal.append([bytes(2, 2, 2)]);
    await expect(wal.sync()).rejects.toMatchObject({ code: 'NODE_WAL_FAILED' });
    expect(() => wal.append([bytes(3)])).toThrow(
      expect.objectContaining({ code: 'NODE_WAL_FAILED' }),
    );
    await wal.close();
    const { wal: reopened, records } = await reopen(dir);
    expect(records).toEqual([bytes(1)]);
    expect(reopened.opened.droppedBytes).toBe(0); // the torn frame was cut at failure time
  });

  it('checkpoint replaces the log with its snapshot, and later appends follow it', async () => {
    const dir = await walDir();
    const wal = await Wal.open(dir);
    wal.append([bytes(1), bytes(2)]);
    await wal.sync();
    wal.append([bytes(3)]); // pending, still part of the old log
    await wal.checkpoint([bytes(0xee)]);
    wal.append([bytes(4)]);
    await wal.sync();
    expect(await wal.replay()).toEqual([bytes(0xee), bytes(4)]);
    await wal.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.wal'))).toHaveLength(1);
    expect((await reopen(dir)).records).toEqual([bytes(0xee), bytes(4)]);
  });

  it('survives kill -9 of a writer: every acknowledged record is replayed, in order', async () => {
    const dir = await walDir();
    let lastAck = -1;
    for (const lines of [90, 130, 170]) {
      const acknowledged = await killAfterLines(spawnFixture('wal-writer.ts', [dir]), lines);
      lastAck = Math.max(lastAck, Number(acknowledged.at(-1)));
    }
    const { records } = await reopen(dir);
    const seqs = records.map(seqOf);
    // Optionally one snapshot first, then consecutive sequence numbers.
    const body = seqs[0]?.snapshot ? seqs.slice(1) : seqs;
    const start = seqs[0]?.snapshot ? seqs[0].seq + 1 : 0;
    expect(body.every((entry, i) => !entry.snapshot && entry.seq === start + i)).toBe(true);
    expect(seqs.at(-1)!.seq).toBeGreaterThanOrEqual(lastAck);
  });
});
