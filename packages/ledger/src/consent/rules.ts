import {
  bytesEqual,
  compareBytes,
  encodeCanonical,
  isAcceptablePublicKeyCached,
  taggedHash,
  toHex,
} from '@medchain/crypto';
import { decideAccess } from '../access.js';
import {
  AUDIT_CHAIN_START,
  type AuditAccumulator,
  auditChainStep,
  type HistoryItem,
} from '../history.js';
import { recordId as deriveRecordId } from '../ids.js';
import type {
  AuditEntry,
  ConsentEntry,
  ConsentTerms,
  DelegateEntry,
  LedgerParams,
  MembershipChange,
  OrganizationEntry,
  OrganizationKeys,
  OrganizationSpec,
  PatientEntry,
  ProposalEntry,
  ProviderEntry,
  RecordEntry,
  RecordVersion,
} from '../model.js';
import { fail } from '../receipt.js';
import { readValue, stateKeys, writeValue } from '../schema.js';
import type { AuthenticatedState, KeyValueReader } from '../state/index.js';
import { memberIds } from '../validators.js';
import { activeProvider, memberOrganization, patientEntry } from './actors.js';
import type {
  AccessLogBody,
  AccessRequest,
  ResearchReleaseBody,
  TxBodies,
  TxKind,
} from './bodies.js';
import type { SignerRole } from './roles.js';

/** What a rule sees of the transaction and block it runs in. */
export interface RuleContext {
  readonly state: AuthenticatedState;
  readonly signer: Uint8Array;
  /** Block time, ms since the epoch. */
  readonly time: number;
  readonly txHash: Uint8Array;
  readonly params: LedgerParams;
  /** Told when organization membership, and so the validator set, changed. */
  membershipChanged(): void;
  /** What the transaction adds to the history, appended in order (emptied if it fails). */
  readonly history: HistoryItem[];
  /** Checks a requester's signature over an access request digest (see ExecutionOptions). */
  isRequestSignatureValid(
    digest: Uint8Array,
    requester: Uint8Array,
    signature: Uint8Array,
  ): boolean;
}

/**
 * The rest of a kind's rule, after its role check (roles.ts) passed and returned `role`: the
 * executor runs the two in that order, and nothing here fails with a role code.
 */
type Rule<K extends TxKind> = (ctx: RuleContext, body: TxBodies[K], role: SignerRole<K>) => void;

const hex = (bytes: Uint8Array) => toHex(bytes).slice(0, 16);

/**
 * Execution parses bodies checking key lengths only (see parseBody); a rule that stores a key
 * which will later sign, or be granted access, checks it in full here.
 */
function requireAcceptableKeys(keys: readonly Uint8Array[], field: string): void {
  for (const key of keys) {
    if (!isAcceptablePublicKeyCached(key)) {
      fail('MALFORMED_BODY', `${field}: expected an acceptable Ed25519 public key (32 bytes)`);
    }
  }
}

/** The digest a requester signs: taggedHash('AccessRequest', canonical request). */
export function accessRequestDigest(request: AccessRequest): Uint8Array {
  return taggedHash('AccessRequest', encodeCanonical({ ...request }));
}

// ---- governance ----

/** Passing needs yes votes from at least two thirds of the current member organizations. */
export function passThreshold(members: number): number {
  return Math.ceil((2 * members) / 3);
}

/** Whether `key` is, or ever was, an organization's admin or validator key. */
function isOrganizationKey(reader: KeyValueReader, key: Uint8Array): boolean {
  return (
    reader.get(stateKeys.adminKey(key)) !== undefined ||
    reader.get(stateKeys.validatorKey(key)) !== undefined ||
    reader.get(stateKeys.retiredKey(key)) !== undefined
  );
}

/** A key that becomes an organization's must never have been anyone's role key (KEY_IN_USE). */
function requireKeyFree(ctx: RuleContext, key: Uint8Array): void {
  if (isOrganizationKey(ctx.state, key) || ctx.state.get(stateKeys.provider(key)) !== undefined) {
    fail('KEY_IN_USE', `key ${hex(key)} is or was an organization or provider key`);
  }
}

