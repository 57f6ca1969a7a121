/**
 * The consent model's vocabulary and the entries it keeps in state. Every identity is a key
 * (32 bytes): organizations by an id fixed at admission, providers, patients and delegates by
 * their Ed25519 public keys. Records are content hashes. No names, no medical data.
 */

export const PROVIDER_ROLES = ['clinician', 'nurse', 'emergency', 'researcher', 'admin'] as const;
export type ProviderRole = (typeof PROVIDER_ROLES)[number];

/** FHIR R4 consentaction codes, used as-is so a Consent maps without translation. */
export const CONSENT_ACTIONS = ['collect', 'access', 'use', 'disclose', 'correct'] as const;
export type ConsentAction = (typeof CONSENT_ACTIONS)[number];

/** HL7 v3 ActReason codes for purpose of use. */
export const PURPOSES = ['TREAT', 'ETREAT', 'HRESCH', 'PUBHLTH', 'HOPERAT', 'PATRQT'] as const;
export type Purpose = (typeof PURPOSES)[number];

export const DELEGATE_RELATIONS = ['guardian', 'proxy'] as const;
export type DelegateRelation = (typeof DELEGATE_RELATIONS)[number];

/**
 * Break-glass reasons are codes, never free text: free text typed in an emergency would be
 * the first place a name or a diagnosis leaks onto the ledger.
 */
export const EMERGENCY_REASONS = [
  'patient-unconscious',
  'life-threatening',
  'consent-unreachable',
] as const;
export type EmergencyReason = (typeof EMERGENCY_REASONS)[number];

/** FHIR R4 resource type names: letters only, starting upper case. */
export const RESOURCE_TYPE_PATTERN = /^[A-Z][A-Za-z]{1,63}$/;

export interface OrganizationSpec {
  readonly id: Uint8Array;
  readonly adminKeys: readonly Uint8Array[];
  readonly validatorKey: Uint8Array;
  /** libp2p peer id of the organization's validator node (base58 text). */
  readonly peerId: string;
}

export interface OrganizationEntry extends OrganizationSpec {
  readonly status: 'member' | 'removed';
  readonly since: number;
  /**
   * Validator keys this organization rotated away from, oldest first (absent until its first
   * rotation). Past validator sets hold them, so whoever follows the chain's sets from genesis
   * (state sync, the node's set history, a light client) finds them here.
   */
  readonly formerValidatorKeys?: readonly Uint8Array[];
}

/** An organization's keys as `organization.rotate-key` and a `rekey` change replace them. */
export interface OrganizationKeys {
  readonly adminKeys: readonly Uint8Array[];
  readonly validatorKey: Uint8Array;
}

export interface ProviderEntry {
  readonly key: Uint8Array;
  readonly org: Uint8Array;
  readonly role: ProviderRole;
  readonly status: 'active' | 'suspended';
  readonly registeredAt: number;
  readonly suspendedAt: number | null;
}

export interface PatientEntry {
  readonly key: Uint8Array;
  readonly registeredAt: number;
  readonly breakGlassOptOut: boolean;
  readonly researchOptOut: boolean;
}

export interface DelegateEntry {
  readonly patient: Uint8Array;
  readonly delegate: Uint8Array;
  readonly relation: DelegateRelation;
  readonly grantedAt: number;
  readonly expiresAt: number;
}

export interface RecordEntry {
  readonly id: Uint8Array;
  readonly patient: Uint8Array;
  readonly custodian: Uint8Array;
  readonly resourceType: string;
  readonly version: number;
  readonly contentHash: Uint8Array;
  readonly erased: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface RecordVersion {
  readonly version: number;
  readonly contentHash: Uint8Array;
  /** Content hash of the version this one replaces; null for version 1. */
  readonly previousHash: Uint8Array | null;
  readonly author: Uint8Array;
  readonly time: number;
  readonly txHash: Uint8Array;
}

export type GranteeType = 'provider' | 'organization';

export interface Grantee {
  readonly type: GranteeType;
  readonly id: Uint8Array;
}

export interface ConsentTerms {
  readonly patient: Uint8Array;
  readonly grantee: Grantee;
  readonly recordIds: readonly Uint8Array[];
  readonly resourceTypes: readonly string[];
  readonly actions: readonly ConsentAction[];
  readonly purposes: readonly Purpose[];
  readonly validFrom: number;
  readonly validUntil: number;
}

export interface ConsentEntry extends ConsentTerms {
  /** The hash of the granting transaction. */
  readonly id: Uint8Array;
  readonly grantedBy: Uint8Array;
  readonly createdAt: number;
  readonly status: 'active' | 'revoked';
  readonly revokedAt: number | null;
  readonly revokedBy: Uint8Array | null;
}

export type Decision = 'permit' | 'deny';

export interface AuditEntry {
  readonly patient: Uint8Array;
  /** Position in the patient's audit trail, from 0. */
  readonly index: number;
  /** The record accessed; for a research release, the first of `recordIds`. */
  readonly recordId: Uint8Array;
  /**
   * Every record a research release disclosed, in the transaction's order, so the patient sees
   * all that left. Absent on entries for one record (access logs, break-glass).
   */
  readonly recordIds?: readonly Uint8Array[];
  readonly custodian: Uint8Array;
  readonly requester: Uint8Array;
  readonly action: ConsentAction;
  readonly purpose: Purpose;
  readonly decision: Decision;
  readonly consentId: Uint8Array | null;
  /** Why access was denied (a DenyReason), or null. */
  readonly denyReason: string | null;
  readonly emergency: boolean;
  readonly emergencyReason: EmergencyReason | null;
  readonly time: number;
  readonly txHash: Uint8Array;
  readonly requestHash: Uint8Array;
}

export type MembershipChange =
  | { readonly type: 'add'; readonly organization: OrganizationSpec }
  | { readonly type: 'remove'; readonly orgId: Uint8Array }
  /**
   * The members replace a member's admin keys and validator key: the recovery when the
   * organization's own admin keys are stolen or lost (it cannot rotate them itself then).
   */
  | ({ readonly type: 'rekey'; readonly orgId: Uint8Array } & OrganizationKeys);

export interface ProposalEntry {
  /** The hash of the proposing transaction. */
  readonly id: Uint8Array;
  readonly proposerOrg: Uint8Array;
  readonly change: MembershipChange;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly yes: readonly Uint8Array[];
  readonly no: readonly Uint8Array[];
  readonly status: 'open' | 'passed' | 'rejected';
}

/** Ledger rules fixed at genesis and kept in state, so every node applies the same numbers. */
export interface LedgerParams {
  /** Longest a consent may run, counted from the block that grants it. */
  readonly maxConsentDurationMs: number;
  /** Longest a delegation may run, counted from the block that names the delegate. */
  readonly maxDelegationDurationMs: number;
  /** How long a governance proposal stays open for votes. */
  readonly proposalTtlMs: number;
  /** How far a signed access request's time may be from the block time, either way. */
  readonly accessRequestMaxSkewMs: number;
}

const DAY_MS = 86_400_000;

export const DEFAULT_LEDGER_PARAMS: LedgerParams = {
  maxConsentDurationMs: 5 * 365 * DAY_MS,
  maxDelegationDurationMs: 5 * 365 * DAY_MS,
  proposalTtlMs: 14 * DAY_MS,
  accessRequestMaxSkewMs: 10 * 60_000,
};
