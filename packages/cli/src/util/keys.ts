import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  CryptoError,
  decryptKeystore,
  encryptKeystore,
  formatKeystore,
  fromHex,
  generateKeyPair,
  type KeyPair,
  type KeystoreFile,
  parseKeystore,
  Signer,
} from '@medchain/crypto';
import { CliError, EXIT, usageError } from './errors.js';
import { writeFileAtomic } from './files.js';
import { getPassphrase, type PassphraseOptions } from './passphrase.js';

export const entropy = (length: number): Uint8Array => new Uint8Array(randomBytes(length));

/** Writes a file only its owner can read, atomically (tmp + rename), refusing to overwrite. */
export function writeSecretFile(path: string, text: string, overwrite = false): void {
  if (!overwrite && existsSync(path)) {
    throw usageError(`${path} already exists`, 'choose another path, or move the file away first');
  }
  writeFileAtomic(path, text, 0o600);
}

export function readKeystoreFile(path: string): KeystoreFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`cannot read keystore ${path}: ${(error as Error).message}`);
  }
  try {
    return parseKeystore(text);
  } catch (error) {
    throw new CliError(
      (error as CryptoError).code ?? 'KEYSTORE',
      `${path}: ${(error as Error).message}`,
      {
        hint: 'pass a file written by `medchain keys generate`',
      },
    );
  }
}

export function createKeystore(path: string, passphrase: string): KeyPair {
  const pair = generateKeyPair(entropy);
  writeSecretFile(path, formatKeystore(encryptKeystore(pair.seed, passphrase, entropy)));
  return pair;
}

export function openKeystore(path: string, passphrase: string): KeyPair {
  const file = readKeystoreFile(path);
  try {
    return decryptKeystore(file, passphrase);
  } catch (error) {
    if (error instanceof CryptoError && error.code === 'CRYPTO_KEYSTORE_PASSPHRASE') {
      throw new CliError('WRONG_PASSPHRASE', `wrong passphrase for ${path}`, {
        hint: 'check --passphrase-file or $MEDCHAIN_PASSPHRASE',
      });
    }
    throw new CliError(
      (error as CryptoError).code ?? 'KEYSTORE',
      `${path}: ${(error as Error).message}`,
    );
  }
}

/** Unlocks a keystore with a passphrase from the usual sources. */
export async function loadSigner(path: string, options: PassphraseOptions): Promise<Signer> {
  readKeystoreFile(path); // report a missing or malformed file before asking for a passphrase
  const passphrase = await getPassphrase(options, path);
  return new Signer(openKeystore(path, passphrase).seed);
}

/**
 * A public key given on the command line: 64 hex characters, or the path of a keystore (its
 * public key is readable without the passphrase).
 */
export function publicKeyArg(value: string, what: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return fromHex(value.toLowerCase());
  if (existsSync(value)) return fromHex(readKeystoreFile(value).publicKey);
  throw new CliError(
    'USAGE',
    `${what}: expected a public key (64 hex characters) or a keystore file, got ${JSON.stringify(value)}`,
    {
      exitCode: EXIT.usage,
    },
  );
}
