import { bytesEqual, fromHex, toHex } from '@medchain/crypto';
import { requireSignerRole } from '../consent/roles.js';
import { checkGrantTerms } from '../consent/rules.js';
import { LedgerError } from '../errors.js';
import { readChainConfig } from '../executor.js';
import {
  CONSENT_ACTIONS,
  type ConsentAction,
  type ConsentEntry,
  type ConsentTerms,
  type Grantee,
  PURPOSES,
  type Purpose,
  RESOURCE_TYPE_PATTERN,
} from '../model.js';
import { type ReceiptCode, TxFailure } from '../receipt.js';
import type { KeyValueReader } from '../state/index.js';
import { FhirSystem, fhirInstant, PATIENT_CONSENT_CATEGORY } from './codes.js';

/** A FHIR resource as JSON. */
export type FhirResource = { readonly resourceType: string; readonly [element: string]: unknown };

const PRIMARY_RECIPIENT = 'PRCP';

export function granteeReference(grantee: Grantee): string {
  return `${grantee.type === 'provider' ? 'Practitioner' : 'Organization'}/${toHex(grantee.id)}`;
}

/** Who granted: the patient as `Patient/<key>`, a delegate as `RelatedPerson/<key>`. */
export function grantorReference(consent: ConsentEntry): string {
  const byPatient = bytesEqual(consent.grantedBy, consent.patient);
  return `${byPatient ? 'Patient' : 'RelatedPerson'}/${toHex(consent.grantedBy)}`;
}

export interface ConsentExportOptions {
  /** Block time: a consent past its end (or revoked) exports as inactive. */
  readonly time: number;
  /** Resource type of an anchored record, for data references (`Observation/<record id>`). */
  readonly resourceTypeOf: (recordId: Uint8Array) => string | undefined;
}

/** A consent is active at `time` until it is revoked or its window ends. */
export const isConsentActive = (consent: ConsentEntry, time: number): boolean =>
  consent.status === 'active' && time < consent.validUntil;

/** The consent's window as a FHIR Period; a window open from the epoch has no start. */
export function consentPeriod(consent: ConsentTerms): { start?: string; end: string } {
  const end = fhirInstant(consent.validUntil);
  return consent.validFrom === 0 ? { end } : { start: fhirInstant(consent.validFrom), end };
}

/** The grantee as a provision actor, role PRCP (primary information recipient). */
export function granteeActor(grantee: Grantee) {
  return {
    role: { coding: [{ system: FhirSystem.participationType, code: PRIMARY_RECIPIENT }] },
    reference: { reference: granteeReference(grantee) },
  };
}

/** Record ids as provision data (meaning `instance`, `<Type>/<record id>`). */
export function recordData(recordIds: readonly Uint8Array[], options: ConsentExportOptions) {
  return recordIds.map((id) => ({
    meaning: 'instance',
    reference: { reference: `${options.resourceTypeOf(id) ?? 'DocumentReference'}/${toHex(id)}` },
  }));
}

/**
 * A ledger consent as a FHIR R4 Consent: scope patient-privacy, category LOINC 59284-0,
 * policyRule OPTIN (nothing is shared unless permitted), and one root provision, the
 * exception to that rule that permits: the window as period, the grantee as PRCP actor,
 * actions as consentaction codes, purposes as v3-ActReason, resource types as class and
 * record ids as data (meaning instance). The root provision has no `type` (R4: "not permitted
 * in root rule"). A consent naming both resource types and records (either covers a record)
 * puts them in two nested permit provisions, since criteria of one provision all apply at once.
 * Identities are hex keys: `Patient/<key>`, `Practitioner/<key>`, `Organization/<org id>`; a
 * delegate who granted is `RelatedPerson/<key>`.
 */
export function consentToFhir(consent: ConsentEntry, options: ConsentExportOptions): FhirResource {
  const classes = consent.resourceTypes.map((code) => ({ system: FhirSystem.resourceTypes, code }));
  const data = recordData(consent.recordIds, options);
  const scope: Record<string, unknown> = {};
  if (classes.length > 0 && data.length > 0) {
    scope.provision = [
      { type: 'permit', class: classes },
      { type: 'permit', data },
    ];
  } else if (classes.length > 0) scope.class = classes;
  else scope.data = data;
  return {
    resourceType: 'Consent',
    id: toHex(consent.id),
    status: isConsentActive(consent, options.time) ? 'active' : 'inactive',
    scope: { coding: [{ system: FhirSystem.consentScope, code: 'patient-privacy' }] },
    category: [{ coding: [PATIENT_CONSENT_CATEGORY] }],
    patient: { reference: `Patient/${toHex(consent.patient)}` },
    dateTime: fhirInstant(consent.createdAt),
    performer: [{ reference: grantorReference(consent) }],
    policyRule: { coding: [{ system: FhirSystem.actCode, code: 'OPTIN' }] },
    provision: {
      period: consentPeriod(consent),
      actor: [granteeActor(consent.grantee)],
      action: consent.actions.map((code) => ({
        coding: [{ system: FhirSystem.consentAction, code }],
      })),
      purpose: consent.purposes.map((code) => ({ system: FhirSystem.actReason, code })),
      ...scope,
    },
  };
}

