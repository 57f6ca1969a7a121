import { compareBytes, utf8 } from './bytes.js';
import { MAX_DEPTH, notCanonical, readCanonical } from './canonical-reader.js';
import { CryptoError } from './errors.js';

/**
 * The values medchain hashes and signs. Canonical encoding rules (a subset of msgpack):
 * - objects are maps with string keys, written in ascending UTF-8 byte order of the keys;
 *   `undefined` values are not allowed (omit the key instead);
 * - integers only: a `number` must be a safe integer, a `bigint` must fit int64/uint64;
 *   every integer is written in its shortest msgpack form, except that values outside
 *   [-2^31, 2^32) are always int64 (uint64 above 2^63 - 1), never float64;
 * - decoded integers are `number` when safe and `bigint` otherwise;
 * - byte strings are Uint8Array (msgpack bin), text is string (msgpack str, valid UTF-8:
 *   a string with a lone surrogate is refused, because UTF-8 encoders write it as U+FFFD and
 *   two different strings would share one encoding);
 * - arrays are dense (no holes); the key `__proto__` is refused (a decoder assigning it to a
 *   plain object would set the object's prototype instead);
 * - no floats, no undefined, no Map, Set, Date, symbols or class instances, no extensions.
 * decodeCanonical accepts exactly the bytes encodeCanonical can write (canonical-reader.ts).
 */
export type Canonical =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly Canonical[]
  | { readonly [key: string]: Canonical };

const INT_MIN_SMALL = -(2 ** 31);
const INT_MAX_SMALL = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function unencodable(path: string, why: string): CryptoError {
  return new CryptoError('CRYPTO_UNENCODABLE', `cannot encode ${path || 'value'}: ${why}`);
}

/** Matches an unpaired surrogate (with the `u` flag a valid pair is one code point, not matched). */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
/** Code units at or above U+D800 are where UTF-16 order and UTF-8 byte order can disagree. */
const HIGH_CODE_UNIT = /[\ud800-\uffff]/;

function compareKeys(a: string, b: string): number {
  return compareBytes(utf8(a), utf8(b));
}

/** Keys in UTF-8 byte order; the default sort (UTF-16 code units) agrees unless a key has a high code unit. */
function sortedKeys(object: object): string[] {
  const keys = Object.keys(object);
  return keys.some((key) => HIGH_CODE_UNIT.test(key)) ? keys.sort(compareKeys) : keys.sort();
}

function checkText(text: string, path: string): string {
  if (LONE_SURROGATE.test(text)) throw unencodable(path, 'string with a lone surrogate');
  return text;
}

/**
 * Finds why `value` cannot be encoded and throws that error, naming the path. The writer
 * below gives up on the first thing it cannot write without building paths; this walk is
 * only taken then, so that the message says where.
 */
function explainUnencodable(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw unencodable(path, `nesting deeper than ${MAX_DEPTH}`);
  switch (typeof value) {
    case 'boolean':
      return;
    case 'string':
      checkText(value, path);
      return;
    case 'number':
      if (!Number.isSafeInteger(value)) throw unencodable(path, 'only safe integers are allowed');
      return;
    case 'bigint':
      if (value < INT64_MIN || value > UINT64_MAX)
        throw unencodable(path, 'integer out of 64-bit range');
      return;
    case 'object': {
      if (value === null || value instanceof Uint8Array) return;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          explainUnencodable(value[i], `${path}[${i}]`, depth + 1);
        }
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw unencodable(path, `${proto?.constructor?.name ?? 'object'} is not a plain object`);
      }
      for (const key of sortedKeys(value)) {
        checkText(key, `${path} key`);
        if (key === '__proto__') throw unencodable(`${path}.${key}`, 'the key __proto__');
        const field = (value as Record<string, unknown>)[key];
        if (field === undefined) throw unencodable(`${path}.${key}`, 'undefined (omit the key)');
        explainUnencodable(field, `${path}.${key}`, depth + 1);
      }
      return;
    }
    default:
      throw unencodable(path, `${typeof value} is not encodable`);
  }
}

