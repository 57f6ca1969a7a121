import { fromHex, keyPairFromSeed, toHex } from '@medchain/crypto';
import fc from 'fast-check';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { fromDidKey, parsePartyKey, toDidKey } from '../src/did-key.js';
import { ClientError } from '../src/errors.js';

// The did:key method's published Ed25519 vectors (w3c-ccg/did-method-key,
// test-vectors/ed25519-x25519.json): seed, did and the key's publicKeyBase58.
const VECTORS = [
  {
    seed: '0000000000000000000000000000000000000000000000000000000000000000',
    did: 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp',
    publicKeyBase58: '4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS',
  },
  {
    seed: '0000000000000000000000000000000000000000000000000000000000000001',
    did: 'did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG',
    publicKeyBase58: '6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt',
  },
  {
    seed: '0000000000000000000000000000000000000000000000000000000000000002',
    did: 'did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf',
    publicKeyBase58: '8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH',
  },
  {
    seed: '0000000000000000000000000000000000000000000000000000000000000003',
    did: 'did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ',
    publicKeyBase58: 'HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2',
  },
  {
    seed: '0000000000000000000000000000000000000000000000000000000000000004',
    did: 'did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL',
    publicKeyBase58: 'J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x',
  },
];

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ClientError);
    return (error as ClientError).code;
  }
  return 'OK';
}

describe('did:key', () => {
  it('matches the did:key method’s Ed25519 test vectors', () => {
    for (const { seed, did, publicKeyBase58 } of VECTORS) {
      const publicKey = keyPairFromSeed(fromHex(seed)).publicKey;
      // base58btc's baseDecode reads the bare base58 text (no multibase prefix).
      expect(toHex(publicKey)).toBe(toHex(base58btc.baseDecode(publicKeyBase58)));
      expect(toDidKey(publicKey)).toBe(did);
      expect(toHex(fromDidKey(did))).toBe(toHex(publicKey));
      expect(toHex(parsePartyKey(did))).toBe(toHex(publicKey));
    }
  });

  it('round-trips every 32-byte key, in both text forms', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        const did = toDidKey(key);
        expect(did).toMatch(/^did:key:z6Mk/);
        expect(fromDidKey(did)).toEqual(key);
        expect(parsePartyKey(did)).toEqual(key);
        expect(parsePartyKey(toHex(key))).toEqual(key);
      }),
    );
  });

  it('refuses everything else with INVALID_ARGUMENT', () => {
    const key = keyPairFromSeed(new Uint8Array(32)).publicKey;
    const did = toDidKey(key);
    const encoded = (bytes: number[]) => `did:key:${base58btc.encode(new Uint8Array(bytes))}`;
    const bad = [
      '',
      'did:key:',
      'did:key:z',
      did.replace('did:key:', 'did:web:'),
      did.replace('did:key:z', 'did:key:f'),
      `${did}#key-1`,
      `${did}0`,
      did.slice(0, -1),
      did.replace('z6Mk', 'z6MK'),
      encoded([0xed, 0x01, ...key, 0]),
      encoded([0xed, 0x01, ...key.slice(1)]),
      encoded([0xec, 0x01, ...key]), // x25519-pub
      encoded([0xed, 0x81, 0x00, ...key]), // a non-minimal varint of 0xed
      encoded([0xed]),
    ];
    for (const text of bad)
      expect(
        codeOf(() => fromDidKey(text)),
        text,
      ).toBe('INVALID_ARGUMENT');
    for (const text of [...bad, toHex(key).toUpperCase(), toHex(key).slice(2), `0x${toHex(key)}`]) {
      expect(
        codeOf(() => parsePartyKey(text)),
        text,
      ).toBe('INVALID_ARGUMENT');
    }
    expect(codeOf(() => toDidKey(new Uint8Array(31)))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => fromDidKey(42 as unknown as string))).toBe('INVALID_ARGUMENT');
  });

  it('arbitrary text is a key or INVALID_ARGUMENT, never another error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `did:key:z${s}`),
        ),
        (text) => {
          expect(['OK', 'INVALID_ARGUMENT']).toContain(codeOf(() => parsePartyKey(text)));
        },
      ),
    );
  });
});
