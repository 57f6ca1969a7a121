import { createHash } from 'node:crypto';
import {
  assertLength,
  bytesEqual,
  compareBytes,
  concatBytes,
  fromHex,
  fromUtf8,
  HashDomain,
  type HashDomainName,
  sha256,
  taggedHash,
  toHex,
  utf8,
} from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const domainNames = Object.keys(HashDomain) as HashDomainName[];

describe('hash domains', () => {
  it('every tag is unique, short and versioned', () => {
    const tags = Object.values(HashDomain);
    expect(new Set(tags).size).toBe(tags.length);
    for (const tag of tags) {
      expect(tag).toMatch(/^medchain\/[a-z0-9-]+\/v[0-9]+$/);
      expect(utf8(tag).length).toBeLessThan(256);
    }
  });

  it('taggedHash is SHA-256 over len(tag) || tag || parts', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...domainNames),
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 4 }),
        (domain, parts) => {
          const tag = utf8(HashDomain[domain]);
          const expected = createHash('sha256')
            .update(new Uint8Array([tag.length]))
            .update(tag)
            .update(concatBytes(...parts))
            .digest();
          expect(toHex(taggedHash(domain, ...parts))).toBe(expected.toString('hex'));
        },
      ),
    );
  });

  it('the same bytes hash differently in every domain, and never to their plain SHA-256', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const digests = domainNames.map((domain) => toHex(taggedHash(domain, data)));
        digests.push(toHex(sha256(data)));
        expect(new Set(digests).size).toBe(digests.length);
      }),
      { numRuns: 50 },
    );
  });
});

describe('bytes helpers', () => {
  it('hex round-trips, and only lowercase even-length hex parses', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(8), (whole, offset) => {
        // Views into a larger array too: the hex covers exactly the view's bytes.
        const bytes = whole.subarray(Math.min(offset, whole.length));
        expect(toHex(bytes)).toBe(Buffer.from(bytes).toString('hex'));
        expect(toHex(fromHex(toHex(bytes)))).toBe(toHex(bytes));
        expect(bytesEqual(fromHex(toHex(bytes), bytes.length), bytes)).toBe(true);
      }),
    );
    for (const bad of ['abc', 'AB', '0x00', ' 00', 'zz', '00\n']) {
      expect(() => fromHex(bad)).toThrow(expect.objectContaining({ code: 'CRYPTO_BAD_HEX' }));
    }
    expect(() => fromHex(42 as unknown as string)).toThrow(
      expect.objectContaining({ code: 'CRYPTO_BAD_HEX' }),
    );
    expect(() => fromHex('0000', 3)).toThrow(
      expect.objectContaining({ code: 'CRYPTO_BAD_LENGTH' }),
    );
  });

  it('compareBytes is lexicographic order and agrees with bytesEqual', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        const expected = toHex(a) < toHex(b) ? -1 : toHex(a) > toHex(b) ? 1 : 0;
        expect(Math.sign(compareBytes(a, b))).toBe(expected);
        expect(bytesEqual(a, b)).toBe(expected === 0);
      }),
    );
  });

  it('works on views into larger buffers', () => {
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    expect(toHex(view)).toBe('010203');
    expect(bytesEqual(view, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(toHex(concatBytes(view, view))).toBe('010203010203');
  });

  it('UTF-8 decoding refuses invalid sequences instead of substituting U+FFFD', () => {
    expect(fromUtf8(utf8('héllo ✓ \u{1f600}'))).toBe('héllo ✓ \u{1f600}');
    expect(() => fromUtf8(new Uint8Array([0xc3, 0x28]))).toThrow(
      expect.objectContaining({ code: 'CRYPTO_BAD_UTF8' }),
    );
  });

  it('assertLength names the value', () => {
    expect(() => assertLength(new Uint8Array(3), 4, 'nonce')).toThrow(/nonce must be 4 bytes/);
    expect(() => assertLength('abcd' as unknown as Uint8Array, 4, 'nonce')).toThrow(
      expect.objectContaining({ code: 'CRYPTO_BAD_LENGTH' }),
    );
  });
});
