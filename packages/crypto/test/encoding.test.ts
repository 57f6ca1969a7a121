import {
  bytesEqual,
  type Canonical,
  CryptoError,
  compareBytes,
  decodeCanonical,
  decodeCanonicalViews,
  decodeStoredCanonical,
  encodeCanonical,
  toHex,
  utf8,
} from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formerDecodeCanonical } from './former-decode.js';
import { formerEncode } from './former-encode.js';

/**
 * An independent msgpack writer that follows the canonical rules written in encoding.ts.
 * With no deviation it must produce exactly encodeCanonical's bytes; with one deviation at
 * one node it produces another valid msgpack spelling that decodeCanonical must refuse.
 */
class Writer {
  readonly out: number[] = [];
  sites = 0;
  /** `choose(site, options)` returns the deviation to apply at a site, or -1 for none. */
  constructor(private readonly choose: (site: number, options: number) => number = () => -1) {}

  private byte(...bytes: number[]): void {
    this.out.push(...bytes);
  }

  private uint(value: number | bigint, size: number): void {
    let v = BigInt(value);
    if (v < 0n) v += 1n << BigInt(8 * size);
    for (let i = size - 1; i >= 0; i--) this.out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  }

  private float(value: number, size: 4 | 8): void {
    const view = new DataView(new ArrayBuffer(size));
    if (size === 4) view.setFloat32(0, value);
    else view.setFloat64(0, value);
    this.out.push(...new Uint8Array(view.buffer));
  }

  /** Returns the index of the deviation to apply at this site, or -1 to write canonically. */
  private deviation(options: number): number {
    if (options === 0) return -1;
    return this.choose(this.sites++, options);
  }

  write(value: Canonical): void {
    // Every node may instead be an extension value: fixext1 type 'B', or msgpackr's undefined.
    const alien = this.deviation(2);
    if (alien === 0) this.byte(0xd4, 0x42, 0x05);
    else if (alien === 1) this.byte(0xd4, 0x00, 0x00);
    else if (value === null) this.byte(0xc0);
    else if (value === false) this.byte(0xc2);
    else if (value === true) this.byte(0xc3);
    else if (typeof value === 'number' || typeof value === 'bigint') this.int(BigInt(value));
    else if (typeof value === 'string') this.str(value);
    else if (value instanceof Uint8Array) this.bin(value);
    else if (Array.isArray(value)) this.array(value as Canonical[]);
    else this.map(value as Record<string, Canonical>);
  }

  private int(n: bigint): void {
    type Form = [header: number, size: number, fits: boolean];
    const forms: Form[] = [
      [0xcc, 1, n >= 0n && n < 2n ** 8n],
      [0xcd, 2, n >= 0n && n < 2n ** 16n],
      [0xce, 4, n >= 0n && n < 2n ** 32n],
      [0xcf, 8, n >= 0n && n < 2n ** 64n],
      [0xd0, 1, n >= -(2n ** 7n) && n < 2n ** 7n],
      [0xd1, 2, n >= -(2n ** 15n) && n < 2n ** 15n],
      [0xd2, 4, n >= -(2n ** 31n) && n < 2n ** 31n],
      [0xd3, 8, n >= -(2n ** 63n) && n < 2n ** 63n],
    ];
    const canonical = this.canonicalIntForm(n);
    const alternatives = forms.filter(([header, , fits]) => fits && header !== canonical);
    const floats: (4 | 8)[] = [];
    if (n >= -(2n ** 53n) && n <= 2n ** 53n) floats.push(8);
    if (n >= -(2n ** 24n) && n <= 2n ** 24n) floats.push(4);
    const pick = this.deviation(alternatives.length + floats.length);
    if (pick >= 0 && pick < alternatives.length) {
      const [header, size] = alternatives[pick]!;
      this.byte(header);
      this.uint(n, size);
      return;
    }
    if (pick >= alternatives.length) {
      const size = floats[pick - alternatives.length]!;
      this.byte(size === 8 ? 0xcb : 0xca);
      this.float(Number(n), size);
      return;
    }
    if (canonical === 'fixint') {
      this.uint(n, 1);
      return;
    }
    const [, size] = forms.find(([header]) => header === canonical)!;
    this.byte(canonical);
    this.uint(n, size);
  }

