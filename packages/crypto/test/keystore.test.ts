import {
  type CryptoErrorCode,
  decryptKeystore,
  encodeCanonical,
  encryptKeystore,
  formatKeystore,
  fromHex,
  type KeystoreFile,
  keyPairFromSeed,
  parseKeystore,
  type ScryptParams,
  taggedHash,
  toHex,
} from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// The smallest cost the format accepts keeps the tests fast; one test uses the defaults.
const FAST: ScryptParams = { N: 2 ** 10, r: 8, p: 1 };
const SEED = new Uint8Array(32).map((_, i) => i * 7 + 1);

/** Deterministic "randomness": counts up from a start byte. */
function counter(start: number): (length: number) => Uint8Array {
  let next = start;
  return (length) => new Uint8Array(length).map(() => next++ & 0xff);
}

function errorCode(action: () => unknown): CryptoErrorCode | undefined {
  try {
    action();
  } catch (error) {
    return (error as { code?: CryptoErrorCode }).code;
  }
  return undefined;
}

const file = encryptKeystore(SEED, 'correct horse', counter(0), FAST);
const text = formatKeystore(file);

/** Returns a copy of the file with one JSON field replaced (path like "kdf.salt"). */
function edit(original: KeystoreFile, path: string, value: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(original)) as Record<string, unknown>;
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  target[keys.at(-1)!] = value;
  return copy;
}

function flipHex(hex: string, at = 0): string {
  const digit = Number.parseInt(hex[at]!, 16) ^ 1;
  return hex.slice(0, at) + digit.toString(16) + hex.slice(at + 1);
}

/** The checksum an attacker would recompute after an edit (it is unkeyed by design). */
function withFreshChecksum(edited: Record<string, unknown>): Record<string, unknown> {
  const f = edited as unknown as KeystoreFile;
  const header = encodeCanonical({
    version: f.version,
    kind: f.kind,
    publicKey: fromHex(f.publicKey),
    kdf: { name: f.kdf.name, N: f.kdf.N, r: f.kdf.r, p: f.kdf.p, salt: fromHex(f.kdf.salt) },
    cipher: { name: f.cipher.name, nonce: fromHex(f.cipher.nonce) },
    check: fromHex(f.check),
  });
  return {
    ...edited,
    checksum: toHex(taggedHash('KeystoreChecksum', header, fromHex(f.ciphertext))),
  };
}