// ---- import ----

/** The OperationOutcome IssueType of an import problem. */
export type FhirIssueType = 'structure' | 'required' | 'value' | 'not-supported';

/** One reason a resource cannot become a grant; `expression` is the FHIRPath of the element. */
export interface FhirIssue {
  readonly code: FhirIssueType;
  readonly expression: string;
  readonly diagnostics: string;
}

export interface ConsentImportOptions {
  /** Resolves the patient reference; default: `Patient/<64 hex>` as the patient key. */
  readonly resolvePatient?: (reference: string) => Uint8Array | undefined;
  /** Resolves the grantor reference; default: `Patient/<hex key>` or `RelatedPerson/<hex key>`. */
  readonly resolveGrantor?: (reference: string) => Uint8Array | undefined;
  /** Resolves an actor reference; default: `Practitioner/<hex key>` or `Organization/<hex id>`. */
  readonly resolveActor?: (reference: string) => Grantee | undefined;
  /** Resolves a data reference to a record id; default: `<Type>/<64 hex>`. */
  readonly resolveRecord?: (reference: string) => Uint8Array | undefined;
}

/** What a Consent maps to: the grant's terms and who the resource says grants them. */
export type ConsentReading =
  | {
      readonly ok: true;
      readonly terms: ConsentTerms;
      /** The grantor the resource names (performer / grantor): the key that must sign. */
      readonly grantor: Uint8Array | undefined;
    }
  | {
      readonly ok: false;
      readonly issues: readonly FhirIssue[];
      /** The patient, when the reference resolved: whom the refusal is about. */
      readonly patient?: Uint8Array;
    };

export type Json = { readonly [key: string]: unknown };

export const isJson = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Collects every problem of one resource, so one answer names them all. */
export class IssueList {
  readonly issues: FhirIssue[] = [];

  add(code: FhirIssueType, expression: string, diagnostics: string): undefined {
    this.issues.push({ code, expression, diagnostics });
    return undefined;
  }

  unsupported(expression: string, why: string): undefined {
    return this.add('not-supported', expression, why);
  }

  /** Checks a JSON object's keys: known ones pass, refused ones and strangers are issues. */
  elements(
    value: Json,
    path: string,
    known: ReadonlySet<string>,
    refused: Readonly<Record<string, string>>,
  ): void {
    for (const key of Object.keys(value)) {
      // A primitive's id/extensions (`_dateTime`) go with the element itself.
      const element = key.startsWith('_') ? key.slice(1) : key;
      const why = refused[element];
      if (why !== undefined) this.unsupported(`${path}.${element}`, why);
      else if (!known.has(element)) {
        this.add('structure', `${path}.${key}`, `not an element of ${path.split('.')[0]}`);
      }
    }
  }
}

export function list(value: unknown, path: string, issues: IssueList): Json[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isJson)) {
    issues.add('structure', path, 'expected a list of objects');
    return [];
  }
  return value;
}

function codings(value: unknown, path: string, issues: IssueList): Json[] {
  if (value === undefined) return [];
  if (!isJson(value)) {
    issues.add('structure', path, 'expected a CodeableConcept');
    return [];
  }
  return list(value.coding, `${path}.coding`, issues);
}

function hasCode(
  concept: unknown,
  path: string,
  system: string,
  code: string,
  issues: IssueList,
): boolean {
  return codings(concept, path, issues).some((c) => c.system === system && c.code === code);
}

const HEX_REFERENCE = /^([A-Za-z]+)\/([0-9a-f]{64})$/;

function hexReference(reference: string, types: readonly string[]): Uint8Array | undefined {
  const match = HEX_REFERENCE.exec(reference);
  return match !== null && (types.length === 0 || types.includes(match[1]!))
    ? fromHex(match[2]!)
    : undefined;
}

