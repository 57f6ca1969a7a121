import { bytesEqual, encodeCanonical, sha256, taggedHash, utf8 } from '@medchain/crypto';
import {
  decodeServedRecord,
  encodeServedRecord,
  LedgerError,
  matchesRecordAnchor,
  RECORD_SALT_BYTES,
  recordAnchor,
  recordCommitment,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const salt = () => fc.uint8Array({ minLength: RECORD_SALT_BYTES, maxLength: RECORD_SALT_BYTES });
const content = () => fc.uint8Array({ maxLength: 512 });

const codeOf = (run: () => unknown): string => {
  try {
    run();
    return 'none';
  } catch (error) {
    return error instanceof LedgerError ? error.code : `foreign: ${String(error)}`;
  }
};

describe('record commitments', () => {
  it('verify for their own salt and content, and for no other salt or content (property)', () => {
    fc.assert(
      fc.property(salt(), salt(), content(), content(), (s, otherSalt, c, otherContent) => {
        const anchor = recordCommitment(s, c);
        expect(matchesRecordAnchor(anchor, c, s)).toBe(true);
        expect(matchesRecordAnchor(anchor, c, otherSalt)).toBe(bytesEqual(otherSalt, s));
        expect(matchesRecordAnchor(anchor, otherContent, s)).toBe(bytesEqual(otherContent, c));
        // Without the salt the content alone proves nothing: the plain hash is another value.
        expect(matchesRecordAnchor(anchor, c)).toBe(false);
        expect(bytesEqual(anchor, sha256(c))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a salt is exactly 32 bytes', () => {
    for (const length of [0, 16, 31, 33]) {
      expect(() => recordCommitment(new Uint8Array(length), utf8('{}'))).toThrow(
        expect.objectContaining({ code: 'CRYPTO_BAD_LENGTH' }),
      );
    }
  });

  it('is H_RecordContent(salt || content): the tagged hash of the salt then the bytes', () => {
    const s = new Uint8Array(RECORD_SALT_BYTES).fill(7);
    const c = utf8('{"resourceType":"Observation"}');
    const tag = utf8('medchain/record-content/v1');
    expect(recordCommitment(s, c)).toEqual(
      sha256(new Uint8Array([tag.length, ...tag, ...s, ...c])),
    );
    expect(recordCommitment(s, c)).toEqual(taggedHash('RecordContent', s, c));
  });

  it('an unsalted (legacy) anchor is the plain sha256 of the content, and takes no salt', () => {
    fc.assert(
      fc.property(salt(), content(), (s, c) => {
        expect(recordAnchor(c)).toEqual(sha256(c));
        expect(matchesRecordAnchor(sha256(c), c)).toBe(true);
        expect(matchesRecordAnchor(sha256(c), c, s)).toBe(false);
      }),
      { numRuns: 100 },
    );
  });
});

describe('the served record payload', () => {
  it('round-trips with and without a salt (property)', () => {
    fc.assert(
      fc.property(content(), fc.option(salt(), { nil: undefined }), (c, s) => {
        const served = s === undefined ? { content: c } : { content: c, salt: s };
        expect(decodeServedRecord(encodeServedRecord(served))).toEqual(served);
      }),
      { numRuns: 200 },
    );
  });

  it('anything else is LEDGER_MALFORMED, never another throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(['LEDGER_MALFORMED', 'none']).toContain(codeOf(() => decodeServedRecord(bytes)));
      }),
      { numRuns: 500 },
    );
    const c = utf8('{}');
    const shapes = [
      c, // raw content: the payload is always the canonical map
      encodeCanonical([c]),
      encodeCanonical(c),
      encodeCanonical({}),
      encodeCanonical({ content: 'text' }),
      encodeCanonical({ content: c, salt: new Uint8Array(31) }),
      encodeCanonical({ content: c, salt: null }),
      encodeCanonical({ content: c, extra: 1 }),
    ];
    for (const shape of shapes)
      expect(codeOf(() => decodeServedRecord(shape))).toBe('LEDGER_MALFORMED');
  });
});
