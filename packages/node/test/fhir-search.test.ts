import type { FhirResource } from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FhirError } from '../src/fhir/outcome.js';
import { negotiate } from '../src/fhir/rest.js';
import {
  type Candidate,
  dateRange,
  handlingOf,
  pageOfMatches,
  parseSearch,
  type SearchParam,
  splitValues,
} from '../src/fhir/search.js';

/** FHIR search's value rules and paging, without a node (fhir-rest.test.ts has the node). */

const DATE: SearchParam = {
  name: 'date',
  type: 'date',
  expression: 'X.date',
  definition: 'http://example.org/date',
  documentation: '',
  values: (r) => [{ start: r.at as number, end: r.at as number }],
};
const CODE: SearchParam = {
  name: 'code',
  type: 'token',
  expression: 'X.code',
  definition: 'http://example.org/code',
  documentation: '',
  values: (r) => [{ system: 'http://s', code: r.code as string }],
};
const PARAMS = [DATE, CODE];
const options = { handling: 'lenient' as const, base: 'http://h/fhir/r4', revincludes: [] };
const matches = (query: Record<string, string | string[]>, resource: FhirResource) =>
  parseSearch(query, PARAMS, options).conditions.every((c) => c(resource));

// Years 0001..9999 (every four-digit FHIR year, Date.UTC's 1900-based two-digit years too).
const instant = fc.integer({
  min: Date.parse('0001-01-01T00:00:00.000Z'),
  max: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
});
const iso = (ms: number) => new Date(ms).toISOString();

describe('dates', () => {
  it('every precision of an instant is a range holding it; the instant itself is a point', () => {
    fc.assert(
      fc.property(instant, (t) => {
        const text = iso(t);
        expect(dateRange(text)).toEqual({ start: t, end: t });
        for (const length of [4, 7, 10, 16, 19]) {
          const value =
            length === 16 || length === 19 ? `${text.slice(0, length)}Z` : text.slice(0, length);
          const range = dateRange(value)!;
          expect(range.start <= t && t <= range.end, value).toBe(true);
        }
      }),
    );
  });

  it('a year is its twelve months end to end; offsets shift the range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 9998 }), (year) => {
        const months = Array.from({ length: 12 }, (_, m) =>
          dateRange(`${year}-${String(m + 1).padStart(2, '0')}`),
        );
        expect(months[0]!.start).toBe(dateRange(String(year))!.start);
        expect(months[11]!.end).toBe(dateRange(String(year))!.end);
        for (let m = 1; m < 12; m++) expect(months[m]!.start).toBe(months[m - 1]!.end + 1);
      }),
    );
    expect(dateRange('2026-01-01T10:00:00+02:00')!.start).toBe(Date.UTC(2026, 0, 1, 8));
  });

  it('refuses what is not a date', () => {
    for (const bad of [
      '',
      '26',
      '2026-13',
      '2026-02-30',
      '2026-01-01T25:00',
      'yesterday',
      '2026-1-1',
      '0000',
    ]) {
      expect(dateRange(bad), bad).toBeUndefined();
    }
  });

  it("prefixes follow FHIR's range rules against an instant, at and around the range's edges", () => {
    const edge = fc.constantFrom('start', 'end', 'before', 'after', 'anywhere');
    fc.assert(
      fc.property(
        instant,
        instant,
        fc.constantFrom(4, 7, 10, 19),
        edge,
        (any, value, length, at) => {
          const text = iso(value).slice(0, length);
          const range = dateRange(text)!;
          const target = {
            start: range.start,
            end: range.end,
            before: range.start - 1,
            after: range.end + 1,
            anywhere: any,
          }[at];
          const r = { resourceType: 'X', at: target };
          const inside = range.start <= target && target <= range.end;
          expect(matches({ date: text }, r)).toBe(inside);
          expect(matches({ date: `eq${text}` }, r)).toBe(inside);
          expect(matches({ date: `ne${text}` }, r)).toBe(!inside);
          expect(matches({ date: `gt${text}` }, r)).toBe(target > range.end);
          expect(matches({ date: `lt${text}` }, r)).toBe(target < range.start);
          expect(matches({ date: `ge${text}` }, r)).toBe(target >= range.start);
          expect(matches({ date: `le${text}` }, r)).toBe(target <= range.end);
          expect(matches({ date: `sa${text}` }, r)).toBe(target > range.end);
          expect(matches({ date: `eb${text}` }, r)).toBe(target < range.start);
          expect(matches({ date: `ap${text}` }, r)).toBe(inside);
        },
      ),
    );
  });
});

