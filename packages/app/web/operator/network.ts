/**
 * The dashboard's view of the network, polled from the browser: every watched node's health and
 * status each second, its equivocation evidence every few seconds, and, from one node (the
 * app's, or the first that answers), the new blocks with their commit certificates, each checked
 * by the light client. Blocks and transactions per second are sliding-window rates over what
 * the polls saw. Transaction counts need the blocks' bodies, which only a member's admin (or
 * validator) key may read: with the operator's key unlocked they are counted.
 */
import {
  type CertificateJson,
  ClientError,
  certificateFromJson,
  type EquivocationJson,
  type HeaderJson,
  headerFromJson,
  MedchainClient,
  type StatusJson,
} from '@medchain/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import { lightClient } from '../session.js';
import type { WatchedNode } from './nodes.js';
import { SlidingRate } from './rates.js';

/** How often every node is asked for its status (ms). */
export const POLL_MS = 1_000;
/** Evidence changes rarely: every this many polls. */
const EVIDENCE_EVERY = 5;
/** The rates' window (ms). */
export const RATE_WINDOW_MS = 30_000;
/** Blocks shown. */
export const RECENT_BLOCKS = 10;
/** New blocks read per poll at most; a longer gap restarts the transaction rate. */
const MAX_BLOCKS_PER_POLL = 50;
/** A node that answers slower than this is shown as not answering. */
const NODE_TIMEOUT_MS = 3_000;

export interface NodeReading {
  readonly node: WatchedNode;
  readonly status: StatusJson | undefined;
  /** GET /v1/health answered ok. */
  readonly healthy: boolean;
  /** Why the last poll failed. */
  readonly error: unknown;
  readonly checkedAt: number | undefined;
  /** The validator this node runs, when its status tells it (see selfPeerId). */
  readonly peerId: string | undefined;
  readonly evidence: readonly EquivocationJson[] | undefined;
}

export type Verification =
  | { readonly state: 'checking' }
  | { readonly state: 'verified' }
  | { readonly state: 'invalid'; readonly message: string }
  /** The check could not run (node down, genesis unreadable): neither good nor bad. */
  | { readonly state: 'unchecked'; readonly message: string };

export interface BlockRow {
  readonly height: number;
  readonly hash: string;
  readonly header: HeaderJson;
  readonly certificate: CertificateJson | null;
  /** Transactions in the block; undefined when only the header was readable. */
  readonly txs: number | undefined;
  readonly verification: Verification;
}

export interface NetworkState {
  readonly readings: readonly NodeReading[];
  /** The node the blocks are read from. */
  readonly source: string | undefined;
  readonly blocks: readonly BlockRow[];
  readonly blocksPerSecond: number | undefined;
  readonly txsPerSecond: number | undefined;
  /** Whether transactions are being counted (the operator's key reads block bodies). */
  readonly countingTxs: boolean;
  readonly polls: number;
}

/**
 * The peer id of the validator a node runs: its status lists the validator set and the peers it
 * is connected to, so its own is the one validator that is not its peer. Undefined while that is
 * ambiguous (the node is cut off from some validators).
 */
export function selfPeerId(status: StatusJson): string | undefined {
  const peers = new Set(status.peers);
  const candidates = status.validators.filter((v) => !peers.has(v.peerId));
  return candidates.length === 1 ? candidates[0]!.peerId : undefined;
}

const clients = new Map<string, MedchainClient>();
function publicClientOf(url: string): MedchainClient {
  let client = clients.get(url);
  if (client === undefined) {
    client = new MedchainClient({ url, timeoutMs: NODE_TIMEOUT_MS });
    clients.set(url, client);
  }
  return client;
}

/** The polling loop and what it learnt; `onChange` after every poll. */
class NetworkWatcher {
  #nodes: readonly WatchedNode[] = [];
  #appNode = '';
  #operator: MedchainClient | undefined;
  #readings = new Map<string, NodeReading>();
  #source: string | undefined;
  #lastHeight: number | undefined;
  #blocks: BlockRow[] = [];
  #txTotal = 0;
  #bps = new SlidingRate(RATE_WINDOW_MS);
  #tps = new SlidingRate(RATE_WINDOW_MS);
  #countingTxs = false;
  #polls = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(readonly onChange: () => void) {}

  configure(nodes: readonly WatchedNode[], appNode: string, operator: MedchainClient | undefined) {
    this.#nodes = nodes;
    this.#appNode = appNode;
    if (operator !== this.#operator) {
      this.#operator = operator;
      // Counting starts afresh: the blocks read before were headers only.
      this.#tps.reset();
    }
  }

  start() {
    this.#stopped = false;
    void this.#loop();
  }