function requireKeysFree(ctx: RuleContext, spec: OrganizationSpec): void {
  if (readValue(ctx.state, stateKeys.organization(spec.id)) !== undefined) {
    fail('ORG_EXISTS', `organization ${hex(spec.id)} exists or existed`);
  }
  if (readValue(ctx.state, stateKeys.peerId(spec.peerId)) !== undefined) {
    fail('KEY_IN_USE', `peer id ${spec.peerId} already belongs to an organization`);
  }
  for (const key of [...spec.adminKeys, spec.validatorKey]) requireKeyFree(ctx, key);
}

function requireMember(ctx: RuleContext, orgId: Uint8Array): OrganizationEntry {
  const org = memberOrganization(ctx.state, orgId);
  if (org === undefined) fail('ORG_NOT_FOUND', `organization ${hex(orgId)} is not a member`);
  return org;
}

function requireRemovable(ctx: RuleContext, orgId: Uint8Array): void {
  requireMember(ctx, orgId);
  if (memberIds(ctx.state).length <= 1) fail('LAST_MEMBER', 'the last member cannot be removed');
}

const holds = (keys: readonly Uint8Array[], key: Uint8Array) =>
  keys.some((held) => bytesEqual(held, key));

/**
 * Checks `keys` can replace `org`'s: acceptable points, the validator key not also an admin
 * key, and every key the organization does not hold in that role already free (requireKeyFree).
 */
function requireReplacementKeys(ctx: RuleContext, org: OrganizationEntry, keys: OrganizationKeys) {
  requireAcceptableKeys([...keys.adminKeys, keys.validatorKey], 'body');
  if (holds(keys.adminKeys, keys.validatorKey)) {
    fail('KEY_IN_USE', 'the validator key cannot also be an admin key');
  }
  // A key the organization holds may stay, in the same role; any other must be free.
  for (const key of keys.adminKeys) if (!holds(org.adminKeys, key)) requireKeyFree(ctx, key);
  if (!bytesEqual(keys.validatorKey, org.validatorKey)) requireKeyFree(ctx, keys.validatorKey);
}

/**
 * Gives `org` new admin keys and validator key. A key it no longer holds is retired: its index
 * entry goes (it signs for nobody from this transaction on) and `retiredKey` keeps it from
 * ever being used again. A new validator key changes the validator set, which consensus
 * switches to at the height it derives from this block's (the membership-change path).
 */
function replaceKeys(ctx: RuleContext, org: OrganizationEntry, keys: OrganizationKeys): void {
  const retire = (key: Uint8Array, index: Uint8Array) => {
    ctx.state.delete(index);
    writeValue(ctx.state, stateKeys.retiredKey(key), org.id);
  };
  for (const key of org.adminKeys) {
    if (!holds(keys.adminKeys, key)) retire(key, stateKeys.adminKey(key));
  }
  for (const key of keys.adminKeys) {
    if (!holds(org.adminKeys, key)) writeValue(ctx.state, stateKeys.adminKey(key), org.id);
  }
  let formerValidatorKeys = org.formerValidatorKeys;
  const validatorChanged = !bytesEqual(org.validatorKey, keys.validatorKey);
  if (validatorChanged) {
    retire(org.validatorKey, stateKeys.validatorKey(org.validatorKey));
    writeValue(ctx.state, stateKeys.validatorKey(keys.validatorKey), org.id);
    formerValidatorKeys = [...(formerValidatorKeys ?? []), org.validatorKey];
  }
  const entry: OrganizationEntry = {
    ...org,
    adminKeys: keys.adminKeys,
    validatorKey: keys.validatorKey,
    ...(formerValidatorKeys === undefined ? {} : { formerValidatorKeys }),
  };
  writeValue(ctx.state, stateKeys.organization(org.id), entry);
  if (validatorChanged) ctx.membershipChanged();
}

/**
 * One key of the signer's organization (an admin key, its own included, or the validator key)
 * replaced by a new one. Any admin key of the organization may do it, so when one admin key is
 * stolen another retires it at once; when none is left to the organization, the members vote a
 * `rekey` change instead.
 */
