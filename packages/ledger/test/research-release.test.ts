import type { Signer } from '@medchain/crypto';
import { toHex } from '@medchain/crypto';
import { describe, expect, it } from 'vitest';
import {
  auditEntryToFhir,
  auditTrail,
  recordId,
  signerRoleRefusal,
  transactionHash,
} from '../src/index.js';
import { fhirSchemaErrors } from './fhir-schema.js';
import { bytes, DAY, expectAllOk, grantBody, world } from './helpers.js';

type World = ReturnType<typeof world>;

/** Alice's HRESCH consent to `grantee` (the researcher by default), covering Observations. */
function researchConsent(
  w: World,
  grantee: { type: 'provider' | 'organization'; id: Uint8Array } = {
    type: 'provider',
    id: w.p.researcher.publicKey,
  },
  actions: ('access' | 'disclose')[] = ['disclose'],
): Uint8Array {
  const tx = w.chain.tx(
    w.alice,
    'consent.grant',
    grantBody(w.alice, grantee, w.chain.time, { purposes: ['HRESCH'], actions }),
  );
  expectAllOk(w.chain.block([tx]).receipts);
  return transactionHash(tx);
}

function release(w: World, consentId: Uint8Array, overrides: object = {}) {
  return {
    study: w.p.researcher.publicKey,
    patient: w.alice.publicKey,
    consentId,
    recordIds: [w.aliceRecord],
    requestHash: bytes('export kick-off'),
    ...overrides,
  };
}

const run = (w: World, from: Signer, body: object) => w.chain.run(from, 'research.release', body);

/** Anchors more of Alice's records at custodian A, of `resourceType`; returns their ids. */
function anchorAlice(w: World, resourceType: string, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const nonce = bytes(`alice-${resourceType}-${i}`, 16);
    const receipt = w.chain.run(w.p.clinician, 'record.anchor', {
      patient: w.alice.publicKey,
      custodian: w.a.spec.id,
      resourceType,
      contentHash: bytes(`alice-${resourceType}-${i}-v1`),
      nonce,
    });
    expect(receipt.code).toBe('OK');
    return recordId(w.a.spec.id, w.alice.publicKey, nonce);
  });
}

