import { Bucket, type BucketSnapshot, type Database } from '../db/index.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../shell/ports.js';
import { sleep, systemTimers } from '../shell/system.js';
import {
  encodeSnapshotOffer,
  encodeSnapshotPage,
  SNAPSHOT_PAGE_BYTES,
  type SnapshotEntry,
  type SnapshotRequest,
  StateSyncError,
} from './snapshot-codec.js';

/** What the server needs of the chain (Chain has all three). */
export interface SnapshotHead {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  /** True while a block's batch is being written: the store and the head disagree then. */
  readonly writing: boolean;
}

export interface SnapshotServerOptions {
  readonly db: Database;
  /** The current chain (a getter: the node reopens its chain after a state sync). */
  readonly head: () => SnapshotHead;
  /**
   * Heights that are multiples of this are pinned as they commit (the consensus checkpoint
   * interval), so every honest node holds the same snapshots and a client can take the pages
   * of one snapshot from several of them.
   */
  readonly interval: number;
  /** Pinned snapshots kept; older ones are released. Default 2 (a transfer of the previous one can finish). */
  readonly keep?: number;
  /** Bytes a page is filled to. Default SNAPSHOT_PAGE_BYTES. */
  readonly pageBytes?: number;
  readonly logger?: Logger;
  /** The wait for a block write in flight. Default the system's. */
  readonly timers?: Timers;
}

interface Pin {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  readonly snapshot: BucketSnapshot;
}

/**
 * Serves state snapshots in pages. A snapshot is the state bucket as of one committed height,
 * held by a LevelDB snapshot (a sequence number: no copy, and blocks keep committing; LevelDB
 * only keeps the overwritten entries on disk until it is released). The store holds only the
 * latest tree, so a height's state must be pinned when that height commits: `committed()`
 * pins every `interval`-th height. When nobody calls `committed()` (or a restart lost the
 * pins), an offer pins the current head instead, between block writes.
 */
export class SnapshotServer {
  private readonly pins: Pin[] = [];
  private closed = false;

  constructor(private readonly options: SnapshotServerOptions) {
    if (!Number.isSafeInteger(options.interval) || options.interval < 1) {
      throw new StateSyncError(
        'STATE_SYNC_BAD_REQUEST',
        'the snapshot interval is an integer >= 1',
      );
    }
  }

  /** Call after each block is stored (before the next one is executed). */
  committed(height: number): void {
    if (height % this.options.interval === 0) this.pinHead();
  }

  /** Heights pinned now, oldest first. */
  get pinnedHeights(): number[] {
    return this.pins.map((pin) => pin.height);
  }

  async serve(request: SnapshotRequest): Promise<Uint8Array> {
    if (this.closed) throw new StateSyncError('STATE_SYNC_UNAVAILABLE', 'snapshot server closed');
    if (request.kind === 'offer') {
      const pin = await this.offer();
      return encodeSnapshotOffer({ height: pin.height, stateRoot: pin.stateRoot });
    }
    const pin = this.pins.find((candidate) => candidate.height === request.height);
    if (pin === undefined) {
      throw new StateSyncError(
        'STATE_SYNC_UNAVAILABLE',
        `no snapshot at height ${request.height} (pinned: ${this.pinnedHeights.join(', ') || 'none'})`,
      );
    }
    const page = await this.readPage(pin, request.after);
    return encodeSnapshotPage({ height: pin.height, stateRoot: pin.stateRoot, ...page });
  }

  async close(): Promise<void> {
    this.closed = true;
    const pins = this.pins.splice(0);
    await Promise.all(pins.map((pin) => pin.snapshot.close()));
  }

  /** The newest pin below the head (its next block, which certifies its root, exists), else the newest. */
  private async offer(): Promise<Pin> {
    const newest = this.pins.at(-1);
    if (
      newest === undefined ||
      newest.height + this.options.interval < this.options.head().height
    ) {
      // Not pinned as it committed: take the head, once no block batch is in flight.
      for (let waited = 0; this.options.head().writing; waited++) {
        if (waited >= 400) break;
        await sleep(this.options.timers ?? systemTimers, 5);
      }
      this.pinHead();
    }
    const head = this.options.head().height;
    const pin = this.pins.findLast((candidate) => candidate.height < head) ?? this.pins.at(-1);
    if (pin === undefined) {
      throw new StateSyncError('STATE_SYNC_UNAVAILABLE', 'no snapshot pinned yet');
    }
    return pin;
  }

  private pinHead(): void {
    const head = this.options.head();
    // Height 0 is genesis: every node has it already.
    if (this.closed || head.writing || head.height === 0) return;
    if (this.pins.at(-1)?.height === head.height) return;
    const snapshot = this.options.db.snapshot(Bucket.state);
    this.pins.push({ height: head.height, stateRoot: head.stateRoot, snapshot });
    const keep = this.options.keep ?? 2;
    for (const old of this.pins.splice(0, Math.max(0, this.pins.length - keep))) {
      // Reads in progress hold a reference: the close waits for them.
      old.snapshot.close().catch((error: unknown) => {
        this.options.logger?.warn({ err: error, height: old.height }, 'snapshot release failed');
      });
    }
    this.options.logger?.debug({ height: head.height }, 'state snapshot pinned');
  }

  private async readPage(
    pin: Pin,
    after: Uint8Array | null,
  ): Promise<{ entries: SnapshotEntry[]; done: boolean }> {
    const limit = this.options.pageBytes ?? SNAPSHOT_PAGE_BYTES;
    const entries: SnapshotEntry[] = [];
    let bytes = 0;
    const range = after === null ? {} : { gt: after };
    for await (const [key, value] of pin.snapshot.entries(range)) {
      if (bytes >= limit) return { entries, done: false };
      // Copies: a page outlives the store's buffers, and small copies stay on the V8 heap.
      entries.push([key.slice(), value.slice()]);
      bytes += key.length + 1 + value.length + 8;
    }
    return { entries, done: true };
  }
}