const rotateKey: Rule<'organization.rotate-key'> = (ctx, { oldKey, newKey }, org) => {
  const isValidator = bytesEqual(org.validatorKey, oldKey);
  if (!isValidator && !holds(org.adminKeys, oldKey)) {
    fail('KEY_NOT_FOUND', `key ${hex(oldKey)} is not an admin or validator key of ${hex(org.id)}`);
  }
  requireAcceptableKeys([newKey], 'body.newKey');
  requireKeyFree(ctx, newKey);
  replaceKeys(
    ctx,
    org,
    isValidator
      ? { adminKeys: org.adminKeys, validatorKey: newKey }
      : {
          adminKeys: org.adminKeys.map((key) => (bytesEqual(key, oldKey) ? newKey : key)),
          validatorKey: org.validatorKey,
        },
  );
};

/** Writes a new member organization and its key indexes; used by genesis and by governance. */
export function admitOrganization(
  state: AuthenticatedState,
  spec: OrganizationSpec,
  time: number,
): void {
  const entry: OrganizationEntry = { ...spec, status: 'member', since: time };
  writeValue(state, stateKeys.organization(spec.id), entry);
  for (const key of spec.adminKeys) writeValue(state, stateKeys.adminKey(key), spec.id);
  writeValue(state, stateKeys.validatorKey(spec.validatorKey), spec.id);
  writeValue(state, stateKeys.peerId(spec.peerId), spec.id);
  const members = [...memberIds(state), spec.id].sort(compareBytes);
  writeValue(state, stateKeys.members(), members);
}

function applyChange(ctx: RuleContext, change: MembershipChange): void {
  if (change.type === 'add') {
    requireKeysFree(ctx, change.organization);
    admitOrganization(ctx.state, change.organization, ctx.time);
  } else if (change.type === 'rekey') {
    const org = requireMember(ctx, change.orgId);
    requireReplacementKeys(ctx, org, change);
    replaceKeys(ctx, org, change);
    return;
  } else {
    requireRemovable(ctx, change.orgId);
    const org = readValue<OrganizationEntry>(ctx.state, stateKeys.organization(change.orgId))!;
    writeValue(ctx.state, stateKeys.organization(change.orgId), {
      ...org,
      status: 'removed',
      since: ctx.time,
    });
    const members = memberIds(ctx.state).filter((id) => !bytesEqual(id, change.orgId));
    writeValue(ctx.state, stateKeys.members(), members);
  }
  ctx.membershipChanged();
}

/** Counts only votes of organizations that are members now, against the current member count. */
function tally(ctx: RuleContext, proposal: ProposalEntry): ProposalEntry {
  const members = memberIds(ctx.state);
  const isMember = (id: Uint8Array) => members.some((m) => bytesEqual(m, id));
  const threshold = passThreshold(members.length);
  const yes = proposal.yes.filter(isMember).length;
  const no = proposal.no.filter(isMember).length;
  if (yes >= threshold) {
    applyChange(ctx, proposal.change);
    return { ...proposal, status: 'passed' };
  }
  return no > members.length - threshold ? { ...proposal, status: 'rejected' } : proposal;
}

const propose: Rule<'governance.propose'> = (ctx, { change }, org) => {
  if (change.type === 'add') {
    const { adminKeys, validatorKey } = change.organization;
    requireAcceptableKeys([...adminKeys, validatorKey], 'body.change.organization');
  }
  if (change.type === 'add') requireKeysFree(ctx, change.organization);
  else if (change.type === 'rekey')
    requireReplacementKeys(ctx, requireMember(ctx, change.orgId), change);
  else requireRemovable(ctx, change.orgId);
  const proposal: ProposalEntry = {
    id: ctx.txHash,
    proposerOrg: org.id,
    change,
    createdAt: ctx.time,
    expiresAt: ctx.time + ctx.params.proposalTtlMs,
    yes: [org.id],
    no: [],
    status: 'open',
  };
  writeValue(ctx.state, stateKeys.proposal(proposal.id), tally(ctx, proposal));
};

