/**
 * The oracle for the single-pass writer, and the "before" of its bench: encodeCanonical as it
 * was, msgpackr packing a copy of the value rewritten into the shape that makes msgpackr write
 * canonical bytes (Maps with sorted keys, integers outside [-2^31, 2^32) as bigints). For
 * encodable values only. Lives with the tests, not in src: nothing runs it in production.
 */
import { type Canonical, compareBytes, utf8 } from '@medchain/crypto';
import { Packr } from 'msgpackr';

const packr = new Packr({
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  bundleStrings: false,
});

function shape(value: Canonical): unknown {
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return 0;
    return value >= -(2 ** 31) && value <= 2 ** 32 - 1 ? value : BigInt(value);
  }
  if (typeof value === 'bigint') {
    return value >= -(2n ** 31n) && value <= 2n ** 32n - 1n ? Number(value) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (Array.isArray(value)) return value.map(shape);
  const keys = Object.keys(value).sort((a, b) => compareBytes(utf8(a), utf8(b)));
  return new Map(keys.map((key) => [key, shape((value as Record<string, Canonical>)[key]!)]));
}

export function formerEncode(value: Canonical): Uint8Array {
  return new Uint8Array(packr.pack(shape(value)));
}
