import { bytesEqual, fromHex, toHex } from '@medchain/crypto';
import {
  type AuditEntry,
  auditEntryToFhir,
  auditTrail,
  type ConsentEntry,
  consentsOfPatient,
  consentToFhir,
  type FhirResource,
  fhirInstant,
  getConsent,
  getProvider,
  getRecord,
  type KeyValueReader,
  MAX_PAGE_SIZE,
  type Page,
  type PageRequest,
} from '@medchain/ledger';
import type { ApiBackend } from '../api/backend.js';
import { toJson } from '../api/json.js';
import { FhirError } from './outcome.js';
import type { Candidate, SearchParam, TimeRange, Token } from './search.js';

/**
 * The node's FHIR resources, read from committed state: Consents (id = the hash of the
 * granting transaction), AuditEvents (id = the hash of the logging transaction) and the
 * Provenance of either (same id as its target), which ties it to its block and certificate.
 */

/** Code system of ledger identifiers in Provenance (values are lowercase hex). */
export const MedchainSystem = {
  transaction: 'urn:medchain:transaction',
  block: 'urn:medchain:block',
  validatorSet: 'urn:medchain:validator-set',
  auditEntry: 'urn:medchain:audit-entry',
} as const;

/** Extensions on Provenance (block height and position, unsigned integers). */
export const MedchainExtension = {
  blockHeight: 'urn:medchain:fhir:block-height',
  transactionIndex: 'urn:medchain:fhir:transaction-index',
} as const;

/** The media type of the commit certificate carried in Provenance.signature.data. */
export const CERTIFICATE_FORMAT = 'application/vnd.medchain.commit-certificate+json';

const HASH_ID = /^[0-9a-f]{64}$/;

/** A path id as 32 bytes, or a 404: FHIR ids here are 64 lowercase hex digits. */
export function hashId(resourceType: string, id: string): Uint8Array {
  if (!HASH_ID.test(id)) {
    throw new FhirError(404, 'RESOURCE_NOT_FOUND', `${resourceType}/${id} is not known here`);
  }
  return fromHex(id);
}

/** Reads `read(key)` once per key: a search's entries keep naming the same records and providers. */
function once<T>(read: (key: Uint8Array) => T): (key: Uint8Array) => T {
  const seen = new Map<string, T>();
  return (key) => {
    const id = toHex(key);
    if (!seen.has(id)) seen.set(id, read(key));
    return seen.get(id) as T;
  };
}

/** The state a resource names besides its entry: the records' types, the providers' organizations. */
interface Lookups {
  readonly resourceTypeOf: (recordId: Uint8Array) => string | undefined;
  readonly organizationOf: (provider: Uint8Array) => Uint8Array | undefined;
}

const lookupsOf = (state: KeyValueReader): Lookups => ({
  resourceTypeOf: once((recordId) => getRecord(state, recordId)?.resourceType),
  organizationOf: once((provider) => getProvider(state, provider)?.org),
});

/** When a consent last changed as FHIR shows it: revoked, expired (status), or granted. */
function consentUpdated(consent: ConsentEntry, time: number): number {
  if (consent.revokedAt !== null) return consent.revokedAt;
  return time >= consent.validUntil ? consent.validUntil : consent.createdAt;
}

/** A consent as FHIR shows it at `time`; a search passes one `lookups` for all its entries. */
export function consentResource(
  state: KeyValueReader,
  consent: ConsentEntry,
  time: number,
  lookups = lookupsOf(state),
): FhirResource {
  const resource = consentToFhir(consent, { time, resourceTypeOf: lookups.resourceTypeOf });
  return { ...resource, meta: { lastUpdated: fhirInstant(consentUpdated(consent, time)) } };
}

/** An audit entry as a FHIR AuditEvent; a search passes one `lookups` for all its entries. */
export function auditResource(
  state: KeyValueReader,
  entry: AuditEntry,
  lookups = lookupsOf(state),
): FhirResource {
  const resource = auditEntryToFhir(entry, lookups);
  const meta = (resource.meta ?? {}) as Record<string, unknown>;
  return { ...resource, meta: { ...meta, lastUpdated: fhirInstant(entry.time) } };
}

