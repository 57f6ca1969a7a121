import { existsSync, readFileSync } from 'node:fs';
import {
  ClientError,
  exportKeystore,
  importKeystore,
  KeySigner,
  parsePartyKey,
  readKeystore,
} from '@medchain/client';
import type { KeystoreFile } from '@medchain/crypto';
import { CliError, usageError } from './errors.js';
import { writeFileAtomic } from './files.js';
import { getPassphrase, type PassphraseOptions } from './passphrase.js';

/** Writes a file only its owner can read, atomically (tmp + rename), refusing to overwrite. */
export function writeSecretFile(path: string, text: string, overwrite = false): void {
  if (!overwrite && existsSync(path)) {
    throw usageError(`${path} already exists`, 'choose another path, or move the file away first');
  }
  writeFileAtomic(path, text, 0o600);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`cannot read keystore ${path}: ${(error as Error).message}`);
  }
}

/** The client's keystore errors, naming the file. */
function keystoreError(path: string, error: unknown): CliError {
  if (error instanceof ClientError && error.code === 'WRONG_PASSPHRASE') {
    return new CliError('WRONG_PASSPHRASE', `wrong passphrase for ${path}`, {
      hint: 'check --passphrase-file or $MEDCHAIN_PASSPHRASE',
    });
  }
  const code = error instanceof ClientError ? error.code : 'KEYSTORE_INVALID';
  return new CliError(code, `${path}: ${(error as Error).message}`, {
    hint: 'pass a file written by `medchain keys generate`',
  });
}

export function readKeystoreFile(path: string): KeystoreFile {
  const text = readText(path);
  try {
    return readKeystore(text);
  } catch (error) {
    throw keystoreError(path, error);
  }
}

/** A new key, written encrypted to `path` (0600, never over an existing file). */
export function createKeystore(path: string, passphrase: string): KeySigner {
  const signer = KeySigner.generate();
  writeSecretFile(path, exportKeystore(signer, passphrase));
  return signer;
}

export function openKeystore(path: string, passphrase: string): KeySigner {
  const text = readText(path);
  try {
    return importKeystore(text, passphrase);
  } catch (error) {
    throw keystoreError(path, error);
  }
}

/** Unlocks a keystore with a passphrase from the usual sources. */
export async function loadSigner(path: string, options: PassphraseOptions): Promise<KeySigner> {
  readKeystoreFile(path); // report a missing or malformed file before asking for a passphrase
  const passphrase = await getPassphrase(options, path);
  return openKeystore(path, passphrase);
}

/**
 * A public key given on the command line: 64 hex characters, a did:key, or the path of a
 * keystore (its public key is readable without the passphrase).
 */
export function publicKeyArg(value: string, what: string): Uint8Array {
  const text = /^[0-9a-fA-F]{64}$/.test(value) ? value.toLowerCase() : value;
  if (/^[0-9a-f]{64}$/.test(text) || text.startsWith('did:')) {
    try {
      return parsePartyKey(text);
    } catch (error) {
      throw usageError(`${what}: ${(error as Error).message}`);
    }
  }
  if (existsSync(value)) return parsePartyKey(readKeystoreFile(value).publicKey);
  throw usageError(
    `${what}: expected a public key (64 hex characters or a did:key) or a keystore file, got ${JSON.stringify(value)}`,
  );
}
