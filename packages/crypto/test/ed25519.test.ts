import {
  assertAcceptablePublicKey,
  CryptoError,
  concatBytes,
  ed25519Verifiers,
  fromHex,
  generateKeyPair,
  isAcceptablePublicKey,
  keyPairFromSeed,
  Signer,
  shortPublicKey,
  sign,
  toHex,
  verify,
  verifyReference,
} from '@medchain/crypto';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadBrowserCrypto } from './browser-bundle.js';
import { readFixture } from './fixtures.js';

/** The browser build (noble only) is held to the same rule as every Node backend. */
const browser = await loadBrowserCrypto();

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const L = Point.Fn.ORDER;
const P = Point.Fp.ORDER;
const TORSION = ED25519_TORSION_SUBGROUP.map((hex) => Point.fromHex(hex));

function numberToLE(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

function leToNumber(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/** k = SHA-512(R || A || M) mod L, computed here independently of the code under test. */
function challenge(r: Uint8Array, a: Uint8Array, message: Uint8Array): bigint {
  return leToNumber(sha512(concatBytes(r, a, message))) % L;
}

/**
 * Every backend (libsodium, OpenSSL, noble), the from-scratch reference and the browser build
 * must give the same verdict on every input; returns that verdict.
 */
function agreedVerdict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const reference = verifyReference(publicKey, message, signature);
  const verdicts = Object.fromEntries([
    ...[...ed25519Verifiers].map(([name, check]) => [name, check(publicKey, message, signature)]),
    ['verify', verify(publicKey, message, signature)],
    ['browser', browser.verify(publicKey, message, signature)],
  ]);
  for (const [name, verdict] of Object.entries(verdicts)) {
    expect(
      verdict,
      `${name}=${verdict}, reference=${reference} on ${toHex(publicKey)} ${toHex(signature)}`,
    ).toBe(reference);
  }
  return reference;
}

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const messageArb = fc.uint8Array({ maxLength: 96 });
const scalarArb = fc.bigInt({ min: 1n, max: L - 1n });
const torsionIndexArb = fc.integer({ min: 0, max: 7 });

/** Non-canonical spellings of field elements y < 19: y + p still fits in 255 bits. */
const nonCanonicalY = Array.from({ length: 19 }, (_, y) => BigInt(y) + P);
const nonCanonicalEncodings = nonCanonicalY.flatMap((y) => [
  numberToLE(y),
  numberToLE(y | (1n << 255n)),
]);
// x = 0 with the sign bit set ("negative zero") for the two points with x = 0.
const negativeZeroEncodings = [1n, P - 1n].map((y) => numberToLE(y | (1n << 255n)));

describe('keys and signing', () => {
  it('a key pair is a pure function of its seed, and generateKeyPair uses only the given randomness', () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        const requested: number[] = [];
        const pair = generateKeyPair((length) => {
          requested.push(length);
          return seed;
        });
        expect(requested).toEqual([32]);
        expect(toHex(pair.publicKey)).toBe(toHex(keyPairFromSeed(seed).publicKey));
        expect(toHex(pair.seed)).toBe(toHex(seed));
        expect(pair.seed).not.toBe(seed);
        expect(isAcceptablePublicKey(pair.publicKey)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('Signer and sign() agree, signatures are deterministic, and every backend accepts them', () => {
    fc.assert(
      fc.property(seedArb, messageArb, (seed, message) => {
        const signer = new Signer(seed);
        const signature = signer.sign(message);
        expect(toHex(sign(seed, message))).toBe(toHex(signature));
        expect(agreedVerdict(signer.publicKey, message, signature)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('copies the seed, even from a Buffer (whose slice() would share memory)', () => {
    const buffer = Buffer.alloc(32, 4);
    const pair = keyPairFromSeed(buffer);
    buffer.fill(0);
    expect(toHex(pair.seed)).toBe('04'.repeat(32));
  });

  it('refuses seeds of the wrong length with a coded error', () => {
    for (const length of [0, 31, 33, 64]) {
      expect(() => keyPairFromSeed(new Uint8Array(length))).toThrow(CryptoError);
      expect(() => new Signer(new Uint8Array(length))).toThrow(
        expect.objectContaining({ code: 'CRYPTO_BAD_LENGTH' }),
      );
    }
  });

  it('shortPublicKey keeps the head and tail of the hex', () => {
    const key = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(shortPublicKey(key)).toBe('ed:d75a9801…07511a');
  });
});

describe('the verification rule, on every backend', () => {
  const validTriple = fc.tuple(seedArb, messageArb).map(([seed, message]) => {
    const signer = new Signer(seed);
    return { publicKey: signer.publicKey, message, signature: signer.sign(message) };
  });

  it('rejects every single-bit change of a signature, key or message', () => {
    fc.assert(
      fc.property(
        validTriple,
        fc.constantFrom('signature', 'publicKey', 'message'),
        fc.nat(),
        (triple, field, bitSeed) => {
          const mutated = { ...triple, [field]: triple[field].slice() };
          const target = mutated[field];
          if (target.length === 0) return; // nothing to flip in an empty message
          const bit = bitSeed % (target.length * 8);
          target[bit >> 3]! ^= 1 << (bit & 7);
          expect(agreedVerdict(mutated.publicKey, mutated.message, mutated.signature)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects S + L (S must be below the group order, a malleability fix)', () => {
    fc.assert(
      fc.property(validTriple, ({ publicKey, message, signature }) => {
        const s = leToNumber(signature.subarray(32));
        const malleated = concatBytes(signature.subarray(0, 32), numberToLE(s + L));
        expect(agreedVerdict(publicKey, message, malleated)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('rejects every non-canonical R encoding (y >= p, negative zero), whatever S is', () => {
    fc.assert(
      fc.property(
        validTriple,
        fc.constantFrom(...nonCanonicalEncodings, ...negativeZeroEncodings),
        fc.bigInt({ min: 0n, max: L - 1n }),
        ({ publicKey, message }, rBytes, s) => {
          const signature = concatBytes(rBytes, numberToLE(s));
          expect(agreedVerdict(publicKey, message, signature)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects wrong lengths and wrong types without throwing', () => {
    const seed = new Uint8Array(32).fill(5);
    const { publicKey } = keyPairFromSeed(seed);
    const message = new Uint8Array([1, 2, 3]);
    const signature = sign(seed, message);
    const bad: unknown[][] = [
      [publicKey.subarray(1), message, signature],
      [concatBytes(publicKey, new Uint8Array(1)), message, signature],
      [publicKey, message, signature.subarray(1)],
      [publicKey, message, concatBytes(signature, new Uint8Array(1))],
      [toHex(publicKey), message, signature],
      [publicKey, 'message', signature],
      [publicKey, message, null],
      [undefined, undefined, undefined],
    ];
    for (const args of bad) {
      const [k, m, s] = args as [Uint8Array, Uint8Array, Uint8Array];
      for (const check of [verify, verifyReference, ...ed25519Verifiers.values()]) {
        expect(check(k, m, s)).toBe(false);
      }
    }
  });

  it('reads keys, messages and signatures that are views into larger buffers', () => {
    // A decoded transaction hands out subarrays of its bytes; native backends must honour
    // byteOffset.
    fc.assert(
      fc.property(validTriple, fc.nat({ max: 7 }), ({ publicKey, message, signature }, pad) => {
        const view = (bytes: Uint8Array) =>
          concatBytes(new Uint8Array(pad + 1).fill(0xff), bytes, new Uint8Array(3)).subarray(
            pad + 1,
            pad + 1 + bytes.length,
          );
        expect(agreedVerdict(view(publicKey), view(message), view(signature))).toBe(true);
        const other = view(signature);
        other[5]! ^= 1;
        expect(agreedVerdict(view(publicKey), view(message), other)).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('small-order keys are unacceptable and never verify, even with the "any message" forgery', () => {
    for (const point of TORSION) {
      const key = point.toBytes();
      expect(isAcceptablePublicKey(key)).toBe(false);
      expect(browser.isAcceptablePublicKeyCached(key)).toBe(false);
      expect(() => assertAcceptablePublicKey(key)).toThrow(
        expect.objectContaining({ code: 'CRYPTO_BAD_PUBLIC_KEY' }),
      );
    }
    // With A = identity and R = identity, S = 0 satisfies [S]B = R + [k]A for every message.
    const identity = Point.ZERO.toBytes();
    const forged = concatBytes(identity, new Uint8Array(32));
    fc.assert(
      fc.property(messageArb, torsionIndexArb, seedArb, (message, i, junk) => {
        const key = TORSION[i]!.toBytes();
        expect(agreedVerdict(identity, message, forged)).toBe(false);
        expect(agreedVerdict(key, message, forged)).toBe(false);
        expect(agreedVerdict(key, message, concatBytes(junk, new Uint8Array(32)))).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('non-canonical key encodings (y >= p, negative zero) are unacceptable and never verify', () => {
    const message = new Uint8Array([7]);
    const signature = sign(new Uint8Array(32).fill(9), message);
    for (const key of [...nonCanonicalEncodings, ...negativeZeroEncodings]) {
      expect(isAcceptablePublicKey(key), toHex(key)).toBe(false);
      expect(browser.isAcceptablePublicKeyCached(key), toHex(key)).toBe(false);
      expect(agreedVerdict(key, message, signature)).toBe(false);
    }
  });

  it("libsodium's key check gives noble's verdict on every kind of 32 bytes", () => {
    // Node checks a key with libsodium's point decoding; the browser build (no libsodium)
    // decompresses it on noble points, the rule as first written. They must always agree.
    const speccheck = (
      JSON.parse(readFixture('ed25519-speccheck-cases.json').toString('utf8')) as {
        pub_key: string;
      }[]
    ).map((c) => fromHex(c.pub_key, 32));
    const agree = (key: Uint8Array): boolean => {
      const verdict = isAcceptablePublicKey(key);
      expect(verdict, toHex(key)).toBe(browser.isAcceptablePublicKey(key));
      return verdict;
    };
    const edges = [
      ...speccheck,
      ...nonCanonicalEncodings,
      ...negativeZeroEncodings,
      ...TORSION.flatMap((t) => {
        const bytes = t.toBytes();
        const flipped = bytes.slice();
        flipped[31]! ^= 0x80;
        return [bytes, flipped];
      }),
      numberToLE(P - 1n),
      numberToLE(2n ** 255n - 1n),
      new Uint8Array(32),
    ];
    // speccheck: cases 0, 1 are small-order keys and 10, 11 non-canonical ones; every other
    // edge is non-canonical or of small order.
    expect(edges.map((key) => (agree(key) ? 'V' : 'X')).join('')).toBe(
      `XXVVVVVVVVXX${'X'.repeat(edges.length - 12)}`,
    );
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          seedArb.map((seed) => keyPairFromSeed(seed).publicKey),
          fc
            .tuple(scalarArb, torsionIndexArb)
            .map(([a, i]) => Point.BASE.multiply(a).add(TORSION[i]!).toBytes()),
        ),
        (key) => {
          if (agree(key)) accepted++;
        },
      ),
      { numRuns: 600 },
    );
    expect(accepted).toBeGreaterThan(200);
  });

  it('R of small order is refused even when the equation holds, in every spelling', () => {
    // With nonce r = 0 and R a torsion point T, S = k·a satisfies [S]B = R + [k]A - T; for
    // T = identity the cofactorless equation holds exactly. The rule refuses every small-order
    // R (libsodium does; OpenSSL and noble alone would accept the identity).
    const identitySpellings = [Point.ZERO.toBytes(), numberToLE(1n + P), negativeZeroEncodings[0]!];
    fc.assert(
      fc.property(
        scalarArb,
        messageArb,
        fc.constantFrom(...identitySpellings, ...TORSION.map((t) => t.toBytes())),
        (a, message, rBytes) => {
          const publicKey = Point.BASE.multiply(a).toBytes();
          const s = (challenge(rBytes, publicKey, message) * a) % L;
          expect(agreedVerdict(publicKey, message, concatBytes(rBytes, numberToLE(s)))).toBe(false);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keys and nonces with torsion components: verdicts match the cofactorless equation exactly', () => {
    // A = [a]B + T_A and R = [r]B + T_R, S = r + k·a. Then [S]B - [k]A = R - T_R - [k]T_A,
    // so the cofactorless rule accepts exactly when T_R + [k]T_A is the identity. Cofactored
    // verification would accept all of these; we must not, and every backend must agree.
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        scalarArb,
        scalarArb,
        torsionIndexArb,
        torsionIndexArb,
        messageArb,
        (a, r, i, j, message) => {
          const tA: EdPoint = TORSION[i]!;
          const tR: EdPoint = TORSION[j]!;
          const publicKey = Point.BASE.multiply(a).add(tA).toBytes();
          const rBytes = Point.BASE.multiply(r).add(tR).toBytes();
          const k = challenge(rBytes, publicKey, message);
          const s = (r + k * a) % L;
          const expected = tR.add(tA.multiplyUnsafe(k)).is0();
          expect(isAcceptablePublicKey(publicKey)).toBe(true);
          const verdict = agreedVerdict(publicKey, message, concatBytes(rBytes, numberToLE(s)));
          expect(verdict).toBe(expected);
          if (verdict) accepted++;
          else rejected++;
        },
      ),
      { numRuns: 120 },
    );
    // The generator must exercise both outcomes, or the property proves nothing.
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
