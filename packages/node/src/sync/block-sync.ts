import { encodeMessage } from '@medchain/consensus';
import { decodeCanonical, encodeCanonical } from '@medchain/crypto';
import type { Chain } from '../chain/chain.js';
import type { ConsensusDriver } from '../chain/driver.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RequestChannel, Timer, Timers } from '../shell/ports.js';
import { sleep, systemTimers } from '../shell/system.js';

/** Blocks asked for in one request; the core buffers decisions up to 64 heights ahead. */
export const SYNC_BATCH_BLOCKS = 32;
/** Largest sync response: a batch is cut short before it grows past this. */
export const SYNC_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
export const SYNC_MAX_REQUEST_BYTES = 64;

export interface BlocksRequest {
  /** First height wanted. */
  readonly from: number;
  /** At most this many consecutive blocks. */
  readonly count: number;
}

export interface BlocksResponse {
  /** The responder's stored height. */
  readonly head: number;
  /** Consensus DECISION messages (block payload + commit certificate), encoded, from `from` up. */
  readonly decisions: readonly Uint8Array[];
}

export function encodeBlocksRequest(request: BlocksRequest): Uint8Array {
  return encodeCanonical({ from: request.from, count: request.count });
}

export function decodeBlocksRequest(bytes: Uint8Array): BlocksRequest {
  const value = decodeCanonical(bytes) as Record<string, unknown>;
  const from = value?.from;
  const count = value?.count;
  if (
    !Number.isSafeInteger(from) ||
    (from as number) < 1 ||
    !Number.isSafeInteger(count) ||
    (count as number) < 1
  ) {
    throw new Error('a blocks request is {from >= 1, count >= 1}');
  }
  return { from: from as number, count: Math.min(count as number, SYNC_BATCH_BLOCKS) };
}

export function decodeBlocksResponse(bytes: Uint8Array): BlocksResponse {
  const value = decodeCanonical(bytes) as Record<string, unknown>;
  const head = value?.head;
  const decisions = value?.decisions;
  if (
    !Number.isSafeInteger(head) ||
    !Array.isArray(decisions) ||
    decisions.length > SYNC_BATCH_BLOCKS ||
    !decisions.every((item) => item instanceof Uint8Array)
  ) {
    throw new Error('malformed blocks response');
  }
  return { head: head as number, decisions: decisions as Uint8Array[] };
}

/** Answers a blocks request from the block store: each block with its commit certificate. */
export function serveBlocks(chain: Chain, request: BlocksRequest): Uint8Array {
  const decisions: Uint8Array[] = [];
  let bytes = 0;
  const last = Math.min(chain.height, request.from + request.count - 1);
  for (let height = request.from; height <= last; height++) {
    const payload = chain.loadPayload(height);
    const certificate = chain.loadCertificate(height);
    if (payload === undefined || certificate === undefined) break;
    const decision = encodeMessage({ type: 'decision', payload, certificate });
    if (decisions.length > 0 && bytes + decision.length > SYNC_MAX_RESPONSE_BYTES - 1024) break;
    decisions.push(decision);
    bytes += decision.length;
  }
  return encodeCanonical({ head: chain.height, decisions });
}

export interface BlockSyncOptions {
  readonly chain: Chain;
  /** Where fetched decisions go (the consensus driver). */
  readonly driver: Pick<ConsensusDriver, 'feedDecisions'>;
  readonly protocol: Pick<RequestChannel, 'request'>;
  /** Pauses and the stall probe. Default the system's. */
  readonly timers?: Timers;
  /** Peers to fetch from (the other validators' peer ids). */
  readonly peers: () => readonly string[];
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Consecutive failed or useless requests before a sync round gives up (the core asks again). */
const MAX_FAILURES = 12;

/**
 * Block sync for a node that fell behind: fetches blocks with their commit certificates from
 * peers, a batch at a time, rotating peers on failure, and feeds them to the consensus driver
 * as DECISION messages. The core checks each certificate against the validator set of its
 * height and the block's digest before the driver executes and stores it, so a peer can
 * send garbage but never a block without 2f+1 valid COMMITs.
 */
export class BlockSync {
  private target = 0;
  private running: Promise<void> | undefined;
  private nextPeer = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private stallTimer: Timer | undefined;
  private readonly timers: Timers;