const vote: Rule<'governance.vote'> = (ctx, { proposalId, approve }, org) => {
  const proposal = readValue<ProposalEntry>(ctx.state, stateKeys.proposal(proposalId));
  if (proposal === undefined) fail('PROPOSAL_NOT_FOUND', `no proposal ${hex(proposalId)}`);
  if (proposal.status !== 'open' || ctx.time >= proposal.expiresAt) {
    fail(
      'PROPOSAL_CLOSED',
      `proposal is ${proposal.status === 'open' ? 'expired' : proposal.status}`,
    );
  }
  if ([...proposal.yes, ...proposal.no].some((id) => bytesEqual(id, org.id))) {
    fail('ALREADY_VOTED', 'this organization already voted on the proposal');
  }
  const voted: ProposalEntry = approve
    ? { ...proposal, yes: [...proposal.yes, org.id] }
    : { ...proposal, no: [...proposal.no, org.id] };
  writeValue(ctx.state, stateKeys.proposal(proposalId), tally(ctx, voted));
};

// ---- providers ----

const registerProvider: Rule<'provider.register'> = (ctx, { provider, role }, orgId) => {
  requireAcceptableKeys([provider], 'body.provider');
  if (readValue(ctx.state, stateKeys.provider(provider)) !== undefined) {
    fail('PROVIDER_EXISTS', `provider ${hex(provider)} is already registered`);
  }
  if (isOrganizationKey(ctx.state, provider)) {
    fail(
      'KEY_IN_USE',
      'an organization admin or validator key, or a retired one, cannot be a provider',
    );
  }
  const entry: ProviderEntry = {
    key: provider,
    org: orgId,
    role,
    status: 'active',
    registeredAt: ctx.time,
    suspendedAt: null,
  };
  writeValue(ctx.state, stateKeys.provider(provider), entry);
  ctx.history.push({ type: 'provider', org: orgId, provider });
};

const suspendProvider: Rule<'provider.suspend'> = (ctx, { provider }, orgId) => {
  const entry = readValue<ProviderEntry>(ctx.state, stateKeys.provider(provider));
  if (entry === undefined || !bytesEqual(entry.org, orgId)) {
    fail('PROVIDER_NOT_FOUND', `provider ${hex(provider)} is not registered by this organization`);
  }
  if (entry.status === 'suspended') fail('PROVIDER_SUSPENDED', 'provider is already suspended');
  writeValue(ctx.state, stateKeys.provider(provider), {
    ...entry,
    status: 'suspended',
    suspendedAt: ctx.time,
  });
};

// ---- patients ----

function requirePatient(ctx: RuleContext, patient: Uint8Array): PatientEntry {
  const entry = patientEntry(ctx.state, patient);
  if (entry === undefined) fail('PATIENT_NOT_FOUND', `patient ${hex(patient)} is not registered`);
  return entry;
}

const registerPatient: Rule<'patient.register'> = (ctx) => {
  const entry: PatientEntry = {
    key: ctx.signer,
    registeredAt: ctx.time,
    breakGlassOptOut: false,
    researchOptOut: false,
  };
  writeValue(ctx.state, stateKeys.patient(ctx.signer), entry);
};

const delegate: Rule<'patient.delegate'> = (ctx, body) => {
  requirePatient(ctx, body.patient);
  requireAcceptableKeys([body.delegate], 'body.delegate');
  if (bytesEqual(body.delegate, body.patient)) {
    fail('INVALID_DELEGATE', 'a patient cannot delegate to their own key');
  }
  if (
    body.expiresAt <= ctx.time ||
    body.expiresAt > ctx.time + ctx.params.maxDelegationDurationMs
  ) {
    fail('BAD_EXPIRY', 'expiry must be after the block time and within the maximum delegation');
  }
  const entry: DelegateEntry = {
    patient: body.patient,
    delegate: body.delegate,
    relation: body.relation,
    grantedAt: ctx.time,
    expiresAt: body.expiresAt,
  };
  writeValue(ctx.state, stateKeys.delegate(body.patient, body.delegate), entry);
};

