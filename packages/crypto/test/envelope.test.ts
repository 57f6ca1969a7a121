import {
  type Canonical,
  type CryptoErrorCode,
  decodeEnvelope,
  type Envelope,
  encodeCanonical,
  encodeEnvelope,
  keyPairFromSeed,
  openEnvelope,
  sealEnvelope,
  toHex,
  x25519PublicKey,
  x25519PublicKeyFromEd25519,
  x25519SecretFromEd25519Seed,
} from '@medchain/crypto';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const contextArb: fc.Arbitrary<Canonical> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.record({ recordId: fc.string({ maxLength: 12 }), version: fc.nat() }),
  fc.uint8Array({ maxLength: 16 }),
);

const alice = new Uint8Array(32).fill(1);
const bob = new Uint8Array(32).fill(2);
const mallory = new Uint8Array(32).fill(3);
const alicePub = keyPairFromSeed(alice).publicKey;
const bobPub = keyPairFromSeed(bob).publicKey;
const malloryPub = keyPairFromSeed(mallory).publicKey;
const context = { recordId: 'rec-42', request: 'req-7' };
const payload = new TextEncoder().encode('{"resourceType":"Observation"}');

function fixedRandom(byte: number): (length: number) => Uint8Array {
  return (length) => new Uint8Array(length).fill(byte);
}

const sealed = sealEnvelope({
  senderSeed: alice,
  recipient: bobPub,
  context,
  payload,
  randomBytes: fixedRandom(9),
});

function errorCode(action: () => unknown): CryptoErrorCode | undefined {
  try {
    action();
  } catch (error) {
    return (error as { code?: CryptoErrorCode }).code;
  }
  return undefined;
}

const openAsBob = (envelope: unknown, extra: { context?: Canonical; sender?: Uint8Array } = {}) =>
  openEnvelope(envelope, { recipientSeed: bob, context, ...extra });

