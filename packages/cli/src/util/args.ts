import { fromHex } from '@medchain/crypto';
import { InvalidArgumentError } from 'commander';

/**
 * Parsers for option values, used as commander argParsers: a bad value becomes commander's
 * "option '--x <v>' argument 'y' is invalid. <reason>" and exit code 2.
 */

export function hexBytes(length: number, what: string) {
  return (value: string): Uint8Array => {
    const hex = value.toLowerCase();
    if (!new RegExp(`^[0-9a-f]{${length * 2}}$`).test(hex)) {
      throw new InvalidArgumentError(`expected ${what}: ${length * 2} hex characters.`);
    }
    return fromHex(hex);
  };
}

export const hash32 = (what: string) => hexBytes(32, what);

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected an integer.');
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** "90s", "30m", "1h", "7d" or plain milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (match === null) {
    throw new InvalidArgumentError('expected a duration like 30m, 1h, 7d or milliseconds.');
  }
  const ms = Number(match[1]) * UNITS[match[2] ?? 'ms']!;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new InvalidArgumentError('out of range.');
  return ms;
}

/** An instant: ISO 8601 ("2026-01-31T12:00:00Z") or ms since the epoch. */
export function instant(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError('expected an ISO 8601 time or ms since the epoch.');
  }
  return ms;
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}.`);
    }
    return value as T;
  };
}

/** A comma-separated list, each item parsed. */
export function listOf<T>(parse: (item: string) => T) {
  return (value: string): T[] =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map(parse);
}

export function url(value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL like http://127.0.0.1:7701.');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidArgumentError('expected an http:// or https:// URL.');
  }
  return value.replace(/\/+$/, '');
}
