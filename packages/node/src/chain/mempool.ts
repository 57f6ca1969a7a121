import { binaryString, LruCache, toHex } from '@medchain/crypto';
import {
  decodeTransaction,
  expectedNonce,
  isRequestSignatureValid,
  type KeyValueReader,
  LedgerError,
  type RequestSignature,
  requestSignatureOf,
  signerRoleRefusal,
  type Transaction,
  transactionHash,
  verifyTransactionSignature,
} from '@medchain/ledger';
import type { Metrics } from '../metrics.js';
import type { Clock } from '../shell/ports.js';
import { systemClock } from '../shell/system.js';
import type { SubmitRejection } from './types.js';

/** The admission limits a node uses unless its config sets them (`mempool.*` in config.json). */
export const DEFAULT_MEMPOOL_LIMITS = {
  maxPerSigner: 256,
  maxPerAddress: 2_000,
  futureNonceTtlMs: 60_000,
} as const;

/** What admission reads of the committed chain; the node's Chain is one. */
export interface CommittedHead {
  /** Committed state, for nonces and the signer's role. */
  readonly state: KeyValueReader;
  /** Time of the last committed block: whether a delegate is live is judged at it. */
  readonly lastTime: number;
  /** Whether a transaction is already in a stored block. */
  hasTransaction(txHash: Uint8Array): boolean;
}

export interface MempoolOptions {
  readonly chainId: string;
  /** Most transactions waiting at once. */
  readonly maxTxs: number;
  /** Most bytes of transactions waiting at once. */
  readonly maxBytes: number;
  /** Largest accepted transaction. */
  readonly maxTxBytes: number;
  /** How far ahead of a signer's next nonce a transaction may be. Default 1,000. */
  readonly nonceWindow?: number;
  /**
   * Most transactions pending per signer, whatever their source. Default 256: one key cannot
   * fill the pool with nonces it never closes the gap to.
   */
  readonly maxPerSigner?: number;
  /**
   * Most transactions pending that one remote address submitted through the API (gossip is
   * not counted). Default 2,000, half the node's default pool: one client cannot take it all.
   */
  readonly maxPerAddress?: number;
  /**
   * How long a transaction may wait behind a nonce gap (some nonce of its signer between the
   * next one and its own is missing from the pool) before it is dropped, by the node's clock.
   * Default 60 s.
   */
  readonly futureNonceTtlMs?: number;
  /** The check of the requester's signature inside access.log; the ledger's unless a test counts calls. */
  readonly verifyRequest?: typeof isRequestSignatureValid;
  /** The committed chain admission reads (the node's Chain). */
  readonly head: CommittedHead;
  /** The node's clock, for future-nonce expiry. Default the system clock. */
  readonly clock?: Clock;
  readonly metrics: Metrics;
  /** Signature verification; the ledger's rule unless a test counts calls. */
  readonly verify?: (tx: Transaction) => boolean;
}

export type AdmitSource = 'api' | 'gossip';

export type AdmitResult =
  | { readonly accepted: true; readonly hash: Uint8Array; readonly tx: Transaction }
  | { readonly accepted: false; readonly code: SubmitRejection; readonly message: string };

interface Entry {
  readonly tx: Transaction;
  readonly hash: Uint8Array;
  /** The hash as a binary string (one char per byte): the pool's key, cheaper than hex. */
  readonly id: string;
  readonly signer: string;
  readonly bytes: number;
  /** The node's clock at admission. */
  readonly admittedAt: number;
  /** The remote address of an API submission. */
  readonly address: string | undefined;
  /** Whether it waits behind a nonce gap: some nonce of its signer before it is neither committed nor pending. */
  gapped: boolean;
}

/** Verdicts for transactions that left the pool, kept until their block executed everywhere. */
const RECENT_VERIFIED = 100_000;

/**
 * A request-signature verdict's key: every byte it judged. Only for the lengths a parsed body
 * has (digest 32, key 32, signature 64), so that two triples never share a key.
 */
function requestKey(
  digest: Uint8Array,
  requester: Uint8Array,
  signature: Uint8Array,
): string | undefined {
  if (digest.length !== 32 || requester.length !== 32 || signature.length !== 64) return undefined;
  return binaryString(digest) + binaryString(requester) + binaryString(signature);
}

