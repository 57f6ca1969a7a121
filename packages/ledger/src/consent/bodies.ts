import type { Canonical } from '@medchain/crypto';
import {
  CONSENT_ACTIONS,
  type ConsentAction,
  type ConsentTerms,
  DELEGATE_RELATIONS,
  type DelegateRelation,
  EMERGENCY_REASONS,
  type EmergencyReason,
  type MembershipChange,
  type OrganizationSpec,
  PROVIDER_ROLES,
  type ProviderRole,
  PURPOSES,
  type Purpose,
  RESOURCE_TYPE_PATTERN,
} from '../model.js';
import {
  asBoolean,
  asBytes,
  asEnum,
  asInteger,
  asList,
  asObject,
  asPublicKey,
  asString,
  invalid,
} from '../validate.js';

/** Every transaction kind, with the shape of its body. The rules live in consent/rules.ts. */
export const TX_KINDS = [
  'governance.propose',
  'governance.vote',
  'organization.rotate-key',
  'provider.register',
  'provider.suspend',
  'patient.register',
  'patient.delegate',
  'patient.undelegate',
  'patient.policy',
  'record.anchor',
  'record.amend',
  'record.erase',
  'consent.grant',
  'consent.revoke',
  'access.log',
  'access.emergency',
  'research.release',
] as const;
export type TxKind = (typeof TX_KINDS)[number];

export const MAX_ADMIN_KEYS = 16;
export const MAX_SCOPE_ITEMS = 64;
const PEER_ID_PATTERN = /^[1-9A-HJ-NP-Za-km-z]{16,128}$/;
const RECORD_NONCE_LENGTH = 16;
const REQUEST_NONCE_LENGTH = 16;

/** What a requester signs to ask a custodian for a record; the custodian logs it on the ledger. */
export interface AccessRequest {
  readonly recordId: Uint8Array;
  readonly requester: Uint8Array;
  readonly action: ConsentAction;
  readonly purpose: Purpose;
  /** The requester's idea of now (ms); must be within the skew limit of the block time. */
  readonly time: number;
  readonly nonce: Uint8Array;
  /** Present only for break-glass requests. */
  readonly emergencyReason?: EmergencyReason;
}

export interface AccessLogBody {
  readonly request: AccessRequest;
  readonly requestSignature: Uint8Array;
  /** The custodian's decision; execution recomputes it and fails the tx if they differ. */
  readonly decision: 'permit' | 'deny';
  readonly consentId: Uint8Array | null;
}

/**
 * A custodian's release of one patient's records to a study (a research export): the study's
 * researcher key, the patient, the research consent that covers every record, the records
 * released, and the hash of the study's signed export request.
 */
export interface ResearchReleaseBody {
  readonly study: Uint8Array;
  readonly patient: Uint8Array;
  readonly consentId: Uint8Array;
  readonly recordIds: readonly Uint8Array[];
  readonly requestHash: Uint8Array;
}

export interface TxBodies {
  'governance.propose': { readonly change: MembershipChange };
  'governance.vote': { readonly proposalId: Uint8Array; readonly approve: boolean };
  /** One of the signer's organization's keys (an admin key or its validator key) replaced. */
  'organization.rotate-key': { readonly oldKey: Uint8Array; readonly newKey: Uint8Array };
  'provider.register': { readonly provider: Uint8Array; readonly role: ProviderRole };
  'provider.suspend': { readonly provider: Uint8Array };
  'patient.register': Record<string, never>;
  'patient.delegate': {
    readonly patient: Uint8Array;
    readonly delegate: Uint8Array;
    readonly relation: DelegateRelation;
    readonly expiresAt: number;
  };
  'patient.undelegate': { readonly patient: Uint8Array; readonly delegate: Uint8Array };
  'patient.policy': {
    readonly patient: Uint8Array;
    readonly breakGlassOptOut: boolean;
    readonly researchOptOut: boolean;
  };
  'record.anchor': {
    readonly patient: Uint8Array;
    readonly custodian: Uint8Array;
    readonly resourceType: string;
    readonly contentHash: Uint8Array;
    readonly nonce: Uint8Array;
  };
  'record.amend': { readonly recordId: Uint8Array; readonly contentHash: Uint8Array };
  'record.erase': { readonly recordId: Uint8Array };
  'consent.grant': ConsentTerms;
  'consent.revoke': { readonly consentId: Uint8Array };
  'access.log': AccessLogBody;
  'access.emergency': AccessLogBody;
  'research.release': ResearchReleaseBody;
}

