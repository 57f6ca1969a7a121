import { bytesEqual, toHex } from '@medchain/crypto';
import type { ConsentEntry } from '../model.js';
import { FhirSystem, PATIENT_CONSENT_CATEGORY } from './codes.js';
import {
  type ConsentExportOptions,
  type ConsentImportOptions,
  type ConsentReading,
  type Criteria,
  consentPeriod,
  defaultResolvers,
  type FhirResource,
  finishReading,
  granteeActor,
  granteeReference,
  grantorReference,
  intersect,
  isConsentActive,
  list,
  type ProvisionShape,
  REFUSED_ELEMENTS,
  readCriteria,
  readGrantor,
  readPatient,
  readPeriod,
  recordData,
  referenceOf,
  refused,
  startReading,
  unionOfPermits,
} from './consent.js';

/**
 * A ledger consent as a FHIR R5 Consent. R5 has no scope or policyRule: `decision` is the
 * default and each provision an exception to it (HL7's cross-version definition: "provisions
 * assumed to be a negation of the previous level"). So: decision `deny`, and one provision,
 * the permit: the grantee as PRCP actor, actions, purposes, resource types (`resourceType`)
 * or records (data). A consent naming both gets two provisions, one per kind of data, since
 * criteria of one provision all apply at once. The window is the resource's `period`; `grantor`
 * is the patient or the delegate who signed, `grantee` the provider or organization (R5 lists
 * both for search; the provision's actor is the computable one). `date` is the block's date.
 * No `manager` or `controller`: every custodian enforces the grant, by the ledger's rule.
 */
export function consentToFhirR5(
  consent: ConsentEntry,
  options: ConsentExportOptions,
): FhirResource {
  const rule = {
    actor: [granteeActor(consent.grantee)],
    action: consent.actions.map((code) => ({
      coding: [{ system: FhirSystem.consentAction, code }],
    })),
    purpose: consent.purposes.map((code) => ({ system: FhirSystem.actReason, code })),
  };
  const provision: Record<string, unknown>[] = [];
  if (consent.resourceTypes.length > 0) {
    provision.push({
      ...rule,
      resourceType: consent.resourceTypes.map((code) => ({
        system: FhirSystem.resourceTypes,
        code,
      })),
    });
  }
  if (consent.recordIds.length > 0) {
    provision.push({ ...rule, data: recordData(consent.recordIds, options) });
  }
  return {
    resourceType: 'Consent',
    id: toHex(consent.id),
    status: isConsentActive(consent, options.time) ? 'active' : 'inactive',
    category: [{ coding: [PATIENT_CONSENT_CATEGORY] }],
    subject: { reference: `Patient/${toHex(consent.patient)}` },
    date: new Date(consent.createdAt).toISOString().slice(0, 10),
    period: consentPeriod(consent),
    grantor: [{ reference: grantorReference(consent) }],
    grantee: [{ reference: granteeReference(consent.grantee) }],
    decision: 'deny',
    provision,
  };
}

/** Elements of an R5 Consent that do not decide who may do what: accepted, not kept. */
const R5_BOOKKEEPING = [
  'resourceType',
  'id',
  'meta',
  'language',
  'text',
  'extension',
  'identifier',
  'category',
  'date',
  'manager',
  'controller',
  'regulatoryBasis',
];

const R5_CONSENT_ELEMENTS = new Set([
  ...R5_BOOKKEEPING,
  'status',
  'subject',
  'period',
  'grantor',
  'grantee',
  'decision',
  'provision',
]);

const R5_REFUSED = {
  ...REFUSED_ELEMENTS,
  policyBasis: 'an external policy the ledger cannot enforce',
  policyText: 'an external policy the ledger cannot enforce',
};

const R5_PROVISION: ProvisionShape = {
  known: new Set([
    'id',
    'extension',
    'period',
    'actor',
    'action',
    'purpose',
    'resourceType',
    'data',
  ]),
  refused: {
    modifierExtension: REFUSED_ELEMENTS.modifierExtension,
    securityLabel: 'security labels are not part of a grant: it covers resource types or records',
    documentType: 'document types are not part of a grant: it covers resource types or records',
    code: 'codes within the data are not part of a grant: it covers resource types or records',
    dataPeriod: 'the period of the data is not part of a grant, only the period of the grant',
    expression: 'a computable expression medchain cannot evaluate',
    provision: 'a nested provision would deny within the permit: a grant can only permit',
  },
  typesElement: 'resourceType',
};

/**
 * Reads a FHIR R5 Consent into the terms of a consent.grant: `decision` must be `deny` (nothing
 * is shared by default) and each provision is a permit (nested provisions, which would deny
 * again, are refused); sibling provisions that differ only in the data they cover unite.
 * The resource's `period` and a provision's apply together. `grantee`, when given, must be the
 * provisions' actor. Otherwise as the R4 reading (`readFhirConsent`): absent means "any",
 * bookkeeping elements (category, date, manager, controller, regulatoryBasis, ...) are
 * accepted and not kept, and every other element medchain cannot map is an issue naming it.
 */
export function readFhirConsentR5(
  input: unknown,
  options: ConsentImportOptions = {},
): ConsentReading {
  const { issues, consent: resource } = startReading(input, 'R5', R5_CONSENT_ELEMENTS, R5_REFUSED);
  if (resource === undefined) return refused(issues, undefined);
  if (resource.decision === undefined) {
    issues.add(
      'required',
      'Consent.decision',
      'deny: nothing is shared unless a provision permits',
    );
  } else if (resource.decision !== 'deny') {
    issues.unsupported(
      'Consent.decision',
      `"${String(resource.decision)}": only deny, with provisions that permit (the ledger shares nothing by default)`,
    );
  }
  const patient = readPatient(resource.subject, 'Consent.subject', options, issues);
  const grantor = readGrantor(resource.grantor, 'Consent.grantor', options, issues);
  const period: Criteria = readPeriod(resource.period, 'Consent.period', issues);
  const provisions = list(resource.provision, 'Consent.provision', issues);
  if (provisions.length === 0) {
    issues.add('required', 'Consent.provision', 'a grant is a provision that permits');
  }
  const permits = provisions.map((provision, i) => {
    const path = `Consent.provision[${i}]`;
    const criteria = readCriteria(provision, path, R5_PROVISION, options, issues);
    return { criteria: intersect(period, criteria, path, issues, 'resourceType'), path };
  });
  const criteria = unionOfPermits(permits, issues);
  const grantees = list(resource.grantee, 'Consent.grantee', issues);
  grantees.forEach((entry, i) => {
    const path = `Consent.grantee[${i}]`;
    const reference = referenceOf(entry, path, issues);
    if (reference === undefined || criteria.grantee === undefined) return;
    const named = (options.resolveActor ?? defaultResolvers.actor)(reference);
    if (
      named === undefined ||
      named.type !== criteria.grantee.type ||
      !bytesEqual(named.id, criteria.grantee.id)
    ) {
      issues.unsupported(path, `"${reference}" is not the provisions' actor`);
    }
  });
  return finishReading(
    patient,
    grantor,
    criteria,
    {
      actor: 'Consent.provision.actor',
      end: 'Consent.period.end',
      types: 'Consent.provision.resourceType',
    },
    issues,
  );
}
