import { CodedError } from '@medchain/crypto';

/**
 * Codes of the vault and the records protocol. The HTTP API maps them to statuses
 * (`RECORD_HTTP_STATUS`), the CLI prints them.
 */
export type RecordErrorCode =
  /** The content is not a FHIR R4 resource or bundle (JSON object with a resourceType). */
  | 'RECORD_INVALID_FHIR'
  /** The vault holds no such record (or no version with the anchored hash). */
  | 'RECORD_NOT_IN_VAULT'
  /** The record was crypto-shredded here; it can never be served again. */
  | 'RECORD_ERASED'
  /** A put for a version the vault already holds, or a lower one. */
  | 'RECORD_VERSION_EXISTS'
  /** Stored bytes do not decrypt or decode (damage, or another node's master key). */
  | 'RECORD_VAULT_CORRUPT'
  /** A request that does not parse, or whose signature does not verify. */
  | 'RECORD_BAD_REQUEST'
  /** The request time is outside the custodian's window (refused without a log entry). */
  | 'RECORD_REQUEST_STALE'
  /** The request nonce was already logged (or is in flight). */
  | 'RECORD_REQUEST_REPLAYED'
  /** The requester is neither an active provider, the patient nor a live delegate (nothing logged). */
  | 'REQUESTER_NO_ROLE'
  /** The ledger does not know the record, or it is not anchored by this custodian. */
  | 'RECORD_NOT_FOUND'
  /** The custodian logged a denial: the answer carries the reason and the log tx. */
  | 'RECORD_ACCESS_DENIED'
  /** The access log entry could not be written or committed: nothing was sent. */
  | 'RECORD_LOG_FAILED'
  /** The custodian's node could not be reached or failed mid-answer. */
  | 'RECORD_CUSTODIAN_UNREACHABLE'
  /** The answer did not open, or its content does not match the anchored hash. */
  | 'RECORD_VERIFY_FAILED';

/** Extra facts for the caller (deny reason, log tx hash). */
export type RecordErrorDetails = Readonly<Record<string, string | number | boolean | null>>;

export class RecordError extends CodedError<RecordErrorCode, RecordErrorDetails> {
  override readonly name = 'RecordError';
  declare readonly details: RecordErrorDetails;

  constructor(code: RecordErrorCode, message: string, details: RecordErrorDetails = {}) {
    super(code, message, { details });
  }
}

/** The HTTP status each code answers with. */
export const RECORD_HTTP_STATUS: Readonly<Record<RecordErrorCode, number>> = {
  RECORD_INVALID_FHIR: 400,
  RECORD_NOT_IN_VAULT: 404,
  RECORD_ERASED: 410,
  RECORD_VERSION_EXISTS: 409,
  RECORD_VAULT_CORRUPT: 500,
  RECORD_BAD_REQUEST: 400,
  RECORD_REQUEST_STALE: 400,
  RECORD_REQUEST_REPLAYED: 409,
  REQUESTER_NO_ROLE: 403,
  RECORD_NOT_FOUND: 404,
  RECORD_ACCESS_DENIED: 403,
  RECORD_LOG_FAILED: 502,
  RECORD_CUSTODIAN_UNREACHABLE: 502,
  RECORD_VERIFY_FAILED: 502,
};