/** Every entry of a paged ledger list in its pages' order (oldest first unless reversed). */
function* everyEntry<T>(
  page: (request: PageRequest) => Page<T>,
): Generator<{ position: number; entry: T }> {
  let offset: number | null = 0;
  while (offset !== null) {
    const { items, nextOffset } = page({ offset, limit: MAX_PAGE_SIZE });
    for (const [i, entry] of items.entries()) yield { position: offset + i, entry };
    offset = nextOffset;
  }
}

export function* consentCandidates(
  state: KeyValueReader,
  history: KeyValueReader,
  patient: Uint8Array,
  time: number,
): Generator<Candidate<LedgerTarget>> {
  const lookups = lookupsOf(state);
  for (const { position, entry } of everyEntry((r) =>
    consentsOfPatient(state, history, patient, r),
  )) {
    const source = { type: 'Consent', consent: entry } as const;
    yield { position, resource: consentResource(state, entry, time, lookups), source };
  }
}

export function* auditCandidates(
  state: KeyValueReader,
  history: KeyValueReader,
  patient: Uint8Array,
): Generator<Candidate<LedgerTarget>> {
  const lookups = lookupsOf(state);
  for (const { position, entry } of everyEntry((r) => auditTrail(history, patient, r))) {
    const source = { type: 'AuditEvent', entry } as const;
    yield { position, resource: auditResource(state, entry, lookups), source };
  }
}

/** The patient a committed transaction's audit entry belongs to (from its body). */
function patientOfTransaction(state: KeyValueReader, body: unknown): Uint8Array | undefined {
  const o = body as { patient?: unknown; request?: { recordId?: unknown } };
  if (o.patient instanceof Uint8Array) return o.patient;
  const recordId = o.request?.recordId;
  return recordId instanceof Uint8Array ? getRecord(state, recordId)?.patient : undefined;
}

/** What a transaction hash names in FHIR: a consent, an audit entry, or nothing. */
export type LedgerTarget =
  | { readonly type: 'Consent'; readonly consent: ConsentEntry }
  | { readonly type: 'AuditEvent'; readonly entry: AuditEntry };

/** The audit entry a transaction wrote, found from the end of its patient's trail. */
export async function findAuditEntry(
  backend: ApiBackend,
  hash: Uint8Array,
): Promise<AuditEntry | undefined> {
  const found = await backend.transaction(hash);
  if (found.status !== 'committed') return undefined;
  const state = backend.state();
  const patient = patientOfTransaction(state, found.tx.body);
  if (patient === undefined) return undefined;
  for (const { entry } of everyEntry((r) =>
    auditTrail(backend.history(), patient, { ...r, reverse: true }),
  )) {
    if (bytesEqual(entry.txHash, hash)) return entry;
  }
  return undefined;
}

export async function findTarget(
  backend: ApiBackend,
  hash: Uint8Array,
): Promise<LedgerTarget | undefined> {
  const consent = getConsent(backend.state(), hash);
  if (consent !== undefined) return { type: 'Consent', consent };
  const entry = await findAuditEntry(backend, hash);
  return entry === undefined ? undefined : { type: 'AuditEvent', entry };
}

/** The time the ledger's state is at: the newest block's (genesis: 0, when nothing exists yet). */
export async function ledgerTime(backend: ApiBackend): Promise<number> {
  return (await backend.latestBlock())?.block.header.time ?? 0;
}

/**
 * The Provenance of a consent's grant or an audit entry's log transaction: which block
 * (height, hash) holds the transaction (hash, index), and that block's commit certificate as
 * the signature of the validator set the header names. How an EHR checks it: the FHIR README.
 */
