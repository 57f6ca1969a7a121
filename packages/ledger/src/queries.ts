import { LedgerError } from './errors.js';
import { auditEntryToFhir } from './fhir/audit.js';
import { consentToFhir, type FhirResource } from './fhir/consent.js';
import { type AuditAccumulator, historyKeys, type ListKeys } from './history.js';
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
import { readValue, stateKeys } from './schema.js';
import type { KeyValueReader } from './state/index.js';

/**
 * Read helpers for the node's API: point reads only, lists paged by position. `reader` reads
 * the state; `history` reads the node's history index (history.ts historyKeys), where lists
 * live.
 */

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
  history: KeyValueReader,
  keys: ListKeys,
  request: PageRequest,
  map: (entry: E) => T,
): Page<T> {
  const total = readValue<number>(history, keys.count) ?? 0;
  const offset = Math.max(0, Math.floor(request.offset ?? 0));
  const limit = Math.min(
    MAX_PAGE_SIZE,
    Math.max(1, Math.floor(request.limit ?? DEFAULT_PAGE_SIZE)),
  );
  const items: T[] = [];
  for (let i = offset; i < Math.min(total, offset + limit); i++) {
    const position = request.reverse ? total - 1 - i : i;
    const entry = readValue<E>(history, keys.entry(position));
    // Only a node whose history starts at a state-sync snapshot lacks earlier positions.
    if (entry === undefined) {
      throw new LedgerError('LEDGER_HISTORY_MISSING', `list entry ${position} is not indexed here`);
    }
    items.push(map(entry));
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
  history: KeyValueReader,
  orgId: Uint8Array,
  request: PageRequest = {},
): Page<ProviderEntry> {
  return page(
    history,
    historyKeys.organizationProviders(orgId),
    request,
    (key: Uint8Array) => getProvider(reader, key)!,
  );
}

export function consentsOfPatient(
  reader: KeyValueReader,
  history: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<ConsentEntry> {
  return page(history, historyKeys.patientConsents(patient), request, consentById(reader));
}

export function recordsOfPatient(
  reader: KeyValueReader,
  history: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<RecordEntry> {
  return page(history, historyKeys.patientRecords(patient), request, recordById(reader));
}

/**
 * Every access decision logged about the patient's records, break-glass entries flagged. The
 * entries come from the history; check a whole trail against {@link getAuditAccumulator}
 * with isCompleteAuditTrail.
 */
export function auditTrail(
  history: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<AuditEntry> {
  return page(history, historyKeys.patientAudit(patient), request, (entry: AuditEntry) => entry);
}

/** The count and running hash of a patient's audit trail, from the state. */
export function getAuditAccumulator(reader: KeyValueReader, patient: Uint8Array) {
  return readValue<AuditAccumulator>(reader, stateKeys.auditAccumulator(patient));
}

export function recordHistory(
  history: KeyValueReader,
  recordId: Uint8Array,
  request: PageRequest = {},
): Page<RecordVersion> {
  return page(history, historyKeys.recordVersions(recordId), request, (v: RecordVersion) => v);
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
  history: KeyValueReader,
  patient: Uint8Array,
  request: PageRequest = {},
): Page<FhirResource> {
  const trail = auditTrail(history, patient, request);
  const options = { resourceTypeOf: resourceTypeOf(reader) };
  return { ...trail, items: trail.items.map((entry) => auditEntryToFhir(entry, options)) };
}
