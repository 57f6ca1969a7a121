import { bytesEqual } from '@medchain/crypto';
import type { ConsentEntry, OrganizationEntry, ProviderEntry, RecordEntry } from '../model.js';
import { fail, type ReceiptCode, TxFailure } from '../receipt.js';
import { readValue, stateKeys } from '../schema.js';
import type { KeyValueReader } from '../state/index.js';
import { parsedBody, type Transaction } from '../tx.js';
import {
  activeProvider,
  memberOrganization,
  organizationOfAdmin,
  patientEntry,
  speaksForPatient,
} from './actors.js';
import type { AccessLogBody, ResearchReleaseBody, TxBodies, TxKind } from './bodies.js';

/**
 * The signer-role part of every kind's rule: whether the signer holds a role under which the
 * transaction could succeed. The executor runs it first, before the rest of the kind's rule
 * (rules.ts), which never fails with these codes itself; mempool admission runs the same
 * function on the committed state (signerRoleRefusal). A body that names an entry which is not
 * in the state yet (a record, a consent still pending) is judged on the signer's role alone,
 * because a pending transaction may create that entry.
 */
export const ROLE_REFUSAL_CODES = [
  'NOT_MEMBER_ADMIN',
  'NOT_ORG_ADMIN',
  'PATIENT_EXISTS',
  'NOT_PATIENT',
  'NOT_PATIENT_OR_DELEGATE',
  'NOT_CUSTODIAN_PROVIDER',
  'ROLE_NOT_ALLOWED',
  'NOT_AUTHORIZED',
  'NOT_CUSTODIAN_AGENT',
] as const satisfies readonly ReceiptCode[];
export type RoleRefusalCode = (typeof ROLE_REFUSAL_CODES)[number];

type RoleCheck<K extends TxKind, R> = (
  reader: KeyValueReader,
  signer: Uint8Array,
  time: number,
  body: TxBodies[K],
) => R;

function refuse(code: RoleRefusalCode, message: string): never {
  return fail(code, message);
}

function memberAdmin(reader: KeyValueReader, signer: Uint8Array): OrganizationEntry {
  const org = organizationOfAdmin(reader, signer);
  if (org === undefined) {
    return refuse('NOT_MEMBER_ADMIN', 'signer is not an admin key of a member organization');
  }
  return org;
}

/** An admin key of a member organization, or an active provider with the admin role: its org id. */
function orgAdmin(reader: KeyValueReader, signer: Uint8Array): Uint8Array {
  const org = organizationOfAdmin(reader, signer);
  if (org !== undefined) return org.id;
  const provider = activeProvider(reader, signer);
  if (provider?.role === 'admin') return provider.org;
  return refuse(
    'NOT_ORG_ADMIN',
    'signer is neither an organization admin key nor an admin provider',
  );
}

function self(signer: Uint8Array, patient: Uint8Array): void {
  if (!bytesEqual(patient, signer)) refuse('NOT_PATIENT', 'only the patient may do this');
}

function patientOrDelegate(
  reader: KeyValueReader,
  signer: Uint8Array,
  time: number,
  patient: Uint8Array,
): void {
  if (!speaksForPatient(reader, patient, signer, time)) {
    refuse('NOT_PATIENT_OR_DELEGATE', 'signer is neither the patient nor a live delegate');
  }
}

/**
 * An active, non-researcher provider of `custodian`; with `custodian` unknown (the record is
 * not in the state yet), of any member organization.
 */
function custodianProvider(
  reader: KeyValueReader,
  signer: Uint8Array,
  custodian: Uint8Array | undefined,
): void {
  const provider = activeProvider(reader, signer);
  if (provider === undefined || (custodian !== undefined && !bytesEqual(provider.org, custodian))) {
    refuse(
      'NOT_CUSTODIAN_PROVIDER',
      'signer is not an active provider of the custodian organization',
    );
  }
  if (provider.role === 'researcher')
    refuse('ROLE_NOT_ALLOWED', 'researchers cannot write records');
}

const recordOf = (reader: KeyValueReader, id: Uint8Array) =>
  readValue<RecordEntry>(reader, stateKeys.record(id));

/**
 * activeProvider(signer) of `orgId`, for an `orgId` known to be a member: its membership is
 * not read and decoded a second time.
 */
function isActiveProviderOfMember(reader: KeyValueReader, signer: Uint8Array, orgId: Uint8Array) {
  const provider = readValue<ProviderEntry>(reader, stateKeys.provider(signer));
  return provider?.status === 'active' && bytesEqual(provider.org, orgId);
}

/**
 * Who may write the custodian's access log: its admin keys, its validator (node) key, its
 * active providers. With `custodian` unknown (the record is not in the state yet): an admin
 * key, the validator key or an active provider of any member organization.
 */
function custodianAgent(
  reader: KeyValueReader,
  signer: Uint8Array,
  custodian: Uint8Array | undefined,
): void {
  let agent: boolean;
  if (custodian === undefined) {
    const validatorOrg = readValue<Uint8Array>(reader, stateKeys.validatorKey(signer));
    const nodeOf =
      validatorOrg === undefined ? undefined : memberOrganization(reader, validatorOrg);
    agent =
      organizationOfAdmin(reader, signer) !== undefined ||
      (nodeOf !== undefined && bytesEqual(nodeOf.validatorKey, signer)) ||
      activeProvider(reader, signer) !== undefined;
  } else {
    const org = memberOrganization(reader, custodian);
    agent =
      org !== undefined &&
      (bytesEqual(org.validatorKey, signer) ||
        org.adminKeys.some((key) => bytesEqual(key, signer)) ||
        isActiveProviderOfMember(reader, signer, custodian));
  }
  if (!agent) refuse('NOT_CUSTODIAN_AGENT', "signer does not act for the record's custodian");
}