  constructor(private readonly options: BlockSyncOptions) {
    this.timers = options.timers ?? systemTimers;
  }

  get syncing(): boolean {
    return this.running !== undefined;
  }

  /** Starts (or extends) a sync up to at least `height`. */
  requestUpTo(height: number): void {
    this.start(height, MAX_FAILURES);
  }

  /**
   * After `intervalMs` without a new block, asks each peer once for blocks above ours. A
   * validator that missed the last commit of a burst may hear nothing newer that would tell
   * its core it is behind, while the others wait at the next height for its vote: this probe
   * bounds how long such a split can last. An idle chain makes no blocks either, so each
   * probe that finds nothing doubles the wait (up to 16 times); a new block resets it.
   */
  watchForStalls(intervalMs: number): void {
    let lastHeight = this.options.chain.height;
    let delay = intervalMs;
    const check = () => {
      if (this.stopped) return;
      const height = this.options.chain.height;
      if (height !== lastHeight) {
        delay = intervalMs;
      } else {
        if (this.running === undefined) {
          this.options.metrics.sync.stallProbes.inc();
          this.start(height + 1, Math.max(1, this.options.peers().length));
        }
        delay = Math.min(delay * 2, 16 * intervalMs);
      }
      lastHeight = height;
      this.stallTimer = this.timers.setTimeout(check, delay);
    };
    this.stallTimer = this.timers.setTimeout(check, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stallTimer?.cancel();
    this.abort.abort();
    await this.running;
  }

  private start(height: number, maxFailures: number): void {
    if (this.stopped) return;
    this.target = Math.max(this.target, height);
    if (this.running === undefined && this.options.chain.height < this.target) {
      this.running = this.loop(maxFailures).finally(() => {
        this.running = undefined;
      });
    }
  }

  private async loop(maxFailures: number): Promise<void> {
    const { chain, driver, protocol, logger, metrics } = this.options;
    let failures = 0;
    const started = chain.height;
    logger.debug({ from: chain.height + 1, target: this.target }, 'block sync started');
    while (!this.stopped && chain.height < this.target && failures < maxFailures) {
      const peers = this.options.peers();
      if (peers.length === 0) {
        failures++;
        await this.pause(200);
        continue;
      }
      const peer = peers[this.nextPeer++ % peers.length]!;
      const from = chain.height + 1;
      let response: BlocksResponse;
      try {
        const bytes = await protocol.request(
          peer,
          encodeBlocksRequest({ from, count: SYNC_BATCH_BLOCKS }),
          { signal: this.abort.signal },
        );
        response = decodeBlocksResponse(bytes);
      } catch (error) {
        failures++;
        metrics.sync.requests.inc({ outcome: 'failed' });
        logger.debug({ peer, err: (error as Error).message }, 'block sync request failed');
        await this.pause(Math.min(100 * failures, 1_000));
        continue;
      }
      if (response.decisions.length === 0) {
        failures++;
        metrics.sync.requests.inc({ outcome: 'empty' });
        await this.pause(Math.min(100 * failures, 1_000));
        continue;
      }
      metrics.sync.requests.inc({ outcome: 'ok' });
      metrics.sync.blocksFetched.inc(response.decisions.length);
      await driver.feedDecisions(response.decisions);
      if (chain.height >= from) {
        failures = 0;
        // The peer is further ahead than the core knew: keep going to its head.
        if (response.head > this.target) this.target = response.head;
      } else {
        failures++;
      }
    }
    const synced = chain.height - started;
    // A stall probe that found nobody ahead is routine; only real progress is worth an info line.
    (synced > 0 ? logger.info : logger.debug).call(
      logger,
      { synced, height: chain.height, target: this.target },
      'block sync ended',
    );
  }

  private pause(ms: number): Promise<void> {
    return sleep(this.timers, ms, this.abort.signal);
  }
}
