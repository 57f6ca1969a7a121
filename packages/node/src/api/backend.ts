import type { CommitCertificate, Equivocation } from '@medchain/consensus';
import {
  type Block,
  type BlockHeader,
  type KeyValueReader,
  type Receipt,
  ROLE_REFUSAL_CODES,
  type StateProof,
  type Transaction,
  type Validator,
} from '@medchain/ledger';

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
  transaction(hash: Uint8Array): Awaitable<TransactionStatus>;
  /** A stored block with its certificate and receipts, or undefined above the chain's height. */
  block(height: number): Awaitable<StoredBlock | undefined>;
  /** The highest stored block, or undefined when only genesis exists. */
  latestBlock(): Awaitable<StoredBlock | undefined>;
  /** Point reads over the committed state (after the last executed block). */
  state(): KeyValueReader;
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

/**
 * Why the mempool refused a transaction. MALFORMED: the bytes are not a transaction;
 * TOO_LARGE: above the ledger's MAX_TX_BYTES; WRONG_CHAIN, BAD_SIGNATURE, BAD_NONCE (below the
 * signer's next nonce, or too far ahead of it); DUPLICATE: already pending or committed;
 * MEMPOOL_FULL: no room now, try later; RATE_LIMITED: the signer or the submitting address
 * has too many transactions pending; NOT_READY: the node is syncing or shutting down.
 * The ledger's ROLE_REFUSAL_CODES (NOT_ORG_ADMIN, NOT_PATIENT_OR_DELEGATE, ...): the signer
 * has no role under which the transaction could succeed on the committed state, the code its
 * receipt would carry.
 */
export const SUBMIT_REJECTIONS = [
  'MALFORMED',
  'TOO_LARGE',
  'WRONG_CHAIN',
  'BAD_SIGNATURE',
  'BAD_NONCE',
  'DUPLICATE',
  'MEMPOOL_FULL',
  'RATE_LIMITED',
  'NOT_READY',
  ...ROLE_REFUSAL_CODES,
] as const;
export type SubmitRejection = (typeof SUBMIT_REJECTIONS)[number];

export type SubmitResult =
  | { readonly accepted: true; readonly hash: Uint8Array }
  | { readonly accepted: false; readonly code: SubmitRejection; readonly message: string };

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

/** One equivocation as the node keeps it. */
export interface RecordedEquivocation {
  readonly evidence: Equivocation;
  /** verifyEquivocation against the validator set of its height, when it was recorded. */
  readonly verified: boolean;
  /** ms since the Unix epoch (this node's clock). */
  readonly recordedAt: number;
}

export interface EvidenceList {
  /** Oldest first; only the most recent ones are kept (see the node's README). */
  readonly items: readonly RecordedEquivocation[];
  /** Equivocations this node ever recorded (items may hold fewer). */
  readonly total: number;
}