export function referenceOf(value: unknown, path: string, issues: IssueList): string | undefined {
  if (!isJson(value) || typeof value.reference !== 'string') {
    return issues.add('structure', path, 'expected a Reference with a reference string');
  }
  return value.reference;
}

export const defaultResolvers = {
  patient: (ref: string) => hexReference(ref, ['Patient']),
  grantor: (ref: string) => hexReference(ref, ['Patient', 'RelatedPerson']),
  actor: (ref: string): Grantee | undefined => {
    const provider = hexReference(ref, ['Practitioner']);
    if (provider !== undefined) return { type: 'provider', id: provider };
    const org = hexReference(ref, ['Organization']);
    return org === undefined ? undefined : { type: 'organization', id: org };
  },
  record: (ref: string) => hexReference(ref, []),
};

const FHIR_DATE_TIME =
  /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * FHIR date/dateTime to ms. A date without a time starts at 00:00 UTC; as a period end it
 * covers the whole day (FHIR periods include their end), so the end is the next midnight.
 */
function toMs(value: unknown, path: string, isEnd: boolean, issues: IssueList): number | undefined {
  if (typeof value !== 'string' || !FHIR_DATE_TIME.test(value)) {
    return issues.add('value', path, 'expected a FHIR dateTime');
  }
  const padded = value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value;
  const ms = Date.parse(padded.length === 10 ? `${padded}T00:00:00Z` : padded);
  if (Number.isNaN(ms)) return issues.add('value', path, 'not a valid date');
  if (!isEnd || value.length > 10) return ms;
  const next = new Date(ms);
  if (value.length === 4) next.setUTCFullYear(next.getUTCFullYear() + 1);
  else if (value.length === 7) next.setUTCMonth(next.getUTCMonth() + 1);
  else next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime();
}

/**
 * What one provision (or the resource's own period) says. Undefined means "not constrained
 * here", which FHIR reads as "any": any action, any purpose, any time, any actor, any data.
 */
export interface Criteria {
  readonly from?: number;
  readonly until?: number;
  readonly grantee?: Grantee;
  readonly actions?: readonly ConsentAction[];
  readonly purposes?: readonly Purpose[];
  readonly resourceTypes?: readonly string[];
  readonly recordIds?: readonly Uint8Array[];
}

export function readPeriod(value: unknown, path: string, issues: IssueList): Criteria {
  if (value === undefined) return {};
  if (!isJson(value)) return issues.add('structure', path, 'expected a Period') ?? {};
  const from =
    value.start === undefined ? undefined : toMs(value.start, `${path}.start`, false, issues);
  const until = value.end === undefined ? undefined : toMs(value.end, `${path}.end`, true, issues);
  return { ...(from === undefined ? {} : { from }), ...(until === undefined ? {} : { until }) };
}

/** Repeats are a set: the first occurrence's order, no duplicates (a body refuses more than 5 actions). */
const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

const uniqueIds = (ids: readonly Uint8Array[]): Uint8Array[] => {
  const seen = new Set<string>();
  return ids.filter((id) => {
    const hex = toHex(id);
    if (seen.has(hex)) return false;
    seen.add(hex);
    return true;
  });
};

/** Provision elements medchain maps, per FHIR version (R4 `class`, R5 `resourceType`). */
export interface ProvisionShape {
  readonly known: ReadonlySet<string>;
  readonly refused: Readonly<Record<string, string>>;
  /** The element naming resource types. */
  readonly typesElement: 'class' | 'resourceType';
}

