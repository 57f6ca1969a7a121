import { fromHex, toHex } from '@medchain/crypto';
import { LedgerError } from '../errors.js';
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
import { FhirSystem, fhirInstant, PATIENT_CONSENT_CATEGORY } from './codes.js';

/** A FHIR resource as JSON. */
export type FhirResource = { readonly resourceType: string; readonly [element: string]: unknown };

const PRIMARY_RECIPIENT = 'PRCP';

export function granteeReference(grantee: Grantee): string {
  return `${grantee.type === 'provider' ? 'Practitioner' : 'Organization'}/${toHex(grantee.id)}`;
}

export interface ConsentExportOptions {
  /** Block time: a consent past its end (or revoked) exports as inactive. */
  readonly time: number;
  /** Resource type of an anchored record, for data references (`Observation/<record id>`). */
  readonly resourceTypeOf: (recordId: Uint8Array) => string | undefined;
}

/**
 * A ledger consent as a FHIR R4 Consent: scope patient-privacy, category LOINC 59284-0,
 * policy OPTIN, one permit provision with the window as period, the grantee as PRCP actor,
 * actions as consentaction codes, purposes as v3-ActReason, resource types as class and
 * record ids as data (meaning instance). Identities appear as hex keys: `Patient/<key>`,
 * `Practitioner/<key>`, `Organization/<org id>`; a delegate who granted is `RelatedPerson/<key>`.
 */
export function consentToFhir(consent: ConsentEntry, options: ConsentExportOptions): FhirResource {
  const active = consent.status === 'active' && options.time < consent.validUntil;
  const byPatient = toHex(consent.grantedBy) === toHex(consent.patient);
  const provision: Record<string, unknown> = {
    type: 'permit',
    period: { start: fhirInstant(consent.validFrom), end: fhirInstant(consent.validUntil) },
    actor: [
      {
        role: { coding: [{ system: FhirSystem.participationType, code: PRIMARY_RECIPIENT }] },
        reference: { reference: granteeReference(consent.grantee) },
      },
    ],
    action: consent.actions.map((code) => ({
      coding: [{ system: FhirSystem.consentAction, code }],
    })),
    purpose: consent.purposes.map((code) => ({ system: FhirSystem.actReason, code })),
  };
  if (consent.resourceTypes.length > 0) {
    provision.class = consent.resourceTypes.map((code) => ({
      system: FhirSystem.resourceTypes,
      code,
    }));
  }
  if (consent.recordIds.length > 0) {
    provision.data = consent.recordIds.map((id) => ({
      meaning: 'instance',
      reference: { reference: `${options.resourceTypeOf(id) ?? 'DocumentReference'}/${toHex(id)}` },
    }));
  }
  return {
    resourceType: 'Consent',
    id: toHex(consent.id),
    status: active ? 'active' : 'inactive',
    scope: { coding: [{ system: FhirSystem.consentScope, code: 'patient-privacy' }] },
    category: [{ coding: [PATIENT_CONSENT_CATEGORY] }],
    patient: { reference: `Patient/${toHex(consent.patient)}` },
    dateTime: fhirInstant(consent.createdAt),
    performer: [
      { reference: `${byPatient ? 'Patient' : 'RelatedPerson'}/${toHex(consent.grantedBy)}` },
    ],
    policyRule: { coding: [{ system: FhirSystem.actCode, code: 'OPTIN' }] },
    provision,
  };
}

// ---- import ----

export interface ConsentImportOptions {
  /** Resolves `patient.reference`; default: `Patient/<64 hex>` as the patient key. */
  readonly resolvePatient?: (reference: string) => Uint8Array | undefined;
  /** Resolves an actor reference; default: `Practitioner/<hex key>` or `Organization/<hex id>`. */
  readonly resolveActor?: (reference: string) => Grantee | undefined;
  /** Resolves a data reference to a record id; default: `<Type>/<64 hex>`. */
  readonly resolveRecord?: (reference: string) => Uint8Array | undefined;
  /** Values for what the resource leaves out (the app asks the patient for them). */
  readonly defaults?: {
    readonly grantee?: Grantee;
    readonly actions?: readonly ConsentAction[];
    readonly purposes?: readonly Purpose[];
    readonly validFrom?: number;
    readonly validUntil?: number;
  };
}