describe('Ed25519 to X25519', () => {
  it('the converted public key is the public key of the converted secret, and matches noble', () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        const { publicKey } = keyPairFromSeed(seed);
        const converted = toHex(x25519PublicKeyFromEd25519(publicKey));
        expect(converted).toBe(toHex(x25519PublicKey(x25519SecretFromEd25519Seed(seed))));
        expect(converted).toBe(toHex(ed25519.utils.toMontgomery(publicKey)));
        expect(toHex(x25519SecretFromEd25519Seed(seed))).toBe(
          toHex(ed25519.utils.toMontgomerySecret(seed)),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('refuses to convert small-order keys', () => {
    for (const hex of ED25519_TORSION_SUBGROUP) {
      expect(
        errorCode(() => x25519PublicKeyFromEd25519(ed25519.Point.fromHex(hex).toBytes())),
      ).toBe('CRYPTO_BAD_PUBLIC_KEY');
    }
  });
});

describe('envelopes', () => {
  it('open to the payload and the real sender, also after encoding to bytes', () => {
    fc.assert(
      fc.property(
        seedArb,
        seedArb,
        fc.uint8Array({ maxLength: 300 }),
        contextArb,
        seedArb,
        (senderSeed, recipientSeed, body, ctx, ephemeral) => {
          const recipient = keyPairFromSeed(recipientSeed).publicKey;
          const envelope = sealEnvelope({
            senderSeed,
            recipient,
            context: ctx,
            payload: body,
            randomBytes: () => ephemeral,
          });
          expect(envelope.ciphertext).toHaveLength(body.length + 16);
          const decoded = decodeEnvelope(encodeEnvelope(envelope));
          expect(decoded).toEqual(envelope);
          const opened = openEnvelope(decoded, { recipientSeed, context: ctx });
          expect(toHex(opened.payload)).toBe(toHex(body));
          expect(toHex(opened.sender)).toBe(toHex(keyPairFromSeed(senderSeed).publicKey));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('takes exactly 32 random bytes per envelope; the same randomness gives the same envelope', () => {
    const lengths: number[] = [];
    const again = sealEnvelope({
      senderSeed: alice,
      recipient: bobPub,
      context,
      payload,
      randomBytes: (length) => {
        lengths.push(length);
        return fixedRandom(9)(length);
      },
    });
    expect(lengths).toEqual([32]);
    expect(again).toEqual(sealed);
    const other = sealEnvelope({
      senderSeed: alice,
      recipient: bobPub,
      context,
      payload,
      randomBytes: fixedRandom(10),
    });
    expect(toHex(other.ciphertext)).not.toBe(toHex(sealed.ciphertext));
    expect(toHex(other.ephemeral)).not.toBe(toHex(sealed.ephemeral));
  });

  it('any changed bit of sender, recipient, ephemeral key or ciphertext is CRYPTO_ENVELOPE_AUTH', () => {
    const fields = ['sender', 'recipient', 'ephemeral', 'ciphertext'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.nat(), (field, bitSeed) => {
        const changed = sealed[field].slice();
        const bit = bitSeed % (changed.length * 8);
        changed[bit >> 3]! ^= 1 << (bit & 7);
        expect(errorCode(() => openAsBob({ ...sealed, [field]: changed }))).toBe(
          'CRYPTO_ENVELOPE_AUTH',
        );
      }),
      { numRuns: 200 },
    );
  });

  it('another context is CRYPTO_ENVELOPE_AUTH', () => {
    fc.assert(
      fc.property(contextArb, (ctx) => {
        fc.pre(toHex(encodeCanonical(ctx)) !== toHex(encodeCanonical(context)));
        expect(errorCode(() => openAsBob(sealed, { context: ctx }))).toBe('CRYPTO_ENVELOPE_AUTH');
      }),
      { numRuns: 50 },
    );
  });

  it('another recipient cannot open it, even after re-addressing it to themselves', () => {
    expect(errorCode(() => openEnvelope(sealed, { recipientSeed: mallory, context }))).toBe(
      'CRYPTO_ENVELOPE_AUTH',
    );
    const readdressed = { ...sealed, recipient: malloryPub };
    expect(errorCode(() => openEnvelope(readdressed, { recipientSeed: mallory, context }))).toBe(
      'CRYPTO_ENVELOPE_AUTH',
    );
  });

  it('the sender cannot be swapped: another key, the negated key, or an unexpected sender all fail', () => {
    expect(errorCode(() => openAsBob({ ...sealed, sender: malloryPub }))).toBe(
      'CRYPTO_ENVELOPE_AUTH',
    );
    // -A has the same Montgomery u as A, so the static DH is equal: the header binding must catch it.
    const negated = alicePub.slice();
    negated[31]! ^= 0x80;
    expect(toHex(x25519PublicKeyFromEd25519(negated))).toBe(
      toHex(x25519PublicKeyFromEd25519(alicePub)),
    );
    expect(errorCode(() => openAsBob({ ...sealed, sender: negated }))).toBe('CRYPTO_ENVELOPE_AUTH');
    expect(errorCode(() => openAsBob(sealed, { sender: malloryPub }))).toBe('CRYPTO_ENVELOPE_AUTH');
    expect(toHex(openAsBob(sealed, { sender: alicePub }).payload)).toBe(toHex(payload));
    // Mallory can seal to Bob in her own name, and Bob sees that name.
    const fromMallory = sealEnvelope({
      senderSeed: mallory,
      recipient: bobPub,
      context,
      payload,
      randomBytes: fixedRandom(4),
    });
    expect(toHex(openAsBob(fromMallory).sender)).toBe(toHex(malloryPub));
    expect(errorCode(() => openAsBob(fromMallory, { sender: alicePub }))).toBe(
      'CRYPTO_ENVELOPE_AUTH',
    );
  });

  it('small-order ephemeral keys and small-order sender keys are CRYPTO_ENVELOPE_AUTH', () => {
    const lowOrderU = ['00', '01', 'ec'].map((first) =>
      Uint8Array.from(Buffer.from(first.padEnd(64, first === 'ec' ? 'f' : '0'), 'hex')),
    );
    lowOrderU[2]![31] = 0x7f; // u = p - 1
    for (const ephemeral of lowOrderU) {
      expect(errorCode(() => openAsBob({ ...sealed, ephemeral }))).toBe('CRYPTO_ENVELOPE_AUTH');
    }
    for (const hex of ED25519_TORSION_SUBGROUP) {
      const sender = ed25519.Point.fromHex(hex).toBytes();
      expect(errorCode(() => openAsBob({ ...sealed, sender }))).toBe('CRYPTO_ENVELOPE_AUTH');
    }
  });

  it('refuses to seal to an unacceptable recipient key', () => {
    for (const hex of ED25519_TORSION_SUBGROUP) {
      const recipient = ed25519.Point.fromHex(hex).toBytes();
      expect(
        errorCode(() =>
          sealEnvelope({
            senderSeed: alice,
            recipient,
            context,
            payload,
            randomBytes: fixedRandom(1),
          }),
        ),
      ).toBe('CRYPTO_BAD_PUBLIC_KEY');
    }
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a missing field', (({ ephemeral: _, ...rest }) => rest)(sealed)],
    ['an extra field', { ...sealed, note: 'x' }],
    ['version 2', { ...sealed, version: 2 }],
    ['a short sender', { ...sealed, sender: sealed.sender.subarray(1) }],
    ['a hex recipient', { ...sealed, recipient: toHex(sealed.recipient) }],
    ['a long ephemeral key', { ...sealed, ephemeral: new Uint8Array(33) }],
    ['a ciphertext shorter than its tag', { ...sealed, ciphertext: new Uint8Array(15) }],
  ])('%s is CRYPTO_ENVELOPE_FORMAT', (_, value) => {
    expect(errorCode(() => openAsBob(value))).toBe('CRYPTO_ENVELOPE_FORMAT');
    if (value !== null) {
      expect(errorCode(() => decodeEnvelope(encodeCanonical(value as Canonical)))).toBe(
        'CRYPTO_ENVELOPE_FORMAT',
      );
    }
  });

  it('non-canonical or garbage bytes are CRYPTO_ENVELOPE_FORMAT', () => {
    const bytes = encodeEnvelope(sealed);
    expect(errorCode(() => decodeEnvelope(new Uint8Array([...bytes, 0])))).toBe(
      'CRYPTO_ENVELOPE_FORMAT',
    );
    expect(errorCode(() => decodeEnvelope(bytes.subarray(0, bytes.length - 1)))).toBe(
      'CRYPTO_ENVELOPE_FORMAT',
    );
    expect(errorCode(() => decodeEnvelope(new Uint8Array([0xc1])))).toBe('CRYPTO_ENVELOPE_FORMAT');
    const envelope: Envelope = decodeEnvelope(bytes);
    expect(toHex(openAsBob(envelope).payload)).toBe(toHex(payload));
  });
});
