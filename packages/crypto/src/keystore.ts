import { assertLength, bytesEqual, fromHex, toHex, utf8 } from './bytes.js';
import { type KeyPair, keyPairFromSeed, SEED_LENGTH } from './ed25519.js';
import { encodeCanonical } from './encoding.js';
import { CryptoError } from './errors.js';
import { taggedHash } from './hash.js';
import * as platform from './platform/node.js';

/**
 * A keystore file holds one Ed25519 seed encrypted under a passphrase. JSON, all binary
 * fields lowercase hex:
 *
 *   { version: 1, kind: "medchain-keystore", publicKey,
 *     kdf: { name: "scrypt", N, r, p, salt }, cipher: { name: "aes-256-gcm", nonce },
 *     check, ciphertext, checksum }
 *
 * scrypt(passphrase) gives 64 bytes: the first half is the AES key, the second half only
 * feeds `check`, so checking the passphrase never touches the cipher. Opening a file:
 * 1. shape and ranges            -> CRYPTO_KEYSTORE_FORMAT
 * 2. `checksum` (an unkeyed hash over every other field) -> CRYPTO_KEYSTORE_TAMPERED: catches
 *    corruption and edits of any field, including the KDF inputs, before the passphrase is
 *    judged (otherwise an edited salt would look like a wrong passphrase);
 * 3. `check`                     -> CRYPTO_KEYSTORE_PASSPHRASE;
 * 4. AES-256-GCM with every header field as associated data, then the decrypted seed must
 *    give `publicKey`           -> CRYPTO_KEYSTORE_TAMPERED.
 * Someone who edits the KDF inputs or `check` AND recomputes the checksum gets reported as a
 * wrong passphrase: without the key the two cannot be told apart. Nobody can get a different
 * seed accepted without the passphrase.
 */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export interface KeystoreFile {
  readonly version: 1;
  readonly kind: 'medchain-keystore';
  readonly publicKey: string;
  readonly kdf: { readonly name: 'scrypt'; readonly salt: string } & ScryptParams;
  readonly cipher: { readonly name: 'aes-256-gcm'; readonly nonce: string };
  readonly check: string;
  readonly ciphertext: string;
  readonly checksum: string;
}

/** ~100 ms and 32 MiB per unlock on this machine's class of CPU: fine for a human, slow for guessing. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const KIND = 'medchain-keystore';
const SALT_LENGTH = 32;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const MIN_N = 2 ** 10;
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
/** scrypt needs about 128·N·r bytes; refuse files that would make us allocate more. */
const MAX_SCRYPT_MEMORY = 2 ** 30;

function formatError(why: string): CryptoError {
  return new CryptoError('CRYPTO_KEYSTORE_FORMAT', `malformed keystore: ${why}`);
}

function tampered(why: string): CryptoError {
  return new CryptoError('CRYPTO_KEYSTORE_TAMPERED', `keystore was modified or corrupted: ${why}`);
}

function checkScryptParams(params: ScryptParams): void {
  const { N, r, p } = params;
  const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
  if (!isInt(N) || N < MIN_N || N > MAX_N || (N & (N - 1)) !== 0) {
    throw formatError(`scrypt N must be a power of two in [2^10, 2^20], got ${N}`);
  }
  if (!isInt(r) || r < 1 || r > MAX_R) throw formatError(`scrypt r must be in [1, ${MAX_R}]`);
  if (!isInt(p) || p < 1 || p > MAX_P) throw formatError(`scrypt p must be in [1, ${MAX_P}]`);
  if (128 * N * r > MAX_SCRYPT_MEMORY) throw formatError('scrypt parameters need more than 1 GiB');
}

function passphraseBytes(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string') {
    throw new CryptoError('CRYPTO_KEYSTORE_PASSPHRASE', 'the passphrase must be a string');
  }
  // NFC: the same passphrase typed on two systems may arrive composed or decomposed.
  return utf8(passphrase.normalize('NFC'));
}

interface DerivedKeys {
  readonly cipherKey: Uint8Array;
  readonly check: Uint8Array;
}

function deriveKeys(passphrase: string, salt: Uint8Array, params: ScryptParams): DerivedKeys {
  const { N, r, p } = params;
  // Room for scrypt's 128·N·r bytes and its smaller buffers; checkScryptParams capped N and r.
  const maxmem = 256 * N * r + 1024 * r * p;
  const output = platform.scrypt(passphraseBytes(passphrase), salt, { N, r, p, maxmem }, 64);
  return {
    cipherKey: output.subarray(0, 32),
    check: taggedHash('Keystore', output.subarray(32, 64)),
  };
}

/** Every field except ciphertext and checksum, as the AEAD's associated data. */
function header(file: KeystoreFile): Uint8Array {
  const { kdf, cipher } = file;
  return encodeCanonical({
    version: file.version,
    kind: file.kind,
    publicKey: fromHex(file.publicKey),
    kdf: { name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p, salt: fromHex(kdf.salt) },
    cipher: { name: cipher.name, nonce: fromHex(cipher.nonce) },
    check: fromHex(file.check),
  });
}

function checksumOf(file: KeystoreFile): string {
  return toHex(taggedHash('KeystoreChecksum', header(file), fromHex(file.ciphertext)));
}