  stop() {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  state(): NetworkState {
    return {
      readings: this.#nodes.map((node) => this.#readings.get(node.url) ?? emptyReading(node)),
      source: this.#source,
      blocks: this.#blocks,
      blocksPerSecond: this.#bps.perSecond(),
      txsPerSecond: this.#countingTxs ? this.#tps.perSecond() : undefined,
      countingTxs: this.#countingTxs,
      polls: this.#polls,
    };
  }

  async #loop() {
    while (!this.#stopped) {
      const started = Date.now();
      await this.#poll();
      if (this.#stopped) return;
      this.onChange();
      const wait = Math.max(0, POLL_MS - (Date.now() - started));
      await new Promise<void>((resolve) => {
        this.#timer = setTimeout(resolve, wait);
      });
    }
  }

  async #poll() {
    const withEvidence = this.#polls % EVIDENCE_EVERY === 0;
    this.#polls++;
    await Promise.all(this.#nodes.map((node) => this.#read(node, withEvidence)));
    const up = this.#nodes.filter((node) => this.#readings.get(node.url)?.status !== undefined);
    const source = up.find((node) => node.url === this.#appNode)?.url ?? up[0]?.url;
    if (source !== this.#source) {
      this.#source = source;
      this.#lastHeight = undefined;
      this.#blocks = [];
      this.#bps.reset();
      this.#tps.reset();
      this.#txTotal = 0;
    }
    const status = source === undefined ? undefined : this.#readings.get(source)?.status;
    if (source === undefined || status === undefined) return;
    const now = Date.now();
    this.#bps.add(now, status.height);
    await this.#readBlocks(source, status.height);
    if (this.#countingTxs) this.#tps.add(now, this.#txTotal);
  }

  async #read(node: WatchedNode, withEvidence: boolean) {
    const client = publicClientOf(node.url);
    const previous = this.#readings.get(node.url);
    // A node not asked yet (just added, or down until now) is asked at once.
    const askEvidence = withEvidence || previous?.evidence === undefined;
    const [health, status, evidence] = await Promise.allSettled([
      client.health(),
      client.status(),
      askEvidence ? client.evidence() : Promise.resolve(undefined),
    ]);
    const reading: NodeReading = {
      node,
      status: status.status === 'fulfilled' ? status.value : undefined,
      healthy: health.status === 'fulfilled' && health.value.status === 'ok',
      error:
        status.status === 'rejected'
          ? status.reason
          : health.status === 'rejected'
            ? health.reason
            : undefined,
      checkedAt: Date.now(),
      peerId: status.status === 'fulfilled' ? selfPeerId(status.value) : previous?.peerId,
      evidence:
        evidence.status === 'fulfilled' && evidence.value !== undefined
          ? evidence.value.items
          : previous?.evidence,
    };
    this.#readings.set(node.url, reading);
  }

  /** The blocks above the last one seen: bodies with the operator's key, else headers. */
  async #readBlocks(source: string, height: number) {
    const last = this.#lastHeight;
    if (last !== undefined && height <= last) return;
    const from =
      last === undefined
        ? Math.max(1, height - RECENT_BLOCKS + 1)
        : Math.max(last + 1, height - MAX_BLOCKS_PER_POLL + 1);
    // Only a gapless run counts transactions; the first poll's blocks are history, not rate.
    const gapless = last !== undefined && from === last + 1;
    const operator =
      this.#operator !== undefined && source === this.#appNode ? this.#operator : undefined;
    const rows: BlockRow[] = [];
    let bodies = operator !== undefined;
    for (let h = from; h <= height; h++) {
      let row: BlockRow | undefined;
      if (bodies && operator !== undefined) {
        try {
          const block = await operator.block(h);
          row = {
            height: h,
            hash: block.hash,
            header: block.header,
            certificate: block.certificate,
            txs: block.txs.length,
            verification: { state: 'checking' },
          };
        } catch {
          // Not a member's admin key (403), or the node refused: headers are public.
          bodies = false;
        }
      }
      if (row === undefined) {
        try {
          const signed = await publicClientOf(source).header(h);
          row = {
            height: h,
            hash: signed.hash,
            header: signed.header,
            certificate: signed.certificate,
            txs: undefined,
            verification: { state: 'checking' },
          };
        } catch {
          // The next poll tries again from here.
          break;
        }
      }
      rows.push(row);
    }
    const reached = rows.at(-1)?.height;
    if (reached === undefined) return;
    this.#lastHeight = reached;
    this.#countingTxs = bodies;
    if (bodies && gapless) this.#txTotal += rows.reduce((sum, row) => sum + (row.txs ?? 0), 0);
    else this.#tps.reset();
    this.#blocks = [...rows.reverse(), ...this.#blocks].slice(0, RECENT_BLOCKS);
    for (const row of rows) void this.#verify(row);
  }

  /** The light client's check: on this chain, linked to its parent, a quorum of its validator set. */
  async #verify(row: BlockRow) {
    let verification: Verification;
    try {
      const light = await lightClient();
      await light.verifyHeader(
        headerFromJson(row.header),
        row.certificate === null ? null : certificateFromJson(row.certificate),
      );
      verification = { state: 'verified' };
    } catch (error) {
      const message = (error as Error).message;
      const code = error instanceof ClientError ? error.code : undefined;
      verification =
        code === 'CERTIFICATE_INVALID' || code === 'CHAIN_MISMATCH'
          ? { state: 'invalid', message }
          : { state: 'unchecked', message };
    }
    this.#blocks = this.#blocks.map((other) =>
      other.height === row.height && other.hash === row.hash ? { ...other, verification } : other,
    );
    this.onChange();
  }
}

function emptyReading(node: WatchedNode): NodeReading {
  return {
    node,
    status: undefined,
    healthy: false,
    error: undefined,
    checkedAt: undefined,
    peerId: undefined,
    evidence: undefined,
  };
}

/** The network as the dashboard shows it, refreshed every POLL_MS while mounted. */
export function useNetwork(
  nodes: readonly WatchedNode[],
  appNode: string,
  operator: MedchainClient | undefined,
): NetworkState {
  const [, setVersion] = useState(0);
  const watcher = useRef<NetworkWatcher | undefined>(undefined);
  watcher.current ??= new NetworkWatcher(() => setVersion((v) => v + 1));
  watcher.current.configure(nodes, appNode, operator);
  useEffect(() => {
    const current = watcher.current!;
    current.start();
    return () => current.stop();
  }, []);
  return watcher.current.state();
}