const undelegate: Rule<'patient.undelegate'> = (ctx, body) => {
  requirePatient(ctx, body.patient);
  const key = stateKeys.delegate(body.patient, body.delegate);
  if (ctx.state.get(key) === undefined) fail('DELEGATE_NOT_FOUND', 'no such delegate');
  ctx.state.delete(key);
};

const policy: Rule<'patient.policy'> = (ctx, body) => {
  const entry = requirePatient(ctx, body.patient);
  writeValue(ctx.state, stateKeys.patient(body.patient), {
    ...entry,
    breakGlassOptOut: body.breakGlassOptOut,
    researchOptOut: body.researchOptOut,
  });
};

// ---- records ----

/** `record` is what the role check read for `recordId`. */
function requireLiveRecord(recordId: Uint8Array, record: RecordEntry | undefined): RecordEntry {
  if (record === undefined) fail('RECORD_NOT_FOUND', `no record ${hex(recordId)}`);
  if (record.erased) fail('RECORD_ERASED', 'the record is erased');
  return record;
}

function appendVersion(ctx: RuleContext, record: RecordEntry, previousHash: Uint8Array | null) {
  const version: RecordVersion = {
    version: record.version,
    contentHash: record.contentHash,
    previousHash,
    author: ctx.signer,
    time: ctx.time,
    txHash: ctx.txHash,
  };
  ctx.history.push({ type: 'version', recordId: record.id, version });
}

const anchor: Rule<'record.anchor'> = (ctx, body) => {
  requirePatient(ctx, body.patient);
  const id = deriveRecordId(body.custodian, body.patient, body.nonce);
  if (readValue(ctx.state, stateKeys.record(id)) !== undefined) {
    fail('RECORD_EXISTS', `record ${hex(id)} exists; pick another nonce`);
  }
  const record: RecordEntry = {
    id,
    patient: body.patient,
    custodian: body.custodian,
    resourceType: body.resourceType,
    version: 1,
    contentHash: body.contentHash,
    erased: false,
    createdAt: ctx.time,
    updatedAt: ctx.time,
  };
  writeValue(ctx.state, stateKeys.record(id), record);
  ctx.history.push({ type: 'record', patient: body.patient, recordId: id });
  appendVersion(ctx, record, null);
};

const amend: Rule<'record.amend'> = (ctx, body, found) => {
  const record = requireLiveRecord(body.recordId, found);
  const amended: RecordEntry = {
    ...record,
    version: record.version + 1,
    contentHash: body.contentHash,
    updatedAt: ctx.time,
  };
  writeValue(ctx.state, stateKeys.record(record.id), amended);
  appendVersion(ctx, amended, record.contentHash);
};

const erase: Rule<'record.erase'> = (ctx, body, found) => {
  const record = requireLiveRecord(body.recordId, found);
  writeValue(ctx.state, stateKeys.record(record.id), {
    ...record,
    erased: true,
    updatedAt: ctx.time,
  });
};

// ---- consents ----

/**
 * The grant rule's checks, before it writes: patient, grantee, window, scope. On any reader and
 * time, so a gateway can ask them before submitting (`grantRefusal`) and get the same code.
 */
export function checkGrantTerms(
  reader: KeyValueReader,
  terms: ConsentTerms,
  time: number,
  params: LedgerParams,
): void {
  if (patientEntry(reader, terms.patient) === undefined) {
    fail('PATIENT_NOT_FOUND', `patient ${hex(terms.patient)} is not registered`);
  }
  const granteeExists =
    terms.grantee.type === 'provider'
      ? activeProvider(reader, terms.grantee.id) !== undefined
      : memberOrganization(reader, terms.grantee.id) !== undefined;
  if (!granteeExists) {
    fail('GRANTEE_NOT_FOUND', `no active ${terms.grantee.type} ${hex(terms.grantee.id)}`);
  }
  if (terms.validUntil <= terms.validFrom || terms.validUntil <= time) {
    fail('BAD_WINDOW', 'validUntil must be after validFrom and after the block time');
  }
  if (terms.validUntil > time + params.maxConsentDurationMs) {
    fail('WINDOW_TOO_LONG', `a consent may run at most ${params.maxConsentDurationMs} ms`);
  }
  for (const id of terms.recordIds) {
    const record = readValue<RecordEntry>(reader, stateKeys.record(id));
    if (record === undefined || !bytesEqual(record.patient, terms.patient)) {
      fail('SCOPE_INVALID', `record ${hex(id)} is not a record of this patient`);
    }
  }
}

