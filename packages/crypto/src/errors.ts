/** Every failure in this package carries one of these codes, so callers can branch on it. */
export type CryptoErrorCode =
  | 'CRYPTO_BAD_HEX'
  | 'CRYPTO_BAD_UTF8'
  | 'CRYPTO_BAD_LENGTH'
  | 'CRYPTO_BAD_PUBLIC_KEY'
  | 'CRYPTO_NOT_CANONICAL'
  | 'CRYPTO_UNENCODABLE'
  | 'CRYPTO_BAD_MERKLE_INDEX'
  | 'CRYPTO_KEYSTORE_FORMAT'
  | 'CRYPTO_KEYSTORE_PASSPHRASE'
  | 'CRYPTO_KEYSTORE_TAMPERED'
  | 'CRYPTO_ENVELOPE_FORMAT'
  | 'CRYPTO_ENVELOPE_AUTH';

export interface CodedErrorOptions<Details = unknown> {
  /** Machine-readable facts for the caller (a failed receipt, a deny reason). */
  readonly details?: Details;
  /** The error this one wraps (`Error.cause`). */
  readonly cause?: unknown;
}

/**
 * The base of every medchain error: a stable `code` callers branch on (messages are for
 * people and may change), optional `details` and `cause`. Each subclass names itself with a
 * string literal, not `constructor.name`, so the name survives minified browser bundles.
 * Lives here because every other package, browser ones included, depends on this one.
 */
export class CodedError<Code extends string = string, Details = unknown> extends Error {
  override readonly name: string = 'CodedError';
  readonly code: Code;
  readonly details: Details | undefined;

  constructor(code: Code, message: string, options: CodedErrorOptions<Details> = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** What JSON.stringify writes (an Error's message is not enumerable, so it would be lost). */
  toJSON(): { name: string; code: Code; message: string; details?: Details } {
    const json = { name: this.name, code: this.code, message: this.message };
    return this.details === undefined ? json : { ...json, details: this.details };
  }
}

export class CryptoError extends CodedError<CryptoErrorCode> {
  override readonly name = 'CryptoError';
}
