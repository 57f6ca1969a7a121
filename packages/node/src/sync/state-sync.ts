import {
  type CommitCertificate,
  decodeMessage,
  verifyCommitCertificate,
} from '@medchain/consensus';
import { bytesEqual, compareBytes, toHex, verify } from '@medchain/crypto';
import {
  type Block,
  decodeBlock,
  decodeStateNode,
  EMPTY_STATE_ROOT,
  headerHash,
  NODE_PREFIX,
  stateLeafHash,
  stateNodeHash,
  stateValueHash,
  VALUE_PREFIX,
  type Validator,
  validatorSetHash,
} from '@medchain/ledger';
import type { ChainHead } from '../chain/codec.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../shell/ports.js';
import { sleep, systemTimers } from '../shell/system.js';
import { decodeBlocksResponse, encodeBlocksRequest } from './block-sync.js';
import {
  decodeSnapshotOffer,
  decodeSnapshotPage,
  encodeSnapshotRequest,
  type SnapshotEntry,
  type SnapshotOffer,
  type SnapshotPage,
  StateSyncError,
} from './snapshot-codec.js';
import {
  type CertifiedBlock,
  followValidatorSets,
  organizationsInSnapshot,
} from './validator-sets.js';

/*
 * State sync for a fresh node: instead of replaying every block from height 1, it takes the
 * state at a recent snapshot height h (peers pin one every checkpoint interval), in pages,
 * and trusts it only after checking it against a root 2f+1 validators signed: block h+1's
 * header carries the state root after h, and block h+1's commit certificate signs that
 * header. Every tree node's hash is recomputed from its bytes (as each page arrives) and the
 * tree is walked down from the root at the end, every value checked against its leaf, so a
 * peer can only send the state the validators certified, or be found out and dropped. The
 * validators are the ones deciding h+1: the known (genesis) set, or the set reached from it
 * through the certified blocks where it changed (validator-sets.ts). The node then starts
 * consensus at h+1.
 */

/** One request: what RequestProtocol.request does (tests pass in-process peers). */
export interface SnapshotTransport {
  request(
    peer: string,
    request: Uint8Array,
    options?: { signal?: AbortSignal },
  ): Promise<Uint8Array>;
}

export interface StateSyncOptions {
  readonly chainId: string;
  /** Writes the verified state and head (Chain.installSnapshot) and reopens the chain. */
  readonly install: (
    snapshot: Omit<ChainHead, 'nextValidators'> & {
      entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>;
    },
  ) => Promise<void>;
  /** The snapshots protocol (offers and pages). */
  readonly protocol: SnapshotTransport;
  /** The blocks protocol (the certified blocks around a snapshot). Default `protocol`. */
  readonly blocks?: SnapshotTransport;
  /** Pauses between rounds and retries. Default the system's. */
  readonly timers?: Timers;
  readonly peers: () => readonly string[];
  /**
   * The validator set this node knows (genesis for a fresh node). When another set decides
   * h+1, the changes are followed from this one through certified blocks (validator-sets.ts);
   * if that fails, the node replays blocks, which follows every change.
   */
  readonly validators: readonly Validator[];
  readonly logger: Logger;
  /** Only worth it when the peers are at least this far ahead. Default 20. */
  readonly minHeight?: number;
  /** Rounds over the peers before giving up (block sync then replays from height 1). Default 3. */
  readonly rounds?: number;
  /**
   * The most snapshot bytes (keys and values) held in memory until the install. Default
   * 512 MiB: the download holds 4-5 times its payload (measured 144-191 MiB for 36.5 MiB of
   * 344k entries), so this is about 2.5 GiB. A larger state syncs block by block.
   */
  readonly maxBytes?: number;
  /** The most time one download may take before it is abandoned. Default 30 minutes. */
  readonly downloadTimeoutMs?: number;
}

export interface StateSyncResult {
  readonly height: number;
  readonly entries: number;
  readonly bytes: number;
  readonly pages: number;
  /** Peers found lying (or serving a different state) and dropped during the download. */
  readonly refusedPeers: readonly string[];
  /** Validator-set changes followed from the known set to the one deciding h+1. */
  readonly validatorSetChanges: number;
}

/**
 * For a fresh node: fetches and verifies a recent certified state and installs it as the
 * head. Returns what was installed, or undefined when no peer is far enough ahead, or no peer
 * gave a state that verifies (the node then syncs block by block).
 */
