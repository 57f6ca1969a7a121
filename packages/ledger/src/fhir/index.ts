export { type AuditExportOptions, auditEntryToFhir } from './audit.js';
export { BalpProfile, FhirSystem, fhirInstant } from './codes.js';
export {
  type ConsentExportOptions,
  type ConsentImportOptions,
  consentFromFhir,
  consentToFhir,
  type FhirResource,
  granteeReference,
} from './consent.js';