describe('values and parameters', () => {
  it('a comma is OR, a repeated parameter AND, and \\, escapes a comma', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 5 }),
        (values) => {
          const escaped = values.map((v) => v.replace(/\\/g, '\\\\').replace(/,/g, '\\,'));
          expect(splitValues(escaped.join(','))).toEqual(values);
        },
      ),
    );
    const r = { resourceType: 'X', code: 'b', at: 0 };
    expect(matches({ code: 'a,b' }, r)).toBe(true);
    expect(matches({ code: ['a', 'b'] }, r)).toBe(false);
    expect(matches({ code: 'http://s|b' }, r)).toBe(true);
    expect(matches({ code: 'http://other|b' }, r)).toBe(false);
    expect(matches({ code: 'http://s|' }, r)).toBe(true);
    expect(matches({ code: '|b' }, r)).toBe(false);
  });

  it('unknown parameters: ignored and listed when lenient, a 400 naming them when strict', () => {
    const lenient = parseSearch({ code: 'a', colour: 'x', 'shape:exact': 'y' }, PARAMS, options);
    expect(lenient.ignored).toEqual(['colour', 'shape:exact']);
    expect(lenient.used).toEqual([['code', 'a']]);
    const strict = () => parseSearch({ colour: 'x' }, PARAMS, { ...options, handling: 'strict' });
    expect(strict).toThrow(FhirError);
    expect(strict).toThrow(/colour/);
    // An empty name (`?=x`) is no parameter: neither refused nor reported (FHIR has no empty string).
    expect(parseSearch({ '': 'x', code: 'a' }, PARAMS, options).ignored).toEqual([]);
    expect(() =>
      parseSearch({ '': 'x' }, PARAMS, { ...options, handling: 'strict' }),
    ).not.toThrow();
    // A modifier this node does not support is refused whatever the handling.
    expect(() => parseSearch({ 'code:not': 'a' }, PARAMS, options)).toThrow(/modifier/);
    expect(() => parseSearch({ _count: 'ten' }, PARAMS, options)).toThrow(/_count/);
    expect(parseSearch({ _count: '100000' }, PARAMS, options).count).toBe(200);
  });

  it('Prefer: handling=strict, among other preferences', () => {
    expect(handlingOf(undefined)).toBe('lenient');
    expect(handlingOf('return=minimal, handling=strict')).toBe('strict');
    expect(handlingOf(['respond-async', 'handling = strict'])).toBe('strict');
    expect(handlingOf('handling=lenient')).toBe('lenient');
  });

  it('content negotiation: FHIR JSON R4 or 406', () => {
    expect(negotiate([], undefined)).toBe('application/fhir+json');
    expect(negotiate([], 'text/html, */*;q=0.1')).toBe('application/fhir+json');
    expect(negotiate([], 'application/json')).toBe('application/json');
    expect(negotiate(['json'], 'application/fhir+xml')).toBe('application/fhir+json');
    for (const [format, accept] of [
      [[], 'application/fhir+xml'],
      [[], 'application/fhir+json; fhirVersion=3.0'],
      [[], 'application/fhir+json;q=0'],
      [['xml'], undefined],
      [['json', 'xml'], undefined],
    ] as const) {
      expect(() => negotiate(format, accept), `${format} ${accept}`).toThrow(
        expect.objectContaining({ status: 406 }),
      );
    }
  });
});

describe('paging', () => {
  const list = fc.array(fc.boolean(), { maxLength: 60 });
  const candidates = (flags: readonly boolean[]): Candidate[] =>
    flags.map((match, position) => ({
      position,
      resource: { resourceType: 'X', code: match ? 'yes' : 'no', at: 0 },
      source: undefined,
    }));
  const page = (flags: readonly boolean[], count: number, cursor: Record<string, string> = {}) =>
    pageOfMatches(
      candidates(flags),
      parseSearch({ code: 'yes', _count: String(count), ...cursor }, PARAMS, options),
    );

  it('next links visit every match once in order; previous links walk back the same pages', () => {
    fc.assert(
      fc.property(list, fc.integer({ min: 1, max: 7 }), (flags, count) => {
        const expected = flags.flatMap((m, i) => (m ? [i] : []));
        const pages = [page(flags, count)];
        while (pages.at(-1)!.next !== undefined) {
          pages.push(page(flags, count, { _after: String(pages.at(-1)!.next) }));
        }
        expect(pages.flatMap((p) => p.matches.map((m) => m.position))).toEqual(expected);
        for (const p of pages) expect(p.total).toBe(expected.length);
        for (let i = pages.length - 1; i > 0; i--) {
          const back = page(flags, count, { _before: String(pages[i]!.previous) });
          expect(back.matches).toEqual(pages[i - 1]!.matches);
        }
        expect(pages[0]!.previous).toBeUndefined();
        // _count=0 is the total alone.
        expect(page(flags, 0)).toMatchObject({
          matches: [],
          total: expected.length,
          next: undefined,
        });
        // A cursor past the end is an empty page, not the last one again.
        const past = page(flags, count, { _after: String(flags.length) });
        expect(past).toMatchObject({ matches: [], next: undefined });
      }),
    );
  });

  it('entries appended between pages neither repeat nor skip what the first pages showed', () => {
    fc.assert(
      fc.property(list, list, fc.integer({ min: 1, max: 7 }), (flags, added, count) => {
        const first = page(flags, count);
        if (first.next === undefined) return;
        const grown = [...flags, ...added];
        const seen = first.matches.map((m) => m.position);
        let cursor = first.next;
        for (;;) {
          const next = page(grown, count, { _after: String(cursor) });
          seen.push(...next.matches.map((m) => m.position));
          if (next.next === undefined) break;
          cursor = next.next;
        }
        expect(seen).toEqual(grown.flatMap((m, i) => (m ? [i] : [])));
      }),
    );
  });
});