function unsupported(element: string, why: string): LedgerError {
  return new LedgerError('LEDGER_FHIR_UNSUPPORTED', `Consent.${element}: ${why}`);
}

function invalidFhir(element: string, why: string): LedgerError {
  return new LedgerError('LEDGER_FHIR_INVALID', `Consent.${element}: ${why}`);
}

type Json = { readonly [key: string]: unknown };

const isJson = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function list(value: unknown, element: string): Json[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isJson)) throw invalidFhir(element, 'expected a list');
  return value;
}

function codings(value: unknown, element: string): Json[] {
  if (value === undefined) return [];
  if (!isJson(value)) throw invalidFhir(element, 'expected a CodeableConcept');
  return list(value.coding, `${element}.coding`);
}

function hasCode(concept: unknown, element: string, system: string, code: string): boolean {
  return codings(concept, element).some((c) => c.system === system && c.code === code);
}

function defaultKey(reference: string, type: string): Uint8Array | undefined {
  const match = /^([A-Za-z]+)\/([0-9a-f]{64})$/.exec(reference);
  return match !== null && (type === '*' || match[1] === type) ? fromHex(match[2]!) : undefined;
}

function referenceOf(value: unknown, element: string): string {
  if (!isJson(value) || typeof value.reference !== 'string') {
    throw invalidFhir(element, 'expected a Reference with a reference string');
  }
  return value.reference;
}

const FHIR_DATE_TIME =
  /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * FHIR date/dateTime to ms. A date without a time starts at 00:00 UTC; as a period end it
 * covers the whole day (FHIR periods include their end), so the end is the next midnight.
 */
function toMs(value: unknown, element: string, isEnd: boolean): number {
  if (typeof value !== 'string' || !FHIR_DATE_TIME.test(value)) {
    throw invalidFhir(element, 'expected a FHIR dateTime');
  }
  const padded = value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value;
  const ms = Date.parse(padded.length === 10 ? `${padded}T00:00:00Z` : padded);
  if (Number.isNaN(ms)) throw invalidFhir(element, 'not a valid date');
  if (!isEnd || value.length > 10) return ms;
  const next = new Date(ms);
  if (value.length === 4) next.setUTCFullYear(next.getUTCFullYear() + 1);
  else if (value.length === 7) next.setUTCMonth(next.getUTCMonth() + 1);
  else next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime();
}

/** Elements of a provision medchain can map; anything else in a provision is refused by name. */
const PROVISION_ELEMENTS = new Set([
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
]);

interface ProvisionTerms {
  validFrom?: number;
  validUntil?: number;
  grantee?: Grantee;
  actions?: ConsentAction[];
  purposes?: Purpose[];
  resourceTypes?: string[];
  recordIds?: Uint8Array[];
}

