/**
 * The oracle for the single-pass reader, and the "before" of its bench: decodeCanonical (and
 * decodeStoredCanonical) as they were, rebuilt from msgpackr's public API. msgpackr decodes anything, the value is re-encoded
 * and the bytes must match. Lives with the tests, not in src: nothing runs it in production.
 */
import { bytesEqual, type Canonical, CryptoError, encodeCanonical } from '@medchain/crypto';
import { Unpackr } from 'msgpackr';

const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  // Not 'auto': msgpackr's 'auto' turns ±2^53 (unsafe) into numbers. settle converts.
  int64AsType: 'bigint',
  moreTypes: false,
});

/** msgpackr's output as Canonical values: safe bigints as numbers, Buffers as Uint8Array copies. */
function settle(value: unknown, depth: number): Canonical {
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value
      ? Number(value)
      : value;
  }
  if (typeof value !== 'object' || value === null) return value as Canonical;
  if (depth > 64) throw new CryptoError('CRYPTO_NOT_CANONICAL', 'nesting deeper than 64');
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = settle(value[i], depth + 1);
    return value;
  }
  // Anything else (a Date, undefined) is left for the re-encoding to refuse.
  if (Object.getPrototypeOf(value) !== Object.prototype) return value as Canonical;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = settle(record[key], depth + 1);
  return record as Canonical;
}

/** The former decodeStoredCanonical: msgpackr's decoding, no spelling check. */
export function formerDecodeStored(bytes: Uint8Array): Canonical {
  return settle(unpackr.unpack(bytes), 0);
}

export function formerDecodeCanonical(bytes: Uint8Array): Canonical {
  const refuse = (why: string) =>
    new CryptoError('CRYPTO_NOT_CANONICAL', `not canonical encoding: ${why}`);
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw refuse('empty input');
  let value: Canonical;
  try {
    value = settle(unpackr.unpack(bytes), 0);
  } catch (error) {
    throw refuse(`malformed msgpack (${(error as Error).message.slice(0, 80)})`);
  }
  let again: Uint8Array;
  try {
    again = encodeCanonical(value);
  } catch (error) {
    throw refuse((error as Error).message);
  }
  if (!bytesEqual(again, bytes)) throw refuse('bytes differ from the canonical form');
  return value;
}