const hash32 = (value: unknown, path: string) => asBytes(value, path, 32);
const resourceType = (value: unknown, path: string) =>
  asString(value, path, RESOURCE_TYPE_PATTERN, 'a FHIR resource type name');

export function parseOrganizationSpec(
  value: unknown,
  path: string,
  key: KeyParser = asPublicKey,
): OrganizationSpec {
  const o = asObject(value, path, ['id', 'adminKeys', 'validatorKey', 'peerId']);
  return {
    id: hash32(o.id, `${path}.id`),
    adminKeys: asList(o.adminKeys, `${path}.adminKeys`, { min: 1, max: MAX_ADMIN_KEYS }, key),
    validatorKey: key(o.validatorKey, `${path}.validatorKey`),
    peerId: asString(o.peerId, `${path}.peerId`, PEER_ID_PATTERN, 'a base58 libp2p peer id'),
  };
}

function parseChange(value: unknown, path: string, key: KeyParser): MembershipChange {
  const type = asObject(
    value,
    path,
    ['type'],
    ['organization', 'orgId', 'adminKeys', 'validatorKey'],
  ).type;
  if (type === 'add') {
    const o = asObject(value, path, ['type', 'organization']);
    return {
      type,
      organization: parseOrganizationSpec(o.organization, `${path}.organization`, key),
    };
  }
  if (type === 'remove') {
    const o = asObject(value, path, ['type', 'orgId']);
    return { type, orgId: hash32(o.orgId, `${path}.orgId`) };
  }
  if (type === 'rekey') {
    const o = asObject(value, path, ['type', 'orgId', 'adminKeys', 'validatorKey']);
    return {
      type,
      orgId: hash32(o.orgId, `${path}.orgId`),
      adminKeys: asList(o.adminKeys, `${path}.adminKeys`, { min: 1, max: MAX_ADMIN_KEYS }, key),
      validatorKey: key(o.validatorKey, `${path}.validatorKey`),
    };
  }
  throw invalid(`${path}.type`, 'expected add, remove or rekey');
}

export function parseAccessRequest(
  value: unknown,
  path: string,
  key: KeyParser = asPublicKey,
): AccessRequest {
  const o = asObject(
    value,
    path,
    ['recordId', 'requester', 'action', 'purpose', 'time', 'nonce'],
    ['emergencyReason'],
  );
  const request: AccessRequest = {
    recordId: hash32(o.recordId, `${path}.recordId`),
    requester: key(o.requester, `${path}.requester`),
    action: asEnum(o.action, `${path}.action`, CONSENT_ACTIONS),
    purpose: asEnum(o.purpose, `${path}.purpose`, PURPOSES),
    time: asInteger(o.time, `${path}.time`),
    nonce: asBytes(o.nonce, `${path}.nonce`, REQUEST_NONCE_LENGTH),
  };
  if (o.emergencyReason === undefined) return request;
  return {
    ...request,
    emergencyReason: asEnum(o.emergencyReason, `${path}.emergencyReason`, EMERGENCY_REASONS),
  };
}

