import { type Canonical, decodeStoredCanonical, encodeCanonical } from '@medchain/crypto';
import type { GranteeType } from './model.js';
import type { AuthenticatedState, KeyValueReader } from './state/index.js';

/**
 * The state layout. Every key is the canonical encoding of a list whose first item names the
 * table, so keys of different tables never collide and each value is provable on its own.
 * The state holds only what a rule decides on; lists kept only for paging (a patient's
 * consents, records and audit entries, a record's versions, an organization's providers) are
 * history, indexed by the node beside its blocks (history.ts).
 */
function key(...parts: Canonical[]): Uint8Array {
  return encodeCanonical(parts);
}

export const stateKeys = {
  /** chain id and LedgerParams, written once at genesis. */
  chain: () => key('chain'),
  /** Sorted ids of member organizations. */
  members: () => key('members'),
  nonce: (signer: Uint8Array) => key('nonce', signer),
  organization: (orgId: Uint8Array) => key('org', orgId),
  /** Admin key -> org id; kept after removal so a key never changes owner. */
  adminKey: (publicKey: Uint8Array) => key('admin', publicKey),
  /** Validator key -> org id; kept after removal for the same reason. */
  validatorKey: (publicKey: Uint8Array) => key('validator', publicKey),
  /**
   * A key rotated away from (admin or validator) -> org id. Its admin/validator index entry is
   * deleted, so it signs for nobody; this entry keeps it from ever being used again.
   */
  retiredKey: (publicKey: Uint8Array) => key('retired', publicKey),
  /** libp2p peer id -> org id, so two members never claim the same node. */
  peerId: (peerId: string) => key('peer', peerId),
  provider: (publicKey: Uint8Array) => key('provider', publicKey),
  patient: (publicKey: Uint8Array) => key('patient', publicKey),
  delegate: (patient: Uint8Array, delegate: Uint8Array) => key('delegate', patient, delegate),
  record: (recordId: Uint8Array) => key('record', recordId),
  consent: (consentId: Uint8Array) => key('consent', consentId),
  /**
   * The ids of the consents one patient gave one grantee, oldest first, in one value: the
   * access decision reads it whole, and it stays short (one patient, one grantee).
   */
  granteeConsents: (patient: Uint8Array, type: GranteeType, grantee: Uint8Array) =>
    key('grantee-consents', patient, type, grantee),
  /**
   * The patient's audit accumulator (history.ts AuditAccumulator): the count and running hash
   * of their audit trail, so a trail the node serves can be checked whole against the state.
   */
  auditAccumulator: (patient: Uint8Array) => key('audit-acc', patient),
  /** Marks a requester's access-request nonce as used. */
  accessNonce: (requester: Uint8Array, nonce: Uint8Array) => key('access-nonce', requester, nonce),
  proposal: (proposalId: Uint8Array) => key('proposal', proposalId),
} as const;

/** Values are trusted: only this package writes them, always through {@link writeValue}. */
export function readValue<T>(reader: KeyValueReader, stateKey: Uint8Array): T | undefined {
  const bytes = reader.get(stateKey);
  return bytes === undefined ? undefined : (decodeStoredCanonical(bytes) as unknown as T);
}

export function writeValue<T>(state: AuthenticatedState, stateKey: Uint8Array, value: T): void {
  state.set(stateKey, encodeCanonical(value as unknown as Canonical));
}