describe('keystore', () => {
  it('round-trips seeds and passphrases through the JSON text', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.integer({ min: 0, max: 255 }),
        (seed, passphrase, start) => {
          const stored = formatKeystore(encryptKeystore(seed, passphrase, counter(start), FAST));
          const pair = decryptKeystore(stored, passphrase);
          expect(toHex(pair.seed)).toBe(toHex(seed));
          expect(toHex(pair.publicKey)).toBe(toHex(keyPairFromSeed(seed).publicKey));
          expect(JSON.parse(stored).publicKey).toBe(toHex(pair.publicKey));
        },
      ),
      { numRuns: 15 },
    );
  });

  it('uses strong defaults, and opens with them', () => {
    const strong = encryptKeystore(SEED, 'pw', counter(9));
    expect(strong.kdf).toMatchObject({ name: 'scrypt', N: 32_768, r: 8, p: 1 });
    expect(toHex(decryptKeystore(strong, 'pw').seed)).toBe(toHex(SEED));
  });

  it('takes all randomness from the caller: 32 salt bytes then 12 nonce bytes', () => {
    const requests: number[] = [];
    const again = encryptKeystore(
      SEED,
      'correct horse',
      (length) => {
        requests.push(length);
        return counter(requests.length === 1 ? 0 : 32)(length);
      },
      FAST,
    );
    expect(requests).toEqual([32, 12]);
    expect(again).toEqual(file);
    expect(encryptKeystore(SEED, 'correct horse', counter(1), FAST).ciphertext).not.toBe(
      file.ciphertext,
    );
  });

  it('normalises the passphrase to NFC', () => {
    const composed = encryptKeystore(SEED, 'caf\u00e9', counter(3), FAST);
    expect(toHex(decryptKeystore(composed, 'cafe\u0301').seed)).toBe(toHex(SEED));
  });

  it('never contains the seed in any encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const stored = formatKeystore(encryptKeystore(seed, 'pw', counter(seed[0]!), FAST));
        const buffer = Buffer.from(seed);
        const spellings = [
          buffer.toString('hex'),
          buffer.toString('hex').toUpperCase(),
          buffer.toString('base64'),
          buffer.toString('base64').replace(/=+$/, ''),
          buffer.toString('base64url'),
        ];
        for (const spelling of spellings) expect(stored.includes(spelling)).toBe(false);
        // Nor any 8-byte piece of it in hex.
        for (let at = 0; at + 8 <= 32; at++) {
          expect(stored.includes(buffer.subarray(at, at + 8).toString('hex'))).toBe(false);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('a wrong passphrase is CRYPTO_KEYSTORE_PASSPHRASE', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (guess) => {
        fc.pre(guess !== 'correct horse');
        expect(errorCode(() => decryptKeystore(text, guess))).toBe('CRYPTO_KEYSTORE_PASSPHRASE');
      }),
      { numRuns: 10 },
    );
    expect(errorCode(() => decryptKeystore(text, 42 as unknown as string))).toBe(
      'CRYPTO_KEYSTORE_PASSPHRASE',
    );
  });

  it.each<[string, unknown]>([
    ['publicKey', flipHex(file.publicKey)],
    ['publicKey', toHex(keyPairFromSeed(new Uint8Array(32)).publicKey)],
    ['kdf.N', 2048],
    ['kdf.r', 7],
    ['kdf.p', 2],
    ['kdf.salt', flipHex(file.kdf.salt, 63)],
    ['cipher.nonce', flipHex(file.cipher.nonce, 5)],
    ['check', flipHex(file.check, 10)],
    ['ciphertext', flipHex(file.ciphertext, 0)],
    ['ciphertext', flipHex(file.ciphertext, 95)],
    ['checksum', flipHex(file.checksum, 31)],
  ])(
    'an edit of %s (%s) is CRYPTO_KEYSTORE_TAMPERED, even with the right passphrase',
    (path, value) => {
      expect(
        errorCode(() =>
          decryptKeystore(formatKeystore(edit(file, path, value) as never), 'correct horse'),
        ),
      ).toBe('CRYPTO_KEYSTORE_TAMPERED');
    },
  );

  it.each<[string, unknown]>([
    ['publicKey', toHex(keyPairFromSeed(new Uint8Array(32)).publicKey)],
    ['cipher.nonce', flipHex(file.cipher.nonce, 5)],
    ['ciphertext', flipHex(file.ciphertext, 0)],
    ['ciphertext', flipHex(file.ciphertext, 95)],
  ])('an edit of %s with a recomputed checksum is still caught by the AEAD', (path, value) => {
    const forged = withFreshChecksum(edit(file, path, value));
    expect(errorCode(() => decryptKeystore(forged as never, 'correct horse'))).toBe(
      'CRYPTO_KEYSTORE_TAMPERED',
    );
  });

  it('an edit of the KDF inputs with a recomputed checksum reads as a wrong passphrase (documented limit)', () => {
    const forged = withFreshChecksum(edit(file, 'kdf.salt', flipHex(file.kdf.salt)));
    expect(errorCode(() => decryptKeystore(forged as never, 'correct horse'))).toBe(
      'CRYPTO_KEYSTORE_PASSPHRASE',
    );
  });

  it.each<[string, unknown]>([
    ['not JSON', '{"version":1'],
    ['JSON null', 'null'],
    ['an array', '[]'],
    ['a number', 42],
    ['a missing field', (({ check: _, ...rest }) => rest)(file)],
    ['an extra field', { ...file, comment: 'hi' }],
    ['version 2', edit(file, 'version', 2)],
    ['version "1"', edit(file, 'version', '1')],
    ['another kind', edit(file, 'kind', 'ethereum-keystore')],
    ['another kdf', edit(file, 'kdf.name', 'pbkdf2')],
    ['another cipher', edit(file, 'cipher.name', 'aes-128-ctr')],
    ['N not a power of two', edit(file, 'kdf.N', 1000)],
    ['N too small', edit(file, 'kdf.N', 512)],
    ['N too large', edit(file, 'kdf.N', 2 ** 21)],
    ['too much memory', edit(edit(file, 'kdf.N', 2 ** 20) as never, 'kdf.r', 16)],
    ['r zero', edit(file, 'kdf.r', 0)],
    ['p fractional', edit(file, 'kdf.p', 1.5)],
    ['uppercase hex', edit(file, 'check', file.check.toUpperCase())],
    ['a short salt', edit(file, 'kdf.salt', file.kdf.salt.slice(2))],
    ['a long ciphertext', edit(file, 'ciphertext', `${file.ciphertext}00`)],
    ['a numeric nonce', edit(file, 'cipher.nonce', 12)],
    ['kdf not an object', edit(file, 'kdf', 'scrypt')],
  ])('%s is CRYPTO_KEYSTORE_FORMAT', (_, input) => {
    const asText = typeof input === 'string' ? input : JSON.stringify(input);
    expect(errorCode(() => decryptKeystore(asText, 'correct horse'))).toBe(
      'CRYPTO_KEYSTORE_FORMAT',
    );
    expect(errorCode(() => parseKeystore(input))).toBe('CRYPTO_KEYSTORE_FORMAT');
  });

  it('refuses to write weak or impossible parameters and bad inputs', () => {
    expect(errorCode(() => encryptKeystore(SEED, 'pw', counter(0), { N: 16, r: 8, p: 1 }))).toBe(
      'CRYPTO_KEYSTORE_FORMAT',
    );
    expect(errorCode(() => encryptKeystore(SEED.subarray(1), 'pw', counter(0), FAST))).toBe(
      'CRYPTO_BAD_LENGTH',
    );
    expect(errorCode(() => encryptKeystore(SEED, 'pw', () => new Uint8Array(4), FAST))).toBe(
      'CRYPTO_BAD_LENGTH',
    );
  });
});
