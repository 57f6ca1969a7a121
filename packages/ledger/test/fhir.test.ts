import { toHex } from '@medchain/crypto';
import {
  auditEntryToFhir,
  auditTrail,
  BalpProfile,
  consentFromFhir,
  consentToFhir,
  exportAuditTrail,
  exportConsent,
  FhirSystem,
  getConsent,
  LedgerError,
  transactionHash,
} from '@medchain/ledger';
import { beforeAll, describe, expect, it } from 'vitest';
import { fhirSchemaErrors, hl7Examples } from './fhir-schema.js';
import { DAY, grantBody, signedRequest, world } from './helpers.js';

/** A world with consents of every shape and audit entries of every kind. */
function populated() {
  const w = world();
  const { chain, alice, guardian, p, a } = w;
  chain.run(alice, 'patient.delegate', {
    patient: alice.publicKey,
    delegate: guardian.publicKey,
    relation: 'guardian',
    expiresAt: chain.time + 300 * DAY,
  });
  const grants = [
    chain.tx(
      alice,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
    ),
    chain.tx(
      guardian,
      'consent.grant',
      grantBody(alice, { type: 'organization', id: a.spec.id }, chain.time, {
        recordIds: [w.aliceRecord],
        resourceTypes: [],
        actions: ['access', 'disclose', 'correct'],
        purposes: ['TREAT', 'PATRQT'],
      }),
    ),
    chain.tx(
      alice,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: p.clinician.publicKey }, chain.time),
    ),
  ];
  chain.block(grants);
  const [toNurse, toOrg, revoked] = grants.map(transactionHash) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  chain.run(alice, 'consent.revoke', { consentId: revoked });
  const t = chain.time + 1000;
  chain.block(
    [
      chain.tx(a.validator, 'access.log', {
        ...signedRequest(p.nurse, w.aliceRecord, t),
        decision: 'permit',
        consentId: toNurse,
      }),
      chain.tx(a.validator, 'access.log', {
        ...signedRequest(p.bClinician, w.aliceRecord, t),
        decision: 'deny',
        consentId: null,
      }),
      chain.tx(a.validator, 'access.emergency', {
        ...signedRequest(p.emergency, w.aliceRecord, t, {
          purpose: 'ETREAT',
          emergencyReason: 'patient-unconscious',
        }),
        decision: 'permit',
        consentId: null,
      }),
    ],
    t,
  );
  return { ...w, consentIds: [toNurse, toOrg, revoked] };
}

let w: ReturnType<typeof populated>;
beforeAll(() => {
  w = populated();
});

