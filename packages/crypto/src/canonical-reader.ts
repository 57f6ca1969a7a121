import type { Canonical } from './encoding.js';
import { CryptoError } from './errors.js';

/**
 * A single-pass reader of medchain's canonical msgpack (the rules are listed on `Canonical`
 * in encoding.ts). It checks the spelling while it builds the value, so a value is decoded
 * once and never re-encoded: every header byte must be the shortest form the encoder writes,
 * map keys strictly ascending in UTF-8 byte order, text valid UTF-8, nesting at most
 * MAX_DEPTH, nothing after the value. It accepts exactly the bytes `encodeCanonical` can
 * produce: test/encoding.test.ts holds it to the former msgpackr decode + re-encode + compare.
 */

export function notCanonical(why: string): CryptoError {
  return new CryptoError('CRYPTO_NOT_CANONICAL', `not canonical encoding: ${why}`);
}

/** Containers nest at most this deep: the value at depth 64 is a leaf or an empty container. */
export const MAX_DEPTH = 64;

// ignoreBOM: a leading U+FEFF is text like any other; by default TextDecoder drops it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Short ASCII strings (most map keys and kinds) are cached by their bytes: no decode, no new string. */
const CACHE_SLOTS = 1024;
const CACHE_MAX_LENGTH = 24;
const cachedBytes: (Uint8Array | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);
const cachedText: string[] = new Array(CACHE_SLOTS).fill('');

// The reader's state for one call; `src` is released when the call ends.
const EMPTY = new Uint8Array(0);
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;
/** Whether byte strings are views into `src` rather than copies. */
let viewBytes = false;

/**
 * Decodes one canonical value filling all of `bytes`, or throws CRYPTO_NOT_CANONICAL. Byte
 * strings are copies, or with `views` subarrays of `bytes`, which the caller must then never
 * change.
 */
export function readCanonical(bytes: Uint8Array, views = false): Canonical {
  // A Buffer's slice() shares memory, so byte strings are copied out of a plain view.
  src =
    bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  end = src.length;
  viewBytes = views;
  try {
    const value = read(0);
    if (pos !== end) throw notCanonical(`${end - pos} bytes after the value`);
    return value;
  } finally {
    src = EMPTY;
    viewBytes = false;
  }
}

function need(count: number): void {
  if (end - pos < count) throw notCanonical('truncated input');
}

function longer(what: string): CryptoError {
  return notCanonical(`${what} where a shorter form fits`);
}

function u8(): number {
  need(1);
  return src[pos++]!;
}

function u16(): number {
  need(2);
  const value = (src[pos]! << 8) | src[pos + 1]!;
  pos += 2;
  return value;
}

function u32(): number {
  need(4);
  const value =
    ((src[pos]! << 24) | (src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!) >>> 0;
  pos += 4;
  return value;
}

function read(depth: number): Canonical {
  const head = u8();
  if (head < 0x80) return head;
  if (head >= 0xe0) return head - 0x100;
  if (head < 0x90) return map(head & 0x0f, depth);
  if (head < 0xa0) return array(head & 0x0f, depth);
  if (head < 0xc0) return text(head & 0x1f);
  switch (head) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bin(u8());
    case 0xc5:
      return bin(atLeast(u16(), 0x100, 'bin16'));
    case 0xc6:
      return bin(atLeast(u32(), 0x10000, 'bin32'));
    case 0xcc:
      return atLeast(u8(), 0x80, 'uint8');
    case 0xcd:
      return atLeast(u16(), 0x100, 'uint16');
    case 0xce:
      return atLeast(u32(), 0x10000, 'uint32');
    case 0xcf:
      return uint64();
    case 0xd0:
      return below((u8() << 24) >> 24, -0x20, 'int8');
    case 0xd1:
      return below((u16() << 16) >> 16, -0x80, 'int16');
    case 0xd2:
      return below(u32() | 0, -0x8000, 'int32');
    case 0xd3:
      return int64();
    case 0xd9:
      return text(atLeast(u8(), 0x20, 'str8'));
    case 0xda:
      return text(atLeast(u16(), 0x100, 'str16'));
    case 0xdb:
      return text(atLeast(u32(), 0x10000, 'str32'));
    case 0xdc:
      return array(atLeast(u16(), 0x10, 'array16'), depth);
    case 0xdd:
      return array(atLeast(u32(), 0x10000, 'array32'), depth);
    case 0xde:
      return map(atLeast(u16(), 0x10, 'map16'), depth);
    case 0xdf:
      return map(atLeast(u32(), 0x10000, 'map32'), depth);
    default:
      // 0xc1 (never used), bin/ext/float forms and extensions: the encoder writes none of them.
      throw notCanonical(`type byte 0x${head.toString(16)} is not used`);
  }
}