const grant: Rule<'consent.grant'> = (ctx, terms) => {
  checkGrantTerms(ctx.state, terms, ctx.time, ctx.params);
  const consent: ConsentEntry = {
    ...terms,
    id: ctx.txHash,
    grantedBy: ctx.signer,
    createdAt: ctx.time,
    status: 'active',
    revokedAt: null,
    revokedBy: null,
  };
  writeValue(ctx.state, stateKeys.consent(consent.id), consent);
  ctx.history.push({ type: 'consent', patient: terms.patient, consentId: consent.id });
  const byGrantee = stateKeys.granteeConsents(terms.patient, terms.grantee.type, terms.grantee.id);
  writeValue(ctx.state, byGrantee, [
    ...(readValue<Uint8Array[]>(ctx.state, byGrantee) ?? []),
    consent.id,
  ]);
};

const revoke: Rule<'consent.revoke'> = (ctx, { consentId }, consent) => {
  if (consent === undefined) fail('CONSENT_NOT_FOUND', `no consent ${hex(consentId)}`);
  if (consent.status === 'revoked') fail('CONSENT_REVOKED', 'the consent is already revoked');
  writeValue(ctx.state, stateKeys.consent(consentId), {
    ...consent,
    status: 'revoked',
    revokedAt: ctx.time,
    revokedBy: ctx.signer,
  });
};

// ---- access log ----

const logAccess = (
  ctx: RuleContext,
  body: AccessLogBody,
  record: SignerRole<'access.log'>,
): void => {
  const { request } = body;
  if (record === undefined) fail('RECORD_NOT_FOUND', `no record ${hex(request.recordId)}`);
  if (Math.abs(request.time - ctx.time) > ctx.params.accessRequestMaxSkewMs) {
    fail('REQUEST_STALE', 'the request time is too far from the block time');
  }
  const requestHash = accessRequestDigest(request);
  if (!ctx.isRequestSignatureValid(requestHash, request.requester, body.requestSignature)) {
    fail('BAD_REQUEST_SIGNATURE', "the requester's signature over the request does not verify");
  }
  const nonceKey = stateKeys.accessNonce(request.requester, request.nonce);
  if (ctx.state.get(nonceKey) !== undefined) {
    fail('REQUEST_REPLAYED', 'this request nonce was already logged');
  }
  const decided = decideAccess(ctx.state, {
    requester: request.requester,
    action: request.action,
    recordId: request.recordId,
    purpose: request.purpose,
    time: ctx.time,
    ...(request.emergencyReason === undefined ? {} : { emergencyReason: request.emergencyReason }),
  });
  const sameConsent =
    decided.consentId === null
      ? body.consentId === null
      : body.consentId !== null && bytesEqual(decided.consentId, body.consentId);
  if (decided.decision !== body.decision || !sameConsent) {
    const why = decided.decision === 'deny' ? ` (${decided.reason})` : '';
    fail('DECISION_MISMATCH', `the ledger decides ${decided.decision}${why} at block time`);
  }
  writeValue(ctx.state, nonceKey, true);
  appendAudit(ctx, {
    patient: record.patient,
    recordId: record.id,
    custodian: record.custodian,
    requester: request.requester,
    action: request.action,
    purpose: request.purpose,
    decision: decided.decision,
    consentId: decided.consentId,
    denyReason: decided.decision === 'deny' ? decided.reason : null,
    emergency: request.emergencyReason !== undefined,
    emergencyReason: request.emergencyReason ?? null,
    requestHash,
  });
};

/**
 * Appends an entry to its patient's audit trail, at this transaction's time and hash: the
 * entry goes to the history, and the patient's accumulator in the state counts and chains it.
 */
