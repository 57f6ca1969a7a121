import type { FhirResource } from '@medchain/ledger';
import { FhirError } from './outcome.js';

/**
 * FHIR R4 search, the part this node supports: token, reference and date parameters with
 * FHIR's value syntax (comma = OR, a repeated parameter = AND, date prefixes and implicit
 * ranges), `_count`, the strict/lenient rules for unknown parameters, and a searchset Bundle
 * with stable paging links. Matching runs on the FHIR resource the node returns, so a search
 * finds exactly what the resource shows.
 */

export type ParamType = 'token' | 'reference' | 'date';

/** An inclusive range of ms since the epoch. */
export interface TimeRange {
  readonly start: number;
  readonly end: number;
}

export interface Token {
  readonly system: string | undefined;
  readonly code: string;
}

/** A search parameter: its name, type and the values a resource holds for it. */
export type SearchParam = {
  readonly name: string;
  readonly documentation: string;
  /** The FHIRPath it searches (for the CapabilityStatement's readers). */
  readonly expression: string;
  /** The canonical URL of FHIR's SearchParameter it implements. */
  readonly definition: string;
} & (
  | { readonly type: 'token'; readonly values: (resource: FhirResource) => Token[] }
  | {
      readonly type: 'reference';
      /** Type-qualified references (`Patient/<id>`). */
      readonly values: (resource: FhirResource) => string[];
      /** The resource types a bare id may refer to (the first is assumed). */
      readonly targets: readonly string[];
    }
  | { readonly type: 'date'; readonly values: (resource: FhirResource) => TimeRange[] }
);

/** Parameters every search accepts that do not filter (FHIR's general and result parameters). */
export const CONTROL_PARAMS = ['_count', '_format', '_pretty', '_revinclude'] as const;
/** The node's own paging cursor (in the Bundle's links; opaque to clients). */
export const PAGE_PARAMS = ['_after', '_before'] as const;

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 200;

type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const DATE_PREFIXES = new Set<string>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

// FHIR's dateTime: year, month, day or time precision; time zone optional here (UTC assumed).
const DATE_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The implicit range of a FHIR date/dateTime value (e.g. `2026-12` is all of December). */
export function dateRange(value: string): TimeRange | undefined {
  const m = DATE_PATTERN.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  if (year === 0) return undefined;
  const month = mo === undefined ? undefined : Number(mo);
  const day = d === undefined ? undefined : Number(d);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)) {
    return undefined;
  }
  let offsetMs = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMs = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  const utc = (yy: number, mm: number, dd: number, hh = 0, mn = 0, ss = 0, ms = 0) => {
    // Not Date.UTC: it reads years 0..99 as 1900..1999.
    const at = new Date(0);
    at.setUTCFullYear(yy, mm - 1, dd);
    return at.setUTCHours(hh, mn, ss, ms) - offsetMs;
  };
  if (month === undefined) return { start: utc(year, 1, 1), end: utc(year + 1, 1, 1) - 1 };
  if (day === undefined) return { start: utc(year, month, 1), end: utc(year, month + 1, 1) - 1 };
  const start = utc(year, month, day);
  // 2026-02-31 and the like do not exist.
  if (new Date(start + offsetMs).getUTCDate() !== day) return undefined;
  if (h === undefined) return { start, end: utc(year, month, day + 1) - 1 };
  if (s === undefined) {
    const at = utc(year, month, day, Number(h), Number(mi));
    return { start: at, end: at + 59_999 };
  }
  const at = utc(year, month, day, Number(h), Number(mi), Number(s));
  if (frac === undefined) return { start: at, end: at + 999 };
  // Milliseconds are the ledger's precision; finer digits narrow nothing further.
  const ms = Number(frac.slice(0, 3).padEnd(3, '0'));
  return { start: at + ms, end: at + ms };
}

/** FHIR R4 date search semantics: the search value's range against the target's. */
function dateMatches(prefix: DatePrefix, search: TimeRange, target: TimeRange): boolean {
  const contains = search.start <= target.start && target.end <= search.end;
  switch (prefix) {
    case 'eq':
      return contains;
    case 'ne':
      return !contains;
    case 'gt':
      return target.end > search.end;
    case 'lt':
      return target.start < search.start;
    case 'ge':
      return target.end > search.end || contains;
    case 'le':
      return target.start < search.start || contains;
    case 'sa':
      return target.start > search.end;
    case 'eb':
      return target.end < search.start;
    case 'ap':
      return target.start <= search.end && search.start <= target.end;
  }
}

/** One parameter's condition: any of its comma-separated values matches. */
type Condition = (resource: FhirResource) => boolean;

function invalid(name: string, message: string): FhirError {
  return new FhirError(400, 'SEARCH_PARAM_INVALID', `${name}: ${message}`, 'invalid', [name]);
}

