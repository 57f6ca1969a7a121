import {
  CryptoError,
  DEFAULT_SCRYPT_PARAMS,
  decryptKeystore,
  encryptKeystore,
  formatKeystore,
  fromHex,
  type KeystoreFile,
  parseKeystore,
  type ScryptParams,
} from '@medchain/crypto';
import { ClientError } from './errors.js';
import { randomBytes } from './random.js';
import { KeySigner } from './signers.js';

/**
 * The encrypted keystore: the one format `medchain keys generate` writes and every command reads
 * (crypto's keystore: scrypt + AES-256-GCM, JSON with the public key in clear).
 */

/** Parses keystore text; KEYSTORE_INVALID if it is not one. */
export function readKeystore(text: string): KeystoreFile {
  try {
    return parseKeystore(text);
  } catch (error) {
    throw new ClientError('KEYSTORE_INVALID', (error as Error).message, { cause: error });
  }
}

/** The public key of a keystore, readable without the passphrase. */
export function keystorePublicKey(text: string): Uint8Array {
  return fromHex(readKeystore(text).publicKey);
}

/** The keystore text (JSON) of `signer`'s seed under `passphrase`; salt and nonce are fresh. */
export function exportKeystore(
  signer: KeySigner,
  passphrase: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): string {
  return formatKeystore(encryptKeystore(signer.seed, passphrase, randomBytes, params));
}

/** Unlocks keystore text: WRONG_PASSPHRASE, or KEYSTORE_INVALID for a damaged file. */
export function importKeystore(text: string, passphrase: string): KeySigner {
  const file = readKeystore(text);
  try {
    return new KeySigner(decryptKeystore(file, passphrase).seed);
  } catch (error) {
    if (error instanceof CryptoError && error.code === 'CRYPTO_KEYSTORE_PASSPHRASE') {
      throw new ClientError('WRONG_PASSPHRASE', 'wrong passphrase for this keystore');
    }
    throw new ClientError('KEYSTORE_INVALID', (error as Error).message, { cause: error });
  }
}
