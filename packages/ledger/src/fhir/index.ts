export { type AuditExportOptions, auditEntryToFhir } from './audit.js';
export { BalpProfile, FhirSystem, fhirInstant } from './codes.js';
export {
  type ConsentExportOptions,
  type ConsentImportOptions,
  type ConsentReading,
  type ConsentTransaction,
  consentFromFhir,
  consentToFhir,
  type FhirIssue,
  type FhirIssueType,
  type FhirResource,
  granteeReference,
  grantRefusal,
  readConsentTransaction,
  readFhirConsent,
  TRANSACTION_EXTENSION,
  termsOrThrow,
  withConsentTransaction,
} from './consent.js';
export { consentToFhirR5, readFhirConsentR5 } from './consent-r5.js';
