/** Code systems used in medchain's FHIR R4 mapping. */
export const FhirSystem = {
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  loinc: 'http://loinc.org',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  actReason: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  consentAction: 'http://terminology.hl7.org/CodeSystem/consentaction',
  resourceTypes: 'http://hl7.org/fhir/resource-types',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  restfulInteraction: 'http://hl7.org/fhir/restful-interaction',
  securitySourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  auditEntityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  roleClass: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass',
  securityRoleType: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type',
  iso21089Lifecycle: 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle',
} as const;

const BALP = 'https://profiles.ihe.net/ITI/BALP';

/** IHE Basic Audit Log Patterns: the profiles AuditEvents claim, and BALP's own code system. */
export const BalpProfile = {
  authZConsent: `${BALP}/StructureDefinition/IHE.BasicAudit.AuthZconsent`,
  disclosureSource: `${BALP}/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source`,
  authZSubType: `${BALP}/CodeSystem/AuthZsubType`,
} as const;

/** LOINC 59284-0 "Patient Consent": the category HL7's privacy consent examples use. */
export const PATIENT_CONSENT_CATEGORY = { system: FhirSystem.loinc, code: '59284-0' } as const;

/** FHIR instants for ledger times (ms since the epoch, UTC). A conversion, not a clock read. */
export function fhirInstant(ms: number): string {
  return new Date(ms).toISOString();
}
