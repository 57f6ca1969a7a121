import { bytesEqual } from '@medchain/crypto';
import type { DelegateEntry, OrganizationEntry, PatientEntry, ProviderEntry } from '../model.js';
import { readValue, stateKeys } from '../schema.js';
import type { KeyValueReader } from '../state/index.js';

/** Who a key is, as the rules need to know it. Pure reads; nothing here fails a transaction. */

export function memberOrganization(
  reader: KeyValueReader,
  orgId: Uint8Array,
): OrganizationEntry | undefined {
  const org = readValue<OrganizationEntry>(reader, stateKeys.organization(orgId));
  return org?.status === 'member' ? org : undefined;
}

/** The member organization this key is an admin key of. */
export function organizationOfAdmin(
  reader: KeyValueReader,
  publicKey: Uint8Array,
): OrganizationEntry | undefined {
  const orgId = readValue<Uint8Array>(reader, stateKeys.adminKey(publicKey));
  return orgId === undefined ? undefined : memberOrganization(reader, orgId);
}

/** An active provider whose organization is still a member. */
export function activeProvider(
  reader: KeyValueReader,
  publicKey: Uint8Array,
): ProviderEntry | undefined {
  const provider = readValue<ProviderEntry>(reader, stateKeys.provider(publicKey));
  if (provider?.status !== 'active') return undefined;
  return memberOrganization(reader, provider.org) === undefined ? undefined : provider;
}

export function patientEntry(reader: KeyValueReader, key: Uint8Array): PatientEntry | undefined {
  return readValue<PatientEntry>(reader, stateKeys.patient(key));
}

/** A delegate is live strictly before its expiry. */
export function liveDelegate(
  reader: KeyValueReader,
  patient: Uint8Array,
  delegate: Uint8Array,
  time: number,
): DelegateEntry | undefined {
  const entry = readValue<DelegateEntry>(reader, stateKeys.delegate(patient, delegate));
  return entry !== undefined && time < entry.expiresAt ? entry : undefined;
}

/** The patient or one of their live delegates. */
export function speaksForPatient(
  reader: KeyValueReader,
  patient: Uint8Array,
  signer: Uint8Array,
  time: number,
): boolean {
  return bytesEqual(patient, signer) || liveDelegate(reader, patient, signer, time) !== undefined;
}