  private canonicalIntForm(n: bigint): number | 'fixint' {
    if (n >= -32n && n < 128n) return 'fixint';
    if (n >= 0n && n < 2n ** 32n) return n < 2n ** 8n ? 0xcc : n < 2n ** 16n ? 0xcd : 0xce;
    if (n >= -(2n ** 31n) && n < 0n)
      return n >= -(2n ** 7n) ? 0xd0 : n >= -(2n ** 15n) ? 0xd1 : 0xd2;
    return n < 2n ** 63n ? 0xd3 : 0xcf;
  }

  /** Header with length: the smallest form, or (when deviating) a wider one. */
  private header(
    length: number,
    fix: [base: number, limit: number] | null,
    wide: [header: number, size: number][],
  ): void {
    const fitting = wide.filter(([, size]) => length < 2 ** (8 * size));
    const fixFits = fix !== null && length < fix[1];
    const canonicalIndex = fixFits ? -1 : 0;
    const wider = fitting.slice(canonicalIndex + 1);
    const pick = this.deviation(wider.length);
    if (pick >= 0) {
      const [header, size] = wider[pick]!;
      this.byte(header);
      this.uint(length, size);
      return;
    }
    if (fixFits) {
      this.byte(fix[0] | length);
      return;
    }
    const [header, size] = fitting[0]!;
    this.byte(header);
    this.uint(length, size);
  }

  private str(text: string): void {
    const bytes = utf8(text);
    this.header(
      bytes.length,
      [0xa0, 32],
      [
        [0xd9, 1],
        [0xda, 2],
        [0xdb, 4],
      ],
    );
    this.byte(...bytes);
  }

  private bin(bytes: Uint8Array): void {
    this.header(bytes.length, null, [
      [0xc4, 1],
      [0xc5, 2],
      [0xc6, 4],
    ]);
    this.byte(...bytes);
  }

  private array(items: Canonical[]): void {
    this.header(
      items.length,
      [0x90, 16],
      [
        [0xdc, 2],
        [0xdd, 4],
      ],
    );
    for (const item of items) this.write(item);
  }

  private map(object: Record<string, Canonical>): void {
    let keys = Object.keys(object).sort((a, b) => compareBytes(utf8(a), utf8(b)));
    // 0: keys out of order, 1: the first key twice.
    const pick = this.deviation(keys.length >= 2 ? 2 : keys.length === 1 ? 1 : 0);
    if (pick === 0 && keys.length >= 2) keys = keys.slice().reverse();
    const entries = keys.map((key) => [key, object[key]!] as const);
    if ((pick === 1 || (pick === 0 && keys.length === 1)) && keys.length >= 1) {
      entries.push(entries[0]!);
    }
    this.header(
      entries.length,
      [0x80, 16],
      [
        [0xde, 2],
        [0xdf, 4],
      ],
    );
    for (const [key, value] of entries) {
      this.str(key);
      this.write(value);
    }
  }
}

function writeCanonically(value: Canonical): Uint8Array {
  const writer = new Writer();
  writer.write(value);
  return new Uint8Array(writer.out);
}

/** The value decodeCanonical returns: integers are numbers when safe, bigints otherwise. */
function decodedForm(value: Canonical): Canonical {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value
      ? Number(value)
      : value;
  if (typeof value === 'number') return value === 0 ? 0 : value;
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decodedForm);
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [key, decodedForm(field as Canonical)]),
  );
}

