/**
 * One shared vector set for Ed25519 verification, run against every backend: the 12 edge
 * cases of ed25519-speccheck ("Taming the many EdDSAs") and the RFC 8032 section 7.1 vectors.
 * Each library's own verdicts are recorded as documentation of where they differ; medchain's
 * rule must give one verdict per vector on every backend (README: "One verification rule").
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  bytesEqual,
  ED25519_BACKEND,
  ed25519Verifiers,
  fromHex,
  keyPairFromSeed,
  Signer,
  sha256,
  toHex,
  verify,
  verifyReference,
} from '@medchain/crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { loadBrowserCrypto } from './browser-bundle.js';
import { readFixture } from './fixtures.js';

const browser = await loadBrowserCrypto();
const sodium = createRequire(import.meta.url)('sodium-native') as {
  crypto_sign_verify_detached(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean;
};

interface Vector {
  readonly name: string;
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/** Each library called directly, with its defaults: not medchain's rule. */
const rawLibraries = {
  libsodium: (v: Vector) => sodium.crypto_sign_verify_detached(v.signature, v.message, v.publicKey),
  openssl: (v: Vector) => {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(v.publicKey).toString('base64url') },
      format: 'jwk',
    });
    return nodeVerify(null, v.message, key, v.signature);
  },
  'noble (default, ZIP-215)': (v: Vector) => ed25519.verify(v.signature, v.message, v.publicKey),
  'noble (zip215: false)': (v: Vector) =>
    ed25519.verify(v.signature, v.message, v.publicKey, { zip215: false }),
};

/** medchain's rule on each backend, and its from-scratch reference, in Node and in the browser build. */
const ruleImplementations: [string, (v: Vector) => boolean][] = [
  ...[...ed25519Verifiers].map(([name, check]): [string, (v: Vector) => boolean] => [
    `rule on ${name}`,
    (v) => check(v.publicKey, v.message, v.signature),
  ]),
  ['verify', (v) => verify(v.publicKey, v.message, v.signature)],
  ['verifyReference', (v) => verifyReference(v.publicKey, v.message, v.signature)],
  ['browser verify', (v) => browser.verify(v.publicKey, v.message, v.signature)],
  ['browser verifyReference', (v) => browser.verifyReference(v.publicKey, v.message, v.signature)],
];

/** Verdicts over a vector list as one string, V = valid, X = invalid, in the paper's notation. */
function verdicts(vectors: readonly Vector[], check: (v: Vector) => boolean): string {
  return vectors.map((v) => (check(v) ? 'V' : 'X')).join(' ');
}

describe('the backends', () => {
  it('this machine has all three, libsodium first', () => {
    // sodium-native ships prebuilt binaries for Linux, macOS and Windows on x64 and arm64.
    expect([...ed25519Verifiers.keys()]).toEqual(['libsodium', 'openssl', 'noble']);
    expect(ED25519_BACKEND).toBe('libsodium');
  });
});

describe('ed25519-speccheck cases.json (12 edge cases)', () => {
  const file = readFixture('ed25519-speccheck-cases.json');
  const cases = (
    JSON.parse(file.toString('utf8')) as { message: string; pub_key: string; signature: string }[]
  ).map(
    (c, i): Vector => ({
      name: `case ${i}`,
      publicKey: fromHex(c.pub_key, 32),
      message: fromHex(c.message),
      signature: fromHex(c.signature, 64),
    }),
  );

  it('is the published file', () => {
    expect(toHex(sha256(file))).toBe(
      '08e47a36d9aead288664930505584f353fff113ab854f2800db1e4f5b3540450',
    );
    expect(cases).toHaveLength(12);
  });

  // The paper's table: 0 small A and R; 1 small A; 2 small R; 3 mixed A and R, both
  // equations hold; 4 mixed, only the cofactored equation holds; 5 the same, unless the
  // cofactored check pre-reduces 8k; 6, 7 S >= L; 8, 9 non-canonical small R; 10, 11
  // non-canonical small A.
  it.each(
    Object.entries({
      libsodium: 'X X X V X X X X X X X X',
      openssl: 'V V V V X X X X X X X V',
      'noble (default, ZIP-215)': 'V V V V V V X X X V V V',
      'noble (zip215: false)': 'X X V V V V X X X X X X',
    }),
  )('raw %s, its own defaults: %s', (library, expected) => {
    const check = rawLibraries[library as keyof typeof rawLibraries];
    expect(verdicts(cases, check)).toBe(expected);
  });

  it.each(ruleImplementations)('medchain rule, %s: only case 3 is valid', (_name, check) => {
    expect(verdicts(cases, check)).toBe('X X X V X X X X X X X X');
  });
});

describe('RFC 8032 section 7.1 (Ed25519)', () => {
  // TEST 1, 2, 3 and 1024 are lines 1, 2, 3 and 1024 of SUPERCOP's sign.input (kat.test.ts
  // runs all 1,024 lines on `verify` and `verifyReference`); TEST SHA(abc) is transcribed from
  // the RFC, its message being SHA-512("abc").
  const lines = readFixture('ed25519-sign.input.gz').toString('ascii').trim().split('\n');
  const fromSignInput = (name: string, line: number) => {
    const [secret, publicKey, message, signed] = lines[line - 1]!.split(':');
    return {
      name,
      seed: fromHex(secret!, 64).subarray(0, 32),
      publicKey: fromHex(publicKey!, 32),
      message: fromHex(message!),
      signature: fromHex(signed!).subarray(0, 64),
    };
  };
  const rfc = [
    fromSignInput('TEST 1', 1),
    fromSignInput('TEST 2', 2),
    fromSignInput('TEST 3', 3),
    fromSignInput('TEST 1024', 1024),
    {
      name: 'TEST SHA(abc)',
      seed: fromHex('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42'),
      publicKey: fromHex('ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf'),
      message: sha512(new TextEncoder().encode('abc')),
      signature: fromHex(
        'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589' +
          '09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
      ),
    },
  ];

  it('the vectors are the RFC ones: key derivation and signing reproduce them', () => {
    expect(toHex(rfc[0]!.publicKey)).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(toHex(rfc[3]!.publicKey)).toBe(
      '278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e',
    );
    expect(rfc[3]!.message).toHaveLength(1023);
    for (const v of rfc) {
      expect(bytesEqual(keyPairFromSeed(v.seed).publicKey, v.publicKey), v.name).toBe(true);
      expect(bytesEqual(new Signer(v.seed).sign(v.message), v.signature), v.name).toBe(true);
    }
  });

  it.each(Object.entries(rawLibraries))('raw %s accepts all five', (_library, check) => {
    expect(verdicts(rfc, check)).toBe('V V V V V');
  });

  it.each(ruleImplementations)(
    'medchain rule, %s: all five valid, any flipped bit not',
    (_name, check) => {
      expect(verdicts(rfc, check)).toBe('V V V V V');
      // One bit of R, one of S, one of the key and one of the message.
      const flipped = rfc.flatMap((v) =>
        (['signature', 'signature', 'publicKey', 'message'] as const).map((field, i) => {
          const bytes = v[field].slice();
          if (bytes.length === 0) return { ...v, message: new Uint8Array([0]) };
          bytes[i === 1 ? 40 % bytes.length : 0]! ^= 1 << i;
          return { ...v, [field]: bytes };
        }),
      );
      expect(verdicts(flipped, check)).toBe(Array(flipped.length).fill('X').join(' '));
    },
  );
});
