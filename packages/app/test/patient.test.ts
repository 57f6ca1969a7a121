/**
 * The pure parts of the keys and patient screens: what a typed key or end date becomes, how long
 * a countdown says is left, and how an error is explained. The screens themselves run in
 * chromium (e2e/patient.spec.ts).
 */
import { ClientError, toDidKey, toHex } from '@medchain/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explainError } from '../web/ui/errors.js';
import { formatDuration } from '../web/ui/format.js';
import { parseExpiry, parseKeyInput, toLocalInput } from '../web/ui/inputs.js';

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const MINUTE = 60_000;
const YEAR = 365 * 86_400_000;

describe('parseKeyInput', () => {
  it('reads hex in any case, with surrounding spaces, and did:key, as the same key', () => {
    fc.assert(
      fc.property(key, fc.constantFrom('', ' ', '\n', '  \t'), (bytes, pad) => {
        const hex = toHex(bytes);
        for (const text of [hex, hex.toUpperCase(), `${pad}${hex}${pad}`, toDidKey(bytes)]) {
          const parsed = parseKeyInput(text);
          expect(parsed.ok && toHex(parsed.value)).toBe(hex);
        }
      }),
    );
  });

  it('refuses anything else with a message, never by throwing', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        fc.pre(!/^\s*[0-9a-fA-F]{64}\s*$/.test(text) && !text.trim().startsWith('did:key:'));
        const parsed = parseKeyInput(text);
        expect(parsed.ok).toBe(false);
        if (!parsed.ok) expect(parsed.error).toMatch(/key/i);
      }),
    );
    expect(parseKeyInput('did:key:z6MkNOTAKEY')).toMatchObject({ ok: false });
    expect(parseKeyInput(`${'a'.repeat(63)}`)).toMatchObject({ ok: false });
  });
});

describe('parseExpiry', () => {
  const now = Date.UTC(2026, 11, 6, 10, 0, 0);

  it('takes a future time within the limit, to the minute of the reader’s clock', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2 * MINUTE, max: YEAR }), (ahead) => {
        const typed = toLocalInput(now + ahead);
        const parsed = parseExpiry(typed, now, 5 * YEAR);
        expect(parsed.ok).toBe(true);
        // The same wall-clock minute (in any time zone, daylight saving folds included).
        if (parsed.ok) expect(toLocalInput(parsed.value)).toBe(typed);
      }),
    );
  });

  it('refuses an empty, past, present or too distant end with a message', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * YEAR }), (behind) => {
        expect(parseExpiry(toLocalInput(now - behind), now, YEAR)).toMatchObject({
          ok: false,
          error: 'The end must be in the future.',
        });
      }),
    );
    expect(parseExpiry('', now, YEAR)).toMatchObject({ ok: false, error: /required/ });
    expect(parseExpiry('not a date', now, YEAR)).toMatchObject({ ok: false });
    expect(parseExpiry(toLocalInput(now + 2 * YEAR), now, YEAR)).toMatchObject({
      ok: false,
      error: 'The end must be within 1 years.',
    });
  });
});

describe('formatDuration', () => {
  const UNITS: Record<string, number> = { d: 86_400, h: 3600, min: 60, s: 1 };

  it('says the two largest units, never more than is left, and at most one unit short', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 10 * YEAR }), (ms) => {
        const text = formatDuration(ms);
        const parts = text.split(' ');
        const units = [];
        let said = 0;
        for (let i = 0; i < parts.length; i += 2) {
          units.push(parts[i + 1]!);
          said += Number(parts[i]) * UNITS[parts[i + 1]!]!;
        }
        expect(units.length).toBeLessThanOrEqual(2);
        const order = Object.keys(UNITS);
        expect(units).toEqual([...units].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
        const seconds = Math.floor(ms / 1000);
        expect(said).toBeLessThanOrEqual(seconds);
        // What is dropped is less than the unit after the largest one said.
        const next = order[order.indexOf(units[0]!) + 1];
        expect(seconds - said).toBeLessThan(next === undefined ? 1 : UNITS[next]!);
      }),
    );
    expect(formatDuration(59 * 60_000 + 12_000)).toBe('59 min 12 s');
    expect(formatDuration(3_600_000)).toBe('1 h');
    expect(formatDuration(-5)).toBe('0 s');
  });
});

describe('explainError', () => {
  it('keeps the code and says what happened and what to do, without a stack trace', () => {
    const codes = ['WRONG_PASSPHRASE', 'KEYSTORE_INVALID', 'NODE_UNREACHABLE', 'CONSENT_REVOKED'];
    fc.assert(
      fc.property(fc.constantFrom(...codes, 'SOME_NEW_CODE'), fc.string(), (code, message) => {
        const explained = explainError(new ClientError(code, message));
        expect(explained.code).toBe(code);
        expect(explained.what.length).toBeGreaterThan(0);
        expect(explained.todo.length).toBeGreaterThan(0);
      }),
    );
    const thrown = new Error('boom');
    const frame = thrown.stack!.split('\n')[1]!.trim();
    expect(JSON.stringify(explainError(thrown))).not.toContain(frame);
    expect(explainError(new TypeError('x is undefined'))).toMatchObject({
      code: 'UNEXPECTED',
      what: expect.stringContaining('x is undefined'),
    });
  });
});