function readProvision(
  provision: Json,
  element: string,
  options: ConsentImportOptions,
): ProvisionTerms {
  for (const key of Object.keys(provision)) {
    if (!PROVISION_ELEMENTS.has(key)) {
      throw unsupported(`${element}.${key}`, 'medchain consents cannot express this element');
    }
  }
  if (provision.type !== undefined && provision.type !== 'permit') {
    throw unsupported(
      `${element}.type`,
      `"${String(provision.type)}" provisions are not supported: a grant can only permit`,
    );
  }
  const terms: ProvisionTerms = {};
  if (provision.period !== undefined) {
    if (!isJson(provision.period)) throw invalidFhir(`${element}.period`, 'expected a Period');
    if (provision.period.start !== undefined) {
      terms.validFrom = toMs(provision.period.start, `${element}.period.start`, false);
    }
    if (provision.period.end !== undefined) {
      terms.validUntil = toMs(provision.period.end, `${element}.period.end`, true);
    }
  }
  const actors = list(provision.actor, `${element}.actor`);
  if (actors.length > 1)
    throw unsupported(`${element}.actor[1]`, 'a grant names exactly one grantee');
  const actor = actors[0];
  if (actor !== undefined) {
    if (
      !hasCode(
        actor.role,
        `${element}.actor[0].role`,
        FhirSystem.participationType,
        PRIMARY_RECIPIENT,
      )
    ) {
      throw unsupported(
        `${element}.actor[0].role`,
        'only the PRCP (primary information recipient) role maps to a grantee',
      );
    }
    const reference = referenceOf(actor.reference, `${element}.actor[0].reference`);
    const resolve =
      options.resolveActor ??
      ((ref: string): Grantee | undefined => {
        const provider = defaultKey(ref, 'Practitioner');
        if (provider !== undefined) return { type: 'provider', id: provider };
        const org = defaultKey(ref, 'Organization');
        return org === undefined ? undefined : { type: 'organization', id: org };
      });
    const grantee = resolve(reference);
    if (grantee === undefined) {
      throw unsupported(
        `${element}.actor[0].reference`,
        `cannot resolve "${reference}" to a provider or organization key`,
      );
    }
    terms.grantee = grantee;
  }
  const actions = list(provision.action, `${element}.action`);
  if (actions.length > 0) {
    terms.actions = actions.map((action, i) => {
      const coding = codings(action, `${element}.action[${i}]`).find(
        (c) =>
          c.system === FhirSystem.consentAction &&
          CONSENT_ACTIONS.includes(c.code as ConsentAction),
      );
      if (coding === undefined)
        throw unsupported(`${element}.action[${i}]`, 'expected a consentaction code');
      return coding.code as ConsentAction;
    });
  }
  const purposes = list(provision.purpose, `${element}.purpose`);
  if (purposes.length > 0) {
    terms.purposes = purposes.map((coding, i) => {
      if (coding.system !== FhirSystem.actReason || !PURPOSES.includes(coding.code as Purpose)) {
        throw unsupported(
          `${element}.purpose[${i}]`,
          `expected a v3-ActReason code among ${PURPOSES.join(', ')}`,
        );
      }
      return coding.code as Purpose;
    });
  }
  const classes = list(provision.class, `${element}.class`);
  if (classes.length > 0) {
    terms.resourceTypes = classes.map((coding, i) => {
      if (
        coding.system !== FhirSystem.resourceTypes ||
        typeof coding.code !== 'string' ||
        !RESOURCE_TYPE_PATTERN.test(coding.code)
      ) {
        throw unsupported(
          `${element}.class[${i}]`,
          'only FHIR resource types (http://hl7.org/fhir/resource-types) are supported',
        );
      }
      return coding.code;
    });
  }
  const data = list(provision.data, `${element}.data`);
  if (data.length > 0) {
    terms.recordIds = data.map((entry, i) => {
      if (entry.meaning !== 'instance') {
        throw unsupported(
          `${element}.data[${i}].meaning`,
          `"${String(entry.meaning)}" is not supported, only "instance"`,
        );
      }
      const reference = referenceOf(entry.reference, `${element}.data[${i}].reference`);
      const id = (options.resolveRecord ?? ((ref: string) => defaultKey(ref, '*')))(reference);
      if (id === undefined) {
        throw unsupported(
          `${element}.data[${i}].reference`,
          `cannot resolve "${reference}" to an anchored record id`,
        );
      }
      return id;
    });
  }
  return terms;
}

/** Elements of Consent that change its meaning and that medchain refuses (modifiers, external policies). */
const REFUSED_CONSENT_ELEMENTS = ['modifierExtension', 'policy', 'verification'];

