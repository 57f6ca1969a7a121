import type {
  ConsentAction,
  DelegateRelation,
  DenyReason,
  EmergencyReason,
  Purpose,
} from '@medchain/ledger';

/** The ledger's codes in words a patient reads (the codes stay visible beside them). */
export const PURPOSE_LABELS: Readonly<Record<Purpose, string>> = {
  TREAT: 'Treatment',
  ETREAT: 'Emergency treatment',
  HRESCH: 'Research',
  PUBHLTH: 'Public health',
  HOPERAT: 'Hospital operations',
  PATRQT: 'At my request',
};

export const ACTION_LABELS: Readonly<Record<ConsentAction, string>> = {
  access: 'Read',
  use: 'Use',
  disclose: 'Pass on to others',
  collect: 'Collect',
  correct: 'Correct',
};

export const RELATION_LABELS: Readonly<Record<DelegateRelation, string>> = {
  guardian: 'Guardian',
  proxy: 'Proxy',
};

/** FHIR resource types a patient most often shares; any other can be typed in. */
export const COMMON_RESOURCE_TYPES = [
  'Observation',
  'Condition',
  'MedicationStatement',
  'AllergyIntolerance',
  'Immunization',
  'DiagnosticReport',
  'Procedure',
  'DocumentReference',
] as const;

export const DENY_REASON_LABELS: Readonly<Record<DenyReason, string>> = {
  RECORD_NOT_FOUND: 'the record does not exist',
  RECORD_ERASED: 'the record was erased',
  REQUESTER_UNKNOWN: 'the requester is not a registered clinician',
  ROLE_NOT_ALLOWED: 'the requester’s role may not do this',
  RESEARCH_OPT_OUT: 'you opted out of research',
  NO_CONSENT: 'no consent of yours covered it',
  NOT_EMERGENCY_ROLE: 'the requester may not use emergency access',
  BREAK_GLASS_OPT_OUT: 'you opted out of emergency access',
};

export const EMERGENCY_REASON_LABELS: Readonly<Record<EmergencyReason, string>> = {
  'patient-unconscious': 'patient unconscious',
  'life-threatening': 'life-threatening situation',
  'consent-unreachable': 'consent could not be obtained in time',
};