describe('FHIR export', () => {
  it('every consent exports as a Consent valid against the FHIR R4 schema', () => {
    for (const id of w.consentIds) {
      const resource = exportConsent(w.chain.state, id, w.chain.time)!;
      expect(fhirSchemaErrors(resource)).toEqual([]);
      expect(resource.id).toBe(toHex(id));
    }
    const [nurse, org, revoked] = w.consentIds.map(
      (id) => exportConsent(w.chain.state, id, w.chain.time)!,
    );
    expect(nurse!.status).toBe('active');
    expect(revoked!.status).toBe('inactive');
    expect(org!.performer).toEqual([{ reference: `RelatedPerson/${toHex(w.guardian.publicKey)}` }]);
    expect((org!.provision as { data: unknown }).data).toEqual([
      { meaning: 'instance', reference: { reference: `Observation/${toHex(w.aliceRecord)}` } },
    ]);
    // Past its end a consent exports as inactive.
    expect(exportConsent(w.chain.state, w.consentIds[0]!, w.chain.time + 31 * DAY)!.status).toBe(
      'inactive',
    );
  });

  it('every audit entry exports as a schema-valid AuditEvent in its IHE BALP shape; break-glass as DICOM 110113/110127 ETREAT+BTG', () => {
    const events = exportAuditTrail(w.chain.state, w.alice.publicKey).items;
    expect(events).toHaveLength(3);
    for (const event of events) expect(fhirSchemaErrors(event)).toEqual([]);
    const [permit, deny, emergency] = events as unknown as [
      Record<string, unknown>,
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    const authZ = {
      meta: { profile: [BalpProfile.authZConsent] },
      type: { system: FhirSystem.dicom, code: '110113' },
      subtype: [{ system: BalpProfile.authZSubType, code: 'AuthZ-Consent' }],
      action: 'E',
    };
    expect(permit).toMatchObject({ ...authZ, outcome: '0' });
    expect(JSON.stringify(permit.entity)).toContain(`Consent/${toHex(w.consentIds[0]!)}`);
    expect(deny).toMatchObject({ ...authZ, outcome: '8', outcomeDesc: 'denied: NO_CONSENT' });
    // BALP: the authorizer agent is the audit source (val-audit-source), the user the requestor.
    const agents = permit.agent as { type: { coding: { code: string }[] }; who: unknown }[];
    const byType = (code: string) => agents.find((a) => a.type.coding[0]!.code === code);
    expect(byType('authserver')!.who).toEqual((permit.source as { observer: unknown }).observer);
    expect(byType('IRCP')).toMatchObject({ requestor: true });
    expect(emergency.meta).toBeUndefined();
    expect(emergency.type).toEqual({
      system: 'http://dicom.nema.org/resources/ontology/DCM',
      code: '110113',
      display: 'Security Alert',
    });
    expect(emergency.subtype).toEqual([
      {
        system: 'http://dicom.nema.org/resources/ontology/DCM',
        code: '110127',
        display: 'Emergency Override Started',
      },
    ]);
    expect(emergency.purposeOfEvent).toEqual([
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'ETREAT' }],
      },
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
            code: 'BTG',
            display: 'break the glass',
          },
        ],
      },
    ]);
  });

  it("names the requester's organization (BALP userorg) when told it, and a patient requester as Patient", () => {
    const [entry] = auditTrail(w.chain.state, w.alice.publicKey).items;
    const org = w.a.spec.id;
    const event = auditEntryToFhir(entry!, {
      resourceTypeOf: () => 'Observation',
      organizationOf: () => org,
    }) as unknown as {
      agent: { type: { coding: { code: string }[] }; who: { reference: string } }[];
    };
    expect(fhirSchemaErrors(event as unknown as { resourceType: string })).toEqual([]);
    expect(event.agent.find((a) => a.type.coding[0]!.code === 'PROV')!.who.reference).toBe(
      `Organization/${toHex(org)}`,
    );
    const own = auditEntryToFhir(
      { ...entry!, requester: entry!.patient },
      {
        resourceTypeOf: () => 'Observation',
      },
    ) as unknown as typeof event;
    expect(own.agent[0]!.who.reference).toBe(`Patient/${toHex(entry!.patient)}`);
  });

  it('the schema check can fail: a broken export is caught', () => {
    const resource = exportConsent(w.chain.state, w.consentIds[0]!, w.chain.time)!;
    expect(fhirSchemaErrors({ ...resource, status: 'maybe' })).not.toEqual([]);
    expect(
      fhirSchemaErrors({ ...resource, provision: { type: 'permit', period: { end: 'soon' } } }),
    ).not.toEqual([]);
  });
});

