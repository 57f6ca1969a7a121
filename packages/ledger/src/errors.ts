import { CodedError } from '@medchain/crypto';

/**
 * Codes for input this package refuses to take at all (bytes that do not decode, a block that
 * does not fit its parent, a genesis that breaks a rule, FHIR it cannot map). A transaction
 * that decodes but breaks a consent rule is NOT an error: it gets a failed receipt instead
 * (see `ReceiptCode` in receipt.ts).
 */
export type LedgerErrorCode =
  | 'LEDGER_MALFORMED'
  | 'LEDGER_TOO_LARGE'
  | 'LEDGER_BLOCK_INVALID'
  | 'LEDGER_GENESIS_INVALID'
  | 'LEDGER_FHIR_INVALID'
  | 'LEDGER_FHIR_UNSUPPORTED'
  /** A history list position this node never indexed (its history starts at a snapshot). */
  | 'LEDGER_HISTORY_MISSING';

export class LedgerError extends CodedError<LedgerErrorCode> {
  override readonly name = 'LedgerError';
}
