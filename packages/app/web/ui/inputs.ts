import { parsePartyKey } from '@medchain/client';

/** What a form field's text turned into: the value, or the message to show beside the field. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

/** A party key typed or pasted: 64 hex characters (any case, spaces trimmed) or a did:key. */
export function parseKeyInput(text: string): Parsed<Uint8Array> {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, error: 'Enter a key.' };
  try {
    return {
      ok: true,
      value: parsePartyKey(/^[0-9a-fA-F]+$/.test(trimmed) ? trimmed.toLowerCase() : trimmed),
    };
  } catch {
    return {
      ok: false,
      error: 'Not a key: enter 64 hexadecimal characters, or a did:key:z6Mk… identifier.',
    };
  }
}

/**
 * A `datetime-local` value (the reader's time zone) as ms since the epoch, which must be after
 * `now` and at most `maxMs` after it (the ledger's limit).
 */
export function parseExpiry(value: string, now: number, maxMs: number): Parsed<number> {
  if (value === '') return { ok: false, error: 'Choose when it ends: an end date is required.' };
  const time = new Date(value).getTime();
  if (!Number.isFinite(time)) return { ok: false, error: 'Not a date and time.' };
  if (time <= now) return { ok: false, error: 'The end must be in the future.' };
  if (time - now > maxMs) {
    return {
      ok: false,
      error: `The end must be within ${Math.floor(maxMs / 86_400_000 / 365)} years.`,
    };
  }
  return { ok: true, value: time };
}

/** ms since the epoch as a `datetime-local` value in the reader's time zone, to the minute. */
export function toLocalInput(ms: number): string {
  const date = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