/** Reads one provision's criteria (not its nested provisions). */
export function readCriteria(
  provision: Json,
  path: string,
  shape: ProvisionShape,
  options: ConsentImportOptions,
  issues: IssueList,
): Criteria {
  issues.elements(provision, path, shape.known, shape.refused);
  const criteria: {
    -readonly [K in keyof Criteria]: Criteria[K];
  } = readPeriod(provision.period, `${path}.period`, issues);
  const actors = list(provision.actor, `${path}.actor`, issues);
  if (actors.length > 1) {
    issues.unsupported(`${path}.actor[1]`, 'a grant names exactly one grantee');
  }
  const actor = actors[0];
  if (actor !== undefined) {
    const rolePath = `${path}.actor[0].role`;
    if (!hasCode(actor.role, rolePath, FhirSystem.participationType, PRIMARY_RECIPIENT, issues)) {
      issues.unsupported(
        rolePath,
        'only the PRCP (primary information recipient) role names a grantee',
      );
    }
    const refPath = `${path}.actor[0].reference`;
    const reference = referenceOf(actor.reference, refPath, issues);
    if (reference !== undefined) {
      const grantee = (options.resolveActor ?? defaultResolvers.actor)(reference);
      if (grantee === undefined) {
        issues.unsupported(refPath, `"${reference}" is not a provider key or organization id`);
      } else criteria.grantee = grantee;
    }
  }
  const actions = list(provision.action, `${path}.action`, issues);
  if (actions.length > 0) {
    const codes = actions.map((action, i) => {
      const coding = codings(action, `${path}.action[${i}]`, issues).find(
        (c) =>
          c.system === FhirSystem.consentAction &&
          CONSENT_ACTIONS.includes(c.code as ConsentAction),
      );
      if (coding === undefined) {
        return issues.unsupported(`${path}.action[${i}]`, 'expected a consentaction code');
      }
      return coding.code as ConsentAction;
    });
    criteria.actions = unique(codes.filter((code) => code !== undefined));
  }
  const purposes = list(provision.purpose, `${path}.purpose`, issues);
  if (purposes.length > 0) {
    const codes = purposes.map((coding, i) => {
      if (coding.system !== FhirSystem.actReason || !PURPOSES.includes(coding.code as Purpose)) {
        return issues.unsupported(
          `${path}.purpose[${i}]`,
          `expected a v3-ActReason code among ${PURPOSES.join(', ')}`,
        );
      }
      return coding.code as Purpose;
    });
    criteria.purposes = unique(codes.filter((code) => code !== undefined));
  }
  const typesPath = `${path}.${shape.typesElement}`;
  const classes = list(provision[shape.typesElement], typesPath, issues);
  if (classes.length > 0) {
    const types = classes.map((coding, i) => {
      if (
        coding.system !== FhirSystem.resourceTypes ||
        typeof coding.code !== 'string' ||
        !RESOURCE_TYPE_PATTERN.test(coding.code)
      ) {
        return issues.unsupported(
          `${typesPath}[${i}]`,
          'only FHIR resource types (http://hl7.org/fhir/resource-types) are supported',
        );
      }
      return coding.code;
    });
    criteria.resourceTypes = unique(types.filter((type) => type !== undefined));
  }
  const data = list(provision.data, `${path}.data`, issues);
  if (data.length > 0) {
    const ids = data.map((entry, i) => {
      if (entry.meaning !== 'instance') {
        return issues.unsupported(
          `${path}.data[${i}].meaning`,
          `"${String(entry.meaning)}" is not supported, only "instance"`,
        );
      }
      const refPath = `${path}.data[${i}].reference`;
      const reference = referenceOf(entry.reference, refPath, issues);
      if (reference === undefined) return undefined;
      const id = (options.resolveRecord ?? defaultResolvers.record)(reference);
      if (id === undefined) {
        return issues.unsupported(refPath, `"${reference}" is not <Type>/<record id in hex>`);
      }
      return id;
    });
    criteria.recordIds = uniqueIds(ids.filter((id) => id !== undefined));
  }
  if (criteria.resourceTypes !== undefined && criteria.recordIds !== undefined) {
    issues.unsupported(
      `${path}.data`,
      `${shape.typesElement} and data in one provision both apply (records of those types); a grant covers either: put them in separate provisions`,
    );
  }
  return criteria;
}