export async function provenanceOf(
  backend: ApiBackend,
  target: LedgerTarget,
): Promise<FhirResource | undefined> {
  const txHash = target.type === 'Consent' ? target.consent.id : target.entry.txHash;
  const found = await backend.transaction(txHash);
  if (found.status !== 'committed') return undefined;
  const stored = await backend.block(found.height);
  if (stored === undefined || stored.certificate === null) return undefined;
  const { header } = stored.block;
  const recorded = fhirInstant(header.time);
  const hex = toHex(txHash);
  const author =
    target.type === 'Consent'
      ? {
          reference: `${bytesEqual(target.consent.grantedBy, target.consent.patient) ? 'Patient' : 'RelatedPerson'}/${toHex(target.consent.grantedBy)}`,
        }
      : { reference: `Organization/${toHex(target.entry.custodian)}` };
  const validators = {
    identifier: { system: MedchainSystem.validatorSet, value: toHex(header.validatorSetHash) },
    display: `the validators that committed block ${found.height}`,
  };
  const entity: unknown[] = [
    {
      role: 'source',
      what: {
        identifier: { system: MedchainSystem.transaction, value: hex },
        display: `transaction ${found.index} of block ${found.height}`,
      },
    },
    {
      role: 'source',
      what: {
        identifier: { system: MedchainSystem.block, value: toHex(stored.hash) },
        display: `block ${found.height}`,
      },
    },
  ];
  if (target.type === 'AuditEvent') {
    entity.push({
      role: 'source',
      what: {
        identifier: {
          system: MedchainSystem.auditEntry,
          value: `${toHex(target.entry.patient)}/${target.entry.index}`,
        },
        display: `entry ${target.entry.index} of the patient's audit trail`,
      },
    });
  }
  const certificate = JSON.stringify(toJson(stored.certificate));
  return {
    resourceType: 'Provenance',
    id: hex,
    meta: { lastUpdated: recorded },
    extension: [
      { url: MedchainExtension.blockHeight, valueUnsignedInt: found.height },
      { url: MedchainExtension.transactionIndex, valueUnsignedInt: found.index },
    ],
    target: [{ reference: `${target.type}/${hex}` }],
    occurredDateTime: fhirInstant(
      target.type === 'Consent' ? target.consent.createdAt : target.entry.time,
    ),
    recorded,
    activity: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
          code: 'CREATE',
          display: 'create',
        },
      ],
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'author',
              display: 'Author',
            },
          ],
        },
        who: author,
      },
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'verifier',
              display: 'Verifier',
            },
          ],
        },
        who: validators,
      },
    ],
    entity,
    signature: [
      {
        type: [
          {
            system: 'urn:iso-astm:E1762-95:2013',
            code: '1.2.840.10065.1.12.1.5',
            display: 'Verification Signature',
          },
        ],
        when: recorded,
        who: validators,
        sigFormat: CERTIFICATE_FORMAT,
        data: Buffer.from(certificate, 'utf8').toString('base64'),
      },
    ],
  };
}

// ---- search parameters (FHIR R4's definitions, on the resources above) ----

type R = Record<string, unknown>;
const asList = (value: unknown): R[] => (Array.isArray(value) ? (value as R[]) : []);
const refOf = (value: unknown) => (value as { reference?: string } | undefined)?.reference;
const token = (coding: R): Token => ({
  system: coding.system as string | undefined,
  code: coding.code as string,
});
const codings = (concept: unknown): Token[] =>
  asList((concept as R | undefined)?.coding).map(token);
const instant = (value: unknown): TimeRange[] => {
  if (typeof value !== 'string') return [];
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? [] : [{ start: ms, end: ms }];
};
const lastUpdated = (r: FhirResource) => instant((r.meta as R | undefined)?.lastUpdated);
const idToken = (r: FhirResource): Token[] => [{ system: undefined, code: r.id as string }];

const ID_PARAM: SearchParam = {
  name: '_id',
  definition: 'http://hl7.org/fhir/SearchParameter/Resource-id',
  type: 'token',
  expression: 'Resource.id',
  documentation: 'The resource id (a transaction hash, 64 hex digits)',
  values: idToken,
};
const LAST_UPDATED_PARAM: SearchParam = {
  name: '_lastUpdated',
  definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated',
  type: 'date',
  expression: 'Resource.meta.lastUpdated',
  documentation: 'When the resource last changed (grant, revocation or expiry; the log time)',
  values: lastUpdated,
};

