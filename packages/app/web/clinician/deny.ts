/**
 * What a clinician is told when a record is not served: the ledger's deny reason in plain words,
 * and, for NO_CONSENT, which of the patient's consents came closest and why it does not cover the
 * request (revoked, expired, not yet valid, another purpose or action, another record).
 */
import type { ConsentJson } from '@medchain/client';
import type { ConsentAction, DenyReason, Purpose } from '@medchain/ledger';

export const DENY_EXPLANATIONS: Record<DenyReason, string> = {
  RECORD_NOT_FOUND:
    'No record with this id is anchored on the ledger. Check the record id with the patient or the hospital that holds it.',
  RECORD_ERASED:
    'The record was erased: its content was destroyed at the hospital that held it, and nobody can read it any more.',
  REQUESTER_UNKNOWN:
    'Your key is not an active provider of a member hospital (never registered, or suspended). Ask your hospital’s operator to register or reinstate it.',
  ROLE_NOT_ALLOWED:
    'Your role does not allow this purpose: research (HRESCH) is for researchers only, and researchers may ask for no other purpose.',
  RESEARCH_OPT_OUT: 'The patient has opted out of research: no consent can override that.',
  NO_CONSENT:
    'No active consent of the patient covers this request for you or your hospital: none was granted, it was revoked, it expired or is not valid yet, or it names another purpose, action or record.',
  NOT_EMERGENCY_ROLE:
    'Emergency (break-glass) access is only for providers registered with the emergency role, and only to read (action access).',
  BREAK_GLASS_OPT_OUT:
    'The patient has opted out of break-glass access: their records are served only under their consent, even in an emergency.',
};

export function denyExplanation(reason: string): string {
  return (
    (DENY_EXPLANATIONS as Record<string, string>)[reason] ??
    `The custodian denied the access with reason ${reason}.`
  );
}

export interface Question {
  readonly recordId: string;
  readonly action: ConsentAction;
  readonly purpose: Purpose;
  readonly time: number;
}

const when = (ms: number) => new Date(ms).toLocaleString();

/**
 * Why one consent does not cover the question, in words; undefined when it would cover it as far
 * as the consent alone says (a resource-type scope cannot be checked here: the clinician does not
 * see the record's type before it is served).
 */
export function consentGap(consent: ConsentJson, question: Question): string | undefined {
  if (consent.status === 'revoked') {
    return `The patient revoked this consent${consent.revokedAt === null ? '' : ` on ${when(consent.revokedAt)}`}.`;
  }
  if (question.time >= consent.validUntil)
    return `This consent expired on ${when(consent.validUntil)}.`;
  if (question.time < consent.validFrom) {
    return `This consent is not valid until ${when(consent.validFrom)}.`;
  }
  if (!consent.actions.includes(question.action)) {
    return `This consent allows ${consent.actions.join(', ')}, not ${question.action}.`;
  }
  if (!consent.purposes.includes(question.purpose)) {
    return `This consent is for purpose ${consent.purposes.join(', ')}, not ${question.purpose}.`;
  }
  if (!consent.recordIds.includes(question.recordId) && consent.resourceTypes.length === 0) {
    return 'This consent names other records, not this one.';
  }
  if (!consent.recordIds.includes(question.recordId)) {
    return `This consent covers ${consent.resourceTypes.join(', ')} records; this record may be of another type.`;
  }
  return undefined;
}

/**
 * The consent a NO_CONSENT denial is best explained by: one naming this record first, then the
 * most recent; with the gap it leaves. Undefined when the patient gave this clinician nothing.
 */
export function closestConsent(
  consents: readonly ConsentJson[],
  question: Question,
): { consent: ConsentJson; gap: string | undefined } | undefined {
  const naming = consents.filter((consent) => consent.recordIds.includes(question.recordId));
  const pool = naming.length > 0 ? naming : consents;
  const latest = pool.reduce<ConsentJson | undefined>(
    (best, consent) => (best === undefined || consent.createdAt > best.createdAt ? consent : best),
    undefined,
  );
  return latest === undefined ? undefined : { consent: latest, gap: consentGap(latest, question) };
}

/** Messages for the record route's other refusals (not logged as access). */
export const RECORD_ERRORS: Record<string, string> = {
  REQUESTER_NO_ROLE:
    'The node refused the request before asking the custodian: your key is not an active provider (nor the patient or a delegate). Ask your hospital’s operator to register it.',
  RECORD_NOT_FOUND:
    'The hospital that should hold this record does not know it. Check the record id with the patient.',
  RECORD_ERASED: 'The record was erased and can no longer be read.',
  RECORD_REQUEST_STALE:
    'The custodian refused the request as stale: this device’s clock differs too much from the network’s. Correct the clock and try again.',
  RECORD_REQUEST_REPLAYED:
    'The same request was already used once. Try again: a new request is made each time.',
  RECORD_LOG_FAILED:
    'The custodian could not commit the access entry to the ledger in time, so it sent nothing. Try again in a moment.',
  RECORD_CUSTODIAN_UNREACHABLE:
    'The hospital that holds this record did not answer (its node may be down). Nothing was read; try again later.',
  RECORD_VERIFY_FAILED:
    'The record that arrived does not match the fingerprint anchored on the ledger, so it is not shown. Tell the custodian hospital.',
  RECORD_BAD_REQUEST: 'The node found the request malformed. Check the record id.',
  TIMEOUT:
    'No answer came in time. The custodian may still have logged your access (the patient would see it), but nothing reached this page. Try again in a moment.',
};
