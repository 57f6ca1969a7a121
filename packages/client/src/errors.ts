import { CodedError } from '@medchain/crypto';

/**
 * The client's error codes. API answers keep the node's own code (`BAD_NONCE`,
 * `PATIENT_NOT_FOUND`, `SIGNATURE_EXPIRED`, ...) with the HTTP status, and a committed transaction
 * whose receipt is not OK throws the receipt's code (`NOT_ORG_ADMIN`, ...); the rest are the
 * client's own.
 */
export type ClientErrorCode =
  /** The node did not answer (refused, reset, DNS) or is not a medchain API. */
  | 'NODE_UNREACHABLE'
  | 'BAD_ANSWER'
  /** No answer, receipt or event within the time allowed. */
  | 'TIMEOUT'
  /** A state proof does not link its value to a certified state root. */
  | 'PROOF_INVALID'
  /** A header's commit certificate is not a quorum of the validator set of its height. */
  | 'CERTIFICATE_INVALID'
  /** The node's headers do not follow from the trusted genesis (wrong chain, broken links). */
  | 'CHAIN_MISMATCH'
  /** A record the custodian served does not open, or does not hash to its anchor. */
  | 'RECORD_VERIFY_FAILED'
  | 'KEYSTORE_INVALID'
  | 'WRONG_PASSPHRASE'
  | 'INVALID_ARGUMENT'
  | 'EVENT_STREAM_FAILED'
  | 'ABORTED'
  /** The platform lacks what was asked for (WebCrypto). */
  | 'UNSUPPORTED'
  // An API error answer: the node's code, kept as is.
  | (string & {});

/** `details`: machine-readable detail (a failed receipt, a proof check's steps). */
export class ClientError extends CodedError<ClientErrorCode> {
  override readonly name = 'ClientError';
  /** The HTTP status of an API error answer; undefined for errors found by the client. */
  readonly status: number | undefined;
  /** The node's Retry-After (429, 503), in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ClientErrorCode,
    message: string,
    options: { status?: number; details?: unknown; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(code, message, options);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function invalidArgument(message: string): ClientError {
  return new ClientError('INVALID_ARGUMENT', message);
}
