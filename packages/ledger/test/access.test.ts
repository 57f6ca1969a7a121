import { bytesEqual, toHex } from '@medchain/crypto';
import {
  type AccessQuestion,
  accessRequestDigest,
  auditTrail,
  decideAccess,
  transactionHash,
} from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { bytes, DAY, grantBody, signedRequest, signer, world } from './helpers.js';

type World = ReturnType<typeof world>;

function ask(w: World, requester: Uint8Array, overrides: Partial<AccessQuestion> = {}) {
  return decideAccess(w.chain.state, {
    requester,
    action: 'access',
    recordId: w.aliceRecord,
    purpose: 'TREAT',
    time: w.chain.time,
    ...overrides,
  });
}

/** Grants in its own block and returns the consent id (the grant's tx hash). */
function grant(w: World, body: ReturnType<typeof grantBody>): Uint8Array {
  const tx = w.chain.tx(w.alice, 'consent.grant', body);
  expect(w.chain.block([tx]).receipts[0]!.code).toBe('OK');
  return transactionHash(tx);
}

describe('decideAccess', () => {
  it('permits through a consent to the provider, naming it', () => {
    const w = world();
    const id = grant(
      w,
      grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time),
    );
    const decision = ask(w, w.p.nurse.publicKey);
    expect(decision).toMatchObject({ decision: 'permit', basis: 'consent' });
    expect(bytesEqual(decision.consentId!, id)).toBe(true);
    expect(ask(w, w.p.clinician.publicKey)).toMatchObject({
      decision: 'deny',
      reason: 'NO_CONSENT',
    });
  });

  it('permits every provider of an organization granted as a whole, and no one else', () => {
    const w = world();
    grant(w, grantBody(w.alice, { type: 'organization', id: w.a.spec.id }, w.chain.time));
    expect(ask(w, w.p.clinician.publicKey).decision).toBe('permit');
    expect(ask(w, w.p.nurse.publicKey).decision).toBe('permit');
    expect(ask(w, w.p.bClinician.publicKey)).toMatchObject({ reason: 'NO_CONSENT' });
  });

  it('denies outside the consent: action, purpose, resource type, window, revocation', () => {
    const w = world();
    const t = w.chain.time;
    const nurse = w.p.nurse.publicKey;
    const id = grant(
      w,
      grantBody(w.alice, { type: 'provider', id: nurse }, t, { validFrom: t + DAY }),
    );
    expect(ask(w, nurse, { time: t + DAY - 1 })).toMatchObject({ reason: 'NO_CONSENT' });
    expect(ask(w, nurse, { time: t + DAY }).decision).toBe('permit');
    expect(ask(w, nurse, { time: t + 30 * DAY - 1 }).decision).toBe('permit');
    expect(ask(w, nurse, { time: t + 30 * DAY })).toMatchObject({ reason: 'NO_CONSENT' });
    expect(ask(w, nurse, { time: t + DAY, action: 'disclose' })).toMatchObject({
      reason: 'NO_CONSENT',
    });
    expect(ask(w, nurse, { time: t + DAY, purpose: 'HOPERAT' })).toMatchObject({
      reason: 'NO_CONSENT',
    });
    expect(ask(w, nurse, { time: t + DAY, recordId: w.bobRecord })).toMatchObject({
      reason: 'NO_CONSENT',
    });
    expect(w.chain.run(w.alice, 'consent.revoke', { consentId: id }).code).toBe('OK');
    expect(ask(w, nurse, { time: t + DAY })).toMatchObject({ reason: 'NO_CONSENT' });
  });

  it('matches a scope by record id as well as by resource type', () => {
    const w = world();
    grant(
      w,
      grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time, {
        resourceTypes: [],
        recordIds: [w.aliceRecord],
      }),
    );
    expect(ask(w, w.p.nurse.publicKey).decision).toBe('permit');
  });

  it('names the oldest of several covering consents', () => {
    const w = world();
    const to = { type: 'provider' as const, id: w.p.nurse.publicKey };
    const first = grant(w, grantBody(w.alice, to, w.chain.time));
    grant(w, grantBody(w.alice, to, w.chain.time));
    expect(bytesEqual(ask(w, w.p.nurse.publicKey).consentId!, first)).toBe(true);
  });

  it('denies unknown records, erased records, unknown or suspended requesters, removed orgs', () => {
    const w = world();
    grant(w, grantBody(w.alice, { type: 'organization', id: w.a.spec.id }, w.chain.time));
    expect(ask(w, w.p.nurse.publicKey, { recordId: bytes('nothing') })).toMatchObject({
      reason: 'RECORD_NOT_FOUND',
    });
    expect(ask(w, signer('stranger').publicKey)).toMatchObject({ reason: 'REQUESTER_UNKNOWN' });
    w.chain.run(w.a.admin, 'provider.suspend', { provider: w.p.nurse.publicKey });
    expect(ask(w, w.p.nurse.publicKey)).toMatchObject({ reason: 'REQUESTER_UNKNOWN' });
    w.chain.run(w.alice, 'record.erase', { recordId: w.aliceRecord });
    expect(ask(w, w.p.clinician.publicKey)).toMatchObject({ reason: 'RECORD_ERASED' });
  });

  it('lets the patient and a live delegate see their own record', () => {
    const w = world();
    expect(ask(w, w.alice.publicKey)).toMatchObject({
      decision: 'permit',
      basis: 'patient',
      consentId: null,
    });
    expect(ask(w, w.guardian.publicKey)).toMatchObject({ reason: 'REQUESTER_UNKNOWN' });
    w.chain.run(w.alice, 'patient.delegate', {
      patient: w.alice.publicKey,
      delegate: w.guardian.publicKey,
      relation: 'guardian',
      expiresAt: w.chain.time + DAY,
    });
    expect(ask(w, w.guardian.publicKey)).toMatchObject({ basis: 'patient' });
    expect(ask(w, w.bob.publicKey)).toMatchObject({ reason: 'REQUESTER_UNKNOWN' });
  });

  it('keeps research to researchers, and a research opt-out beats a consent', () => {
    const w = world();
    const toOrg = { type: 'organization' as const, id: w.a.spec.id };
    grant(w, grantBody(w.alice, toOrg, w.chain.time, { purposes: ['HRESCH', 'TREAT'] }));
    expect(ask(w, w.p.researcher.publicKey, { purpose: 'HRESCH' }).decision).toBe('permit');
    expect(ask(w, w.p.researcher.publicKey)).toMatchObject({ reason: 'ROLE_NOT_ALLOWED' });
    expect(ask(w, w.p.clinician.publicKey, { purpose: 'HRESCH' })).toMatchObject({
      reason: 'ROLE_NOT_ALLOWED',
    });
    w.chain.run(w.alice, 'patient.policy', {
      patient: w.alice.publicKey,
      breakGlassOptOut: false,
      researchOptOut: true,
    });
    expect(ask(w, w.p.researcher.publicKey, { purpose: 'HRESCH' })).toMatchObject({
      reason: 'RESEARCH_OPT_OUT',
    });
  });

  it('allows break-glass to emergency providers unless the patient opted out', () => {
    const w = world();
    const emergency = {
      purpose: 'ETREAT' as const,
      emergencyReason: 'patient-unconscious' as const,
    };
    expect(ask(w, w.p.emergency.publicKey, emergency)).toMatchObject({
      decision: 'permit',
      basis: 'break-glass',
      consentId: null,
    });
    expect(ask(w, w.p.emergency.publicKey, { purpose: 'ETREAT' })).toMatchObject({
      reason: 'NO_CONSENT',
    });
    expect(ask(w, w.p.nurse.publicKey, emergency)).toMatchObject({ reason: 'NOT_EMERGENCY_ROLE' });
    expect(ask(w, w.p.emergency.publicKey, { ...emergency, action: 'disclose' })).toMatchObject({
      reason: 'NOT_EMERGENCY_ROLE',
    });
    w.chain.run(w.alice, 'patient.policy', {
      patient: w.alice.publicKey,
      breakGlassOptOut: true,
      researchOptOut: false,
    });
    expect(ask(w, w.p.emergency.publicKey, emergency)).toMatchObject({
      reason: 'BREAK_GLASS_OPT_OUT',
    });
  });
});