function appendAudit(ctx: RuleContext, entry: Omit<AuditEntry, 'index' | 'time' | 'txHash'>): void {
  const key = stateKeys.auditAccumulator(entry.patient);
  const before = readValue<AuditAccumulator>(ctx.state, key);
  const full: AuditEntry = {
    ...entry,
    index: before?.count ?? 0,
    time: ctx.time,
    txHash: ctx.txHash,
  };
  writeValue(ctx.state, key, {
    count: full.index + 1,
    hash: auditChainStep(before?.hash ?? AUDIT_CHAIN_START, full),
  } satisfies AuditAccumulator);
  ctx.history.push({ type: 'audit', entry: full });
}

// ---- research release ----

/** Why decideAccess refused the study, as the release's receipt code. */
const RELEASE_REFUSALS = {
  REQUESTER_UNKNOWN: 'NOT_RESEARCHER',
  ROLE_NOT_ALLOWED: 'NOT_RESEARCHER',
  RESEARCH_OPT_OUT: 'RESEARCH_OPT_OUT',
} as const;

/**
 * One disclosure entry for a patient's records released to a study. Each record is judged by
 * the access decision at block time, as a researcher's `disclose` for HRESCH: the study must
 * be an active researcher (`NOT_RESEARCHER`), the patient must not have opted out of research
 * (`RESEARCH_OPT_OUT`), and a live consent to the study's key or organization must cover every
 * record (`NO_RESEARCH_CONSENT`); that consent must be the one the body names.
 */
const releaseForResearch = (
  ctx: RuleContext,
  body: ResearchReleaseBody,
  records: SignerRole<'research.release'>,
): void => {
  requirePatient(ctx, body.patient);
  const released = records.map((found, i) => {
    const record = requireLiveRecord(body.recordIds[i]!, found);
    if (!bytesEqual(record.patient, body.patient)) {
      fail('SCOPE_INVALID', `record ${hex(record.id)} is not a record of this patient`);
    }
    return record;
  });
  for (const record of released) {
    const decided = decideAccess(ctx.state, {
      requester: body.study,
      action: 'disclose',
      recordId: record.id,
      purpose: 'HRESCH',
      time: ctx.time,
    });
    if (decided.decision === 'deny') {
      const code =
        RELEASE_REFUSALS[decided.reason as keyof typeof RELEASE_REFUSALS] ?? 'NO_RESEARCH_CONSENT';
      fail(code, `record ${hex(record.id)}: ${decided.reason}`);
    }
    if (decided.basis !== 'consent') {
      fail('NO_RESEARCH_CONSENT', `record ${hex(record.id)}: a study key cannot be its patient`);
    }
    if (!bytesEqual(decided.consentId!, body.consentId)) {
      fail(
        'DECISION_MISMATCH',
        `record ${hex(record.id)}: the ledger names consent ${hex(decided.consentId!)}`,
      );
    }
  }
  const first = released[0]!;
  appendAudit(ctx, {
    patient: body.patient,
    recordId: first.id,
    recordIds: released.map((record) => record.id),
    custodian: first.custodian,
    requester: body.study,
    action: 'disclose',
    purpose: 'HRESCH',
    decision: 'permit',
    consentId: body.consentId,
    denyReason: null,
    emergency: false,
    emergencyReason: null,
    requestHash: body.requestHash,
  });
};

export const rules: { readonly [K in TxKind]: Rule<K> } = {
  'governance.propose': propose,
  'governance.vote': vote,
  'organization.rotate-key': rotateKey,
  'provider.register': registerProvider,
  'provider.suspend': suspendProvider,
  'patient.register': registerPatient,
  'patient.delegate': delegate,
  'patient.undelegate': undelegate,
  'patient.policy': policy,
  'record.anchor': anchor,
  'record.amend': amend,
  'record.erase': erase,
  'consent.grant': grant,
  'consent.revoke': revoke,
  'access.log': logAccess,
  'access.emergency': logAccess,
  'research.release': releaseForResearch,
};