/*
 * The writer: one pass over the value straight into a reused buffer, then one copy out.
 * (It replaced normalizing into Maps for msgpackr: a Map per object, a copied array per
 * array, and msgpackr's own pass.) Every write is synchronous; a getter that encodes while
 * the writer is busy gets a buffer of its own.
 */
const INITIAL_BYTES = 8 * 1024;
/** A buffer grown past this (a large block) is dropped after the call, not kept. */
const KEEP_BYTES = 1024 * 1024;
let out = new Uint8Array(INITIAL_BYTES);
let view = new DataView(out.buffer);
let at = 0;
let busy = false;
/** Thrown by the writer when a value breaks a rule; explainUnencodable then says which. */
const GIVE_UP = Symbol('unencodable');
const textEncoder = new TextEncoder();

function room(count: number): void {
  if (at + count <= out.length) return;
  let size = out.length * 2;
  while (size < at + count) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(out.subarray(0, at));
  out = grown;
  view = new DataView(out.buffer);
}

/** A header for `length` items or bytes: fix form below `fixLimit`, else 8/16/32-bit forms. */
function header(
  length: number,
  fix: number,
  fixLimit: number,
  form8: number,
  form16: number,
): void {
  room(5);
  if (length < fixLimit) {
    out[at++] = fix | length;
  } else if (form8 !== 0 && length < 0x100) {
    out[at++] = form8;
    out[at++] = length;
  } else if (length < 0x10000) {
    out[at++] = form16;
    view.setUint16(at, length);
    at += 2;
  } else {
    out[at++] = form16 + 1;
    view.setUint32(at, length);
    at += 4;
  }
}

function writeText(text: string): void {
  const length = text.length;
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    header(length, 0xa0, 0x20, 0xd9, 0xda);
    room(length);
    for (let i = 0; i < length; i++) out[at++] = text.charCodeAt(i);
    return;
  }
  if (LONE_SURROGATE.test(text)) throw GIVE_UP;
  const bytes = textEncoder.encode(text);
  header(bytes.length, 0xa0, 0x20, 0xd9, 0xda);
  room(bytes.length);
  out.set(bytes, at);
  at += bytes.length;
}

function writeInteger(value: number): void {
  room(9);
  if (value >= 0) {
    if (value < 0x80) {
      out[at++] = value;
    } else if (value < 0x100) {
      out[at++] = 0xcc;
      out[at++] = value;
    } else if (value < 0x10000) {
      out[at++] = 0xcd;
      view.setUint16(at, value);
      at += 2;
    } else if (value <= INT_MAX_SMALL) {
      out[at++] = 0xce;
      view.setUint32(at, value);
      at += 4;
    } else {
      writeInt64(BigInt(value));
    }
  } else if (value >= -0x20) {
    out[at++] = value & 0xff;
  } else if (value >= -0x80) {
    out[at++] = 0xd0;
    view.setInt8(at++, value);
  } else if (value >= -0x8000) {
    out[at++] = 0xd1;
    view.setInt16(at, value);
    at += 2;
  } else if (value >= INT_MIN_SMALL) {
    out[at++] = 0xd2;
    view.setInt32(at, value);
    at += 4;
  } else {
    writeInt64(BigInt(value));
  }
}

/** Outside [-2^31, 2^32): int64, or uint64 above int64's range. */
function writeInt64(value: bigint): void {
  room(9);
  if (value > INT64_MAX) {
    out[at++] = 0xcf;
    view.setBigUint64(at, value);
  } else {
    out[at++] = 0xd3;
    view.setBigInt64(at, value);
  }
  at += 8;
}

/**
 * sortedKeys for the writer: the same order, sorted in place by insertion when every key is
 * below U+D800 (there UTF-16 order is UTF-8 order), which beats a general sort on a handful
 * of keys.
 */