function parseAccessLog(body: unknown, emergency: boolean, key: KeyParser): AccessLogBody {
  const o = asObject(body, 'body', ['request', 'requestSignature', 'decision', 'consentId']);
  const request = parseAccessRequest(o.request, 'body.request', key);
  if (emergency && (request.emergencyReason === undefined || request.purpose !== 'ETREAT')) {
    throw invalid(
      'body.request',
      'a break-glass request needs purpose ETREAT and an emergencyReason',
    );
  }
  if (!emergency && request.emergencyReason !== undefined) {
    throw invalid('body.request.emergencyReason', 'break-glass requests go in access.emergency');
  }
  return {
    request,
    requestSignature: asBytes(o.requestSignature, 'body.requestSignature', 64),
    decision: asEnum(o.decision, 'body.decision', ['permit', 'deny'] as const),
    consentId: o.consentId === null ? null : hash32(o.consentId, 'body.consentId'),
  };
}

export function parseConsentTerms(
  body: unknown,
  path = 'body',
  key: KeyParser = asPublicKey,
): ConsentTerms {
  const o = asObject(body, path, [
    'patient',
    'grantee',
    'recordIds',
    'resourceTypes',
    'actions',
    'purposes',
    'validFrom',
    'validUntil',
  ]);
  const grantee = asObject(o.grantee, `${path}.grantee`, ['type', 'id']);
  const granteeType = asEnum(grantee.type, `${path}.grantee.type`, [
    'provider',
    'organization',
  ] as const);
  const scope = { min: 0, max: MAX_SCOPE_ITEMS };
  const terms: ConsentTerms = {
    patient: key(o.patient, `${path}.patient`),
    grantee: {
      type: granteeType,
      id:
        granteeType === 'provider'
          ? key(grantee.id, `${path}.grantee.id`)
          : hash32(grantee.id, `${path}.grantee.id`),
    },
    recordIds: asList(o.recordIds, `${path}.recordIds`, scope, hash32),
    resourceTypes: asList(o.resourceTypes, `${path}.resourceTypes`, scope, resourceType),
    actions: asList(o.actions, `${path}.actions`, { min: 1, max: 5 }, (v, p) =>
      asEnum(v, p, CONSENT_ACTIONS),
    ),
    purposes: asList(o.purposes, `${path}.purposes`, { min: 1, max: PURPOSES.length }, (v, p) =>
      asEnum(v, p, PURPOSES),
    ),
    validFrom: asInteger(o.validFrom, `${path}.validFrom`),
    validUntil: asInteger(o.validUntil, `${path}.validUntil`),
  };
  if (terms.recordIds.length === 0 && terms.resourceTypes.length === 0) {
    throw invalid(`${path}.recordIds`, 'a consent must name record ids or resource types');
  }
  return terms;
}

type Parsers = { [K in TxKind]: (body: unknown, key: KeyParser) => TxBodies[K] };