/** Splits on commas not escaped with a backslash, and unescapes `\,` `\|` `\$` `\\`. */
export function splitValues(raw: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length) {
      current += raw[++i];
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out;
}

function tokenCondition(param: SearchParam & { type: 'token' }, raw: string): Condition {
  const wanted = splitValues(raw).map((value): Token => {
    if (value === '') throw invalid(param.name, 'an empty value');
    const bar = value.indexOf('|');
    if (bar < 0) return { system: undefined, code: value };
    return { system: value.slice(0, bar), code: value.slice(bar + 1) };
  });
  return (resource) => {
    const held = param.values(resource);
    return wanted.some((w) =>
      held.some((h) => {
        // `system|` matches any code of the system, `|code` a code without a system.
        if (w.system === undefined) return h.code === w.code;
        if (w.code === '') return h.system === w.system;
        if (w.system === '') return h.system === undefined && h.code === w.code;
        return h.system === w.system && h.code === w.code;
      }),
    );
  };
}

/** `Type/id`, a bare id (of the parameter's first target type) or an absolute URL on this base. */
export function referenceValue(
  name: string,
  value: string,
  targets: readonly string[],
  base: string,
): string {
  let ref = value.startsWith(`${base}/`) ? value.slice(base.length + 1) : value;
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(ref)) ref = `${targets[0]}/${ref}`;
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  if (m === null || !targets.includes(m[1]!)) {
    throw invalid(name, `${JSON.stringify(value)} is not a reference to ${targets.join(' or ')}`);
  }
  return ref;
}

function referenceCondition(
  param: SearchParam & { type: 'reference' },
  raw: string,
  base: string,
): Condition {
  const wanted = splitValues(raw).map((v) => referenceValue(param.name, v, param.targets, base));
  return (resource) => {
    const held = param.values(resource);
    return wanted.some((w) => held.includes(w));
  };
}

function dateCondition(param: SearchParam & { type: 'date' }, raw: string): Condition {
  const wanted = splitValues(raw).map((value) => {
    const prefix = DATE_PREFIXES.has(value.slice(0, 2)) ? (value.slice(0, 2) as DatePrefix) : 'eq';
    const rest = DATE_PREFIXES.has(value.slice(0, 2)) ? value.slice(2) : value;
    const range = dateRange(rest);
    if (range === undefined) throw invalid(param.name, `${JSON.stringify(value)} is not a date`);
    return { prefix, range };
  });
  return (resource) => {
    const held = param.values(resource);
    return wanted.some((w) => held.some((h) => dateMatches(w.prefix, w.range, h)));
  };
}

/** The query as fastify parsed it: a repeated parameter is an array. */
export type Query = Readonly<Record<string, string | readonly string[] | undefined>>;