describe('research.release', () => {
  it("commits one disclosure entry on the patient's audit trail, naming study, consent and request", () => {
    const w = world();
    const consentId = researchConsent(w);
    const receipt = run(w, w.a.validator, release(w, consentId));
    expect(receipt.code).toBe('OK');
    const entries = auditTrail(w.chain.history, w.alice.publicKey).items;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      patient: w.alice.publicKey,
      recordId: w.aliceRecord,
      custodian: w.a.spec.id,
      requester: w.p.researcher.publicKey,
      action: 'disclose',
      purpose: 'HRESCH',
      decision: 'permit',
      consentId,
      requestHash: bytes('export kick-off'),
      txHash: receipt.txHash,
      time: w.chain.time,
    });
    // The custodian's admins and active providers may sign it too (a custodian agent).
    expect(run(w, w.a.admin, release(w, consentId)).code).toBe('OK');
    expect(run(w, w.p.clinician, release(w, consentId)).code).toBe('OK');
    expect(auditTrail(w.chain.history, w.alice.publicKey).total).toBe(3);
  });

  it('the one entry names every record released, in order, so the patient sees all that left', () => {
    const w = world();
    const consentId = researchConsent(w);
    const more = anchorAlice(w, 'Observation', 2);
    const all = [more[1]!, w.aliceRecord, more[0]!];
    expect(run(w, w.a.validator, release(w, consentId, { recordIds: all })).code).toBe('OK');
    const entries = auditTrail(w.chain.history, w.alice.publicKey).items;
    expect(entries).toHaveLength(1);
    expect(entries[0]!.recordIds).toEqual(all);
    expect(entries[0]!.recordId).toEqual(all[0]);
  });

  it("a consent to the study's organization covers it; 'access' alone does not", () => {
    const toOrg = world();
    const orgConsent = researchConsent(toOrg, { type: 'organization', id: toOrg.a.spec.id });
    expect(run(toOrg, toOrg.a.validator, release(toOrg, orgConsent)).code).toBe('OK');

    const accessOnly = world();
    const consent = researchConsent(accessOnly, undefined, ['access']);
    const receipt = run(accessOnly, accessOnly.a.validator, release(accessOnly, consent));
    expect(receipt.code).toBe('NO_RESEARCH_CONSENT');
  });

  it('is refused without a consent, with a revoked or treatment-only one, and for another consent id', () => {
    const w = world();
    const none = run(w, w.a.validator, release(w, bytes('no consent')));
    expect(none).toMatchObject({
      code: 'NO_RESEARCH_CONSENT',
      message: expect.stringMatching(/NO_CONSENT/),
    });

    const treatment = w.chain.tx(
      w.alice,
      'consent.grant',
      grantBody(w.alice, { type: 'provider', id: w.p.researcher.publicKey }, w.chain.time, {
        actions: ['disclose'],
      }),
    );
    expectAllOk(w.chain.block([treatment]).receipts);
    expect(run(w, w.a.validator, release(w, transactionHash(treatment))).code).toBe(
      'NO_RESEARCH_CONSENT',
    );

    const consentId = researchConsent(w);
    expect(run(w, w.a.validator, release(w, bytes('another consent'))).code).toBe(
      'DECISION_MISMATCH',
    );
    w.chain.run(w.alice, 'consent.revoke', { consentId });
    expect(run(w, w.a.validator, release(w, consentId)).code).toBe('NO_RESEARCH_CONSENT');
    // Expired: a consent for 30 days, released after 31.
    const later = world();
    const expiring = researchConsent(later);
    const body = release(later, expiring);
    const receipt = later.chain.run(
      later.a.validator,
      'research.release',
      body,
      later.chain.time + 31 * DAY,
    );
    expect(receipt.code).toBe('NO_RESEARCH_CONSENT');
    expect(auditTrail(w.chain.history, w.alice.publicKey).total).toBe(0);
  });

  it('is refused for a patient who opted out of research, even with a consent', () => {
    const w = world();
    const consentId = researchConsent(w);
    w.chain.run(w.alice, 'patient.policy', {
      patient: w.alice.publicKey,
      breakGlassOptOut: false,
      researchOptOut: true,
    });
    expect(run(w, w.a.validator, release(w, consentId)).code).toBe('RESEARCH_OPT_OUT');
    expect(auditTrail(w.chain.history, w.alice.publicKey).total).toBe(0);
  });

  it('is refused when the study key is not an active researcher', () => {
    const w = world();
    const consentId = researchConsent(w, { type: 'organization', id: w.a.spec.id });
    for (const study of [w.p.clinician, w.p.nurse, w.p.admin, w.bob, w.a.admin]) {
      const receipt = run(w, w.a.validator, release(w, consentId, { study: study.publicKey }));
      expect(receipt.code, toHex(study.publicKey)).toBe('NOT_RESEARCHER');
    }
    w.chain.run(w.a.admin, 'provider.suspend', { provider: w.p.researcher.publicKey });
    expect(run(w, w.a.validator, release(w, consentId)).code).toBe('NOT_RESEARCHER');
  });

  it('is signed by an agent of the custodian only, and names live records of that patient', () => {
    const w = world();
    const consentId = researchConsent(w);
    for (const outsider of [w.b.validator, w.b.admin, w.p.bClinician, w.alice]) {
      const tx = w.chain.tx(outsider, 'research.release', release(w, consentId));
      expect(signerRoleRefusal(w.chain.state, tx, w.chain.time)?.code).toBe('NOT_CUSTODIAN_AGENT');
      expect(w.chain.block([tx]).receipts[0]!.code).toBe('NOT_CUSTODIAN_AGENT');
    }
    expect(run(w, w.a.validator, release(w, consentId, { recordIds: [w.bobRecord] })).code).toBe(
      'SCOPE_INVALID',
    );
    expect(
      run(w, w.a.validator, release(w, consentId, { recordIds: [bytes('no such record')] })).code,
    ).toBe('RECORD_NOT_FOUND');
    expect(
      run(w, w.a.validator, release(w, consentId, { recordIds: [w.aliceRecord, w.aliceRecord] }))
        .code,
    ).toBe('MALFORMED_BODY');
    expect(run(w, w.a.validator, release(w, consentId, { recordIds: [] })).code).toBe(
      'MALFORMED_BODY',
    );
    w.chain.run(w.alice, 'record.erase', { recordId: w.aliceRecord });
    expect(run(w, w.a.validator, release(w, consentId)).code).toBe('RECORD_ERASED');
    expect(auditTrail(w.chain.history, w.alice.publicKey).total).toBe(0);
  });

  it('maps to a BALP privacy disclosure AuditEvent, one entity per record released', () => {
    const w = world();
    const consentId = researchConsent(w);
    const all = [w.aliceRecord, ...anchorAlice(w, 'Observation', 2)];
    expect(run(w, w.a.validator, release(w, consentId, { recordIds: all })).code).toBe('OK');
    const [entry] = auditTrail(w.chain.history, w.alice.publicKey).items;
    const event = auditEntryToFhir(entry!, { resourceTypeOf: () => 'Observation' }) as Record<
      string,
      unknown
    >;
    expect(fhirSchemaErrors(event as { resourceType: string })).toEqual([]);
    expect(event.meta).toEqual({
      profile: [
        'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source',
      ],
    });
    expect(event.type).toMatchObject({
      system: 'http://dicom.nema.org/resources/ontology/DCM',
      code: '110106',
    });
    expect(event.subtype).toEqual([
      expect.objectContaining({
        system: 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle',
        code: 'disclose',
      }),
    ]);
    const agents = event.agent as {
      type?: { coding: { code: string }[] };
      who: { reference: string };
    }[];
    const byRole = (code: string) =>
      agents.find((agent) => agent.type?.coding.some((c) => c.code === code))?.who.reference;
    expect(byRole('110152')).toBe(`Practitioner/${toHex(w.p.researcher.publicKey)}`);
    expect(byRole('110153')).toBe(`Organization/${toHex(w.a.spec.id)}`);
    const records = (event.entity as { what: { reference: string }; role?: { code: string } }[])
      .filter((entity) => entity.role?.code === '4')
      .map((entity) => entity.what.reference);
    expect(records).toEqual(all.map((id) => `Observation/${toHex(id)}`));
  });
});