function atLeast(value: number, min: number, form: string): number {
  if (value < min) throw longer(form);
  return value;
}

function below(value: number, max: number, form: string): number {
  if (value >= max) throw longer(form);
  return value;
}

/** uint64 only carries values above int64's range; smaller ones have a shorter form. */
function uint64(): bigint {
  const high = u32();
  const low = u32();
  if (high < 0x80000000) throw longer('uint64');
  return (BigInt(high) << 32n) | BigInt(low);
}

/** int64 carries what int32 and uint32 cannot; a number when it is a safe integer. */
function int64(): number | bigint {
  const high = u32() | 0;
  const low = u32();
  if (high === 0 || (high === -1 && low >= 0x80000000)) throw longer('int64');
  // Safe integers are those of magnitude below 2^53: high in (-2^21, 2^21), or -2^21 with low > 0.
  if ((high > -0x200000 && high < 0x200000) || (high === -0x200000 && low !== 0)) {
    return high * 0x100000000 + low;
  }
  return BigInt(high) * 0x100000000n + BigInt(low);
}

function bin(length: number): Uint8Array {
  need(length);
  pos += length;
  return viewBytes ? src.subarray(pos - length, pos) : src.slice(pos - length, pos);
}

function text(length: number): string {
  need(length);
  const start = pos;
  pos += length;
  return length <= CACHE_MAX_LENGTH ? shortText(start, length) : utf8Text(start);
}

/** The text from `start` to `pos`. */
function utf8Text(start: number): string {
  try {
    return utf8Decoder.decode(src.subarray(start, pos));
  } catch {
    throw notCanonical('text is not valid UTF-8');
  }
}

function shortText(start: number, length: number): string {
  // The slot mixes the length with the first, middle and last bytes.
  const slot =
    length === 0
      ? 0
      : (length * 31 +
          src[start]! * 7 +
          src[start + (length >> 1)]! * 3 +
          src[start + length - 1]! * 131) &
        (CACHE_SLOTS - 1);
  const cached = cachedBytes[slot];
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached[i] === src[start + i]) i++;
    if (i === length) return cachedText[slot]!;
  }
  let ascii = true;
  for (let i = start; i < pos; i++) {
    if (src[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return utf8Text(start);
  const value = String.fromCharCode.apply(null, src.subarray(start, pos) as unknown as number[]);
  cachedBytes[slot] = src.slice(start, pos);
  cachedText[slot] = value;
  return value;
}

function array(length: number, depth: number): Canonical[] {
  if (length > end - pos) throw notCanonical('truncated input');
  if (length > 0 && depth >= MAX_DEPTH) throw notCanonical(`nesting deeper than ${MAX_DEPTH}`);
  const items: Canonical[] = new Array(length);
  for (let i = 0; i < length; i++) items[i] = read(depth + 1);
  return items;
}

/** Reads a map key's header: keys are text, in the shortest header like any text. */
function keyLength(): number {
  const head = u8();
  if (head >= 0xa0 && head < 0xc0) return head & 0x1f;
  if (head === 0xd9) return atLeast(u8(), 0x20, 'str8');
  if (head === 0xda) return atLeast(u16(), 0x100, 'str16');
  if (head === 0xdb) return atLeast(u32(), 0x10000, 'str32');
  throw notCanonical('a map key that is not text');
}

/** Whether the key at [start, start + length) sorts strictly after the one at [before, before + beforeLength). */
function keyAfter(before: number, beforeLength: number, start: number, length: number): boolean {
  const common = Math.min(beforeLength, length);
  for (let i = 0; i < common; i++) {
    const a = src[before + i]!;
    const b = src[start + i]!;
    if (a !== b) return b > a;
  }
  return length > beforeLength;
}

function map(length: number, depth: number): { [key: string]: Canonical } {
  // Every entry takes at least two bytes (an empty key and a one-byte value).
  if (length > (end - pos) / 2) throw notCanonical('truncated input');
  if (length > 0 && depth >= MAX_DEPTH) throw notCanonical(`nesting deeper than ${MAX_DEPTH}`);
  const object: { [key: string]: Canonical } = {};
  let before = -1;
  let beforeLength = 0;
  for (let i = 0; i < length; i++) {
    const size = keyLength();
    const start = pos;
    const key = text(size);
    if (before >= 0 && !keyAfter(before, beforeLength, start, size)) {
      throw notCanonical('map keys out of order or repeated');
    }
    // msgpackr renames it on decode and the encoder refuses it; assigning it would set the prototype.
    if (key === '__proto__') throw notCanonical('the key __proto__');
    object[key] = read(depth + 1);
    before = start;
    beforeLength = size;
  }
  return object;
}