export function queryValues(query: Query, name: string): string[] {
  const value = query[name];
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

/** FHIR `Prefer: handling=strict|lenient` (lenient when absent). */
export function handlingOf(prefer: string | string[] | undefined): 'strict' | 'lenient' {
  const parts = [prefer ?? []]
    .flat()
    .flatMap((header) => header.split(/[,;]/))
    .map((part) => part.trim().toLowerCase().replace(/\s+/g, ''));
  return parts.includes('handling=strict') ? 'strict' : 'lenient';
}

export interface ParsedSearch {
  readonly conditions: readonly Condition[];
  /** The parameters used, as [name, value] pairs in query order (the self link's). */
  readonly used: ReadonlyArray<readonly [string, string]>;
  /** Unknown parameters ignored under lenient handling. */
  readonly ignored: readonly string[];
  readonly count: number;
  readonly after: number | undefined;
  readonly before: number | undefined;
  /** `_revinclude=Provenance:target`. */
  readonly revincludeProvenance: boolean;
}

/**
 * Parses a search query against the resource type's parameters. Unknown parameters are a 400
 * naming them under `handling=strict`, ignored (and reported) under lenient; unsupported
 * modifiers and bad values are a 400 either way (FHIR: a server SHALL reject a modifier it
 * does not support).
 */
export function parseSearch(
  query: Query,
  params: readonly SearchParam[],
  options: {
    readonly handling: 'strict' | 'lenient';
    readonly base: string;
    readonly revincludes: readonly string[];
  },
): ParsedSearch {
  const byName = new Map(params.map((p) => [p.name, p]));
  const conditions: Condition[] = [];
  const used: Array<[string, string]> = [];
  const ignored: string[] = [];
  let count = DEFAULT_COUNT;
  let after: number | undefined;
  let before: number | undefined;
  let revincludeProvenance = false;
  const cursor = (name: string, value: string) => {
    if (!/^\d{1,9}$/.test(value)) throw invalid(name, 'not a paging cursor');
    return Number(value);
  };
  for (const key of Object.keys(query)) {
    // `?=x` or a stray `&=`: no parameter at all (and FHIR has no empty string to name it by).
    if (key === '') continue;
    const [name, modifier] = key.split(':', 2) as [string, string | undefined];
    const values = queryValues(query, key);
    const known = byName.get(name);
    const control = (CONTROL_PARAMS as readonly string[]).includes(name);
    const paging = (PAGE_PARAMS as readonly string[]).includes(name);
    if (known === undefined && !control && !paging) {
      if (options.handling === 'strict') {
        throw new FhirError(
          400,
          'SEARCH_PARAM_UNKNOWN',
          `unknown search parameter ${JSON.stringify(key)} (Prefer: handling=strict)`,
          'not-supported',
          [key],
        );
      }
      ignored.push(key);
      continue;
    }
    if (modifier !== undefined) {
      throw new FhirError(
        400,
        'SEARCH_MODIFIER_UNSUPPORTED',
        `${name}: the modifier :${modifier} is not supported`,
        'not-supported',
        [key],
      );
    }
    if (paging || control) {
      if (values.length > 1) throw invalid(name, 'given more than once');
      const value = values[0]!;
      if (name === '_count') {
        if (!/^\d{1,6}$/.test(value)) throw invalid(name, 'not a non-negative integer');
        count = Math.min(MAX_COUNT, Number(value));
      } else if (name === '_after') after = cursor(name, value);
      else if (name === '_before') before = cursor(name, value);
      else if (name === '_revinclude') {
        if (!options.revincludes.includes(value)) {
          throw new FhirError(
            400,
            'SEARCH_PARAM_UNSUPPORTED',
            `_revinclude: only ${options.revincludes.join(', ') || 'nothing'} is supported here`,
            'not-supported',
            ['_revinclude'],
          );
        }
        revincludeProvenance = true;
      }
      // _format is content negotiation (routes.ts); _pretty changes nothing in meaning.
      if (name !== '_after' && name !== '_before') used.push([name, value]);
      continue;
    }
    for (const value of values) {
      if (known!.type === 'token') conditions.push(tokenCondition(known!, value));
      else if (known!.type === 'reference') {
        conditions.push(referenceCondition(known!, value, options.base));
      } else conditions.push(dateCondition(known!, value));
      used.push([name, value]);
    }
  }
  if (after !== undefined && before !== undefined) {
    throw invalid('_after', 'cannot page both after and before');
  }
  return { conditions, used, ignored, count, after, before, revincludeProvenance };
}

/** A candidate: its position in the ledger's list (the paging cursor), its resource and source. */
export interface Candidate<T = unknown> {
  readonly position: number;
  readonly resource: FhirResource;
  /** The ledger entry the resource was made from. */
  readonly source: T;
}

export interface SearchPage<T> {
  readonly matches: readonly Candidate<T>[];
  readonly total: number;
  /** The position the next page starts after, or undefined at the end. */
  readonly next: number | undefined;
  /** The position the previous page ends before, or undefined at the start. */
  readonly previous: number | undefined;
}

/**
 * One page of the matches, in ledger order. The cursor is a list position: entries are only
 * ever appended, so a page never skips or repeats an entry that matched when the first page
 * was read.
 */
export function pageOfMatches<T>(
  candidates: Iterable<Candidate<T>>,
  search: ParsedSearch,
): SearchPage<T> {
  const all: Candidate<T>[] = [];
  for (const candidate of candidates) {
    if (search.conditions.every((matches) => matches(candidate.resource))) all.push(candidate);
  }
  let from: number;
  if (search.after !== undefined) {
    const after = search.after;
    from = all.findIndex((c) => c.position > after);
    if (from < 0) from = all.length;
  } else if (search.before !== undefined) {
    const before = search.before;
    let end = all.findIndex((c) => c.position >= before);
    if (end < 0) end = all.length;
    from = Math.max(0, end - search.count);
  } else from = 0;
  const matches = all.slice(from, from + search.count);
  const last = from + matches.length;
  return {
    matches,
    total: all.length,
    next: last < all.length && matches.length > 0 ? matches.at(-1)!.position : undefined,
    previous: from > 0 ? (all[from]?.position ?? all.at(-1)!.position + 1) : undefined,
  };
}

/** The URL of a search with these parameters (used ones only, as FHIR asks of the self link). */
export function searchUrl(
  base: string,
  resourceType: string,
  used: ReadonlyArray<readonly [string, string]>,
  cursor?: readonly [string, number],
): string {
  const params = new URLSearchParams();
  for (const [name, value] of used) params.append(name, value);
  if (cursor !== undefined) params.append(cursor[0], String(cursor[1]));
  const query = params.toString();
  return `${base}/${resourceType}${query === '' ? '' : `?${query}`}`;
}