const keyArb = fc.string({ unit: 'binary', maxLength: 6 }).filter((key) => key !== '__proto__');
const intArb = fc.oneof(
  fc.integer({ min: -300, max: 300 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(
    -33,
    -32,
    127,
    128,
    255,
    256,
    65_535,
    65_536,
    2 ** 31 - 1,
    -(2 ** 31),
    -(2 ** 31) - 1,
    2 ** 32 - 1,
    2 ** 32,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
  ),
);
const bigintArb = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n, 0n),
);
const leafArb: fc.Arbitrary<Canonical> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  intArb,
  bigintArb,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 250, maxLength: 300 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
);
// Containers nest small; wide ones (16+ items, where fixarray/fixmap end) hold only leaves.
const { value: canonicalArb } = fc.letrec<{ value: Canonical }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5 }),
    fc.array(leafArb, { minLength: 14, maxLength: 18 }),
    fc.dictionary(keyArb, leafArb, { minKeys: 14, maxKeys: 18 }),
  ),
}));

function expectNotCanonical(bytes: Uint8Array): void {
  let thrown: unknown;
  try {
    decodeCanonical(bytes);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `accepted ${toHex(bytes)}`).toBeInstanceOf(CryptoError);
  expect((thrown as CryptoError).code).toBe('CRYPTO_NOT_CANONICAL');
}

