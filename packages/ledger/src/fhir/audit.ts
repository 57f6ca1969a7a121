import { bytesEqual, toHex } from '@medchain/crypto';
import type { AuditEntry } from '../model.js';
import { BalpProfile, FhirSystem, fhirInstant } from './codes.js';
import type { FhirResource } from './consent.js';

const coding = (system: string, code: string, display?: string) =>
  display === undefined ? { system, code } : { system, code, display };
const concept = (system: string, code: string, display?: string) => ({
  coding: [coding(system, code, display)],
});

export interface AuditExportOptions {
  /** Resource type of an anchored record, for its entity reference (`Observation/<record id>`). */
  readonly resourceTypeOf: (recordId: Uint8Array) => string | undefined;
  /**
   * The organization of a provider key, for the requester's organization agent (BALP
   * "userorg"). Without it the requester is taken to be a provider with no organization shown.
   */
  readonly organizationOf?: (provider: Uint8Array) => Uint8Array | undefined;
}

/**
 * A ledger audit entry as a FHIR R4 AuditEvent in the IHE Basic Audit Log Patterns (BALP)
 * shapes, which fit what the ledger logs: a custodian's access decision, made on consent and
 * logged before any data moves.
 * - A consent decision (permit or deny): BALP `IHE.BasicAudit.AuthZconsent`: DICOM 110113
 *   "Security Alert", subtype AuthZ-Consent, action E, outcome 0 (permit) or 8 (deny, with the
 *   reason), agents user (IRCP, the requester), userorg (PROV, its organization) and
 *   authorizer (authserver, the custodian, also source.observer), entities the patient, the
 *   consent decided on and the record asked for.
 * - A permitted disclosure (a research release, action `disclose`): BALP
 *   `IHE.BasicAudit.PrivacyDisclosure.Source`: DICOM 110106 "Export", subtype iso-21089
 *   disclose, agents source (110153, the custodian) and recipient (110152, the requester), one
 *   entity per record released.
 * - Break-glass (no BALP profile): 110113 "Security Alert", subtype DICOM 110127 "Emergency
 *   Override Started", purpose ETREAT and v3-ActReason BTG "break the glass", as HL7's
 *   security labels page describes.
 * The ledger knows no client application or network address: the `client` agent and
 * `agent.network` that BALP asks for are left out.
 */
export function auditEntryToFhir(entry: AuditEntry, options: AuditExportOptions): FhirResource {
  const custodian = { reference: `Organization/${toHex(entry.custodian)}` };
  const org = options.organizationOf?.(entry.requester);
  const requester = {
    reference: bytesEqual(entry.requester, entry.patient)
      ? `Patient/${toHex(entry.patient)}`
      : options.organizationOf !== undefined && org === undefined
        ? // Neither the patient nor a provider: a delegate acting for the patient.
          `RelatedPerson/${toHex(entry.requester)}`
        : `Practitioner/${toHex(entry.requester)}`,
  };
  const purposes = [concept(FhirSystem.actReason, entry.purpose)];
  if (entry.emergency) purposes.push(concept(FhirSystem.actReason, 'BTG', 'break the glass'));
  const entity: unknown[] = [
    {
      what: { reference: `Patient/${toHex(entry.patient)}` },
      type: coding(FhirSystem.auditEntityType, '1', 'Person'),
      role: coding(FhirSystem.objectRole, '1', 'Patient'),
    },
  ];
  if (entry.consentId !== null) {
    entity.push({
      what: { reference: `Consent/${toHex(entry.consentId)}` },
      type: coding(FhirSystem.resourceTypes, 'Consent', 'Consent'),
    });
  }
  // One entity per record, as BALP's disclosure asks: a release names every record that left.
  for (const recordId of entry.recordIds ?? [entry.recordId]) {
    const recordType = options.resourceTypeOf(recordId) ?? 'DocumentReference';
    entity.push({
      what: { reference: `${recordType}/${toHex(recordId)}` },
      type: coding(FhirSystem.auditEntityType, '2', 'System Object'),
      role: coding(FhirSystem.objectRole, '4', 'Domain Resource'),
    });
  }
  const common = {
    resourceType: 'AuditEvent',
    id: toHex(entry.txHash),
    recorded: fhirInstant(entry.time),
    purposeOfEvent: purposes,
    source: {
      observer: custodian,
      type: [coding(FhirSystem.securitySourceType, '4', 'Application Server')],
    },
    entity,
  };

  if (entry.decision === 'permit' && entry.action === 'disclose' && !entry.emergency) {
    return {
      ...common,
      meta: { profile: [BalpProfile.disclosureSource] },
      type: coding(FhirSystem.dicom, '110106', 'Export'),
      subtype: [
        coding(FhirSystem.iso21089Lifecycle, 'disclose', 'Disclose Record Lifecycle Event'),
      ],
      action: 'R',
      outcome: '0',
      outcomeDesc: 'disclosed under consent',
      agent: [
        {
          type: concept(FhirSystem.dicom, '110153', 'Source Role ID'),
          who: custodian,
          requestor: false,
        },
        {
          type: concept(FhirSystem.dicom, '110152', 'Destination Role ID'),
          who: requester,
          requestor: true,
          purposeOfUse: purposes,
        },
      ],
    };
  }

  const agent: unknown[] = [
    {
      type: concept(FhirSystem.participationType, 'IRCP', 'information recipient'),
      who: requester,
      requestor: true,
      purposeOfUse: purposes,
    },
  ];
  if (org !== undefined) {
    agent.push({
      type: concept(FhirSystem.roleClass, 'PROV', 'healthcare provider'),
      who: { reference: `Organization/${toHex(org)}` },
      requestor: false,
    });
  }
  agent.push({
    type: concept(FhirSystem.securityRoleType, 'authserver', 'authorization server'),
    who: custodian,
    requestor: false,
  });
  const deny = entry.decision === 'deny';
  return {
    ...common,
    ...(entry.emergency ? {} : { meta: { profile: [BalpProfile.authZConsent] } }),
    type: coding(FhirSystem.dicom, '110113', 'Security Alert'),
    subtype: [
      entry.emergency
        ? coding(FhirSystem.dicom, '110127', 'Emergency Override Started')
        : coding(
            BalpProfile.authZSubType,
            'AuthZ-Consent',
            'Authorization Decision using Roles and Consent',
          ),
    ],
    action: 'E',
    outcome: deny ? '8' : '0',
    outcomeDesc: deny
      ? `denied: ${entry.denyReason ?? 'unknown'}`
      : entry.emergency
        ? `break-glass: ${entry.emergencyReason ?? 'unspecified'}`
        : 'permitted by consent',
    agent,
  };
}