/** Expiry looks at the pool at most this often (admission, blocks and timers all ask). */
const EXPIRY_SWEEP_INTERVAL_MS = 1_000;

/**
 * The share of the pool (count and bytes) that transactions behind a nonce gap may hold. A
 * pool full of them proposes nothing while refusing, as full, the very transactions that would
 * close their gaps, until they expire; with at most a quarter gapped, a full pool always holds
 * a block's worth of proposable work, and blocks make room.
 */
const GAPPED_SHARE = 4;

/**
 * Transactions waiting for a block. Admission runs the cheap checks first (address limit,
 * size, decoding, chain id, duplicate, capacity, nonce window, signer limit, the share of the
 * pool behind nonce gaps, the signer's role) and verifies the signature last, once: the
 * verdict is remembered by transaction hash (which covers the signature), so block execution
 * asks `isVerified` instead of verifying again.
 */
export class Mempool {
  private readonly entries = new Map<string, Entry>();
  /** signer (binary string) -> nonce -> tx id, to refuse a second transaction for one nonce. */
  private readonly bySigner = new Map<string, Map<number, string>>();
  /** Hashes verified here and since removed (included in a block); bounded, least recently used go first. */
  private readonly recentlyVerified = new LruCache<true>(RECENT_VERIFIED);
  /**
   * Verdicts on the requester signatures inside admitted access.logs, keyed by all three byte
   * strings (see requestKey); at most maxTxs (~250 bytes each), least recently used go first.
   * A verdict evicted before its block executes is only checked again.
   */
  private readonly requestVerdicts: LruCache<boolean>;
  private readonly verifyRequest: typeof isRequestSignatureValid;
  /** Remote address -> transactions it submitted that are still pending. */
  private readonly byAddress = new Map<string, number>();
  private totalBytes = 0;
  /** Entries waiting behind a nonce gap, and their bytes (at most a GAPPED_SHARE of the pool). */
  private gappedTxs = 0;
  private gappedBytes = 0;
  private readonly maxGappedTxs: number;
  private readonly maxGappedBytes: number;
  private readonly verifySignature: (tx: Transaction) => boolean;
  private readonly nonceWindow: number;
  private readonly maxPerSigner: number;
  private readonly maxPerAddress: number;
  private readonly futureNonceTtlMs: number;
  private readonly clock: Clock;
  private lastSweep: number;

