import { CodedError } from '@medchain/crypto';

/** Every failure of the authenticated state carries one of these codes, so callers can branch on it. */
export type StateErrorCode =
  /** A key that is not a Uint8Array. */
  | 'STATE_BAD_KEY'
  /** A value that is not a non-empty Uint8Array (an empty value would be indistinguishable from "absent"). */
  | 'STATE_BAD_VALUE'
  /** A checkpoint id that is not one `checkpoint()` returned since the last commit or discard. */
  | 'STATE_BAD_CHECKPOINT'
  /** An AuthenticatedState option out of range. */
  | 'STATE_BAD_OPTION'
  /** A write op that is neither a put nor a del of byte strings. */
  | 'STATE_BAD_OP'
  /** A tree node the root refers to is missing: the store is not the one the root came from, or a commit's ops were not written. */
  | 'STATE_MISSING_NODE'
  /** A stored tree node that does not decode: the store is corrupt. */
  | 'STATE_CORRUPT_NODE'
  /** A root that is neither the committed root nor one of the retained recent roots. */
  | 'STATE_UNKNOWN_ROOT'
  /** Proof bytes or a proof object that are not a well-formed state proof. */
  | 'STATE_BAD_PROOF';

export class StateError extends CodedError<StateErrorCode> {
  override readonly name = 'StateError';
}
