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

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = 'CryptoError';
    this.code = code;
  }
}