function writerKeys(object: object): string[] {
  const keys = Object.keys(object);
  if (keys.length > 16) return sortedKeys(object);
  for (const key of keys) {
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) >= 0xd800) return keys.sort(compareKeys);
    }
  }
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

function writeValue(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw GIVE_UP;
  switch (typeof value) {
    case 'boolean':
      room(1);
      out[at++] = value ? 0xc3 : 0xc2;
      return;
    case 'string':
      writeText(value);
      return;
    case 'number':
      if (!Number.isSafeInteger(value)) throw GIVE_UP;
      writeInteger(value === 0 ? 0 : value);
      return;
    case 'bigint':
      if (value < INT64_MIN || value > UINT64_MAX) throw GIVE_UP;
      if (value >= INT_MIN_SMALL && value <= INT_MAX_SMALL) writeInteger(Number(value));
      else writeInt64(value);
      return;
    case 'object':
      if (value === null) {
        room(1);
        out[at++] = 0xc0;
      } else if (value instanceof Uint8Array) {
        header(value.length, 0, 0, 0xc4, 0xc5);
        room(value.length);
        out.set(value, at);
        at += value.length;
      } else if (Array.isArray(value)) {
        header(value.length, 0x90, 0x10, 0, 0xdc);
        // An index loop: a hole reads as undefined, which is refused.
        for (let i = 0; i < value.length; i++) writeValue(value[i], depth + 1);
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) throw GIVE_UP;
        const keys = writerKeys(value);
        header(keys.length, 0x80, 0x10, 0, 0xde);
        for (const key of keys) {
          const field = (value as Record<string, unknown>)[key];
          if (key === '__proto__' || field === undefined) throw GIVE_UP;
          writeText(key);
          writeValue(field, depth + 1);
        }
      }
      return;
    default:
      throw GIVE_UP;
  }
}

/** The one encoder for everything medchain hashes, signs or stores canonically. */
export function encodeCanonical(value: Canonical): Uint8Array {
  // Only a getter running inside an encoding finds the writer busy.
  const outer = busy ? { out, view, at } : undefined;
  if (outer !== undefined || out.length > KEEP_BYTES) {
    out = new Uint8Array(INITIAL_BYTES);
    view = new DataView(out.buffer);
  }
  busy = true;
  at = 0;
  try {
    writeValue(value, 0);
    return out.slice(0, at);
  } catch (error) {
    if (error !== GIVE_UP) throw error;
    explainUnencodable(value, '', 0);
    throw new CryptoError('CRYPTO_UNENCODABLE', 'cannot encode value');
  } finally {
    if (outer === undefined) {
      busy = false;
    } else {
      ({ out, view, at } = outer);
    }
  }
}

/**
 * Decodes bytes produced by {@link encodeCanonical} and rejects every other spelling of a
 * value (unsorted or duplicate keys, long integer or header forms, floats, extensions,
 * invalid UTF-8, trailing bytes), in one pass that builds the value as it checks.
 */
export function decodeCanonical(bytes: Uint8Array): Canonical {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw notCanonical('empty input');
  return readCanonical(bytes);
}

/**
 * {@link decodeCanonical} whose byte strings are views into `bytes`, not copies: for a decoder
 * that owns `bytes` and keeps them unchanged as long as the value lives. A value held for a
 * while (a transaction in the pool) then costs one array buffer, not one per byte string.
 */
export function decodeCanonicalViews(bytes: Uint8Array): Canonical {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw notCanonical('empty input');
  return readCanonical(bytes, true);
}

/**
 * For bytes this node wrote itself with {@link encodeCanonical}, such as its own state values.
 * The same single-pass reader as {@link decodeCanonical}: checking the spelling costs nothing
 * extra there, so stored bytes get the same check as bytes from a peer.
 */
export function decodeStoredCanonical(bytes: Uint8Array): Canonical {
  return decodeCanonical(bytes);
}
