/**
 * Who may call what: the API's one authorization table (route x standing), pure data and pure
 * functions. `auth.ts` works out a verified key's standings from committed state; this file
 * only says which standings open which route. The API README prints the same table; a unit
 * test checks every cell.
 */

/**
 * What a verified request key is, relative to what the route is about (its subject: a patient,
 * an organization, a consent, a key). Resolved from committed state at the node's clock.
 */
export const STANDINGS = [
  /** The key is the subject patient. */
  'patient',
  /** The key is a live delegate (not expired at the node's clock) of the subject patient. */
  'delegate',
  /** The key is the subject key itself (the delegate, the provider, the tx signer, the nonce owner). */
  'self',
  /** The subject consent names the key (a provider), or the key's organization (its admins and active providers). */
  'grantee',
  /** An admin key of the subject organization (a member). */
  'org-admin',
  /** An active provider of the subject organization (a member). */
  'org-provider',
  /** An admin key or an active provider of the subject record's custodian organization (a member). */
  'record-custodian',
  /** An admin key of the organization that runs this node. */
  'own-org-admin',
  /** An active provider of the organization that runs this node. */
  'own-org-provider',
  /** An admin key of any member organization. */
  'member-admin',
  /** The validator key of any member organization. */
  'validator',
  /** Any key the ledger knows: a registered patient, an active provider, a member admin or a validator. */
  'registered',
] as const;
export type Standing = (typeof STANDINGS)[number];

export type Policy =
  /** Anyone; no request signature is read. */
  | { readonly kind: 'public' }
  /** POST /v1/tx(s): each transaction's own signature is the authentication (the ledger checks roles). */
  | { readonly kind: 'transaction' }
  /** Record fetch: the requester's signed AccessRequest; the requester must be an active provider, the patient or a live delegate. */
  | { readonly kind: 'access-request' }
  /** Prometheus scrape: a loopback peer, or the configured bearer token. */
  | { readonly kind: 'metrics' }
  /** A request signature (RFC 9421, medchain profile) by a key holding one of these standings. */
  | { readonly kind: 'signed'; readonly allow: readonly Standing[] };

const PUBLIC: Policy = { kind: 'public' };
const signed = (...allow: Standing[]): Policy => ({ kind: 'signed', allow });

const PATIENT_SIDE: Standing[] = ['patient', 'delegate'];
const MEMBERS: Standing[] = ['member-admin', 'validator'];

/**
 * The table. Keys are the route table's operation ids, plus `patientEvents` (GET /v1/events
 * with `?patient=`; without it the stream is `events`), plus the FHIR routes' (`FHIR_ROUTES`).
 */
