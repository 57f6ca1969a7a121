import { decodeCanonical, encodeCanonical } from '@medchain/crypto';
import type { Timer, Timers } from '../shell/ports.js';
import { systemTimers } from '../shell/system.js';

/** Most transaction bytes in one gossip frame. */
export const GOSSIP_MAX_BATCH_BYTES = 256 * 1024;
/** Largest gossip frame accepted (a batch plus encoding overhead). */
export const GOSSIP_MAX_FRAME_BYTES = 2 * GOSSIP_MAX_BATCH_BYTES;

export function encodeTxBatch(txs: readonly Uint8Array[]): Uint8Array {
  return encodeCanonical([...txs]);
}

/** A gossip frame: a list of canonical transaction bytes. Throws on anything else. */
export function decodeTxBatch(bytes: Uint8Array): Uint8Array[] {
  const value = decodeCanonical(bytes);
  if (!Array.isArray(value) || !value.every((item) => item instanceof Uint8Array)) {
    throw new Error('a gossip frame is a list of transaction bytes');
  }
  return value as Uint8Array[];
}

/**
 * Collects admitted transactions and sends them to every peer in batches: one frame per
 * `delayMs` or per GOSSIP_MAX_BATCH_BYTES, so a burst of submissions costs few messages.
 */
export class TxGossip {
  private batch: Uint8Array[] = [];
  private bytes = 0;
  private timer: Timer | undefined;
  private readonly timers: Timers;
  private readonly delayMs: number;

  constructor(
    /** Sends one frame to every peer; `count` is how many transactions it carries. */
    private readonly broadcast: (frame: Uint8Array, count: number) => void,
    options: { readonly timers?: Timers; readonly delayMs?: number } = {},
  ) {
    this.timers = options.timers ?? systemTimers;
    this.delayMs = options.delayMs ?? 5;
  }

  add(tx: Uint8Array): void {
    if (this.bytes + tx.length > GOSSIP_MAX_BATCH_BYTES) this.flush();
    this.batch.push(tx);
    this.bytes += tx.length;
    if (this.timer === undefined)
      this.timer = this.timers.setTimeout(() => this.flush(), this.delayMs);
  }

  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const frame = encodeTxBatch(this.batch);
    const count = this.batch.length;
    this.batch = [];
    this.bytes = 0;
    this.broadcast(frame, count);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.batch = [];
    this.bytes = 0;
  }
}
