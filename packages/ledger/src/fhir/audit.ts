import { toHex } from '@medchain/crypto';
import type { AuditEntry, ConsentAction } from '../model.js';
import { FhirSystem, fhirInstant } from './codes.js';
import type { FhirResource } from './consent.js';

/** FHIR AuditEvent.action (C/R/U) and the REST interaction each consent action stands for. */
const ACTION_MAP: Record<ConsentAction, { action: 'C' | 'R' | 'U'; interaction: string }> = {
  collect: { action: 'C', interaction: 'create' },
  access: { action: 'R', interaction: 'read' },
  use: { action: 'R', interaction: 'read' },
  disclose: { action: 'R', interaction: 'read' },
  correct: { action: 'U', interaction: 'update' },
};

const coding = (system: string, code: string, display?: string) =>
  display === undefined ? { system, code } : { system, code, display };

/**
 * A ledger audit entry as a FHIR R4 AuditEvent. Ordinary accesses are DICOM 110110 "Patient
 * Record" with the REST interaction as subtype; break-glass entries follow HL7's security
 * examples: type DICOM 110113 "Security Alert", subtype 110127 "Emergency Override Started",
 * purpose ETREAT. Outcome 0 for permit, 4 (minor failure) for deny with the reason.
 */
export function auditEntryToFhir(
  entry: AuditEntry,
  options: { readonly resourceTypeOf: (recordId: Uint8Array) => string | undefined },
): FhirResource {
  const mapped = ACTION_MAP[entry.action];
  const purpose = [{ coding: [coding(FhirSystem.actReason, entry.purpose)] }];
  const custodian = { reference: `Organization/${toHex(entry.custodian)}` };
  const recordType = options.resourceTypeOf(entry.recordId) ?? 'DocumentReference';
  const entities: unknown[] = [
    {
      what: { reference: `Patient/${toHex(entry.patient)}` },
      type: coding(FhirSystem.auditEntityType, '1', 'Person'),
      role: coding(FhirSystem.objectRole, '1', 'Patient'),
    },
    {
      what: { reference: `${recordType}/${toHex(entry.recordId)}` },
      type: coding(FhirSystem.auditEntityType, '2', 'System Object'),
      role: coding(FhirSystem.objectRole, '4', 'Domain Resource'),
    },
  ];
  if (entry.consentId !== null) {
    entities.push({
      what: { reference: `Consent/${toHex(entry.consentId)}` },
      type: coding(FhirSystem.auditEntityType, '2', 'System Object'),
    });
  }
  const outcomeDesc =
    entry.decision === 'deny'
      ? `denied: ${entry.denyReason ?? 'unknown'}`
      : entry.emergency
        ? `break-glass: ${entry.emergencyReason ?? 'unspecified'}`
        : 'permitted by consent';
  return {
    resourceType: 'AuditEvent',
    id: toHex(entry.txHash),
    type: entry.emergency
      ? coding(FhirSystem.dicom, '110113', 'Security Alert')
      : coding(FhirSystem.dicom, '110110', 'Patient Record'),
    subtype: [
      entry.emergency
        ? coding(FhirSystem.dicom, '110127', 'Emergency Override Started')
        : coding(FhirSystem.restfulInteraction, mapped.interaction),
    ],
    action: mapped.action,
    recorded: fhirInstant(entry.time),
    outcome: entry.decision === 'permit' ? '0' : '4',
    outcomeDesc,
    purposeOfEvent: purpose,
    agent: [
      {
        who: { reference: `Practitioner/${toHex(entry.requester)}` },
        requestor: true,
        purposeOfUse: purpose,
      },
      { who: custodian, requestor: false },
    ],
    source: {
      observer: custodian,
      type: [coding(FhirSystem.securitySourceType, '4', 'Application Server')],
    },
    entity: entities,
  };
}