/**
 * Encrypts a seed under a passphrase. `randomBytes` supplies the salt (32 bytes) and the
 * nonce (12 bytes); the package reads no entropy itself. Policy on weak passphrases is the
 * caller's (the CLI's).
 */
export function encryptKeystore(
  seed: Uint8Array,
  passphrase: string,
  randomBytes: (length: number) => Uint8Array,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): KeystoreFile {
  assertLength(seed, SEED_LENGTH, 'Ed25519 seed');
  checkScryptParams(params);
  const salt = randomBytes(SALT_LENGTH);
  const nonce = randomBytes(NONCE_LENGTH);
  assertLength(salt, SALT_LENGTH, 'keystore salt');
  assertLength(nonce, NONCE_LENGTH, 'keystore nonce');
  const keys = deriveKeys(passphrase, salt, params);
  const unsealed = {
    version: 1,
    kind: KIND,
    publicKey: toHex(keyPairFromSeed(seed).publicKey),
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: toHex(salt) },
    cipher: { name: 'aes-256-gcm', nonce: toHex(nonce) },
    check: toHex(keys.check),
    ciphertext: '',
    checksum: '',
  } as const;
  const sealed = platform.aes256GcmSeal(keys.cipherKey, nonce, header(unsealed), seed);
  const withCiphertext = { ...unsealed, ciphertext: toHex(sealed) };
  return { ...withCiphertext, checksum: checksumOf(withCiphertext) };
}

const FILE_KEYS = [
  'check',
  'checksum',
  'cipher',
  'ciphertext',
  'kdf',
  'kind',
  'publicKey',
  'version',
];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectKeys(
  value: unknown,
  keys: readonly string[],
  what: string,
): Record<string, unknown> {
  if (!isPlainObject(value)) throw formatError(`${what} must be an object`);
  const actual = Object.keys(value).sort();
  const expected = [...keys].sort();
  if (actual.length !== expected.length || actual.some((key, i) => key !== expected[i])) {
    throw formatError(`${what} must have exactly the fields ${expected.join(', ')}`);
  }
  return value;
}

function hexField(value: unknown, length: number, what: string): string {
  if (typeof value !== 'string') throw formatError(`${what} must be a hex string`);
  try {
    fromHex(value, length);
  } catch {
    throw formatError(`${what} must be ${length} bytes of lowercase hex`);
  }
  return value;
}

/** Checks the shape of a parsed keystore (CRYPTO_KEYSTORE_FORMAT); does not need the passphrase. */
export function parseKeystore(input: unknown): KeystoreFile {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw formatError('not JSON');
    }
  }
  const file = expectKeys(value, FILE_KEYS, 'keystore');
  if (file.kind !== KIND) throw formatError(`kind must be "${KIND}"`);
  if (file.version !== 1) throw formatError(`unsupported version ${JSON.stringify(file.version)}`);
  const kdf = expectKeys(file.kdf, ['name', 'N', 'r', 'p', 'salt'], 'kdf');
  if (kdf.name !== 'scrypt') throw formatError(`unsupported kdf ${JSON.stringify(kdf.name)}`);
  const params = { N: kdf.N, r: kdf.r, p: kdf.p } as ScryptParams;
  checkScryptParams(params);
  const cipher = expectKeys(file.cipher, ['name', 'nonce'], 'cipher');
  if (cipher.name !== 'aes-256-gcm') {
    throw formatError(`unsupported cipher ${JSON.stringify(cipher.name)}`);
  }
  return {
    version: 1,
    kind: KIND,
    publicKey: hexField(file.publicKey, 32, 'publicKey'),
    kdf: { name: 'scrypt', ...params, salt: hexField(kdf.salt, SALT_LENGTH, 'kdf.salt') },
    cipher: { name: 'aes-256-gcm', nonce: hexField(cipher.nonce, NONCE_LENGTH, 'cipher.nonce') },
    check: hexField(file.check, 32, 'check'),
    ciphertext: hexField(file.ciphertext, SEED_LENGTH + TAG_LENGTH, 'ciphertext'),
    checksum: hexField(file.checksum, 32, 'checksum'),
  };
}

/** The file's text: pretty JSON with a trailing newline. */
export function formatKeystore(file: KeystoreFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Opens a keystore (its JSON text or parsed object). Errors: see the comment at the top. */
export function decryptKeystore(input: string | KeystoreFile, passphrase: string): KeyPair {
  const file = parseKeystore(input);
  if (!bytesEqual(fromHex(checksumOf(file)), fromHex(file.checksum))) {
    throw tampered('checksum mismatch');
  }
  const keys = deriveKeys(passphrase, fromHex(file.kdf.salt), file.kdf);
  if (!platform.constantTimeEqual(keys.check, fromHex(file.check))) {
    throw new CryptoError('CRYPTO_KEYSTORE_PASSPHRASE', 'wrong passphrase for this keystore');
  }
  const seed = platform.aes256GcmOpen(
    keys.cipherKey,
    fromHex(file.cipher.nonce),
    header(file),
    fromHex(file.ciphertext),
  );
  if (seed === null) throw tampered('authentication failed');
  const pair = keyPairFromSeed(seed);
  if (toHex(pair.publicKey) !== file.publicKey) throw tampered('seed does not match publicKey');
  return pair;
}