  constructor(private readonly options: MempoolOptions) {
    this.verifySignature = options.verify ?? verifyTransactionSignature;
    this.verifyRequest = options.verifyRequest ?? isRequestSignatureValid;
    this.requestVerdicts = new LruCache<boolean>(options.maxTxs);
    this.nonceWindow = options.nonceWindow ?? 1_000;
    this.maxPerSigner = options.maxPerSigner ?? DEFAULT_MEMPOOL_LIMITS.maxPerSigner;
    this.maxPerAddress = options.maxPerAddress ?? DEFAULT_MEMPOOL_LIMITS.maxPerAddress;
    this.futureNonceTtlMs = options.futureNonceTtlMs ?? DEFAULT_MEMPOOL_LIMITS.futureNonceTtlMs;
    this.maxGappedTxs = Math.floor(options.maxTxs / GAPPED_SHARE);
    this.maxGappedBytes = Math.floor(options.maxBytes / GAPPED_SHARE);
    this.clock = options.clock ?? systemClock;
    this.lastSweep = this.clock.now();
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Transactions waiting behind a nonce gap. */
  get gapped(): number {
    return this.gappedTxs;
  }

  get(hash: Uint8Array): Transaction | undefined {
    return this.entries.get(binaryString(hash))?.tx;
  }

  /** Transactions pending that `address` submitted through the API. */
  pendingFromAddress(address: string): number {
    return this.byAddress.get(address) ?? 0;
  }

  /**
   * Runs admission on canonical transaction bytes. `address` is the remote address of an API
   * submission (the per-address limit); gossip has none.
   */
  admit(raw: Uint8Array, source: AdmitSource, address?: string): AdmitResult {
    this.expireIfDue();
    const result = this.check(raw, source === 'api' ? address : undefined);
    const { metrics } = this.options;
    if (!result.accepted) {
      metrics.mempool.rejected.inc({ reason: result.code });
      return result;
    }
    metrics.mempool.admitted.inc({ source });
    this.publishSize();
    return result;
  }

  private check(raw: Uint8Array, address: string | undefined): AdmitResult {
    const { options } = this;
    const fromAddress = address === undefined ? 0 : (this.byAddress.get(address) ?? 0);
    if (fromAddress >= this.maxPerAddress) {
      this.options.metrics.mempool.limited.inc({ limit: 'address' });
      return reject(
        'RATE_LIMITED',
        `${fromAddress} transactions from this address are pending (limit ${this.maxPerAddress})`,
      );
    }
    if (raw.length > options.maxTxBytes) {
      return reject('TOO_LARGE', `transaction is ${raw.length} bytes, limit ${options.maxTxBytes}`);
    }
    // Before decoding: under overload most submissions are refused here, and cheaply.
    if (this.entries.size >= options.maxTxs || this.totalBytes + raw.length > options.maxBytes) {
      return reject('MEMPOOL_FULL', `the mempool is full (${this.entries.size} transactions)`);
    }
    let tx: Transaction;
    try {
      tx = decodeTransaction(raw);
    } catch (error) {
      if (!(error instanceof LedgerError)) throw error;
      return reject(error.code === 'LEDGER_TOO_LARGE' ? 'TOO_LARGE' : 'MALFORMED', error.message);
    }
    if (tx.chainId !== options.chainId) {
      return reject(
        'WRONG_CHAIN',
        `chain id is "${tx.chainId}", this chain is "${options.chainId}"`,
      );
    }
    const hash = transactionHash(tx);
    const id = binaryString(hash);
    if (this.entries.has(id) || options.head.hasTransaction(hash)) {
      return reject('DUPLICATE', `transaction ${toHex(hash)} is already known`);
    }
    const signer = binaryString(tx.signer);
    const state = options.head.state;
    const next = expectedNonce(state, tx.signer);
    if (tx.nonce < next) return reject('BAD_NONCE', `nonce ${tx.nonce} is used; next is ${next}`);
    if (tx.nonce >= next + this.nonceWindow) {
      return reject(
        'BAD_NONCE',
        `nonce ${tx.nonce} is too far ahead of the next nonce ${next} (window ${this.nonceWindow})`,
      );
    }
    const nonces = this.bySigner.get(signer);
    if (nonces?.has(tx.nonce)) {
      return reject('BAD_NONCE', `another transaction with nonce ${tx.nonce} is pending`);
    }
    if (nonces !== undefined && nonces.size >= this.maxPerSigner) {
      this.options.metrics.mempool.limited.inc({ limit: 'signer' });
      return reject(
        'RATE_LIMITED',
        `signer has ${nonces.size} transactions pending (limit ${this.maxPerSigner})`,
      );
    }
    const missing = runEnd(next, nonces);
    const gapped = tx.nonce > missing;
    if (
      gapped &&
      (this.gappedTxs >= this.maxGappedTxs || this.gappedBytes + raw.length > this.maxGappedBytes)
    ) {
      this.options.metrics.mempool.limited.inc({ limit: 'gapped' });
      return reject(
        'MEMPOOL_FULL',
        `nonce ${tx.nonce} waits for nonce ${missing}, and the pool's room for transactions behind a nonce gap is full (${this.gappedTxs}, limit ${this.maxGappedTxs})`,
      );
    }
    // The executor's own role check on the committed state: what it refuses would only ever
    // be committed with a failed receipt.
    const refusal = signerRoleRefusal(state, tx, options.head.lastTime);
    if (refusal !== undefined) return reject(refusal.code, refusal.message);
    if (!this.verifySignature(tx)) return reject('BAD_SIGNATURE', 'the signature does not verify');
    // Not a refusal: a bad request signature fails in execution, with its receipt.
    const inner = requestSignatureOf(tx);
    if (inner !== undefined) this.recordRequestVerdict(inner);
    const admittedAt = this.clock.now();
    const bytes = raw.length;
    const entry: Entry = { tx, hash, id, signer, bytes, admittedAt, address, gapped: false };
    this.entries.set(id, entry);
    if (nonces === undefined) this.bySigner.set(signer, new Map([[tx.nonce, id]]));
    else nonces.set(tx.nonce, id);
    if (address !== undefined) this.byAddress.set(address, fromAddress + 1);
    this.totalBytes += bytes;
    if (gapped) this.markGapped(entry, true);
    else if (nonces !== undefined) this.closeGapAfter(tx.nonce, nonces);
    return { accepted: true, hash, tx };
  }

  /** The transactions right after `nonce` (a run now reachable from the next nonce) are no longer gapped. */
  private closeGapAfter(nonce: number, nonces: Map<number, string>): void {
    for (let next = nonce + 1, id = nonces.get(next); id !== undefined; id = nonces.get(++next)) {
      this.markGapped(this.entries.get(id)!, false);
    }
  }

  /** Marks each of a signer's pending transactions gapped or not against the committed state. */
  private refreshGaps(nonces: Map<number, string>, signerKey: Uint8Array): void {
    const end = runEnd(expectedNonce(this.options.head.state, signerKey), nonces);
    for (const [nonce, id] of nonces) this.markGapped(this.entries.get(id)!, nonce > end);
  }

  private markGapped(entry: Entry, gapped: boolean): void {
    if (entry.gapped === gapped) return;
    entry.gapped = gapped;
    const sign = gapped ? 1 : -1;
    this.gappedTxs += sign;
    this.gappedBytes += sign * entry.bytes;
  }

  /**
   * Drops every transaction that has waited futureNonceTtlMs or longer behind a nonce gap
   * (a nonce of its signer between the next one and its own is missing from the pool), and
   * returns how many. Transactions that could go in the next block never expire.
   */
  expireFutureNonces(): number {
    const now = this.clock.now();
    this.lastSweep = now;
    const state = this.options.head.state;
    /** Signer -> the first nonce after the run of pending nonces from its next one. */
    const runEnds = new Map<string, number>();
    let expired = 0;
    // Entries are in admission order: the scan stops at the first one too young to expire.
    for (const entry of this.entries.values()) {
      if (now - entry.admittedAt < this.futureNonceTtlMs) break;
      let end = runEnds.get(entry.signer);
      if (end === undefined) {
        end = runEnd(expectedNonce(state, entry.tx.signer), this.bySigner.get(entry.signer));
        runEnds.set(entry.signer, end);
      }
      if (entry.tx.nonce > end) {
        this.remove(entry.id);
        expired++;
      }
    }
    if (expired > 0) {
      this.options.metrics.mempool.expired.inc(expired);
      this.publishSize();
    }
    return expired;
  }

  private publishSize(): void {
    const { mempool } = this.options.metrics;
    mempool.size.set(this.entries.size);
    mempool.sizeBytes.set(this.totalBytes);
    mempool.gapped.set(this.gappedTxs);
  }

  private expireIfDue(): void {
    if (this.clock.now() - this.lastSweep >= EXPIRY_SWEEP_INTERVAL_MS) this.expireFutureNonces();
  }

  /** True when this node verified the transaction's signature (the executor then skips it). */
  isVerified(txHash: Uint8Array): boolean {
    const id = binaryString(txHash);
    return this.entries.has(id) || this.recentlyVerified.has(id);
  }

  private recordRequestVerdict({ digest, requester, signature }: RequestSignature): void {
    const key = requestKey(digest, requester, signature);
    if (key !== undefined) {
      this.requestVerdicts.set(key, this.verifyRequest(digest, requester, signature));
    }
  }

  /**
   * Execution's `isRequestSignatureValid`: the verdict admission recorded for exactly these
   * bytes, else a fresh check (a block with an access.log this node never admitted).
   */
  readonly isRequestSignatureValid = (
    digest: Uint8Array,
    requester: Uint8Array,
    signature: Uint8Array,
  ): boolean => {
    const key = requestKey(digest, requester, signature);
    return (
      (key === undefined ? undefined : this.requestVerdicts.get(key)) ??
      this.verifyRequest(digest, requester, signature)
    );
  };

  /**
   * Whether some transaction could go in a block now (its nonce is its signer's next). A pool
   * holding only transactions behind a nonce gap has no work for consensus: those wait for the
   * missing nonce, and an empty block would not help them.
   */
  hasProposable(): boolean {
    this.expireIfDue();
    if (this.entries.size === 0) return false;
    const state = this.options.head.state;
    for (const nonces of this.bySigner.values()) {
      if (nonces.has(expectedNonce(state, this.signerKey(nonces)))) return true;
    }
    return false;
  }

  /** A pending signer's key, from one of its transactions. */
  private signerKey(nonces: Map<number, string>): Uint8Array {
    for (const id of nonces.values()) return this.entries.get(id)!.tx.signer;
    throw new Error('a signer is listed without pending transactions');
  }

  /** The `max` transactions waiting longest (to send to peers again). */
  oldest(max: number): Transaction[] {
    this.expireIfDue();
    const out: Transaction[] = [];
    for (const entry of this.entries.values()) {
      if (out.length >= max) break;
      out.push(entry.tx);
    }
    return out;
  }

  /**
   * Up to `maxTxs` transactions and `maxBytes` bytes for a block, in arrival order except that
   * each signer's transactions go in nonce order without gaps (a gap would fail in the block).
   */
  reap(maxTxs: number, maxBytes: number): Transaction[] {
    const out: Transaction[] = [];
    const nextNonce = new Map<string, number>();
    const state = this.options.head.state;
    let bytes = 0;
    for (const entry of this.entries.values()) {
      if (out.length >= maxTxs) break;
      let next = nextNonce.get(entry.signer);
      if (next === undefined) next = expectedNonce(state, entry.tx.signer);
      if (entry.tx.nonce !== next) continue;
      // Take this signer's run of consecutive nonces (later ones may have arrived earlier).
      const nonces = this.bySigner.get(entry.signer)!;
      let nonce = next;
      for (let id = nonces.get(nonce); id !== undefined; id = nonces.get(nonce)) {
        const run = this.entries.get(id)!;
        if (out.length >= maxTxs || bytes + run.bytes > maxBytes) break;
        out.push(run.tx);
        bytes += run.bytes;
        nonce++;
      }
      nextNonce.set(entry.signer, nonce);
      if (bytes >= maxBytes) break;
    }
    return out;
  }

  /**
   * After a block is stored: drops its transactions, and any pending transaction of the same
   * signers whose nonce the block used up (it could only fail now).
   */
  update(txs: readonly Transaction[]): void {
    const signers = new Map<string, Uint8Array>();
    for (const tx of txs) {
      const id = binaryString(transactionHash(tx));
      if (this.entries.has(id)) {
        this.remove(id);
        this.recentlyVerified.set(id, true);
      }
      signers.set(binaryString(tx.signer), tx.signer);
    }
    const state = this.options.head.state;
    for (const [signer, key] of signers) {
      const nonces = this.bySigner.get(signer);
      if (nonces === undefined) continue;
      const next = expectedNonce(state, key);
      for (const [nonce, id] of [...nonces]) if (nonce < next) this.remove(id);
      // The block may have closed gaps (nonces the pool never had) or opened them (an
      // included transaction that failed keeps its nonce unused).
      if (nonces.size > 0) this.refreshGaps(nonces, key);
    }
    this.publishSize();
    this.expireIfDue();
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.markGapped(entry, false);
    this.entries.delete(id);
    this.totalBytes -= entry.bytes;
    const nonces = this.bySigner.get(entry.signer);
    nonces?.delete(entry.tx.nonce);
    if (nonces?.size === 0) this.bySigner.delete(entry.signer);
    if (entry.address !== undefined) {
      const left = (this.byAddress.get(entry.address) ?? 1) - 1;
      if (left === 0) this.byAddress.delete(entry.address);
      else this.byAddress.set(entry.address, left);
    }
  }
}

/** The first nonce from `next` on that is not pending: a transaction past it waits behind a gap. */
function runEnd(next: number, nonces: Map<number, string> | undefined): number {
  let nonce = next;
  if (nonces !== undefined) while (nonces.has(nonce)) nonce++;
  return nonce;
}

function reject(code: SubmitRejection, message: string): AdmitResult {
  return { accepted: false, code, message };
}