/**
 * Reads a FHIR R4 Consent into the terms of a consent.grant, which the patient (or a delegate)
 * then signs. Supported: status active/proposed/draft, scope patient-privacy, policyRule OPTIN
 * (or none), one permit provision with at most one nested permit provision (merged: the
 * nested one narrows), period, one PRCP actor, actions, purposes, class (resource types) and
 * data (meaning instance). Anything else throws LedgerError LEDGER_FHIR_UNSUPPORTED (or
 * LEDGER_FHIR_INVALID for malformed JSON) naming the element. The ledger still applies its own
 * rules (window length, grantee exists, records belong to the patient) when the grant executes.
 */
export function consentFromFhir(
  resource: unknown,
  options: ConsentImportOptions = {},
): ConsentTerms {
  if (!isJson(resource) || resource.resourceType !== 'Consent') {
    throw new LedgerError('LEDGER_FHIR_INVALID', 'expected a FHIR R4 Consent resource');
  }
  for (const element of REFUSED_CONSENT_ELEMENTS) {
    if (resource[element] !== undefined) throw unsupported(element, 'not supported');
  }
  if (!['active', 'proposed', 'draft'].includes(resource.status as string)) {
    throw unsupported('status', `"${String(resource.status)}" cannot become a grant`);
  }
  if (!hasCode(resource.scope, 'scope', FhirSystem.consentScope, 'patient-privacy')) {
    throw unsupported('scope', 'only patient-privacy consents map to grants');
  }
  if (
    resource.policyRule !== undefined &&
    !hasCode(resource.policyRule, 'policyRule', FhirSystem.actCode, 'OPTIN')
  ) {
    throw unsupported('policyRule', 'only OPTIN: the ledger denies by default and records permits');
  }
  const patientRef = referenceOf(resource.patient, 'patient');
  const patient = (options.resolvePatient ?? ((ref: string) => defaultKey(ref, 'Patient')))(
    patientRef,
  );
  if (patient === undefined)
    throw unsupported('patient', `cannot resolve "${patientRef}" to a patient key`);
  if (!isJson(resource.provision)) throw unsupported('provision', 'a grant needs a provision');

  let terms = readProvision(resource.provision, 'provision', options);
  const nested = list(resource.provision.provision, 'provision.provision');
  if (nested.length > 1)
    throw unsupported('provision.provision[1]', 'at most one nested provision is supported');
  if (nested[0] !== undefined) {
    if (nested[0].provision !== undefined) {
      throw unsupported('provision.provision[0].provision', 'provisions nest one level at most');
    }
    terms = { ...terms, ...readProvision(nested[0], 'provision.provision[0]', options) };
  }
  const defaults = options.defaults ?? {};
  const required = <T>(value: T | undefined, element: string, why: string): T => {
    if (value === undefined) throw unsupported(element, why);
    return value;
  };
  const resourceTypes = terms.resourceTypes ?? [];
  const recordIds = terms.recordIds ?? [];
  if (resourceTypes.length === 0 && recordIds.length === 0) {
    throw unsupported('provision.class', 'name resource types (class) or records (data)');
  }
  return {
    patient,
    grantee: required(
      terms.grantee ?? defaults.grantee,
      'provision.actor',
      'a grant needs a grantee (PRCP actor)',
    ),
    recordIds,
    resourceTypes,
    actions: required(
      terms.actions ?? defaults.actions,
      'provision.action',
      'a grant needs actions',
    ),
    purposes: required(
      terms.purposes ?? defaults.purposes,
      'provision.purpose',
      'a grant needs purposes of use',
    ),
    validFrom: required(
      terms.validFrom ?? defaults.validFrom,
      'provision.period.start',
      'a grant needs a start',
    ),
    validUntil: required(
      terms.validUntil ?? defaults.validUntil,
      'provision.period.end',
      'there is no consent without an end date',
    ),
  };
}