/** The record the request names, if it is in the state. */
function accessLog(
  reader: KeyValueReader,
  signer: Uint8Array,
  _time: number,
  { request }: AccessLogBody,
): RecordEntry | undefined {
  const record = recordOf(reader, request.recordId);
  custodianAgent(reader, signer, record?.custodian);
  return record;
}

/** The records the release names (undefined where the state has none yet). */
function researchRelease(
  reader: KeyValueReader,
  signer: Uint8Array,
  _time: number,
  { recordIds }: ResearchReleaseBody,
): (RecordEntry | undefined)[] {
  const records = recordIds.map((id) => recordOf(reader, id));
  const known = records.filter((record) => record !== undefined);
  if (known.length === 0) custodianAgent(reader, signer, undefined);
  for (const record of known) custodianAgent(reader, signer, record.custodian);
  return records;
}

/**
 * One role check per kind. Each throws TxFailure with one of ROLE_REFUSAL_CODES, or returns
 * what the rest of the rule needs: the signer's organization, or the entry it read (a record
 * or consent; undefined when the state has none).
 */
const signerRoles = {
  'governance.propose': (reader, signer) => memberAdmin(reader, signer),
  'governance.vote': (reader, signer) => memberAdmin(reader, signer),
  'organization.rotate-key': (reader, signer) => memberAdmin(reader, signer),
  'provider.register': (reader, signer) => orgAdmin(reader, signer),
  'provider.suspend': (reader, signer) => orgAdmin(reader, signer),
  'patient.register': (reader, signer) => {
    if (patientEntry(reader, signer) !== undefined) {
      refuse('PATIENT_EXISTS', 'this key is already a registered patient');
    }
  },
  'patient.delegate': (_reader, signer, _time, { patient }) => self(signer, patient),
  'patient.undelegate': (_reader, signer, _time, { patient }) => self(signer, patient),
  'patient.policy': (reader, signer, time, { patient }) =>
    patientOrDelegate(reader, signer, time, patient),
  'record.anchor': (reader, signer, _time, { custodian }) =>
    custodianProvider(reader, signer, custodian),
  'record.amend': (reader, signer, _time, { recordId }) => {
    const record = recordOf(reader, recordId);
    custodianProvider(reader, signer, record?.custodian);
    return record;
  },
  // The custodian's providers, the patient or a live delegate (right to erasure). Without the
  // record nothing can be said: anyone may be a delegate of its patient.
  'record.erase': (reader, signer, time, { recordId }) => {
    const record = recordOf(reader, recordId);
    if (record === undefined) return record;
    const provider = activeProvider(reader, signer);
    const custodianProvider =
      provider !== undefined &&
      provider.role !== 'researcher' &&
      bytesEqual(provider.org, record.custodian);
    if (!custodianProvider && !speaksForPatient(reader, record.patient, signer, time)) {
      refuse('NOT_AUTHORIZED', 'only the custodian, the patient or a live delegate may erase');
    }
    return record;
  },
  'consent.grant': (reader, signer, time, { patient }) =>
    patientOrDelegate(reader, signer, time, patient),
  'consent.revoke': (reader, signer, time, { consentId }) => {
    const consent = readValue<ConsentEntry>(reader, stateKeys.consent(consentId));
    if (consent !== undefined) patientOrDelegate(reader, signer, time, consent.patient);
    return consent;
  },
  'access.log': accessLog,
  'access.emergency': accessLog,
  'research.release': researchRelease,
} satisfies { readonly [K in TxKind]: RoleCheck<K, unknown> };

/** What a kind's role check hands the rest of its rule. */
export type SignerRole<K extends TxKind> = ReturnType<(typeof signerRoles)[K]>;

/** Runs `kind`'s role check (throws TxFailure with a RoleRefusalCode). */
export function requireSignerRole<K extends TxKind>(
  reader: KeyValueReader,
  kind: K,
  body: TxBodies[K],
  signer: Uint8Array,
  time: number,
): SignerRole<K> {
  const check = signerRoles[kind] as unknown as RoleCheck<K, SignerRole<K>>;
  return check(reader, signer, time, body);
}

export interface RoleRefusal {
  readonly code: RoleRefusalCode;
  readonly message: string;
}

/**
 * Mempool admission's question: would `tx` fail its role check on `reader` at `time`? The node
 * passes its committed state and the time of its last block: block times never go back, a
 * delegate that is not live then is not live at any later block, and the rest of the check
 * reads only entries that never come back once gone (suspended providers, removed members,
 * registered patients). The answer is the executor's own verdict, code and message, on that
 * state; a later transaction that gives the signer a role is not foreseen. A body that does
 * not parse is not a role question (decodeTransaction refuses it): undefined.
 */
export function signerRoleRefusal(
  reader: KeyValueReader,
  tx: Transaction,
  time: number,
): RoleRefusal | undefined {
  let body: TxBodies[TxKind];
  try {
    body = parsedBody(tx);
  } catch {
    return undefined;
  }
  try {
    requireSignerRole(reader, tx.kind, body, tx.signer, time);
    return undefined;
  } catch (error) {
    if (error instanceof TxFailure) {
      return { code: error.code as RoleRefusalCode, message: error.message };
    }
    throw error;
  }
}
