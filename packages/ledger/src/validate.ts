import {
  type Canonical,
  encodeCanonical,
  isAcceptablePublicKeyCached,
  toHex,
} from '@medchain/crypto';
import { LedgerError, type LedgerErrorCode } from './errors.js';

/** Shape checks for decoded values: each names the offending path, so a client sees what to fix. */

export type CanonicalObject = { readonly [key: string]: Canonical };

export const MAX_TIME_MS = 8_640_000_000_000_000; // the largest instant a JS Date can show

export function invalid(path: string, why: string, code: LedgerErrorCode = 'LEDGER_MALFORMED') {
  return new LedgerError(code, `${path || 'value'}: ${why}`);
}

export function asObject(
  value: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): CanonicalObject {
  if (
    typeof value !== 'object' ||
    value === null ||
    value instanceof Uint8Array ||
    Array.isArray(value)
  ) {
    throw invalid(path, 'expected a map');
  }
  for (const key of required) {
    if (!Object.hasOwn(value, key)) throw invalid(`${path}.${key}`, 'is required');
  }
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw invalid(`${path}.${key}`, 'is not a known field');
    }
  }
  return value as CanonicalObject;
}

export function asBytes(value: unknown, path: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw invalid(path, `expected ${length} bytes`);
  }
  return value;
}

export function asPublicKey(value: unknown, path: string): Uint8Array {
  if (
    !(value instanceof Uint8Array) ||
    value.length !== 32 ||
    !isAcceptablePublicKeyCached(value)
  ) {
    throw invalid(path, 'expected an acceptable Ed25519 public key (32 bytes)');
  }
  return value;
}

export function asInteger(value: unknown, path: string, min = 0, max = MAX_TIME_MS): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(path, `expected an integer in [${min}, ${max}]`);
  }
  return value;
}

export function asString(value: unknown, path: string, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw invalid(path, `expected ${what}`);
  return value;
}

export function asBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw invalid(path, 'expected a boolean');
  return value;
}

export function asEnum<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(path, `expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * A bounded list without duplicates. Two entries are duplicates when `identity` says so; by
 * default, when their canonical bytes are equal. A caller that already holds a digest of
 * each entry passes it, which is cheaper than re-encoding large entries.
 */
export function asList<T>(
  value: unknown,
  path: string,
  bounds: { min: number; max: number },
  item: (value: unknown, path: string) => T,
  identity: (entry: unknown, parsed: T) => string = (entry) =>
    toHex(encodeCanonical(entry as Canonical)),
): T[] {
  if (!Array.isArray(value)) throw invalid(path, 'expected a list');
  if (value.length < bounds.min || value.length > bounds.max) {
    throw invalid(path, `expected ${bounds.min} to ${bounds.max} items`);
  }
  const seen = new Set<string>();
  return value.map((entry, i) => {
    const parsed = item(entry, `${path}[${i}]`);
    const id = identity(entry, parsed);
    if (seen.has(id)) throw invalid(`${path}[${i}]`, 'duplicate entry');
    seen.add(id);
    return parsed;
  });
}