export async function stateSync(options: StateSyncOptions): Promise<StateSyncResult | undefined> {
  const { protocol, logger } = options;
  const rounds = options.rounds ?? 3;
  let unknownSigners = 0;
  let cannotFollow = 0;
  for (let round = 0; round < rounds; round++) {
    const peers = [...options.peers()];
    const offers = await Promise.all(
      peers.map(async (peer) => {
        try {
          return {
            peer,
            offer: decodeSnapshotOffer(await protocol.request(peer, encodeSnapshotRequest())),
          };
        } catch (error) {
          logger.debug({ peer, err: (error as Error).message }, 'no snapshot offer from peer');
          return undefined;
        }
      }),
    );
    const answered = offers.filter((item) => item !== undefined);
    // Nobody reachable: the network is starting with us, there is nothing to catch up on.
    if (answered.length === 0) return undefined;
    const candidates = groupOffers(answered);
    if (candidates[0]!.offer.height < (options.minHeight ?? 20)) {
      logger.info(
        { height: candidates[0]!.offer.height },
        'peers too close to genesis for state sync',
      );
      return undefined;
    }
    for (const candidate of candidates) {
      const { height, stateRoot } = candidate.offer;
      const started = performance.now();
      try {
        // Those offering this snapshot first, starting with another one each round.
        const offering = [
          ...candidate.peers.slice(round % candidate.peers.length),
          ...candidate.peers.slice(0, round % candidate.peers.length),
        ];
        const order = [...offering, ...peers.filter((peer) => !candidate.peers.includes(peer))];
        // Headers name the set their parent's state defines: block h's names the set deciding
        // h+1, block h+1's the set h's state defines, which consensus will start with.
        const knownHash = validatorSetHash(options.validators);
        const shape = (pair: CertifiedPair) => {
          if (!bytesEqual(pair.next.header.stateRoot, stateRoot)) {
            throw new StateSyncError(
              'STATE_SYNC_REFUSED',
              'block h+1 does not carry the offered root',
            );
          }
          if (!bytesEqual(pair.next.header.validatorSetHash, pair.block.header.validatorSetHash)) {
            throw new StateSyncError(
              'STATE_SYNC_REFUSED',
              `block ${height} changed the validator set: its state is no place to start from`,
            );
          }
        };
        let pair = await fetchPair(options, order, height, (candidate) => {
          shape(candidate);
          // With the known set deciding h+1 the root is checked before any page is fetched.
          if (bytesEqual(candidate.block.header.validatorSetHash, knownHash)) {
            checkCertificate(options, candidate, options.validators);
          }
        });
        const deciding = pair.block.header.validatorSetHash;
        const knownDecides = bytesEqual(deciding, knownHash);
        const download = new SnapshotDownload({
          height,
          stateRoot,
          transport: protocol,
          peers: order,
          maxBytes: options.maxBytes ?? 512 * 1024 ** 2,
          timeoutMs: options.downloadTimeoutMs ?? 30 * 60_000,
          logger,
        });
        const entries = await download.run();
        let changes = 0;
        if (!knownDecides) {
          const followed = await followFromEachPeer(options, order, entries, height, deciding);
          changes = followed.changes;
          pair = await fetchPair(options, order, height, (candidate) => {
            shape(candidate);
            if (!bytesEqual(candidate.block.header.validatorSetHash, deciding)) {
              throw new StateSyncError('STATE_SYNC_REFUSED', `another block ${height}`);
            }
            checkCertificate(options, candidate, followed.validators);
          });
        }
        await options.install({
          height,
          hash: headerHash(pair.block.header),
          time: pair.block.header.time,
          stateRoot,
          entries,
        });
        const result: StateSyncResult = {
          height,
          entries: entries.length,
          bytes: download.bytes,
          pages: download.pages,
          refusedPeers: [...download.refused],
          validatorSetChanges: changes,
        };
        logger.info(
          { ...result, ms: Math.round(performance.now() - started) },
          'state synced from a certified snapshot',
        );
        return result;
      } catch (error) {
        if ((error as { code?: unknown }).code === 'STATE_SYNC_VALIDATORS_CHANGED') cannotFollow++;
        if (error instanceof UnknownSigners) unknownSigners++;
        logger.warn(
          { height, peers: candidate.peers, err: (error as Error).message },
          'snapshot refused',
        );
      }
    }
    await sleep(options.timers ?? systemTimers, 500);
  }
  if (cannotFollow > 0) {
    logger.warn(
      { cannotFollow },
      'state sync off: the validator set changed in a way this node cannot follow from the snapshot; syncing block by block instead',
    );
  } else if (unknownSigners > 0) {
    logger.warn(
      { unknownSigners },
      'state sync gave up: certificates were signed by keys outside the validator set deciding them; syncing block by block instead',
    );
  }
  return undefined;
}