describe('access.log and access.emergency', () => {
  function logBody(w: World, requester = w.p.nurse, overrides = {}) {
    return { ...signedRequest(requester, w.aliceRecord, w.chain.time + 1000, overrides) };
  }

  it('logs permitted and denied accesses in the patient audit trail', () => {
    const w = world();
    const consentId = grant(
      w,
      grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time),
    );
    const permit = { ...logBody(w), decision: 'permit', consentId };
    expect(w.chain.run(w.a.validator, 'access.log', permit).code).toBe('OK');
    const deny = { ...logBody(w, w.p.bClinician), decision: 'deny', consentId: null };
    expect(w.chain.run(w.p.clinician, 'access.log', deny).code).toBe('OK');
    const trail = auditTrail(w.chain.history, w.alice.publicKey);
    expect(trail.total).toBe(2);
    expect(trail.items[0]).toMatchObject({
      index: 0,
      decision: 'permit',
      emergency: false,
      denyReason: null,
    });
    expect(bytesEqual(trail.items[0]!.consentId!, consentId)).toBe(true);
    expect(trail.items[1]).toMatchObject({ index: 1, decision: 'deny', denyReason: 'NO_CONSENT' });
    expect(
      auditTrail(w.chain.history, w.alice.publicKey, { reverse: true, limit: 1 }).items[0]!.index,
    ).toBe(1);
  });

  it('re-checks the claimed decision at block time (DECISION_MISMATCH)', () => {
    const w = world();
    const consentId = grant(
      w,
      grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time),
    );
    const claimPermit = { ...logBody(w, w.p.clinician), decision: 'permit', consentId };
    expect(w.chain.run(w.a.admin, 'access.log', claimPermit).code).toBe('DECISION_MISMATCH');
    const wrongConsent = { ...logBody(w), decision: 'permit', consentId: bytes('other') };
    expect(w.chain.run(w.a.admin, 'access.log', wrongConsent).code).toBe('DECISION_MISMATCH');
    const claimDeny = { ...logBody(w), decision: 'deny', consentId: null };
    const r = w.chain.run(w.a.admin, 'access.log', claimDeny);
    expect(r.code).toBe('DECISION_MISMATCH');
    expect(r.message).toContain('permit');
    expect(auditTrail(w.chain.history, w.alice.publicKey).total).toBe(0);
  });

  it('only the custodian writes, with a fresh, recent, correctly signed request', () => {
    const w = world();
    const deny = (body: object) => ({ ...body, decision: 'deny', consentId: null });
    expect(w.chain.run(w.p.bClinician, 'access.log', deny(logBody(w))).code).toBe(
      'NOT_CUSTODIAN_AGENT',
    );
    expect(w.chain.run(w.b.validator, 'access.log', deny(logBody(w))).code).toBe(
      'NOT_CUSTODIAN_AGENT',
    );
    const stale = signedRequest(w.p.bClinician, w.aliceRecord, w.chain.time - 11 * 60_000);
    expect(w.chain.run(w.a.admin, 'access.log', deny(stale)).code).toBe('REQUEST_STALE');
    const forged = logBody(w, w.p.bClinician);
    const tampered = { ...forged, request: { ...forged.request, action: 'disclose' } };
    expect(w.chain.run(w.a.admin, 'access.log', deny(tampered)).code).toBe('BAD_REQUEST_SIGNATURE');
    const missing = signedRequest(w.p.bClinician, bytes('no-record'), w.chain.time);
    expect(w.chain.run(w.a.admin, 'access.log', deny(missing)).code).toBe('RECORD_NOT_FOUND');
    const once = logBody(w, w.p.bClinician);
    expect(w.chain.run(w.a.admin, 'access.log', deny(once)).code).toBe('OK');
    expect(w.chain.run(w.a.admin, 'access.log', deny(once)).code).toBe('REQUEST_REPLAYED');
  });

  it("uses the mempool's verdict on the request signature when given one", () => {
    const seen: string[] = [];
    const w = world({
      isRequestSignatureValid: (digest) => {
        seen.push(toHex(digest));
        return false;
      },
    });
    const body = { ...logBody(w, w.p.bClinician), decision: 'deny', consentId: null };
    expect(w.chain.run(w.a.admin, 'access.log', body).code).toBe('BAD_REQUEST_SIGNATURE');
    expect(seen).toEqual([toHex(accessRequestDigest(body.request))]);
  });

  it('flags break-glass entries with their reason', () => {
    const w = world();
    const body = {
      ...logBody(w, w.p.emergency, { purpose: 'ETREAT', emergencyReason: 'life-threatening' }),
      decision: 'permit',
      consentId: null,
    };
    expect(w.chain.run(w.p.clinician, 'access.log', body).code).toBe('MALFORMED_BODY');
    expect(w.chain.run(w.p.clinician, 'access.emergency', body).code).toBe('OK');
    expect(auditTrail(w.chain.history, w.alice.publicKey).items[0]).toMatchObject({
      emergency: true,
      emergencyReason: 'life-threatening',
      purpose: 'ETREAT',
      decision: 'permit',
    });
    const plain = { ...logBody(w, w.p.emergency), decision: 'deny', consentId: null };
    expect(w.chain.run(w.p.clinician, 'access.emergency', plain).code).toBe('MALFORMED_BODY');
  });
});