export const CONSENT_PARAMS: readonly SearchParam[] = [
  {
    name: 'patient',
    definition: 'http://hl7.org/fhir/SearchParameter/clinical-patient',
    type: 'reference',
    targets: ['Patient'],
    expression: 'Consent.patient',
    documentation: 'The patient (required: Patient/<key hex> or the key hex)',
    values: (r) => [refOf(r.patient)].filter((v): v is string => v !== undefined),
  },
  {
    name: 'status',
    definition: 'http://hl7.org/fhir/SearchParameter/Consent-status',
    type: 'token',
    expression: 'Consent.status',
    documentation: 'active, or inactive (revoked or past its period)',
    values: (r) => [
      { system: 'http://hl7.org/fhir/consent-state-codes', code: r.status as string },
    ],
  },
  {
    name: 'actor',
    definition: 'http://hl7.org/fhir/SearchParameter/Consent-actor',
    type: 'reference',
    targets: ['Practitioner', 'Organization'],
    expression: 'Consent.provision.actor.reference',
    documentation: 'The grantee: Practitioner/<provider key> or Organization/<org id>',
    values: (r) =>
      asList((r.provision as R | undefined)?.actor)
        .map((a) => refOf(a.reference))
        .filter((v): v is string => v !== undefined),
  },
  {
    name: 'purpose',
    definition: 'http://hl7.org/fhir/SearchParameter/Consent-purpose',
    type: 'token',
    expression: 'Consent.provision.purpose',
    documentation: 'A purpose of use the consent permits (v3-ActReason)',
    // Consent.provision.purpose is a list of Codings, not CodeableConcepts.
    values: (r) => asList((r.provision as R | undefined)?.purpose).map(token),
  },
  {
    name: 'period',
    definition: 'http://hl7.org/fhir/SearchParameter/Consent-period',
    type: 'date',
    expression: 'Consent.provision.period',
    documentation: 'The period the consent runs',
    values: (r) => {
      const period = (r.provision as R | undefined)?.period as R | undefined;
      const start = Date.parse(period?.start as string);
      const end = Date.parse(period?.end as string);
      return Number.isNaN(start) || Number.isNaN(end) ? [] : [{ start, end }];
    },
  },
  {
    name: 'date',
    definition: 'http://hl7.org/fhir/SearchParameter/clinical-date',
    type: 'date',
    expression: 'Consent.dateTime',
    documentation: 'When the consent was granted (its block time)',
    values: (r) => instant(r.dateTime),
  },
  ID_PARAM,
  LAST_UPDATED_PARAM,
];

export const AUDIT_EVENT_PARAMS: readonly SearchParam[] = [
  {
    name: 'patient',
    definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-patient',
    type: 'reference',
    targets: ['Patient'],
    expression: 'AuditEvent.entity.what.where(resolve() is Patient)',
    documentation: 'The patient whose record was asked for (required)',
    values: (r) =>
      asList(r.entity)
        .map((e) => refOf(e.what))
        .filter((v): v is string => v?.startsWith('Patient/') === true),
  },
  {
    name: 'agent',
    definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-agent',
    type: 'reference',
    targets: ['Practitioner', 'Organization', 'Patient', 'RelatedPerson'],
    expression: 'AuditEvent.agent.who',
    documentation:
      'Who took part: the requester (Practitioner/<key>), its organization or the custodian (Organization/<id>)',
    values: (r) =>
      asList(r.agent)
        .map((a) => refOf(a.who))
        .filter((v): v is string => v !== undefined),
  },
  {
    name: 'date',
    definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-date',
    type: 'date',
    expression: 'AuditEvent.recorded',
    documentation: 'When the decision was logged (the request time)',
    values: (r) => instant(r.recorded),
  },
  {
    name: 'outcome',
    definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-outcome',
    type: 'token',
    expression: 'AuditEvent.outcome',
    documentation: '0 (permit) or 8 (deny)',
    values: (r) => [
      { system: 'http://hl7.org/fhir/audit-event-outcome', code: r.outcome as string },
    ],
  },
  {
    name: 'purpose',
    definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-purpose',
    type: 'token',
    expression: 'AuditEvent.purposeOfEvent | AuditEvent.agent.purposeOfUse',
    documentation: 'The purpose of use asked for (v3-ActReason; break-glass adds BTG)',
    values: (r) => [
      ...asList(r.purposeOfEvent).flatMap(codings),
      ...asList(r.agent).flatMap((a) => asList(a.purposeOfUse).flatMap(codings)),
    ],
  },
  ID_PARAM,
  LAST_UPDATED_PARAM,
];
