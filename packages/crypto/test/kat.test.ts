import * as node from '@medchain/crypto';
import { bytesEqual, fromHex, sha256, toHex } from '@medchain/crypto';
import { describe, expect, it } from 'vitest';
import { loadBrowserCrypto } from './browser-bundle.js';
import { parseRecords, readFixture } from './fixtures.js';

/** Every vector runs on the Node build (OpenSSL) and on the browser build (noble). */
const builds = [
  ['node', node],
  ['browser', await loadBrowserCrypto()],
] as const;

// Checksums of the published files (see fixtures/README.md): a fixture edited by accident
// would otherwise weaken the known-answer tests without anyone noticing.
const FIXTURE_SHA256: Record<string, string> = {
  'ed25519-sign.input.gz': '8db1fea94f4e78958aac6e839b483cdd79096d1fe478285f15164f9e58361baf',
  'SHA256ShortMsg.rsp': '75e1cb83994638481808e225b9eb0c1ebd0c232d952ac42b61abce6363be283c',
  'SHA256LongMsg.rsp': '6fac36f37360bcf74ffcf4465c18e30d6d5a04cc90885b901fc3130c16060974',
  'x25519-rfc7748-5.2.txt': '2b1c6889b004730be0a8aa2fbf4975dd2c44636eacc4115356376eb31236f94f',
};

describe('fixtures', () => {
  it.each(Object.entries(FIXTURE_SHA256))('%s is the published file', (name, digest) => {
    expect(toHex(sha256(readFixture(name)))).toBe(digest);
  });
});

describe.each(builds)('%s build', (_build, api) => {
  describe('Ed25519 (RFC 8032, SUPERCOP sign.input)', () => {
    const lines = readFixture('ed25519-sign.input.gz').toString('ascii').trim().split('\n');
    const vectors = lines.map((line) => {
      const [secret, publicKey, message, signed] = line.split(':');
      return {
        secret: fromHex(secret!, 64),
        publicKey: fromHex(publicKey!, 32),
        message: fromHex(message!),
        signed: fromHex(signed!),
      };
    });

    it('has all 1,024 vectors, starting with RFC 8032 section 7.1 TEST 1', () => {
      expect(vectors).toHaveLength(1024);
      expect(toHex(vectors[0]!.publicKey)).toBe(
        'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      );
      expect(vectors[0]!.message).toHaveLength(0);
    });

    it('derives each public key, signs each message to the published signature, verify and verifyReference accept it', () => {
      for (const [i, v] of vectors.entries()) {
        const seed = v.secret.subarray(0, 32);
        const signature = v.signed.subarray(0, 64);
        // The file repeats the public key after the seed and the message after the signature.
        expect(bytesEqual(v.secret.subarray(32), v.publicKey), `line ${i + 1}`).toBe(true);
        expect(bytesEqual(v.signed.subarray(64), v.message), `line ${i + 1}`).toBe(true);

        expect(toHex(api.keyPairFromSeed(seed).publicKey), `line ${i + 1}`).toBe(
          toHex(v.publicKey),
        );
        const signer = new api.Signer(seed);
        expect(toHex(signer.publicKey), `line ${i + 1}`).toBe(toHex(v.publicKey));
        expect(toHex(signer.sign(v.message)), `line ${i + 1}`).toBe(toHex(signature));
        expect(api.verify(v.publicKey, v.message, signature), `line ${i + 1}`).toBe(true);
        expect(api.verifyReference(v.publicKey, v.message, signature), `line ${i + 1}`).toBe(true);
      }
    });
  });

  describe('SHA-256 (NIST CAVS byte-oriented messages)', () => {
    it.each([
      ['SHA256ShortMsg.rsp', 65],
      ['SHA256LongMsg.rsp', 64],
    ])('%s: every digest matches', (name, count) => {
      const records = parseRecords(readFixture(name).toString('ascii')).filter((r) => 'MD' in r);
      expect(records).toHaveLength(count);
      for (const record of records) {
        const bits = Number(record.Len);
        // Len = 0 is spelled "Msg = 00" in the file: the length field is what counts.
        const message = fromHex(record.Msg!).subarray(0, bits / 8);
        expect(toHex(api.sha256(message)), `Len = ${bits}`).toBe(record.MD);
      }
    });
  });

  describe('X25519 (RFC 7748)', () => {
    it('section 5.2 single vectors', () => {
      const records = parseRecords(readFixture('x25519-rfc7748-5.2.txt').toString('ascii'));
      expect(records).toHaveLength(3);
      for (const r of records) {
        expect(toHex(api.x25519(fromHex(r.INPUT_SCALAR!, 32), fromHex(r.INPUT_U!, 32)))).toBe(
          r.OUTPUT_U,
        );
      }
    });

    const extra = parseRecords(readFixture('x25519-rfc7748-extra.txt').toString('ascii'));

    it('section 5.2 iterated vectors (1 and 1,000 rounds)', () => {
      const expected = new Map(
        extra.filter((r) => r.ITERATIONS).map((r) => [Number(r.ITERATIONS), r.OUTPUT_K]),
      );
      expect([...expected.keys()]).toEqual([1, 1000]);
      let k = fromHex(`09${'00'.repeat(31)}`);
      let u = k;
      for (let round = 1; round <= 1000; round++) {
        [k, u] = [api.x25519(k, u), k];
        if (expected.has(round)) expect(toHex(k), `after ${round}`).toBe(expected.get(round));
      }
    });

    it('section 6.1 Diffie-Hellman', () => {
      const r = extra.find((record) => record.ALICE_PRIVATE)!;
      const alice = fromHex(r.ALICE_PRIVATE!, 32);
      const bob = fromHex(r.BOB_PRIVATE!, 32);
      expect(toHex(api.x25519PublicKey(alice))).toBe(r.ALICE_PUBLIC);
      expect(toHex(api.x25519PublicKey(bob))).toBe(r.BOB_PUBLIC);
      expect(toHex(api.x25519(alice, fromHex(r.BOB_PUBLIC!)))).toBe(r.SHARED_SECRET);
      expect(toHex(api.x25519(bob, fromHex(r.ALICE_PUBLIC!)))).toBe(r.SHARED_SECRET);
    });
  });
});
