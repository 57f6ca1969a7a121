import { toHex } from '@medchain/crypto';
import {
  auditEntryToFhir,
  auditTrail,
  BalpProfile,
  exportAuditTrail,
  exportConsent,
  FhirSystem,
  transactionHash,
} from '@medchain/ledger';
import { beforeAll, describe, expect, it } from 'vitest';
import { fhirSchemaErrors } from './fhir-schema.js';
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
    const events = exportAuditTrail(w.chain.state, w.chain.history, w.alice.publicKey).items;
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
    const [entry] = auditTrail(w.chain.history, w.alice.publicKey).items;
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

  it('a disclosure of many records has one entity per record, each typed; one record, one entity', () => {
    const [logged] = auditTrail(w.chain.history, w.alice.publicKey).items;
    const recordEntities = (event: unknown) =>
      (event as { entity: { what: { reference: string }; role?: { code: string } }[] }).entity
        .filter((entity) => entity.role?.code === '4')
        .map((entity) => entity.what.reference);
    // An access log names its one record.
    expect(
      recordEntities(auditEntryToFhir(logged!, { resourceTypeOf: () => 'Observation' })),
    ).toEqual([`Observation/${toHex(w.aliceRecord)}`]);
    const ids = [w.aliceRecord, w.bobRecord, new Uint8Array(32).fill(7)];
    const types = new Map([
      [toHex(ids[0]!), 'Observation'],
      [toHex(ids[1]!), 'Condition'],
    ]);
    const release = auditEntryToFhir(
      { ...logged!, action: 'disclose', purpose: 'HRESCH', recordId: ids[0]!, recordIds: ids },
      { resourceTypeOf: (id) => types.get(toHex(id)) },
    );
    expect(fhirSchemaErrors(release)).toEqual([]);
    expect(release.meta).toEqual({ profile: [BalpProfile.disclosureSource] });
    expect(recordEntities(release)).toEqual([
      `Observation/${toHex(ids[0]!)}`,
      `Condition/${toHex(ids[1]!)}`,
      // A record of unknown type is still named.
      `DocumentReference/${toHex(ids[2]!)}`,
    ]);
  });

  it('the schema check can fail: a broken export is caught', () => {
    const resource = exportConsent(w.chain.state, w.consentIds[0]!, w.chain.time)!;
    expect(fhirSchemaErrors({ ...resource, status: 'maybe' })).not.toEqual([]);
    expect(
      fhirSchemaErrors({ ...resource, provision: { type: 'permit', period: { end: 'soon' } } }),
    ).not.toEqual([]);
  });
});
