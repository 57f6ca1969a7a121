import { CodedError } from '@medchain/crypto';

/**
 * Why a transaction failed. A failed transaction stays in its block; its writes are reverted,
 * except the signer's nonce when the envelope was sound (chain id, signature, nonce): the
 * signer did sign it, and a consumed nonce stops the same bytes from being replayed later.
 */
export const RECEIPT_CODES = [
  'OK',
  // envelope: no state change at all
  'WRONG_CHAIN',
  'BAD_SIGNATURE',
  'BAD_NONCE',
  // body
  'MALFORMED_BODY',
  // governance
  'NOT_MEMBER_ADMIN',
  'ORG_EXISTS',
  'ORG_NOT_FOUND',
  'KEY_IN_USE',
  'LAST_MEMBER',
  'PROPOSAL_NOT_FOUND',
  'PROPOSAL_CLOSED',
  'ALREADY_VOTED',
  'KEY_NOT_FOUND',
  // providers
  'NOT_ORG_ADMIN',
  'PROVIDER_EXISTS',
  'PROVIDER_NOT_FOUND',
  'PROVIDER_SUSPENDED',
  // patients
  'PATIENT_EXISTS',
  'PATIENT_NOT_FOUND',
  'NOT_PATIENT',
  'NOT_PATIENT_OR_DELEGATE',
  'INVALID_DELEGATE',
  'DELEGATE_NOT_FOUND',
  'BAD_EXPIRY',
  // records
  'NOT_CUSTODIAN_PROVIDER',
  'ROLE_NOT_ALLOWED',
  'RECORD_EXISTS',
  'RECORD_NOT_FOUND',
  'RECORD_ERASED',
  'NOT_AUTHORIZED',
  // consents
  'GRANTEE_NOT_FOUND',
  'BAD_WINDOW',
  'WINDOW_TOO_LONG',
  'SCOPE_INVALID',
  'CONSENT_NOT_FOUND',
  'CONSENT_REVOKED',
  // access log
  'NOT_CUSTODIAN_AGENT',
  'REQUEST_STALE',
  'BAD_REQUEST_SIGNATURE',
  'REQUEST_REPLAYED',
  'DECISION_MISMATCH',
  // research release
  'NOT_RESEARCHER',
  'RESEARCH_OPT_OUT',
  'NO_RESEARCH_CONSENT',
] as const;
export type ReceiptCode = (typeof RECEIPT_CODES)[number];

export interface Receipt {
  readonly txHash: Uint8Array;
  readonly code: ReceiptCode;
  /** Empty when code is OK; otherwise says what was wrong, for the client. */
  readonly message: string;
}

/** Thrown by a rule to fail the transaction being executed; the executor turns it into a receipt. */
export class TxFailure extends CodedError<Exclude<ReceiptCode, 'OK'>> {
  override readonly name = 'TxFailure';

  constructor(code: Exclude<ReceiptCode, 'OK'>, message: string) {
    // A receipt, never a crash: no stack trace to capture (that was most of the cost of a
    // failed rule, and of a refusal at mempool admission).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(code, message);
    Error.stackTraceLimit = limit;
  }
}

export function fail(code: Exclude<ReceiptCode, 'OK'>, message: string): never {
  throw new TxFailure(code, message);
}