/** Both constraints at once (a nested provision within its parent, a provision within the resource's period). */
export function intersect(
  outer: Criteria,
  inner: Criteria,
  path: string,
  issues: IssueList,
  typesElement: ProvisionShape['typesElement'] = 'class',
): Criteria {
  const both = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined, element: string) => {
    if (a === undefined || b === undefined) return a ?? b;
    const common = a.filter((value) => b.includes(value));
    if (common.length === 0) {
      issues.unsupported(`${path}.${element}`, 'shares none with its parent: it permits nothing');
    }
    return common;
  };
  if (
    outer.grantee !== undefined &&
    inner.grantee !== undefined &&
    (outer.grantee.type !== inner.grantee.type || !bytesEqual(outer.grantee.id, inner.grantee.id))
  ) {
    issues.unsupported(`${path}.actor`, 'names another grantee than its parent: it permits no one');
  }
  const outerIds = outer.recordIds?.map(toHex);
  const innerIds = inner.recordIds?.map(toHex);
  const scoped = (outer.resourceTypes ?? outer.recordIds) !== undefined;
  if (scoped && (inner.resourceTypes ?? inner.recordIds) !== undefined) {
    if ((outer.resourceTypes === undefined) !== (inner.resourceTypes === undefined)) {
      issues.unsupported(
        `${path}.data`,
        'narrows resource types to records (or records to types): a grant covers either',
      );
    }
  }
  const from = Math.max(outer.from ?? -Infinity, inner.from ?? -Infinity);
  const until = Math.min(outer.until ?? Infinity, inner.until ?? Infinity);
  const grantee = outer.grantee ?? inner.grantee;
  const actions = both(outer.actions, inner.actions, 'action');
  const purposes = both(outer.purposes, inner.purposes, 'purpose');
  const resourceTypes = both(outer.resourceTypes, inner.resourceTypes, typesElement);
  const ids = both(outerIds, innerIds, 'data');
  return {
    ...(Number.isFinite(from) ? { from } : {}),
    ...(Number.isFinite(until) ? { until } : {}),
    ...(grantee === undefined ? {} : { grantee }),
    ...(actions === undefined ? {} : { actions }),
    ...(purposes === undefined ? {} : { purposes }),
    ...(resourceTypes === undefined ? {} : { resourceTypes }),
    ...(ids === undefined ? {} : { recordIds: ids.map((hex) => fromHex(hex)) }),
  };
}

const sameList = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined) =>
  JSON.stringify(a === undefined ? a : [...a].sort()) ===
  JSON.stringify(b === undefined ? b : [...b].sort());

/**
 * Sibling permits (each already within its parent) become one grant when they differ only in
 * the data they cover: the grant's scope is their union. Differing in anything else would
 * take more than one grant.
 */
export function unionOfPermits(
  permits: ReadonlyArray<{ readonly criteria: Criteria; readonly path: string }>,
  issues: IssueList,
): Criteria {
  const [first, ...rest] = permits;
  if (first === undefined) return {};
  let resourceTypes = first.criteria.resourceTypes;
  let recordIds = first.criteria.recordIds;
  for (const { criteria, path } of rest) {
    const a = first.criteria;
    const sameGrantee =
      (a.grantee === undefined && criteria.grantee === undefined) ||
      (a.grantee !== undefined &&
        criteria.grantee !== undefined &&
        a.grantee.type === criteria.grantee.type &&
        bytesEqual(a.grantee.id, criteria.grantee.id));
    if (
      a.from !== criteria.from ||
      a.until !== criteria.until ||
      !sameGrantee ||
      !sameList(a.actions, criteria.actions) ||
      !sameList(a.purposes, criteria.purposes)
    ) {
      issues.unsupported(
        path,
        'differs from the first permit in more than the data it covers: that takes a second grant',
      );
    }
    if (criteria.resourceTypes !== undefined) {
      resourceTypes = unique([...(resourceTypes ?? []), ...criteria.resourceTypes]);
    }
    if (criteria.recordIds !== undefined) {
      recordIds = uniqueIds([...(recordIds ?? []), ...criteria.recordIds]);
    }
  }
  return {
    ...first.criteria,
    ...(resourceTypes === undefined ? {} : { resourceTypes }),
    ...(recordIds === undefined ? {} : { recordIds }),
  };
}

/**
 * The grant's terms from the permit's criteria. FHIR's "any" maps where the ledger can hold
 * it: any action is all five consentaction codes, any purpose every purpose medchain knows,
 * no start the epoch. It cannot hold "anyone", "forever" or "all data": those are issues.
 */
function termsOf(
  patient: Uint8Array | undefined,
  criteria: Criteria,
  paths: { readonly actor: string; readonly end: string; readonly types: string },
  issues: IssueList,
): ConsentTerms | undefined {
  if (criteria.grantee === undefined) {
    issues.add(
      'required',
      paths.actor,
      'a grant names one grantee (a PRCP actor): a rule for every actor cannot be granted',
    );
  }
  if (criteria.until === undefined) {
    issues.add('required', paths.end, 'there is no consent without an end date');
  }
  const resourceTypes = criteria.resourceTypes ?? [];
  const recordIds = criteria.recordIds ?? [];
  if (resourceTypes.length === 0 && recordIds.length === 0) {
    issues.add(
      'required',
      paths.types,
      'name resource types or records (data): a rule over all data cannot be granted',
    );
  }
  if (issues.issues.length > 0 || patient === undefined) return undefined;
  return {
    patient,
    grantee: criteria.grantee!,
    recordIds,
    resourceTypes,
    actions: criteria.actions ?? [...CONSENT_ACTIONS],
    purposes: criteria.purposes ?? [...PURPOSES],
    validFrom: criteria.from ?? 0,
    validUntil: criteria.until!,
  };
}

