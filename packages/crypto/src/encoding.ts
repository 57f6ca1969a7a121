import { Packr } from 'msgpackr';
import { compareBytes, utf8 } from './bytes.js';
import { MAX_DEPTH, notCanonical, readCanonical } from './canonical-reader.js';
import { CryptoError } from './errors.js';

/**
 * The values medchain hashes and signs. Canonical encoding rules (msgpack via msgpackr):
 * - objects are maps with string keys, written in ascending UTF-8 byte order of the keys;
 *   `undefined` values are not allowed (omit the key instead);
 * - integers only: a `number` must be a safe integer, a `bigint` must fit int64/uint64;
 *   every integer is written in its shortest msgpack form, except that values outside
 *   [-2^31, 2^32) are always int64 (uint64 above 2^63 - 1), never float64;
 * - decoded integers are `number` when safe and `bigint` otherwise;
 * - byte strings are Uint8Array (msgpack bin), text is string (msgpack str, valid UTF-8:
 *   a string with a lone surrogate is refused, because msgpackr would write it as U+FFFD and
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
const UINT64_MAX = 2n ** 64n - 1n;

const packr = new Packr({
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  bundleStrings: false,
});

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

/** Rewrites a value into the exact shape msgpackr must see to emit canonical bytes. */
function normalize(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw unencodable(path, `nesting deeper than ${MAX_DEPTH}`);
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'string':
      return checkText(value, path);
    case 'number':
      if (!Number.isSafeInteger(value)) throw unencodable(path, 'only safe integers are allowed');
      if (Object.is(value, -0)) return 0;
      return value >= INT_MIN_SMALL && value <= INT_MAX_SMALL ? value : BigInt(value);
    case 'bigint':
      if (value < INT64_MIN || value > UINT64_MAX)
        throw unencodable(path, 'integer out of 64-bit range');
      return value >= INT_MIN_SMALL && value <= INT_MAX_SMALL ? Number(value) : value;
    case 'object': {
      if (value === null) return null;
      if (value instanceof Uint8Array) {
        // A Buffer or other subclass is written as plain bytes, exactly like a Uint8Array.
        return value.constructor === Uint8Array
          ? value
          : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      }
      if (Array.isArray(value)) {
        // An index loop, not map(): map() skips holes, which msgpackr would write as undefined.
        const items: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          items[i] = normalize(value[i], `${path}[${i}]`, depth + 1);
        }
        return items;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw unencodable(path, `${proto?.constructor?.name ?? 'object'} is not a plain object`);
      }
      const map = new Map<string, unknown>();
      for (const key of sortedKeys(value)) {
        checkText(key, `${path} key`);
        if (key === '__proto__') throw unencodable(`${path}.${key}`, 'the key __proto__');
        const field = (value as Record<string, unknown>)[key];
        if (field === undefined) throw unencodable(`${path}.${key}`, 'undefined (omit the key)');
        map.set(key, normalize(field, `${path}.${key}`, depth + 1));
      }
      return map;
    }
    default:
      throw unencodable(path, `${typeof value} is not encodable`);
  }
}

/** The one encoder for everything medchain hashes, signs or stores canonically. */
export function encodeCanonical(value: Canonical): Uint8Array {
  const bytes = packr.pack(normalize(value, '', 0));
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
 * For bytes this node wrote itself with {@link encodeCanonical}, such as its own state values.
 * The same single-pass reader as {@link decodeCanonical}: checking the spelling costs nothing
 * extra there, so stored bytes get the same check as bytes from a peer.
 */
export function decodeStoredCanonical(bytes: Uint8Array): Canonical {
  return decodeCanonical(bytes);
}
