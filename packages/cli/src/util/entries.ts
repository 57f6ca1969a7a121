import { fromHex, toHex } from '@medchain/crypto';
import type {
  AuditEntry,
  ConsentEntry,
  DelegateEntry,
  OrganizationEntry,
  PatientEntry,
  ProviderEntry,
  RecordEntry,
} from '@medchain/ledger';
import type { ApiJson } from './client.js';

/**
 * The API sends ledger entries as JSON with bytes in hex; the ledger's own functions (the
 * access rule, the FHIR mappings) take them with bytes. These put the bytes back, field by
 * field, so the CLI runs the ledger's code instead of re-implementing it.
 */

const bytes = (value: string): Uint8Array => fromHex(value);
const maybe = (value: string | null): Uint8Array | null => (value === null ? null : fromHex(value));

export function consentFromJson(json: ApiJson): ConsentEntry {
  return {
    ...json,
    id: bytes(json.id),
    patient: bytes(json.patient),
    grantee: { type: json.grantee.type, id: bytes(json.grantee.id) },
    recordIds: json.recordIds.map(bytes),
    grantedBy: bytes(json.grantedBy),
    revokedBy: maybe(json.revokedBy),
  };
}

export function recordFromJson(json: ApiJson): RecordEntry {
  return {
    ...json,
    id: bytes(json.id),
    patient: bytes(json.patient),
    custodian: bytes(json.custodian),
    contentHash: bytes(json.contentHash),
  };
}

export function providerFromJson(json: ApiJson): ProviderEntry {
  return { ...json, key: bytes(json.key), org: bytes(json.org) };
}

export function patientFromJson(json: ApiJson): PatientEntry {
  return { ...json, key: bytes(json.key) };
}

export function delegateFromJson(json: ApiJson): DelegateEntry {
  return { ...json, patient: bytes(json.patient), delegate: bytes(json.delegate) };
}

export function organizationFromJson(json: ApiJson): OrganizationEntry {
  return {
    ...json,
    id: bytes(json.id),
    adminKeys: json.adminKeys.map(bytes),
    validatorKey: bytes(json.validatorKey),
  };
}

export function auditFromJson(json: ApiJson): AuditEntry {
  return {
    ...json,
    patient: bytes(json.patient),
    recordId: bytes(json.recordId),
    custodian: bytes(json.custodian),
    requester: bytes(json.requester),
    consentId: maybe(json.consentId),
    txHash: bytes(json.txHash),
    requestHash: bytes(json.requestHash),
  };
}

/**
 * A decoded state value for printing: bytes as hex, bigints as decimal strings (the API's JSON
 * mapping; not imported from @medchain/node so that `query` does not load libp2p).
 */
export function valueToJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(valueToJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, valueToJson(v)]));
  }
  return value;
}