/** Resolves a grantor reference list: at most one, the patient or a delegate. */
export function readGrantor(
  value: unknown,
  path: string,
  options: ConsentImportOptions,
  issues: IssueList,
): Uint8Array | undefined {
  const grantors = list(value, path, issues);
  if (grantors.length > 1) {
    return issues.unsupported(`${path}[1]`, 'a grant is signed by one key: name one grantor');
  }
  if (grantors[0] === undefined) return undefined;
  const reference = referenceOf(grantors[0], `${path}[0]`, issues);
  if (reference === undefined) return undefined;
  const grantor = (options.resolveGrantor ?? defaultResolvers.grantor)(reference);
  if (grantor === undefined) {
    issues.unsupported(
      `${path}[0]`,
      `"${reference}" is not the patient or a delegate (Patient/ or RelatedPerson/<hex key>)`,
    );
  }
  return grantor;
}

export function readPatient(
  value: unknown,
  path: string,
  options: ConsentImportOptions,
  issues: IssueList,
): Uint8Array | undefined {
  if (value === undefined) return issues.add('required', path, 'a grant is for one patient');
  const reference = referenceOf(value, path, issues);
  if (reference === undefined) return undefined;
  const patient = (options.resolvePatient ?? defaultResolvers.patient)(reference);
  if (patient === undefined) issues.unsupported(path, `"${reference}" is not Patient/<hex key>`);
  return patient;
}

/** Elements of a Consent that do not decide who may do what: accepted, not kept. */
const R4_BOOKKEEPING = [
  'resourceType',
  'id',
  'meta',
  'language',
  'text',
  'extension',
  'identifier',
  'dateTime',
  'organization',
  'category',
];

const R4_CONSENT_ELEMENTS = new Set([
  ...R4_BOOKKEEPING,
  'status',
  'scope',
  'patient',
  'performer',
  'policyRule',
  'provision',
]);

/** Why medchain refuses these elements wherever they appear. */
export const REFUSED_ELEMENTS = {
  modifierExtension: 'a modifier extension changes the meaning in a way medchain cannot know',
  implicitRules: 'rules medchain cannot know apply to the content',
  contained: 'the ledger keeps no resources of parties',
  sourceAttachment: 'the ledger keeps no documents (no personal data on the chain)',
  sourceReference: 'the ledger keeps no documents (no personal data on the chain)',
  policy: 'an external policy the ledger cannot enforce',
  verification: 'the grant is verified by its signature; other verification is not recorded',
} as const;

const R4_PROVISION: ProvisionShape = {
  known: new Set([
    'id',
    'extension',
    'type',
    'period',
    'actor',
    'action',
    'purpose',
    'class',
    'data',
    'provision',
  ]),
  refused: {
    modifierExtension: REFUSED_ELEMENTS.modifierExtension,
    securityLabel: 'security labels are not part of a grant: it covers resource types or records',
    code: 'codes within the data are not part of a grant: it covers resource types or records',
    dataPeriod: 'the period of the data is not part of a grant, only the period of the grant',
  },
  typesElement: 'class',
};

/**
 * Reads a FHIR R4 Consent into the terms of a consent.grant, which the patient (or a delegate)
 * signs. The meaning is FHIR's: policyRule OPTIN shares nothing, the root provision is the
 * exception that permits (it has no type, or `permit`); nested `permit` provisions narrow it,
 * and siblings that differ only in the data they cover unite. An element left out means "any":
 * any action and purpose map to all of medchain's codes, no start to the epoch; "anyone",
 * "forever" and "all data" cannot be granted. Elements that do not decide access (id, text,
 * identifier, category, dateTime, organization, extensions) are accepted and not kept; every
 * other element medchain cannot map is an issue naming it (all of them, not just the first).
 * The ledger still applies its own rules (grantee exists, window, records of the patient).
 */
