import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SeededRandom } from '@medchain/crypto';
import type { WalDamage } from './chaos-plan.js';

/** The WAL directory inside a node home (the node's `wal/`, one live `<seq>.wal` segment). */
export const WAL_DIR = 'wal';
/** A WAL frame starts with its length (u32 BE) and a 4-byte checksum (packages/node/src/wal.ts). */
const FRAME_HEADER_BYTES = 8;

/** The live segment: the newest `.wal` file (open keeps the newest of two after a crash). */
export function liveWalSegment(home: string): string | undefined {
  const dir = join(home, WAL_DIR);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.wal'));
  } catch {
    return undefined;
  }
  names.sort();
  const last = names.at(-1);
  return last === undefined ? undefined : join(dir, last);
}

/**
 * Damages the end of a crashed validator's WAL the way a crash during an append does: a frame
 * that was being written and never fsynced. Records that were synced are never touched: the node
 * sent its votes only after the sync, and forgetting a sent vote could make it sign twice, which
 * is outside the crash fault model. Returns the bytes appended (0 when there is no WAL).
 */
export function damageWal(home: string, damage: WalDamage, rng: SeededRandom): number {
  if (damage === 'none') return 0;
  const file = liveWalSegment(home);
  if (file === undefined) return 0;
  const length = rng.range(16, 512);
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, length);
  header.set(rng.bytes(4), 4);
  // truncated-tail: the frame stops part-way; torn-write: all of it is there, but garbage.
  const payload = rng.bytes(damage === 'truncated-tail' ? rng.range(0, length - 1) : length);
  const bytes = new Uint8Array(header.length + payload.length);
  bytes.set(header);
  bytes.set(payload, header.length);
  appendFileSync(file, bytes);
  return bytes.length;
}
