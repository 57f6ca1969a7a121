import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { Level } from 'level';
import { NodeError } from '../errors.js';

/**
 * A LevelDB's entries as one file: `MCDUMP1\n`, then per entry a 4-byte big-endian key length,
 * the key, a 4-byte value length, the value, in key order. Backups carry the node's db and vault
 * in this form: independent of LevelDB's own file layout, and streamed in both directions.
 */
const MAGIC = new TextEncoder().encode('MCDUMP1\n');

type Bytes = Level<Uint8Array, Uint8Array>;
export type EntrySource = AsyncIterable<[Uint8Array, Uint8Array]>;

/**
 * Every entry of `level` as of this call: the LevelDB snapshot is taken synchronously, before
 * any other write of this process can land, and released when the iteration ends.
 */
export function snapshotEntries(level: Bytes): EntrySource {
  const snapshot = level.snapshot();
  return (async function* () {
    const iterator = level.iterator({ snapshot });
    try {
      for await (const entry of iterator) yield entry;
    } finally {
      await iterator.close();
      await snapshot.close();
    }
  })();
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** Streams `entries` to `path`; resolves with the entry count once the file is flushed. */
export async function writeDump(entries: EntrySource, path: string): Promise<number> {
  const out = createWriteStream(path, { mode: 0o600 });
  const write = async (bytes: Uint8Array) => {
    if (!out.write(bytes)) await once(out, 'drain');
  };
  let count = 0;
  try {
    await write(MAGIC);
    for await (const [key, value] of entries) {
      await write(u32(key.length));
      await write(key);
      await write(u32(value.length));
      await write(value);
      count++;
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return count;
}

/** The entries of a dump file, checked as they are read (a truncated file throws). */
export async function* readDump(path: string): AsyncGenerator<[Uint8Array, Uint8Array]> {
  let buffer = new Uint8Array(0);
  let offset = 0;
  let magicSeen = false;
  const fail = (why: string) => new NodeError('NODE_DUMP_CORRUPT', `${path}: ${why}`);
  for await (const chunk of createReadStream(path)) {
    const rest = buffer.subarray(offset);
    buffer = new Uint8Array(rest.length + (chunk as Buffer).length);
    buffer.set(rest);
    buffer.set(chunk as Buffer, rest.length);
    offset = 0;
    if (!magicSeen) {
      if (buffer.length < MAGIC.length) continue;
      if (!MAGIC.every((byte, i) => buffer[i] === byte)) throw fail('not a medchain dump');
      magicSeen = true;
      offset = MAGIC.length;
    }
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    for (;;) {
      if (offset + 4 > buffer.length) break;
      const keyLength = view.getUint32(offset);
      const valueAt = offset + 4 + keyLength;
      if (valueAt + 4 > buffer.length) break;
      const valueLength = view.getUint32(valueAt);
      const end = valueAt + 4 + valueLength;
      if (end > buffer.length) break;
      yield [buffer.slice(offset + 4, valueAt), buffer.slice(valueAt + 4, end)];
      offset = end;
    }
  }
  if (!magicSeen || offset !== buffer.length) throw fail('truncated');
}

/** Opens the LevelDB at `path` (creating it) and runs `work` on it, closing it after. */
export async function withLevel<T>(path: string, work: (level: Bytes) => Promise<T>): Promise<T> {
  const level = new Level<Uint8Array, Uint8Array>(path, {
    keyEncoding: 'view',
    valueEncoding: 'view',
  });
  await level.open();
  try {
    return await work(level);
  } finally {
    await level.close();
  }
}

/** Loads a dump into the (new) LevelDB at `dbPath`, in batches, synced at the end. */
export async function loadDump(dumpPath: string, dbPath: string): Promise<number> {
  return withLevel(dbPath, async (level) => {
    let count = 0;
    let batch = level.batch();
    for await (const [key, value] of readDump(dumpPath)) {
      batch.put(key, value);
      count++;
      if (batch.length >= 1_000) {
        await batch.write();
        batch = level.batch();
      }
    }
    await batch.write({ sync: true });
    return count;
  });
}