export function readFhirConsent(
  input: unknown,
  options: ConsentImportOptions = {},
): ConsentReading {
  const { issues, consent: resource } = startReading(
    input,
    'R4',
    R4_CONSENT_ELEMENTS,
    REFUSED_ELEMENTS,
  );
  if (resource === undefined) return refused(issues, undefined);
  if (resource.scope === undefined) {
    issues.add('required', 'Consent.scope', 'patient-privacy: the consent is about sharing data');
  } else if (
    !hasCode(resource.scope, 'Consent.scope', FhirSystem.consentScope, 'patient-privacy', issues)
  ) {
    issues.unsupported('Consent.scope', 'only patient-privacy consents map to grants');
  }
  if (resource.policyRule === undefined) {
    issues.add('required', 'Consent.policyRule', 'OPTIN: nothing is shared unless permitted');
  } else if (
    !hasCode(resource.policyRule, 'Consent.policyRule', FhirSystem.actCode, 'OPTIN', issues)
  ) {
    issues.unsupported(
      'Consent.policyRule',
      'only OPTIN: the ledger shares nothing by default and records what is permitted',
    );
  }
  const patient = readPatient(resource.patient, 'Consent.patient', options, issues);
  const grantor = readGrantor(resource.performer, 'Consent.performer', options, issues);
  let criteria: Criteria = {};
  const provision = resource.provision;
  if (provision === undefined) {
    issues.add('required', 'Consent.provision', 'a grant is a provision that permits');
  } else if (!isJson(provision)) {
    issues.add('structure', 'Consent.provision', 'expected a provision object');
  } else {
    if (provision.type !== undefined && provision.type !== 'permit') {
      issues.unsupported(
        'Consent.provision.type',
        `"${String(provision.type)}": a grant can only permit`,
      );
    }
    const root = readCriteria(provision, 'Consent.provision', R4_PROVISION, options, issues);
    const nested = list(provision.provision, 'Consent.provision.provision', issues);
    const permits = nested.map((child, i) => {
      const path = `Consent.provision.provision[${i}]`;
      if (child.type !== 'permit') {
        issues.unsupported(
          `${path}.type`,
          `"${String(child.type)}": a grant can only permit (a nested provision needs a type)`,
        );
      }
      if (child.provision !== undefined) {
        issues.unsupported(`${path}.provision`, 'provisions nest one level at most');
      }
      return {
        criteria: intersect(
          root,
          readCriteria(child, path, R4_PROVISION, options, issues),
          path,
          issues,
        ),
        path,
      };
    });
    criteria = permits.length === 0 ? root : unionOfPermits(permits, issues);
  }
  return finishReading(
    patient,
    grantor,
    criteria,
    {
      actor: 'Consent.provision.actor',
      end: 'Consent.provision.period.end',
      types: 'Consent.provision.class',
    },
    issues,
  );
}

/**
 * What both FHIR versions' readings start with: a Consent resource (else `consent` is
 * undefined), every element known or refused by name, and status active.
 */
export function startReading(
  resource: unknown,
  version: 'R4' | 'R5',
  known: ReadonlySet<string>,
  refusedElements: Readonly<Record<string, string>>,
): { issues: IssueList; consent: Json | undefined } {
  const issues = new IssueList();
  if (!isJson(resource) || resource.resourceType !== 'Consent') {
    issues.add('structure', 'Consent', `expected a FHIR ${version} Consent resource`);
    return { issues, consent: undefined };
  }
  issues.elements(resource, 'Consent', known, refusedElements);
  if (resource.status !== 'active') {
    issues.unsupported(
      'Consent.status',
      `"${String(resource.status)}": only an active consent becomes a grant`,
    );
  }
  return { issues, consent: resource };
}

/** What both readings end with: the grant's terms and its grantor, or every issue found. */
export function finishReading(
  patient: Uint8Array | undefined,
  grantor: Uint8Array | undefined,
  criteria: Criteria,
  paths: Parameters<typeof termsOf>[2],
  issues: IssueList,
): ConsentReading {
  const terms = termsOf(patient, criteria, paths, issues);
  if (terms === undefined) return refused(issues, patient);
  return { ok: true, terms, grantor };
}

export const refused = (issues: IssueList, patient: Uint8Array | undefined): ConsentReading =>
  patient === undefined
    ? { ok: false, issues: issues.issues }
    : { ok: false, issues: issues.issues, patient };

/** The reading's terms, or a LedgerError naming every issue (LEDGER_FHIR_INVALID for malformed JSON). */
export function termsOrThrow(reading: ConsentReading): ConsentTerms {
  if (reading.ok) return reading.terms;
  const structural = reading.issues.some((i) => i.code === 'structure' || i.code === 'value');
  throw new LedgerError(
    structural ? 'LEDGER_FHIR_INVALID' : 'LEDGER_FHIR_UNSUPPORTED',
    reading.issues.map((i) => `${i.expression}: ${i.diagnostics}`).join('; '),
  );
}

