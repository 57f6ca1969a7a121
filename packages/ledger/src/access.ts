import { bytesEqual } from '@medchain/crypto';
import { activeProvider, patientEntry, speaksForPatient } from './consent/actors.js';
import type {
  ConsentAction,
  ConsentEntry,
  EmergencyReason,
  Grantee,
  Purpose,
  RecordEntry,
} from './model.js';
import { readValue, stateKeys } from './schema.js';
import type { KeyValueReader } from './state/index.js';

export interface AccessQuestion {
  readonly requester: Uint8Array;
  readonly action: ConsentAction;
  readonly recordId: Uint8Array;
  readonly purpose: Purpose;
  /** Block time (ms), never a wall clock. */
  readonly time: number;
  /** Set only for break-glass: the requester claims an emergency. */
  readonly emergencyReason?: EmergencyReason;
}

export const DENY_REASONS = [
  'RECORD_NOT_FOUND',
  'RECORD_ERASED',
  'REQUESTER_UNKNOWN',
  'ROLE_NOT_ALLOWED',
  'RESEARCH_OPT_OUT',
  'NO_CONSENT',
  'NOT_EMERGENCY_ROLE',
  'BREAK_GLASS_OPT_OUT',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

export type AccessDecision =
  | {
      readonly decision: 'permit';
      /** 'patient': the patient or a live delegate asks for their own record. */
      readonly basis: 'consent' | 'break-glass' | 'patient';
      readonly consentId: Uint8Array | null;
    }
  | { readonly decision: 'deny'; readonly reason: DenyReason; readonly consentId: null };

const deny = (reason: DenyReason): AccessDecision => ({
  decision: 'deny',
  reason,
  consentId: null,
});

/** A consent covers the question when it is active at `time` and names the action, purpose and record. */
export function consentCovers(
  consent: ConsentEntry,
  record: RecordEntry,
  question: AccessQuestion,
): boolean {
  return (
    consent.status === 'active' &&
    consent.validFrom <= question.time &&
    question.time < consent.validUntil &&
    consent.actions.includes(question.action) &&
    consent.purposes.includes(question.purpose) &&
    (consent.resourceTypes.includes(record.resourceType) ||
      consent.recordIds.some((id) => bytesEqual(id, record.id)))
  );
}

function findConsent(
  reader: KeyValueReader,
  record: RecordEntry,
  grantee: Grantee,
  question: AccessQuestion,
): ConsentEntry | undefined {
  const ids =
    readValue<Uint8Array[]>(
      reader,
      stateKeys.granteeConsents(record.patient, grantee.type, grantee.id),
    ) ?? [];
  // Oldest first, so every node names the same consent when several cover the request.
  for (const consentId of ids) {
    const consent = readValue<ConsentEntry>(reader, stateKeys.consent(consentId));
    if (consent !== undefined && consentCovers(consent, record, question)) return consent;
  }
  return undefined;
}

/**
 * "May requester R do action A on record X for purpose P at time T?" — a pure function of
 * the state, the one rule the custodian applies before serving, execution re-checks when the
 * access is logged, and anyone can re-run to audit. In order:
 * 1. the record must exist and not be erased;
 * 2. the patient (or a live delegate) may always see their own record;
 * 3. otherwise the requester must be an active provider of a member organization;
 * 4. research: only researchers use HRESCH, researchers use nothing else, and a patient's
 *    research opt-out wins over any consent;
 * 5. a live consent to the provider, then to the provider's organization, that names the
 *    action, the purpose and the record (by id or by resource type) permits;
 * 6. without one, a break-glass request (emergencyReason set, purpose ETREAT, action access)
 *    from an emergency-role provider is permitted unless the patient opted out;
 * 7. anything else is denied (NO_CONSENT).
 */
export function decideAccess(reader: KeyValueReader, question: AccessQuestion): AccessDecision {
  const record = readValue<RecordEntry>(reader, stateKeys.record(question.recordId));
  if (record === undefined) return deny('RECORD_NOT_FOUND');
  if (record.erased) return deny('RECORD_ERASED');
  if (
    question.emergencyReason === undefined &&
    speaksForPatient(reader, record.patient, question.requester, question.time)
  ) {
    return { decision: 'permit', basis: 'patient', consentId: null };
  }
  const provider = activeProvider(reader, question.requester);
  if (provider === undefined) return deny('REQUESTER_UNKNOWN');
  const patient = patientEntry(reader, record.patient);
  if ((question.purpose === 'HRESCH') !== (provider.role === 'researcher')) {
    return deny('ROLE_NOT_ALLOWED');
  }
  if (question.purpose === 'HRESCH' && patient?.researchOptOut) return deny('RESEARCH_OPT_OUT');

  const consent =
    findConsent(reader, record, { type: 'provider', id: provider.key }, question) ??
    findConsent(reader, record, { type: 'organization', id: provider.org }, question);
  if (consent !== undefined) return { decision: 'permit', basis: 'consent', consentId: consent.id };

  if (question.emergencyReason !== undefined && question.purpose === 'ETREAT') {
    if (provider.role !== 'emergency' || question.action !== 'access') {
      return deny('NOT_EMERGENCY_ROLE');
    }
    if (patient?.breakGlassOptOut) return deny('BREAK_GLASS_OPT_OUT');
    return { decision: 'permit', basis: 'break-glass', consentId: null };
  }
  return deny('NO_CONSENT');
}