const parsers: Parsers = {
  'governance.propose': (body, key) => {
    const o = asObject(body, 'body', ['change']);
    return { change: parseChange(o.change, 'body.change', key) };
  },
  'governance.vote': (body) => {
    const o = asObject(body, 'body', ['proposalId', 'approve']);
    return {
      proposalId: hash32(o.proposalId, 'body.proposalId'),
      approve: asBoolean(o.approve, 'body.approve'),
    };
  },
  'organization.rotate-key': (body, key) => {
    const o = asObject(body, 'body', ['oldKey', 'newKey']);
    return { oldKey: key(o.oldKey, 'body.oldKey'), newKey: key(o.newKey, 'body.newKey') };
  },
  'provider.register': (body, key) => {
    const o = asObject(body, 'body', ['provider', 'role']);
    return {
      provider: key(o.provider, 'body.provider'),
      role: asEnum(o.role, 'body.role', PROVIDER_ROLES),
    };
  },
  'provider.suspend': (body, key) => {
    const o = asObject(body, 'body', ['provider']);
    return { provider: key(o.provider, 'body.provider') };
  },
  'patient.register': (body) => {
    asObject(body, 'body', []);
    return {};
  },
  'patient.delegate': (body, key) => {
    const o = asObject(body, 'body', ['patient', 'delegate', 'relation', 'expiresAt']);
    return {
      patient: key(o.patient, 'body.patient'),
      delegate: key(o.delegate, 'body.delegate'),
      relation: asEnum(o.relation, 'body.relation', DELEGATE_RELATIONS),
      expiresAt: asInteger(o.expiresAt, 'body.expiresAt'),
    };
  },
  'patient.undelegate': (body, key) => {
    const o = asObject(body, 'body', ['patient', 'delegate']);
    return {
      patient: key(o.patient, 'body.patient'),
      delegate: key(o.delegate, 'body.delegate'),
    };
  },
  'patient.policy': (body, key) => {
    const o = asObject(body, 'body', ['patient', 'breakGlassOptOut', 'researchOptOut']);
    return {
      patient: key(o.patient, 'body.patient'),
      breakGlassOptOut: asBoolean(o.breakGlassOptOut, 'body.breakGlassOptOut'),
      researchOptOut: asBoolean(o.researchOptOut, 'body.researchOptOut'),
    };
  },
  'record.anchor': (body, key) => {
    const o = asObject(body, 'body', [
      'patient',
      'custodian',
      'resourceType',
      'contentHash',
      'nonce',
    ]);
    return {
      patient: key(o.patient, 'body.patient'),
      custodian: hash32(o.custodian, 'body.custodian'),
      resourceType: resourceType(o.resourceType, 'body.resourceType'),
      contentHash: hash32(o.contentHash, 'body.contentHash'),
      nonce: asBytes(o.nonce, 'body.nonce', RECORD_NONCE_LENGTH),
    };
  },
  'record.amend': (body) => {
    const o = asObject(body, 'body', ['recordId', 'contentHash']);
    return {
      recordId: hash32(o.recordId, 'body.recordId'),
      contentHash: hash32(o.contentHash, 'body.contentHash'),
    };
  },
  'record.erase': (body) => {
    const o = asObject(body, 'body', ['recordId']);
    return { recordId: hash32(o.recordId, 'body.recordId') };
  },
  'consent.grant': (body, key) => parseConsentTerms(body, 'body', key),
  'consent.revoke': (body) => {
    const o = asObject(body, 'body', ['consentId']);
    return { consentId: hash32(o.consentId, 'body.consentId') };
  },
  'access.log': (body, key) => parseAccessLog(body, false, key),
  'access.emergency': (body, key) => parseAccessLog(body, true, key),
  'research.release': (body, key) => {
    const o = asObject(body, 'body', ['study', 'patient', 'consentId', 'recordIds', 'requestHash']);
    return {
      study: key(o.study, 'body.study'),
      patient: key(o.patient, 'body.patient'),
      consentId: hash32(o.consentId, 'body.consentId'),
      // asList refuses a record named twice.
      recordIds: asList(o.recordIds, 'body.recordIds', { min: 1, max: MAX_SCOPE_ITEMS }, hash32),
      requestHash: hash32(o.requestHash, 'body.requestHash'),
    };
  },
};

/** Parses a public key field: the full Ed25519 check, or only its length (see parseBody). */
export type KeyParser = (value: unknown, path: string) => Uint8Array;

const keyBytes: KeyParser = (value, path) => asBytes(value, path, 32);

/**
 * Checks a body against its kind's shape; throws LedgerError LEDGER_MALFORMED naming the field.
 * `keys: 'full'` (the default, for admission) checks every public key is an acceptable
 * Ed25519 point, which costs a point decompression per key. Execution passes `'length'`: a
 * key that is only looked up is simply not found when it is bad, and the rules that store a
 * new key check it in full themselves (`requireAcceptableKeys`).
 */
export function parseBody<K extends TxKind>(
  kind: K,
  body: Canonical,
  keys: 'full' | 'length' = 'full',
): TxBodies[K] {
  return parsers[kind](body, keys === 'full' ? asPublicKey : keyBytes);
}