/** `readFhirConsent`'s terms, or a LedgerError whose message names every issue. */
export function consentFromFhir(
  resource: unknown,
  options: ConsentImportOptions = {},
): ConsentTerms {
  return termsOrThrow(readFhirConsent(resource, options));
}

// ---- the transaction a Consent travels with ----

/**
 * The extension carrying the consent.grant transaction's signer, nonce and signature on a
 * Consent posted to a node: the node maps the Consent to the same body, so with the chain id
 * these rebuild the signed transaction. Sub-extensions `signer` (valueString, 64 hex), `nonce`
 * (valuePositiveInt) and `signature` (valueString, 128 hex).
 */
export const TRANSACTION_EXTENSION = 'urn:medchain:fhir:consent-transaction';

export interface ConsentTransaction {
  readonly signer: Uint8Array;
  readonly nonce: number;
  readonly signature: Uint8Array;
}

/** The Consent with its transaction extension (any previous one replaced). */
export function withConsentTransaction(
  resource: FhirResource,
  transaction: ConsentTransaction,
): FhirResource {
  const others = Array.isArray(resource.extension)
    ? (resource.extension as Json[]).filter((e) => e.url !== TRANSACTION_EXTENSION)
    : [];
  return {
    ...resource,
    extension: [
      ...others,
      {
        url: TRANSACTION_EXTENSION,
        extension: [
          { url: 'signer', valueString: toHex(transaction.signer) },
          { url: 'nonce', valuePositiveInt: transaction.nonce },
          { url: 'signature', valueString: toHex(transaction.signature) },
        ],
      },
    ],
  };
}

/** Reads the transaction extension; issues name what is missing or malformed. */
export function readConsentTransaction(
  resource: unknown,
):
  | { readonly ok: true; readonly transaction: ConsentTransaction }
  | { readonly ok: false; readonly issues: readonly FhirIssue[] } {
  const issues = new IssueList();
  const path = `Consent.extension('${TRANSACTION_EXTENSION}')`;
  const found = isJson(resource)
    ? list(resource.extension, 'Consent.extension', issues).filter(
        (e) => e.url === TRANSACTION_EXTENSION,
      )
    : [];
  if (found.length !== 1) {
    issues.add(
      'required',
      path,
      "one extension with the consent.grant transaction's signer, nonce and signature",
    );
    return { ok: false, issues: issues.issues };
  }
  const parts = list(found[0]!.extension, `${path}.extension`, issues);
  const part = (url: string) => {
    const matches = parts.filter((e) => e.url === url);
    return matches.length === 1 ? matches[0] : undefined;
  };
  const hex = (url: string, length: number): Uint8Array | undefined => {
    const value = part(url)?.valueString;
    if (typeof value !== 'string' || !new RegExp(`^[0-9a-f]{${2 * length}}$`).test(value)) {
      return issues.add(
        'value',
        `${path}.extension('${url}')`,
        `expected valueString: ${2 * length} lowercase hex digits`,
      );
    }
    return fromHex(value);
  };
  const signer = hex('signer', 32);
  const signature = hex('signature', 64);
  const nonce = part('nonce')?.valuePositiveInt;
  if (typeof nonce !== 'number' || !Number.isSafeInteger(nonce) || nonce < 1) {
    issues.add(
      'value',
      `${path}.extension('nonce')`,
      "expected valuePositiveInt: the signer's nonce",
    );
  }
  if (signer === undefined || signature === undefined || issues.issues.length > 0) {
    return { ok: false, issues: issues.issues };
  }
  return { ok: true, transaction: { signer, nonce: nonce as number, signature } };
}

// ---- before submitting ----

/**
 * Why a consent.grant by `signer` with these terms would fail if it executed on `reader` at
 * `time`: the executor's role check, then the grant rule's own checks (`checkGrantTerms`:
 * patient, grantee, window, scope), with their receipt codes. A gateway asks this
 * before submitting, because a failing grant is still committed with its failed receipt; the
 * ledger stays the judge when the transaction executes.
 */
export function grantRefusal(
  reader: KeyValueReader,
  signer: Uint8Array,
  terms: ConsentTerms,
  time: number,
): { readonly code: Exclude<ReceiptCode, 'OK'>; readonly message: string } | undefined {
  try {
    requireSignerRole(reader, 'consent.grant', terms, signer, time);
    checkGrantTerms(reader, terms, time, readChainConfig(reader).params);
  } catch (error) {
    if (error instanceof TxFailure) return { code: error.code, message: error.message };
    throw error;
  }
  return undefined;
}