describe('canonical encoding', () => {
  it('matches an independent writer of the documented rules, byte for byte', () => {
    fc.assert(
      fc.property(canonicalArb, (value) => {
        expect(toHex(encodeCanonical(value))).toBe(toHex(writeCanonically(value)));
      }),
      { numRuns: 300 },
    );
  });

  it("gives the former msgpackr path's bytes for any value", () => {
    fc.assert(
      fc.property(canonicalArb, (value) => {
        expect(toHex(encodeCanonical(value))).toBe(toHex(formerEncode(value)));
      }),
      { numRuns: 400 },
    );
  });

  it('an encoding that runs inside another (a getter) gets a buffer of its own', () => {
    const inner = { a: 'inner', b: [1, 2, 3] };
    const outer = {
      x: 'before',
      get y() {
        return encodeCanonical(inner);
      },
      z: 'after',
    };
    const bytes = encodeCanonical(outer as unknown as Canonical);
    expect(decodeCanonical(bytes)).toEqual({
      x: 'before',
      y: encodeCanonical(inner),
      z: 'after',
    });
  });

  it('round-trips: decode(encode(v)) is v, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(canonicalArb, (value) => {
        const bytes = encodeCanonical(value);
        const decoded = decodeCanonical(bytes);
        expect(decoded).toEqual(decodedForm(value));
        expect(bytesEqual(encodeCanonical(decoded), bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decodeStoredCanonical gives what decodeCanonical gives for canonical bytes', () => {
    fc.assert(
      fc.property(canonicalArb, (value) => {
        const bytes = encodeCanonical(value);
        const stored = decodeStoredCanonical(bytes);
        expect(stored).toEqual(decodeCanonical(bytes));
        // Plain Uint8Arrays, not views of the input: a caller may keep or change them.
        expect(bytesEqual(encodeCanonical(stored), bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(() => decodeStoredCanonical(new Uint8Array([0x92, 0x01]))).toThrow(CryptoError);
  });

  it('does not depend on key insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(keyArb, leafArb, { minKeys: 2, maxKeys: 20 }), (object) => {
        const reversed = Object.fromEntries(Object.entries(object).reverse());
        expect(toHex(encodeCanonical(reversed))).toBe(toHex(encodeCanonical(object)));
      }),
    );
  });

  it('orders keys by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FFFF sorts after U+10000 in UTF-16 (0xFFFF > 0xD800) but before it in UTF-8.
    const value = { '\u{10000}': 1, '\uffff': 2, a: 3 };
    expect(Object.keys(decodeCanonical(encodeCanonical(value)) as object)).toEqual([
      'a',
      '\uffff',
      '\u{10000}',
    ]);
  });

  it('writes numbers as small as they fit and large safe numbers like bigints', () => {
    expect(toHex(encodeCanonical(2 ** 40))).toBe(toHex(encodeCanonical(2n ** 40n)));
    expect(toHex(encodeCanonical(-0))).toBe(toHex(encodeCanonical(0)));
    expect(toHex(encodeCanonical(2 ** 40))).toBe('d30000010000000000');
    expect(decodeCanonical(encodeCanonical(2n ** 63n))).toBe(2n ** 63n);
  });

  it('nests up to 64 containers deep, the same limit on both sides', () => {
    const nest = (levels: number): Canonical =>
      Array.from({ length: levels }).reduce<Canonical>((inner) => [inner], 0);
    const bytes = encodeCanonical(nest(64));
    expect(toHex(bytes)).toBe(`${'91'.repeat(64)}00`);
    expect(decodeCanonical(bytes)).toEqual(nest(64));
    expect(() => encodeCanonical(nest(65))).toThrow(
      expect.objectContaining({ code: 'CRYPTO_UNENCODABLE' }),
    );
  });

  it('keeps earlier results intact when the encoder is reused', () => {
    const first = encodeCanonical({ b: 1, a: [2 ** 40, 'x', new Uint8Array([9])] });
    const copy = toHex(first);
    encodeCanonical({ z: 'a longer value that reuses the buffer'.repeat(20) });
    expect(toHex(first)).toBe(copy);
  });

  it('encodes a Buffer exactly like a Uint8Array and decodes bytes to an independent Uint8Array', () => {
    const bytes = encodeCanonical(Buffer.from([1, 2, 3]));
    expect(toHex(bytes)).toBe(toHex(encodeCanonical(new Uint8Array([1, 2, 3]))));
    const decoded = decodeCanonical(bytes) as Uint8Array;
    expect(decoded.constructor).toBe(Uint8Array);
    decoded[0] = 99;
    expect(bytes[2]).toBe(1);
  });

  it.each<[string, unknown]>([
    ['a float', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an unsafe number', 2 ** 53],
    ['a bigint above uint64', 2n ** 64n],
    ['a bigint below int64', -(2n ** 63n) - 1n],
    ['undefined', undefined],
    ['an undefined field', { a: undefined }],
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is being refused
    ['an array hole', [1, , 2]],
    ['a lone surrogate', 'a\ud800'],
    ['a lone surrogate in a key', { '\udc00': 1 }],
    ['a __proto__ key', JSON.parse('{"__proto__": 1}')],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a Set', new Set()],
    ['a Uint16Array', new Uint16Array(2)],
    ['a class instance', new (class Thing {})()],
    ['a symbol', Symbol('s')],
    ['a function', () => 1],
    ['100 levels of nesting', Array.from({ length: 100 }).reduce<unknown>((inner) => [inner], 1)],
  ])('refuses to encode %s', (_, value) => {
    expect(() => encodeCanonical(value as Canonical)).toThrow(
      expect.objectContaining({ code: 'CRYPTO_UNENCODABLE' }),
    );
  });
});

describe('decodeCanonical refuses every other spelling', () => {
  it('one deviation anywhere (long int form, float, wide header, unsorted or duplicate key, extension) is refused', () => {
    fc.assert(
      fc.property(canonicalArb, fc.nat(), fc.nat(), (value, where, choice) => {
        const counter = new Writer();
        counter.write(value);
        const target = where % counter.sites;
        const writer = new Writer((site, options) => (site === target ? choice % options : -1));
        writer.write(value);
        const bytes = new Uint8Array(writer.out);
        expect(bytesEqual(bytes, encodeCanonical(value))).toBe(false);
        expectNotCanonical(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses trailing bytes and every truncation', () => {
    fc.assert(
      fc.property(canonicalArb, fc.uint8Array({ minLength: 1, maxLength: 4 }), (value, tail) => {
        const bytes = encodeCanonical(value);
        expectNotCanonical(new Uint8Array([...bytes, ...tail]));
        for (let length = 0; length < Math.min(bytes.length, 40); length++) {
          expectNotCanonical(bytes.subarray(0, length));
        }
      }),
      { numRuns: 200 },
    );
  });

  it.each([
    ['str8 where fixstr fits', 'd90161'],
    ['uint64 for 5', 'cf0000000000000005'],
    ['int64 for 5', 'd30000000000000005'],
    ['uint8 for 5', 'cc05'],
    ['float64 for 1', 'cb3ff0000000000000'],
    ['float32 for 1', 'ca3f800000'],
    ['float64 1.5', 'cb3ff8000000000000'],
    ['unsorted keys', '82a16201a16102'],
    ['duplicate keys', '82a16101a16101'],
    ['an integer map key', '810101'],
    ['the key __proto__', '81a95f5f70726f746f5f5f80'],
    ['invalid UTF-8', 'a2c328'],
    ['CESU-8 surrogate', 'a3eda080'],
    ['timestamp extension', 'd6ff00000000'],
    ['msgpackr undefined', 'd40000'],
    ['two values', '0101'],
    ['an array32 claiming 2^32 - 1 items', 'ddffffffff00'],
    ['a bin32 claiming 4 GiB', 'c6ffffffff00'],
    ['a str32 claiming 4 GiB', 'dbffffffff61'],
    ['a map32 claiming 2^32 - 1 entries', 'dfffffffffa16101'],
    ['65 levels of nesting', `${'91'.repeat(65)}00`],
    ['100,000 levels of nesting', `${'91'.repeat(100_000)}00`],
    ['empty input', ''],
  ])('refuses %s', (_, hex) => {
    expectNotCanonical(new Uint8Array(Buffer.from(hex, 'hex')));
  });

  it('random or corrupted bytes either decode to a value whose encoding is exactly those bytes, or fail with CRYPTO_NOT_CANONICAL', () => {
    const arbitraryBytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc
        .tuple(canonicalArb, fc.nat(), fc.integer({ min: 0, max: 255 }))
        .map(([value, at, byte]) => {
          const bytes = encodeCanonical(value).slice();
          bytes[at % bytes.length] = byte;
          return bytes;
        }),
    );
    fc.assert(
      fc.property(arbitraryBytes, (bytes) => {
        let decoded: Canonical;
        try {
          decoded = decodeCanonical(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(CryptoError);
          expect((error as CryptoError).code).toBe('CRYPTO_NOT_CANONICAL');
          return;
        }
        expect(toHex(encodeCanonical(decoded))).toBe(toHex(bytes));
      }),
      { numRuns: 1200 },
    );
  });
});

/** The reader must give the former decoder's verdict (and error code) on every input. */
type Verdict = { value: Canonical } | { code: string };

function verdict(decode: (bytes: Uint8Array) => Canonical, bytes: Uint8Array): Verdict {
  try {
    return { value: decode(bytes) };
  } catch (error) {
    return { code: error instanceof CryptoError ? error.code : `threw ${String(error)}` };
  }
}

/** Returns whether the oracle accepted, so callers can check their inputs reach both sides. */
function expectOraclesVerdict(bytes: Uint8Array): boolean {
  const expected = verdict(formerDecodeCanonical, bytes);
  const actual = verdict(decodeCanonical, bytes);
  if ('code' in expected) {
    // Compared by hand first: expect() on each of 65,536 inputs costs seconds.
    if (!('code' in actual) || actual.code !== expected.code) {
      expect(actual, `accepted ${toHex(bytes)}`).toEqual(expected);
    }
    return false;
  }
  expect(actual, `refused ${toHex(bytes)}`).toHaveProperty('value');
  expect((actual as { value: Canonical }).value).toStrictEqual(expected.value);
  return true;
}

const HEADERS = [
  0x00, 0x7f, 0x80, 0x81, 0x82, 0x8f, 0x90, 0x91, 0x92, 0x9f, 0xa0, 0xa1, 0xa2, 0xbf, 0xc0, 0xc1,
  0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4,
  0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
];

describe('decodeCanonical gives the verdict of decode + re-encode + compare', () => {
  it('accepts every canonical encoding, with the same value', () => {
    fc.assert(
      fc.property(canonicalArb, (value) => {
        expect(expectOraclesVerdict(encodeCanonical(value))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('agrees on other spellings: any number of deviations (long forms, floats, wide headers, key order, duplicates, extensions)', () => {
    fc.assert(
      fc.property(
        canonicalArb,
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 5 }),
        (value, choices, rarity) => {
          const writer = new Writer((site, options) => {
            const choice = choices[site % choices.length]!;
            return choice % rarity === 0 ? Math.floor(choice / rarity) % options : -1;
          });
          writer.write(value);
          expectOraclesVerdict(new Uint8Array(writer.out));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('agrees on a key written twice in a row, with the same or another value', () => {
    fc.assert(
      fc.property(
        fc.dictionary(keyArb, leafArb, { minKeys: 1, maxKeys: 5 }),
        fc.nat(),
        leafArb,
        (object, at, other) => {
          const entries = Object.entries(object).sort(([a], [b]) => compareBytes(utf8(a), utf8(b)));
          const [key] = entries[at % entries.length]!;
          entries.splice(at % entries.length, 0, [key, other]);
          const parts = entries.flatMap(([k, v]) => [encodeCanonical(k), encodeCanonical(v)]);
          const bytes = new Uint8Array([0x80 | entries.length, ...parts.flatMap((p) => [...p])]);
          expect(expectOraclesVerdict(bytes)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('agrees on edited encodings: bytes replaced, inserted, removed, cut or appended', () => {
    const edit = fc.record({
      kind: fc.constantFrom('replace', 'insert', 'remove', 'cut', 'append'),
      at: fc.nat(),
      byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...HEADERS)),
    });
    fc.assert(
      fc.property(canonicalArb, fc.array(edit, { minLength: 1, maxLength: 3 }), (value, edits) => {
        const bytes = [...encodeCanonical(value)];
        for (const { kind, at, byte } of edits) {
          const i = at % (bytes.length + 1);
          if (kind === 'replace' && i < bytes.length) bytes[i] = byte;
          else if (kind === 'insert') bytes.splice(i, 0, byte);
          else if (kind === 'remove') bytes.splice(i, 1);
          else if (kind === 'cut') bytes.length = i;
          else bytes.push(byte);
        }
        expectOraclesVerdict(new Uint8Array(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('agrees on random bytes, drawn from all bytes and from msgpack headers', () => {
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...HEADERS));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), (bytes) => {
        expectOraclesVerdict(new Uint8Array(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees on every input of one byte, and of two bytes where the first is not a whole value', () => {
    // Nearly every input is refused twice over; stack traces would be most of the cost.
    const { stackTraceLimit } = Error;
    Error.stackTraceLimit = 0;
    let accepted = 0;
    try {
      for (let first = 0; first < 256; first++) {
        if (expectOraclesVerdict(new Uint8Array([first]))) accepted++;
        else {
          for (let second = 0; second < 256; second++) {
            if (expectOraclesVerdict(new Uint8Array([first, second]))) accepted++;
          }
        }
      }
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    // One byte: 160 fixints, nil, two booleans, empty map, array and text (166). Two: uint8
    // 128-255, int8 -128..-33, one ASCII character, an array of any one-byte value, empty bin.
    expect(accepted).toBe(166 + 128 + 96 + 128 + 166 + 1);
  });

  it('agrees at every integer form around every boundary', () => {
    const forms: [header: number, size: number][] = [
      [0xcc, 1],
      [0xcd, 2],
      [0xce, 4],
      [0xcf, 8],
      [0xd0, 1],
      [0xd1, 2],
      [0xd2, 4],
      [0xd3, 8],
    ];
    const edges = [0n, 7n, 8n, 15n, 16n, 21n, 24n, 31n, 32n, 52n, 53n, 63n].flatMap((bits) => [
      2n ** bits,
      -(2n ** bits),
    ]);
    const near = edges.flatMap((edge) => [edge - 1n, edge, edge + 1n, edge - 33n, edge + 32n]);
    let accepted = 0;
    for (const [header, size] of forms) {
      const width = BigInt(8 * size);
      for (const n of near) {
        const raw = BigInt.asUintN(8 * size, n);
        if (n >= 2n ** width || n < -(2n ** (width - 1n))) continue;
        const bytes = [header];
        for (let i = size - 1; i >= 0; i--) bytes.push(Number((raw >> BigInt(8 * i)) & 0xffn));
        if (expectOraclesVerdict(new Uint8Array(bytes))) accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(30);
  });

  it('agrees on nesting around the depth limit, with maps and arrays', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('91', '81a178'), { minLength: 60, maxLength: 68 }),
        fc.constantFrom('00', '90', '80', 'a0', '9100', '8100', 'c0'),
        (levels, inner) => {
          expectOraclesVerdict(new Uint8Array(Buffer.from(levels.join('') + inner, 'hex')));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('agrees on many short strings, which share the reader cache', () => {
    const text = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 26 }),
      fc.string({ unit: 'binary', maxLength: 10 }),
    );
    fc.assert(
      fc.property(fc.array(text, { minLength: 100, maxLength: 400 }), (texts) => {
        expect(expectOraclesVerdict(encodeCanonical(texts))).toBe(true);
        expect(expectOraclesVerdict(encodeCanonical([texts.join('')]))).toBe(true);
      }),
      { numRuns: 20 },
    );
  });

  it('agrees on claimed lengths beyond the input, the key __proto__ and inputs that are not bytes', () => {
    const claims = ['c6ffffffff00', 'dbffffffff61', 'ddffffffff00', 'dfffffffffa16101'];
    // The key __proto__, whose assignment would set the prototype (then an object or null).
    const proto = ['01', '80', '81a16101', 'c0'].map((value) => `81a95f5f70726f746f5f5f${value}`);
    for (const hex of [...claims, ...proto, '82a95f5f70726f746f5f5f80a16101']) {
      expectOraclesVerdict(new Uint8Array(Buffer.from(hex, 'hex')));
    }
    for (const input of [[1], 'a', null, new Uint16Array([1])]) {
      expect(verdict(decodeCanonical, input as unknown as Uint8Array)).toEqual({
        code: 'CRYPTO_NOT_CANONICAL',
      });
    }
  });
});

describe('the single-pass reader', () => {
  it('keeps a leading U+FEFF, in values and keys, at every length', () => {
    // msgpackr's JavaScript decoder (the browser build) drops it from strings over 64 bytes.
    for (const length of [0, 20, 40, 63, 64, 65, 300, 70_000]) {
      const text = `\ufeff${'a'.repeat(length)}`;
      const value = { [text]: [text] };
      expect(decodeCanonical(encodeCanonical(value))).toEqual(value);
    }
  });

  it('reads Buffers and views at an offset, and returns byte strings that share no memory with them', () => {
    fc.assert(
      fc.property(canonicalArb, fc.nat({ max: 7 }), (value, offset) => {
        const bytes = encodeCanonical({ value, bin: new Uint8Array([1, 2, 3]) });
        const padded = new Uint8Array(bytes.length + offset + 3);
        padded.set(bytes, offset);
        const view = padded.subarray(offset, offset + bytes.length);
        const expected = decodeCanonical(bytes);
        expect(decodeCanonical(view)).toStrictEqual(expected);
        const fromBuffer = decodeCanonical(Buffer.from(view)) as { bin: Uint8Array };
        expect(fromBuffer).toStrictEqual(expected);
        expect(fromBuffer.bin.constructor).toBe(Uint8Array);
        fromBuffer.bin[0] = 99;
        expect(decodeCanonical(view)).toStrictEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('decodeCanonicalViews gives the same value, its byte strings views into the input', () => {
    fc.assert(
      fc.property(canonicalArb, (value) => {
        const bytes = encodeCanonical({ value, bin: new Uint8Array([1, 2, 3]) });
        const viewed = decodeCanonicalViews(bytes) as { bin: Uint8Array };
        expect(viewed).toStrictEqual(decodeCanonical(bytes));
        expect(viewed.bin.buffer).toBe(bytes.buffer);
        bytes[viewed.bin.byteOffset + 2] = 99;
        expect(viewed.bin[2]).toBe(99);
      }),
      { numRuns: 100 },
    );
    // The next plain decode copies again.
    const bytes = encodeCanonical({ bin: new Uint8Array([1, 2, 3]) });
    decodeCanonicalViews(bytes);
    expect((decodeCanonical(bytes) as { bin: Uint8Array }).bin.buffer).not.toBe(bytes.buffer);
    expect(() => decodeCanonicalViews(new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: 'CRYPTO_NOT_CANONICAL' }),
    );
  });
});