interface Candidate {
  readonly offer: SnapshotOffer;
  readonly peers: string[];
}

/** Offers grouped by (height, root): the highest first, then the most widely offered. */
function groupOffers(answers: ReadonlyArray<{ peer: string; offer: SnapshotOffer }>): Candidate[] {
  const groups = new Map<string, Candidate>();
  for (const { peer, offer } of answers) {
    const key = `${offer.height}:${toHex(offer.stateRoot)}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { offer, peers: [peer] });
    else group.peers.push(peer);
  }
  return [...groups.values()].sort(
    (a, b) => b.offer.height - a.offer.height || b.peers.length - a.peers.length,
  );
}

class UnknownSigners extends StateSyncError {}

/** Block h and block h+1 with its certificate: h+1 names h as parent, the certificate signs h+1. */
interface CertifiedPair {
  readonly block: Block;
  readonly next: Block;
  readonly certificate: CommitCertificate;
}

/** Decoded decisions from a blocks response; a peer's garbage is a StateSyncError. */
function decodeDecisions(decisions: readonly Uint8Array[]): CertifiedBlock[] {
  return decisions.map((bytes) => {
    let decision: ReturnType<typeof decodeMessage>;
    let block: Block;
    try {
      decision = decodeMessage(bytes);
      if (decision.type !== 'decision') throw new Error('not a decision');
      block = decodeBlock(decision.payload);
    } catch (error) {
      throw new StateSyncError(
        'STATE_SYNC_BAD_RESPONSE',
        `sync answered with a bad decision: ${(error as Error).message}`,
      );
    }
    return { block, certificate: decision.certificate };
  });
}

/**
 * Blocks h and h+1 from the first peer that has both (h+1 may take a moment to exist),
 * chained, with h+1's certificate naming h+1's header, and passing `check`; a peer that
 * fails any of it is not asked again.
 */
async function fetchPair(
  options: StateSyncOptions,
  peers: readonly string[],
  height: number,
  check: (pair: CertifiedPair) => void,
): Promise<CertifiedPair> {
  let lastError: Error = new StateSyncError(
    'STATE_SYNC_UNAVAILABLE',
    `block ${height + 1} did not appear`,
  );
  const refused = new Set<string>();
  for (let attempt = 0; attempt < 20; attempt++) {
    const usable = peers.filter((peer) => !refused.has(peer));
    if (usable.length === 0) break;
    const peer = usable[attempt % usable.length]!;
    let response: ReturnType<typeof decodeBlocksResponse>;
    try {
      const request = encodeBlocksRequest({ from: height, count: 2 });
      response = decodeBlocksResponse(
        await (options.blocks ?? options.protocol).request(peer, request),
      );
    } catch (error) {
      lastError = error as Error;
      await sleep(options.timers ?? systemTimers, 250);
      continue;
    }
    if (response.head < height) {
      // It does not even have block h (an offer beyond the chain): not worth waiting for.
      lastError = new StateSyncError('STATE_SYNC_UNAVAILABLE', `${peer} has no block ${height}`);
      refused.add(peer);
      continue;
    }
    if (response.decisions.length < 2) {
      // Block h+1 may not be committed yet.
      await sleep(options.timers ?? systemTimers, 250);
      continue;
    }
    try {
      const [first, second] = decodeDecisions(response.decisions.slice(0, 2)) as [
        CertifiedBlock,
        CertifiedBlock,
      ];
      const { block } = first;
      const { block: next, certificate } = second;
      if (
        block.header.height !== height ||
        !bytesEqual(headerHash(next.header), certificate.digest) ||
        certificate.height !== height + 1 ||
        !bytesEqual(next.header.parentHash, headerHash(block.header))
      ) {
        throw new StateSyncError(
          'STATE_SYNC_REFUSED',
          `blocks ${height} and ${height + 1} do not chain`,
        );
      }
      const pair = { block, next, certificate };
      check(pair);
      return pair;
    } catch (error) {
      lastError = error as Error;
      refused.add(peer);
    }
  }
  throw lastError;
}

/** Consecutive certified blocks from the first peer that serves any (for following sets). */
async function fetchBlocks(
  options: StateSyncOptions,
  peers: readonly string[],
  from: number,
  count: number,
): Promise<CertifiedBlock[]> {
  for (const peer of peers) {
    try {
      const request = encodeBlocksRequest({ from, count });
      const response = decodeBlocksResponse(
        await (options.blocks ?? options.protocol).request(peer, request),
      );
      const blocks = decodeDecisions(response.decisions.slice(0, count));
      if (blocks.length > 0) return blocks;
    } catch (error) {
      options.logger.debug({ peer, from, err: (error as Error).message }, 'no blocks from peer');
    }
  }
  return [];
}

/**
 * The set deciding h+1, followed from the known one with each peer asked first in turn: a
 * peer that serves forged blocks where the set changes only costs its own turn.
 */
async function followFromEachPeer(
  options: StateSyncOptions,
  peers: readonly string[],
  entries: readonly SnapshotEntry[],
  height: number,
  targetHash: Uint8Array,
): Promise<{ validators: Validator[]; changes: number }> {
  const universe = organizationsInSnapshot(entries);
  let lastError: unknown;
  for (let first = 0; first < peers.length; first++) {
    const order = [...peers.slice(first), ...peers.slice(0, first)];
    try {
      return await followValidatorSets({
        chainId: options.chainId,
        known: options.validators,
        universe,
        height,
        targetHash,
        fetchBlocks: (from, count) => fetchBlocks(options, order, from, count),
      });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'STATE_SYNC_REFUSED' && code !== 'STATE_SYNC_UNAVAILABLE') throw error;
      options.logger.warn(
        { peer: order[0], err: (error as Error).message },
        'validator-set changes from peer refused',
      );
      lastError = error;
    }
  }
  throw lastError;
}

/** Throws unless a quorum of `validators` signed block h+1. */
function checkCertificate(
  options: StateSyncOptions,
  pair: CertifiedPair,
  validators: readonly Validator[],
): void {
  const keys = validators.map((validator) => validator.publicKey);
  if (verifyCommitCertificate(options.chainId, pair.certificate, keys, { verify })) return;
  const height = pair.next.header.height;
  const known = new Set(keys.map(toHex));
  if (pair.certificate.votes.some((vote) => !known.has(toHex(vote.from)))) {
    throw new UnknownSigners(
      'STATE_SYNC_REFUSED',
      `block ${height} is signed by keys outside the validator set deciding it`,
    );
  }
  throw new StateSyncError(
    'STATE_SYNC_REFUSED',
    `block ${height} is not certified by the validators`,
  );
}

// --- Download ------------------------------------------------------------------------------

interface DownloadOptions {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  readonly transport: SnapshotTransport;
  /** In the order to ask: those that offered this snapshot first. */
  readonly peers: readonly string[];
  readonly maxBytes: number;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** A key range one peer served: (after, last], or (after, end] when it said done. */
interface Served {
  readonly after: Uint8Array | null;
  readonly last: Uint8Array | null;
  readonly done: boolean;
  readonly peer: string;
}

/**
 * One snapshot's pages, from as many peers as it takes. A page is checked as it arrives
 * (shape, the snapshot it names, keys after the cursor, each node's bytes against its hash);
 * a peer that fails a check, goes away or has no such snapshot is skipped for the rest of
 * the download. At the end the tree is walked from the root; a node or value missing or
 * wrong is blamed on the peer that served its key range, that peer is dropped and its
 * ranges fetched again from others. Bounded in bytes, failures and time.
 */
export class SnapshotDownload {
  /** Entries by byteString(key). */
  private readonly held = new Map<string, SnapshotEntry>();
  private readonly served: Served[] = [];
  readonly refused = new Set<string>();
  bytes = 0;
  pages = 0;
  private failures = 0;
  private next = 0;
  private readonly deadline: AbortSignal;

  constructor(private readonly options: DownloadOptions) {
    this.deadline = AbortSignal.timeout(options.timeoutMs);
  }

  /** The verified entries of the snapshot (exactly the tree under the root and its values). */
  async run(): Promise<SnapshotEntry[]> {
    await this.fetchRange(null, null);
    for (;;) {
      // Nodes were checked against their hashes as they arrived.
      const walk = walkTree(this.options.stateRoot, (id) => this.held.get(id), false);
      if (walk.problem === undefined) return walk.kept;
      const culprit = this.blame(walk.problem);
      if (culprit === undefined) {
        throw new StateSyncError(
          'STATE_SYNC_REFUSED',
          `${walk.problem.message}, and no peer served it`,
        );
      }
      this.options.logger.warn(
        { peer: culprit, height: this.options.height, err: walk.problem.message },
        'snapshot peer refused: the tree does not verify',
      );
      this.refuse(culprit);
      // Its ranges again from the others: their entries replace its own; extra keys it made up
      // stay unreachable and the walk leaves them out.
      const ranges = this.served.filter((range) => range.peer === culprit);
      for (const range of ranges) this.served.splice(this.served.indexOf(range), 1);
      for (const range of ranges)
        await this.fetchRange(range.after, range.done ? null : range.last);
    }
  }

  /** Pages from `after` until one reaches `until` (null: until a page says done). */
  private async fetchRange(after: Uint8Array | null, until: Uint8Array | null): Promise<void> {
    let cursor = after;
    for (;;) {
      const page = await this.fetchPage(cursor);
      const last = page.entries.at(-1)?.[0] ?? null;
      this.served.push({ after: cursor, last: last ?? cursor, done: page.done, peer: page.peer });
      if (page.done || (until !== null && last !== null && compareBytes(last, until) >= 0)) return;
      cursor = last;
    }
  }

  private async fetchPage(after: Uint8Array | null): Promise<SnapshotPage & { peer: string }> {
    const { height, transport, logger } = this.options;
    const request = encodeSnapshotRequest({ kind: 'page', height, after });
    for (;;) {
      if (this.deadline.aborted) {
        throw new StateSyncError('STATE_SYNC_LIMIT', `snapshot ${height} took longer than allowed`);
      }
      const peers = this.options.peers.filter((peer) => !this.refused.has(peer));
      if (peers.length === 0) {
        throw new StateSyncError(
          'STATE_SYNC_UNAVAILABLE',
          `no peer left to serve snapshot ${height}`,
        );
      }
      // The same peer while it answers; the next one after a failure.
      const peer = peers[this.next % peers.length]!;
      try {
        const page = decodeSnapshotPage(
          await transport.request(peer, request, { signal: this.deadline }),
        );
        this.accept(page, after);
        return { ...page, peer };
      } catch (error) {
        this.failures++;
        logger.debug({ peer, height, err: (error as Error).message }, 'snapshot page failed');
        const code = (error as { code?: unknown }).code;
        if (code === 'STATE_SYNC_LIMIT') throw error;
        // A peer that answered wrongly, or has no such snapshot, is done for this download;
        // one that did not answer may just be slow: it gets another turn after the others.
        if (code === 'STATE_SYNC_REFUSED' || code === 'STATE_SYNC_BAD_RESPONSE') this.refuse(peer);
        else this.next++;
        if (this.failures > 8 * this.options.peers.length + 8) {
          throw new StateSyncError(
            'STATE_SYNC_LIMIT',
            `snapshot ${height}: too many failed page requests`,
          );
        }
      }
    }
  }

  private refuse(peer: string): void {
    this.refused.add(peer);
  }

  /** Checks a page against the snapshot asked for and keeps its entries. */
  private accept(page: SnapshotPage, after: Uint8Array | null): void {
    const { height, stateRoot } = this.options;
    const refuse = (why: string) =>
      new StateSyncError('STATE_SYNC_REFUSED', `snapshot page: ${why}`);
    if (page.height !== height || !bytesEqual(page.stateRoot, stateRoot)) {
      // An honest peer can hold another state only if it diverged; either way not this one.
      throw refuse('another snapshot than the one asked for');
    }
    const first = page.entries[0];
    if (first === undefined && !page.done) throw refuse('empty but not done');
    if (first !== undefined && after !== null && compareBytes(first[0], after) <= 0) {
      throw refuse('entries not after the cursor');
    }
    let added = 0;
    for (const entry of page.entries) {
      const [key, value] = entry;
      if (key[0] === NODE_PREFIX && !nodeMatchesHash(key.subarray(1), value)) {
        throw refuse(`node ${toHex(key.subarray(1))} does not hash to its key`);
      }
      added += key.length + value.length;
    }
    if (this.bytes + added > this.options.maxBytes) {
      throw new StateSyncError(
        'STATE_SYNC_LIMIT',
        `snapshot ${height} is larger than ${this.options.maxBytes} bytes`,
      );
    }
    for (const entry of page.entries) {
      const id = byteString(entry[0]);
      const previous = this.held.get(id);
      if (previous !== undefined) this.bytes -= previous[0].length + previous[1].length;
      this.held.set(id, entry);
    }
    this.bytes += added;
    this.pages++;
  }

  /** Who last served the key range holding the key the walk found missing or wrong. */
  private blame(problem: TreeProblem): string | undefined {
    const key = problem.key;
    for (let i = this.served.length - 1; i >= 0; i--) {
      const range = this.served[i]!;
      const above = range.after === null || compareBytes(key, range.after) > 0;
      const below = range.done || (range.last !== null && compareBytes(key, range.last) <= 0);
      if (above && below) return range.peer;
    }
    return undefined;
  }
}

function nodeMatchesHash(hash: Uint8Array, bytes: Uint8Array): boolean {
  try {
    const node = decodeStateNode(hash, bytes);
    const computed =
      node.kind === 'inner'
        ? stateNodeHash(node.left, node.right)
        : stateLeafHash(node.keyHash, node.valueHash);
    return bytesEqual(computed, hash);
  } catch {
    return false;
  }
}

// --- Verification ---------------------------------------------------------------------------

interface TreeProblem {
  readonly kind: 'missing' | 'wrong';
  /** The store key that is missing or holds the wrong bytes. */
  readonly key: Uint8Array;
  readonly message: string;
}

const latin1Slice = (
  Buffer.prototype as unknown as {
    latin1Slice(this: Uint8Array, start: number, end: number): string;
  }
).latin1Slice;

/**
 * Bytes as a Map key, one char per byte: hex strings built char by char made most of the
 * garbage of a large download. Node's latin1 decoder reads the array in place.
 */
function byteString(bytes: Uint8Array): string {
  return latin1Slice.call(bytes, 0, bytes.length);
}

const NODE_ID_PREFIX = String.fromCharCode(NODE_PREFIX);
const VALUE_ID_PREFIX = String.fromCharCode(VALUE_PREFIX);

function problem(kind: TreeProblem['kind'], prefix: number, hash: Uint8Array, what: string) {
  const key = new Uint8Array(1 + hash.length);
  key[0] = prefix;
  key.set(hash, 1);
  return { kind, key, message: `snapshot ${what} ${toHex(hash)} is ${kind}` };
}

/**
 * Walks the tree under `root` through `lookup` (by byteString of the store key), checking
 * every value against its leaf and, when `checkNodes`, every node against its hash (nodes
 * decoded by the ledger's `decodeStateNode`). Returns exactly the reachable entries, or the
 * first key that is missing or wrong.
 */
function walkTree(
  root: Uint8Array,
  lookup: (id: string) => SnapshotEntry | undefined,
  checkNodes: boolean,
): { kept: SnapshotEntry[]; problem?: TreeProblem } {
  const kept: SnapshotEntry[] = [];
  const pending: Uint8Array[] = bytesEqual(root, EMPTY_STATE_ROOT) ? [] : [root];
  while (pending.length > 0) {
    const hash = pending.pop()!;
    const entry = lookup(NODE_ID_PREFIX + byteString(hash));
    if (entry === undefined)
      return { kept, problem: problem('missing', NODE_PREFIX, hash, 'node') };
    if (checkNodes && !nodeMatchesHash(hash, entry[1])) {
      return { kept, problem: problem('wrong', NODE_PREFIX, hash, 'node') };
    }
    const node = decodeStateNode(hash, entry[1]);
    if (node.kind === 'inner') {
      if (!bytesEqual(node.left, EMPTY_STATE_ROOT)) pending.push(node.left);
      if (!bytesEqual(node.right, EMPTY_STATE_ROOT)) pending.push(node.right);
    } else {
      const value = lookup(VALUE_ID_PREFIX + byteString(node.keyHash));
      if (value === undefined) {
        return { kept, problem: problem('missing', VALUE_PREFIX, node.keyHash, 'value for') };
      }
      if (!bytesEqual(stateValueHash(value[1]), node.valueHash)) {
        return { kept, problem: problem('wrong', VALUE_PREFIX, node.keyHash, 'value for') };
      }
      kept.push(value);
    }
    kept.push(entry);
  }
  return { kept };
}

/**
 * Checks a whole snapshot's entries against `root`: returns exactly the reachable entries;
 * throws STATE_SYNC_REFUSED if anything is missing or wrong.
 */
export function verifySnapshotEntries(
  root: Uint8Array,
  entries: ReadonlyArray<SnapshotEntry>,
): SnapshotEntry[] {
  const byKey = new Map<string, SnapshotEntry>();
  for (const entry of entries) byKey.set(byteString(entry[0]), entry);
  const walk = walkTree(root, (id) => byKey.get(id), true);
  if (walk.problem !== undefined) {
    throw new StateSyncError('STATE_SYNC_REFUSED', walk.problem.message);
  }
  return walk.kept;
}
