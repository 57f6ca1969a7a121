import type { Equivocation } from '@medchain/consensus';
import { ROLE_REFUSAL_CODES } from '@medchain/ledger';

/*
 * Types the chain's parts (mempool, consensus driver) and the HTTP API share. They live with
 * the chain, which produces them; the API re-exports them.
 */

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
