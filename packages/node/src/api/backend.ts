import type { CommitCertificate } from '@medchain/consensus';
import type {
  Block,
  BlockHeader,
  KeyValueReader,
  Receipt,
  StateProof,
  Transaction,
  Validator,
} from '@medchain/ledger';
import type { EvidenceList, SubmitResult } from '../chain/types.js';

export {
  type EvidenceList,
  type RecordedEquivocation,
  SUBMIT_REJECTIONS,
  type SubmitRejection,
  type SubmitResult,
} from '../chain/types.js';

/**
 * What the HTTP API needs from the node. The node's chain component implements it; the API
 * never touches consensus, the mempool or the database directly. Methods may answer
 * synchronously or with a promise.
 */
export interface ApiBackend {
  status(): Awaitable<NodeStatus>;
  /**
   * Hands canonical transaction bytes to the mempool (the same admission as gossip).
   * `address` is the submitter's remote address, for the mempool's per-address limit.
   */
  submitTransaction(bytes: Uint8Array, address?: string): Awaitable<SubmitResult>;
  /**
   * A batch (POST /v1/txs): each as `submitTransaction` would admit it, in order, one result
   * each; a later transaction sees the earlier ones (a duplicate, the next nonce).
   */
  submitTransactions(list: readonly Uint8Array[], address?: string): Awaitable<SubmitResult[]>;
  transaction(hash: Uint8Array): Awaitable<TransactionStatus>;
  /** A stored block with its certificate and receipts, or undefined above the chain's height. */
  block(height: number): Awaitable<StoredBlock | undefined>;
  /** The highest stored block, or undefined when only genesis exists. */
  latestBlock(): Awaitable<StoredBlock | undefined>;
  /** Point reads over the committed state (after the last executed block). */
  state(): KeyValueReader;
  /**
   * Point reads over the history index (ledger historyKeys) as of the same block: the lists
   * the queries page through. Reads throw LedgerError LEDGER_HISTORY_MISSING where this node
   * lacks the history (it started from a state snapshot); the API answers 409 HISTORY_MISSING.
   */
  history(): KeyValueReader;
  /**
   * A proof of `key` against a root a light client can check against a certified header.
   * See {@link StateProofAnswer} for which root.
   */
  stateProof(key: Uint8Array): Awaitable<StateProofAnswer>;
  /**
   * Calls `listener` once per block, in height order, after the block is executed and stored
   * (so `state()` already shows it). Returns the unsubscribe function.
   */
  subscribe(listener: (event: CommittedBlockEvent) => void): () => void;
  /** Equivocations this node caught (the most recent ones; empty on an honest network). */
  evidence(): Awaitable<EvidenceList>;
}

export type Awaitable<T> = T | Promise<T>;

export interface NodeStatus {
  readonly chainId: string;
  /** Height of the last committed block; 0 when only genesis exists. */
  readonly height: number;
  /** Hash of that block's header (the genesis hash at height 0). */
  readonly lastBlockHash: Uint8Array;
  /** The state root after the last committed block (the next header will carry it). */
  readonly stateRoot: Uint8Array;
  /** The consensus view at the height being decided. */
  readonly view: number;
  readonly validators: readonly Validator[];
  /** libp2p peer ids of the connected peers. */
  readonly peers: readonly string[];
  /** True while the node is catching up (block or state sync). */
  readonly syncing: boolean;
  /** Transactions waiting in the mempool. */
  readonly mempoolSize: number;
}

export type TransactionStatus =
  | { readonly status: 'pending'; readonly tx: Transaction }
  | {
      readonly status: 'committed';
      readonly tx: Transaction;
      readonly height: number;
      /** Position in the block. */
      readonly index: number;
      readonly receipt: Receipt;
    }
  | { readonly status: 'unknown' };

export interface StoredBlock {
  readonly block: Block;
  /** headerHash(block.header). */
  readonly hash: Uint8Array;
  /** The 2f+1 COMMITs that finalised the block; null only for a block not certified yet. */
  readonly certificate: CommitCertificate | null;
  /** One per transaction, in block order. */
  readonly receipts: readonly Receipt[];
}

/**
 * A state proof against the root of the state after block `height`. That root is the one the
 * header of block `height + 1` carries, so `header` is that header and `certificate` its commit
 * certificate: a light client checks the certificate, then the header's stateRoot, then the
 * proof (ledger's verifyStateProof). It trails the committed state by one block. Before block
 * 1 exists there is no such header: `header` and `certificate` are null and the root is the
 * genesis root.
 */
export interface StateProofAnswer {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  readonly header: BlockHeader | null;
  readonly certificate: CommitCertificate | null;
  /** The value at that root, or undefined when the proof shows the key is absent. */
  readonly value: Uint8Array | undefined;
  readonly proof: StateProof;
}

/** A committed block as the event stream sees it: its header, transactions and receipts. */
export interface CommittedBlockEvent {
  readonly hash: Uint8Array;
  readonly header: BlockHeader;
  readonly txs: readonly Transaction[];
  readonly receipts: readonly Receipt[];
}