describe('FHIR import', () => {
  it('an exported consent imports back to the same grant terms', () => {
    for (const id of w.consentIds.slice(0, 2)) {
      const consent = getConsent(w.chain.state, id)!;
      const terms = consentFromFhir(
        consentToFhir(consent, { time: w.chain.time, resourceTypeOf: () => 'Observation' }),
      );
      const {
        patient,
        grantee,
        recordIds,
        resourceTypes,
        actions,
        purposes,
        validFrom,
        validUntil,
      } = consent;
      expect(terms).toEqual({
        patient,
        grantee,
        recordIds,
        resourceTypes,
        actions,
        purposes,
        validFrom,
        validUntil,
      });
    }
  });

  it('a revoked consent does not import as a grant', () => {
    const revoked = exportConsent(w.chain.state, w.consentIds[2]!, w.chain.time)!;
    expect(() => consentFromFhir(revoked)).toThrow('Consent.status');
  });

  it('an imported consent, signed by the patient, becomes a working grant', () => {
    const fresh = world();
    const exported = consentToFhir(
      {
        ...grantBody(
          fresh.alice,
          { type: 'provider', id: fresh.p.nurse.publicKey },
          fresh.chain.time,
        ),
        id: new Uint8Array(32),
        grantedBy: fresh.alice.publicKey,
        createdAt: fresh.chain.time,
        status: 'active',
        revokedAt: null,
        revokedBy: null,
      },
      { time: fresh.chain.time, resourceTypeOf: () => undefined },
    );
    const terms = consentFromFhir(exported);
    expect(fresh.chain.run(fresh.alice, 'consent.grant', terms).code).toBe('OK');
  });

  /** What each of HL7's Consent examples gives: terms, or the element named in the refusal. */
  const expectations: Record<string, string> = {
    'Consent-consent-example-Emergency.json': 'Consent.policyRule',
    'Consent-consent-example-Out.json': 'Consent.policyRule',
    'Consent-consent-example-basic.json': 'Consent.provision.class',
    'Consent-consent-example-grantor.json': 'Consent.policyRule',
    'Consent-consent-example-notAuthor.json': 'Consent.provision.actor[0].role',
    'Consent-consent-example-notOrg.json': 'Consent.provision.type',
    'Consent-consent-example-notThem.json': 'Consent.provision.class',
    'Consent-consent-example-notThis.json': 'Consent.provision.data[0].meaning',
    'Consent-consent-example-notTime.json': 'Consent.provision.class',
    'Consent-consent-example-pkb.json': 'Consent.policyRule',
    'Consent-consent-example-signature.json': 'Consent.provision.provision[0].code',
    'Consent-consent-example-smartonfhir.json': 'imports',
  };

  it("imports HL7's Consent examples or names the element it cannot map", () => {
    const examples = hl7Examples('Consent');
    expect(examples.map((e) => e.file)).toEqual(Object.keys(expectations).sort());
    // HL7's references are not keys: map them onto the fixture's identities.
    const options = {
      resolvePatient: (ref: string) => (ref.startsWith('Patient/') ? w.alice.publicKey : undefined),
      resolveActor: (ref: string) =>
        ref.startsWith('Practitioner/')
          ? { type: 'provider' as const, id: w.p.nurse.publicKey }
          : ref.startsWith('Organization/')
            ? { type: 'organization' as const, id: w.a.spec.id }
            : undefined,
      defaults: {
        grantee: { type: 'provider' as const, id: w.p.clinician.publicKey },
        actions: ['access' as const],
        purposes: ['TREAT' as const],
      },
    };
    for (const { file, resource } of examples) {
      const expected = expectations[file]!;
      if (expected === 'imports') {
        const terms = consentFromFhir(resource, options);
        expect(terms).toMatchObject({
          resourceTypes: ['MedicationRequest'],
          actions: ['access'],
          purposes: ['TREAT'],
        });
        expect(terms.validFrom).toBe(Date.parse('2016-06-23T17:02:33+10:00'));
        expect(terms.validUntil - terms.validFrom).toBe(30 * 60_000);
        // The ledger's own rule still applies: that window ended years before this chain's time.
        expect(w.chain.run(w.alice, 'consent.grant', terms).code).toBe('BAD_WINDOW');
        continue;
      }
      let error: unknown;
      try {
        consentFromFhir(resource, options);
      } catch (caught) {
        error = caught;
      }
      expect(error, file).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code, file).toBe('LEDGER_FHIR_UNSUPPORTED');
      expect((error as Error).message.split(':')[0], file).toBe(expected);
    }
  });

  it('refuses a consent without an end date, naming provision.period.end', () => {
    const consent = getConsent(w.chain.state, w.consentIds[0]!)!;
    const resource = consentToFhir(consent, {
      time: w.chain.time,
      resourceTypeOf: () => undefined,
    }) as unknown as Record<string, unknown> & { provision: Record<string, unknown> };
    const open = {
      ...resource,
      provision: { ...resource.provision, period: { start: '2024-01-01' } },
    };
    expect(() => consentFromFhir(open)).toThrow('Consent.provision.period.end');
    const dateOnly = consentFromFhir({
      ...resource,
      provision: { ...resource.provision, period: { start: '2024-01-01', end: '2024-01-31' } },
    });
    expect(dateOnly.validUntil).toBe(Date.UTC(2024, 1, 1));
    expect(() => consentFromFhir({ ...resource, resourceType: 'Patient' })).toThrow(LedgerError);
    expect(() => consentFromFhir({ ...resource, modifierExtension: [{}] })).toThrow(
      'Consent.modifierExtension',
    );
  });
});
