import { auditEntryToFhir } from './fhir/audit.js';
import { consentToFhir, type FhirResource } from './fhir/consent.js';
import type {
  AuditEntry,
  ConsentEntry,
  DelegateEntry,
  OrganizationEntry,
  PatientEntry,
  ProposalEntry,
  ProviderEntry,
  RecordEntry,
  RecordVersion,
} from './model.js';
import { type ListKeys, listLength, readListEntry, readValue, stateKeys } from './schema.js';
import type { KeyValueReader } from './state/index.js';

/** Read helpers for the node's API: point reads only, lists paged by position. */

export interface PageRequest {
  /** Position of the first item, from 0. */
  readonly offset?: number;
  /** At most this many items (capped at MAX_PAGE_SIZE). */
  readonly limit?: number;
  /** Newest first when true. */
  readonly reverse?: boolean;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly total: number;
  /** The offset of the next page, or null at the end. */
  readonly nextOffset: number | null;
}

export const MAX_PAGE_SIZE = 200;
const DEFAULT_PAGE_SIZE = 50;

function page<E, T>(
  reader: KeyValueReader,
  keys: ListKeys,
  request: PageRequest,
  map: (entry: E) => T,
): Page<T> {
  const total = listLength(reader, keys);
  const offset = Math.max(0, Math.floor(request.offset ?? 0));
  const limit = Math.min(
    MAX_PAGE_SIZE,
    Math.max(1, Math.floor(request.limit ?? DEFAULT_PAGE_SIZE)),
  );
  const items: T[] = [];
  for (let i = offset; i < Math.min(total, offset + limit); i++) {
    const position = request.reverse ? total - 1 - i : i;
    items.push(map(readListEntry<E>(reader, keys, position)));
  }
  const next = offset + items.length;
  return { items, total, nextOffset: next < total ? next : null };
}

const consentById = (reader: KeyValueReader) => (id: Uint8Array) =>
  readValue<ConsentEntry>(reader, stateKeys.consent(id))!;
const recordById = (reader: KeyValueReader) => (id: Uint8Array) =>
  readValue<RecordEntry>(reader, stateKeys.record(id))!;

export function getOrganization(reader: KeyValueReader, orgId: Uint8Array) {
  return readValue<OrganizationEntry>(reader, stateKeys.organization(orgId));
}

/** The organization a libp2p peer id was admitted with (peer ids are never reused), if any. */
export function getOrganizationOfPeer(reader: KeyValueReader, peerId: string) {
  const orgId = readValue<Uint8Array>(reader, stateKeys.peerId(peerId));
  return orgId === undefined ? undefined : getOrganization(reader, orgId);
}

export function getProvider(reader: KeyValueReader, key: Uint8Array) {
  return readValue<ProviderEntry>(reader, stateKeys.provider(key));
}

export function getPatient(reader: KeyValueReader, key: Uint8Array) {
  return readValue<PatientEntry>(reader, stateKeys.patient(key));
}

export function getDelegate(reader: KeyValueReader, patient: Uint8Array, delegate: Uint8Array) {
  return readValue<DelegateEntry>(reader, stateKeys.delegate(patient, delegate));
}

export function getRecord(reader: KeyValueReader, recordId: Uint8Array) {
  return readValue<RecordEntry>(reader, stateKeys.record(recordId));
}

export function getConsent(reader: KeyValueReader, consentId: Uint8Array) {
  return readValue<ConsentEntry>(reader, stateKeys.consent(consentId));
}

export function getProposal(reader: KeyValueReader, proposalId: Uint8Array) {
  return readValue<ProposalEntry>(reader, stateKeys.proposal(proposalId));
}

export function providersOfOrganization(
  reader: KeyValueReader,
  orgId: Uint8Array,
  request: PageRequest = {},
): Page<ProviderEntry> {
  return page(
    reader,
    stateKeys.organizationProviders(orgId),
    request,
    (key: Uint8Array) => getProvider(reader, key)!,
  );
}

export function consentsOfPatient(
  reader: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<ConsentEntry> {
  return page(reader, stateKeys.patientConsents(patient), request, consentById(reader));
}

export function recordsOfPatient(
  reader: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<RecordEntry> {
  return page(reader, stateKeys.patientRecords(patient), request, recordById(reader));
}

/** Every access decision logged about the patient's records, break-glass entries flagged. */
export function auditTrail(
  reader: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<AuditEntry> {
  return page(reader, stateKeys.patientAudit(patient), request, (entry: AuditEntry) => entry);
}

export function recordHistory(
  reader: KeyValueReader,
  recordId: Uint8Array,
  request: PageRequest = {},
): Page<RecordVersion> {
  return page(reader, stateKeys.recordVersions(recordId), request, (v: RecordVersion) => v);
}

const resourceTypeOf = (reader: KeyValueReader) => (recordId: Uint8Array) =>
  getRecord(reader, recordId)?.resourceType;

/** A stored consent as FHIR R4 Consent, its status as of `time` (block time). */
export function exportConsent(
  reader: KeyValueReader,
  consentId: Uint8Array,
  time: number,
): FhirResource | undefined {
  const consent = getConsent(reader, consentId);
  return consent && consentToFhir(consent, { time, resourceTypeOf: resourceTypeOf(reader) });
}

/** A patient's audit trail page as FHIR R4 AuditEvents. */
export function exportAuditTrail(
  reader: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<FhirResource> {
  const trail = auditTrail(reader, patient, request);
  const options = { resourceTypeOf: resourceTypeOf(reader) };
  return { ...trail, items: trail.items.map((entry) => auditEntryToFhir(entry, options)) };
}