export const ROUTE_ACCESS = {
  health: PUBLIC,
  status: PUBLIC,
  submitTransaction: { kind: 'transaction' },
  submitTransactions: { kind: 'transaction' },
  getTransaction: signed('self', ...MEMBERS),
  getLatestBlock: signed(...MEMBERS),
  getBlock: signed(...MEMBERS),
  getHeader: PUBLIC,
  getGenesis: PUBLIC,
  listValidatorSets: PUBLIC,
  getPatient: signed(...PATIENT_SIDE),
  getDelegate: signed(...PATIENT_SIDE, 'self'),
  listConsents: signed(...PATIENT_SIDE),
  listAudit: signed(...PATIENT_SIDE),
  getAuditInclusion: signed(...PATIENT_SIDE),
  listPatientRecords: signed(...PATIENT_SIDE),
  getConsent: signed(...PATIENT_SIDE, 'grantee'),
  getRecord: signed(...PATIENT_SIDE, 'org-admin', 'org-provider'),
  fetchRecord: { kind: 'access-request' },
  accessDecision: signed('record-custodian'),
  putVaultRecord: signed('own-org-provider'),
  eraseVaultRecord: signed('own-org-admin', 'own-org-provider'),
  listOrganizations: PUBLIC,
  getOrganization: signed('org-admin', 'org-provider', ...MEMBERS),
  getProvider: signed('registered'),
  listProviderConsents: signed('self', 'org-admin'),
  getStateProof: { kind: 'signed', allow: [] },
  events: signed(...MEMBERS),
  patientEvents: signed(...PATIENT_SIDE),
  listEvidence: PUBLIC,
  metrics: { kind: 'metrics' },
  /** The node's own settings (src/api/admin.ts): its organization's admins only. */
  getLogLevels: signed('own-org-admin'),
  setLogLevels: signed('own-org-admin'),
  // FHIR R4 (src/fhir): the same standings as the /v1 routes that read the same entries.
  fhirMetadata: PUBLIC,
  /** Consent?patient=: the patient side, or the grantee the search's `actor` names. */
  fhirSearchConsent: signed(...PATIENT_SIDE, 'grantee'),
  fhirReadConsent: signed(...PATIENT_SIDE, 'grantee'),
  /** AuditEvent?patient=: the patient side, or the requester the search's `agent` names. */
  fhirSearchAuditEvent: signed(...PATIENT_SIDE, 'self'),
  /** An audit entry: the patient side, or the requester it logs. */
  fhirReadAuditEvent: signed(...PATIENT_SIDE, 'self'),
  /** As the read of its target (a Consent or an AuditEvent). */
  fhirReadProvenance: signed(...PATIENT_SIDE, 'self', 'grantee'),
  /** POST Consent (import): the patient side of the Consent's patient; the grant's own signature decides the rest. */
  fhirCreateConsent: signed(...PATIENT_SIDE),
  // The research export (src/fhir/export): a study is an active researcher's key.
  /** Kick-off: the subject is the signer itself when it is an active researcher. */
  fhirExportKickOff: signed('self'),
  /** Status, cancel and files of an export: the subject is the study key that kicked it off. */
  fhirExportStatus: signed('self'),
  fhirExportCancel: signed('self'),
  fhirExportFile: signed('self'),
} as const satisfies Record<string, Policy>;

export type AccessKey = keyof typeof ROUTE_ACCESS;

/**
 * Routes whose refusals (401 KEY_UNKNOWN, 403 FORBIDDEN) are answered by the route itself as
 * for a subject the node does not know (its 404): a transaction's signer polls for one that
 * may not be on this node yet, and nobody else learns whether it exists. The request signature
 * is still checked (a missing or bad one is 401) and its nonce still used.
 */
export const REFUSED_AS_NOT_FOUND: ReadonlySet<AccessKey> = new Set(['getTransaction']);

/**
 * State proofs by raw key (GET /v1/state/proof) follow the rule of the entry they prove: the
 * key's table (its first element) picks the policy, the key's other elements (or the entry they
 * point at) the subject. A key that decodes to no known table proves only absence: members.
 */
export const STATE_TABLE_ACCESS = {
  chain: PUBLIC,
  members: PUBLIC,
  org: PUBLIC,
  admin: PUBLIC,
  validator: PUBLIC,
  peer: PUBLIC,
  provider: ROUTE_ACCESS.getProvider,
  patient: ROUTE_ACCESS.getPatient,
  delegate: ROUTE_ACCESS.getDelegate,
  record: ROUTE_ACCESS.getRecord,
  consent: ROUTE_ACCESS.getConsent,
  'grantee-consents': signed(...PATIENT_SIDE, 'grantee'),
  'audit-acc': ROUTE_ACCESS.listAudit,
  'access-nonce': signed('self'),
  nonce: signed('self', ...MEMBERS),
  proposal: signed(...MEMBERS),
  unknown: signed(...MEMBERS),
} as const satisfies Record<string, Policy>;

export type StateTable = keyof typeof STATE_TABLE_ACCESS;

/** Whether a key with these standings passes a signed policy. */
export function allows(policy: Policy, standings: ReadonlySet<Standing>): boolean {
  if (policy.kind !== 'signed') return true;
  return policy.allow.some((standing) => standings.has(standing));
}
