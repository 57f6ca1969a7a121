import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesEqual, toHex } from '@medchain/crypto';
import {
  auditTrail,
  consentsOfPatient,
  DENY_REASONS,
  getConsent,
  getPatient,
  getProvider,
  getRecord,
  providersOfOrganization,
  RECEIPT_CODES,
  recordHistory,
  recordId,
  recordsOfPatient,
  transactionHash,
} from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { bytes, DAY, grantBody, org, signer, world } from './helpers.js';

describe('providers', () => {
  it('an org admin registers providers; an admin-role provider may too', () => {
    const { chain, a, p } = world();
    const extra = signer('a/extra');
    expect(
      chain.run(p.admin, 'provider.register', { provider: extra.publicKey, role: 'nurse' }).code,
    ).toBe('OK');
    expect(getProvider(chain.state, extra.publicKey)).toMatchObject({
      role: 'nurse',
      status: 'active',
    });
    expect(bytesEqual(getProvider(chain.state, extra.publicKey)!.org, a.spec.id)).toBe(true);
    const page = providersOfOrganization(chain.state, chain.history, a.spec.id, { limit: 2 });
    expect(page.total).toBe(6);
    expect(page.items).toHaveLength(2);
    expect(page.nextOffset).toBe(2);
  });

  it('refuses signers that are not org admins (NOT_ORG_ADMIN)', () => {
    const { chain, p, alice } = world();
    for (const who of [p.clinician, alice]) {
      const r = chain.run(who, 'provider.register', {
        provider: signer('x').publicKey,
        role: 'clinician',
      });
      expect(r.code).toBe('NOT_ORG_ADMIN');
    }
  });

  it('refuses a key registered twice (PROVIDER_EXISTS) or an org key (KEY_IN_USE)', () => {
    const { chain, a, b, p } = world();
    expect(
      chain.run(b.admin, 'provider.register', { provider: p.clinician.publicKey, role: 'nurse' })
        .code,
    ).toBe('PROVIDER_EXISTS');
    expect(
      chain.run(a.admin, 'provider.register', { provider: b.validator.publicKey, role: 'nurse' })
        .code,
    ).toBe('KEY_IN_USE');
  });

  it('suspends only its own providers, once', () => {
    const { chain, a, b, p } = world();
    expect(chain.run(b.admin, 'provider.suspend', { provider: p.nurse.publicKey }).code).toBe(
      'PROVIDER_NOT_FOUND',
    );
    expect(chain.run(a.admin, 'provider.suspend', { provider: p.nurse.publicKey }).code).toBe('OK');
    expect(getProvider(chain.state, p.nurse.publicKey)?.status).toBe('suspended');
    expect(chain.run(a.admin, 'provider.suspend', { provider: p.nurse.publicKey }).code).toBe(
      'PROVIDER_SUSPENDED',
    );
  });
});

describe('patients', () => {
  it('registers once (PATIENT_EXISTS)', () => {
    const { chain, alice } = world();
    expect(chain.run(alice, 'patient.register', {}).code).toBe('PATIENT_EXISTS');
  });

  it('names delegates with a bounded expiry, only by the patient', () => {
    const { chain, alice, bob, guardian } = world();
    const body = (expiresAt: number) => ({
      patient: alice.publicKey,
      delegate: guardian.publicKey,
      relation: 'guardian',
      expiresAt,
    });
    expect(chain.run(bob, 'patient.delegate', body(chain.time + DAY)).code).toBe('NOT_PATIENT');
    expect(chain.run(alice, 'patient.delegate', body(chain.time)).code).toBe('BAD_EXPIRY');
    expect(chain.run(alice, 'patient.delegate', body(chain.time + 6 * 365 * DAY)).code).toBe(
      'BAD_EXPIRY',
    );
    expect(
      chain.run(alice, 'patient.delegate', { ...body(chain.time + DAY), delegate: alice.publicKey })
        .code,
    ).toBe('INVALID_DELEGATE');
    const unknown = signer('nobody');
    expect(
      chain.run(unknown, 'patient.delegate', {
        ...body(chain.time + DAY),
        patient: unknown.publicKey,
      }).code,
    ).toBe('PATIENT_NOT_FOUND');
    expect(chain.run(alice, 'patient.delegate', body(chain.time + 10 * DAY)).code).toBe('OK');
    // The live delegate acts for the patient...
    const policy = { patient: alice.publicKey, breakGlassOptOut: true, researchOptOut: false };
    expect(chain.run(guardian, 'patient.policy', policy).code).toBe('OK');
    expect(getPatient(chain.state, alice.publicKey)?.breakGlassOptOut).toBe(true);
    // ...but cannot name delegates, and loses power at expiry.
    expect(chain.run(guardian, 'patient.delegate', body(chain.time + DAY)).code).toBe(
      'NOT_PATIENT',
    );
    expect(chain.run(guardian, 'patient.policy', policy, chain.time + 11 * DAY).code).toBe(
      'NOT_PATIENT_OR_DELEGATE',
    );
  });

  it('removes a delegate (DELEGATE_NOT_FOUND when none)', () => {
    const { chain, alice, guardian } = world();
    const body = { patient: alice.publicKey, delegate: guardian.publicKey };
    expect(chain.run(alice, 'patient.undelegate', body).code).toBe('DELEGATE_NOT_FOUND');
    chain.run(alice, 'patient.delegate', {
      ...body,
      relation: 'proxy',
      expiresAt: chain.time + DAY,
    });
    expect(chain.run(alice, 'patient.undelegate', body).code).toBe('OK');
    expect(
      chain.run(guardian, 'patient.policy', {
        patient: alice.publicKey,
        breakGlassOptOut: false,
        researchOptOut: true,
      }).code,
    ).toBe('NOT_PATIENT_OR_DELEGATE');
  });
});

describe('records', () => {
  it('anchors with a client-derivable id and indexes it under the patient', () => {
    const { chain, a, alice, aliceRecord } = world();
    const record = getRecord(chain.state, aliceRecord)!;
    expect(record).toMatchObject({ version: 1, resourceType: 'Observation', erased: false });
    expect(bytesEqual(record.custodian, a.spec.id)).toBe(true);
    expect(
      recordsOfPatient(chain.state, chain.history, alice.publicKey).items.map((r) => toHex(r.id)),
    ).toEqual([toHex(aliceRecord)]);
  });

  it('refuses anchors by outsiders, researchers, for unknown patients, or twice', () => {
    const { chain, a, b, p, alice } = world();
    const body = {
      patient: alice.publicKey,
      custodian: a.spec.id,
      resourceType: 'Observation',
      contentHash: bytes('x'),
      nonce: bytes('n', 16),
    };
    expect(chain.run(p.bClinician, 'record.anchor', body).code).toBe('NOT_CUSTODIAN_PROVIDER');
    expect(chain.run(p.clinician, 'record.anchor', { ...body, custodian: b.spec.id }).code).toBe(
      'NOT_CUSTODIAN_PROVIDER',
    );
    expect(chain.run(p.researcher, 'record.anchor', body).code).toBe('ROLE_NOT_ALLOWED');
    expect(
      chain.run(p.clinician, 'record.anchor', { ...body, patient: signer('ghost').publicKey }).code,
    ).toBe('PATIENT_NOT_FOUND');
    expect(chain.run(p.clinician, 'record.anchor', body).code).toBe('OK');
    expect(chain.run(p.nurse, 'record.anchor', body).code).toBe('RECORD_EXISTS');
    chain.run(a.admin, 'provider.suspend', { provider: p.nurse.publicKey });
    expect(chain.run(p.nurse, 'record.anchor', { ...body, nonce: bytes('m', 16) }).code).toBe(
      'NOT_CUSTODIAN_PROVIDER',
    );
  });

  it('amends into linked versions, then erases; erased records stay erased', () => {
    const { chain, p, alice, aliceRecord } = world();
    expect(
      chain.run(p.nurse, 'record.amend', { recordId: aliceRecord, contentHash: bytes('v2') }).code,
    ).toBe('OK');
    expect(
      chain.run(p.bClinician, 'record.amend', { recordId: aliceRecord, contentHash: bytes('v3') })
        .code,
    ).toBe('NOT_CUSTODIAN_PROVIDER');
    expect(
      chain.run(p.nurse, 'record.amend', { recordId: bytes('none'), contentHash: bytes('v3') })
        .code,
    ).toBe('RECORD_NOT_FOUND');
    const history = recordHistory(chain.history, aliceRecord);
    expect(history.items.map((v) => v.version)).toEqual([1, 2]);
    expect(bytesEqual(history.items[1]!.previousHash!, history.items[0]!.contentHash)).toBe(true);
    expect(history.items[0]!.previousHash).toBeNull();

    expect(chain.run(p.bClinician, 'record.erase', { recordId: aliceRecord }).code).toBe(
      'NOT_AUTHORIZED',
    );
    expect(chain.run(alice, 'record.erase', { recordId: aliceRecord }).code).toBe('OK');
    expect(getRecord(chain.state, aliceRecord)?.erased).toBe(true);
    expect(chain.run(p.clinician, 'record.erase', { recordId: aliceRecord }).code).toBe(
      'RECORD_ERASED',
    );
    expect(
      chain.run(p.nurse, 'record.amend', { recordId: aliceRecord, contentHash: bytes('v3') }).code,
    ).toBe('RECORD_ERASED');
  });

  it('the custodian may erase', () => {
    const { chain, p, bobRecord } = world();
    expect(chain.run(p.clinician, 'record.erase', { recordId: bobRecord }).code).toBe('OK');
  });
});

describe('consents', () => {
  it('grants by the patient or a live delegate, indexed and revocable', () => {
    const { chain, alice, guardian, p } = world();
    chain.run(alice, 'patient.delegate', {
      patient: alice.publicKey,
      delegate: guardian.publicKey,
      relation: 'guardian',
      expiresAt: chain.time + 100 * DAY,
    });
    const tx = chain.tx(
      guardian,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
    );
    expect(chain.block([tx]).receipts[0]!.code).toBe('OK');
    const consent = getConsent(chain.state, transactionHash(tx))!;
    expect(consent.status).toBe('active');
    expect(bytesEqual(consent.grantedBy, guardian.publicKey)).toBe(true);
    expect(consentsOfPatient(chain.state, chain.history, alice.publicKey).total).toBe(1);
    expect(chain.run(p.nurse, 'consent.revoke', { consentId: consent.id }).code).toBe(
      'NOT_PATIENT_OR_DELEGATE',
    );
    expect(chain.run(alice, 'consent.revoke', { consentId: consent.id }).code).toBe('OK');
    expect(getConsent(chain.state, consent.id)?.status).toBe('revoked');
    expect(chain.run(alice, 'consent.revoke', { consentId: consent.id }).code).toBe(
      'CONSENT_REVOKED',
    );
    expect(chain.run(alice, 'consent.revoke', { consentId: bytes('none') }).code).toBe(
      'CONSENT_NOT_FOUND',
    );
  });

  it('refuses grants from others, to unknown grantees, and with bad windows', () => {
    const { chain, alice, bob, p, a, bobRecord } = world();
    const t = chain.time + 1000;
    const toNurse = { type: 'provider' as const, id: p.nurse.publicKey };
    expect(chain.run(bob, 'consent.grant', grantBody(alice, toNurse, t)).code).toBe(
      'NOT_PATIENT_OR_DELEGATE',
    );
    expect(
      chain.run(
        alice,
        'consent.grant',
        grantBody(alice, { type: 'provider', id: signer('x').publicKey }, t),
      ).code,
    ).toBe('GRANTEE_NOT_FOUND');
    expect(
      chain.run(
        alice,
        'consent.grant',
        grantBody(alice, { type: 'organization', id: bytes('no-org') }, t),
      ).code,
    ).toBe('GRANTEE_NOT_FOUND');
    expect(
      chain.run(alice, 'consent.grant', grantBody(alice, toNurse, t, { validUntil: t })).code,
    ).toBe('BAD_WINDOW');
    expect(
      chain.run(
        alice,
        'consent.grant',
        grantBody(alice, toNurse, t, { validFrom: t - 10 * DAY, validUntil: t - DAY }),
      ).code,
    ).toBe('BAD_WINDOW');
    expect(
      chain.run(
        alice,
        'consent.grant',
        grantBody(alice, toNurse, t, { validUntil: t + 5 * 366 * DAY }),
      ).code,
    ).toBe('WINDOW_TOO_LONG');
    expect(
      chain.run(alice, 'consent.grant', grantBody(alice, toNurse, t, { recordIds: [bobRecord] }))
        .code,
    ).toBe('SCOPE_INVALID');
    expect(
      chain.run(
        alice,
        'consent.grant',
        grantBody(alice, { type: 'organization', id: a.spec.id }, t),
      ).code,
    ).toBe('OK');
  });

  it('a body of the wrong shape fails MALFORMED_BODY and still consumes the nonce', () => {
    const { chain, alice } = world();
    const r = chain.run(alice, 'consent.grant', { patient: alice.publicKey });
    expect(r.code).toBe('MALFORMED_BODY');
    expect(r.message).toContain('body.grantee');
    expect(chain.run(alice, 'patient.register', {}).code).toBe('PATIENT_EXISTS');
  });

  it('keeps record ids derivable: the same inputs give the same id', () => {
    const { a, alice, aliceRecord } = world();
    expect(
      bytesEqual(recordId(a.spec.id, alice.publicKey, bytes('alice-record-1', 16)), aliceRecord),
    ).toBe(true);
  });

  it('audit trail starts empty', () => {
    const { chain, alice } = world();
    expect(auditTrail(chain.history, alice.publicKey)).toEqual({
      items: [],
      total: 0,
      nextOffset: null,
    });
  });
});

describe('keys that enter the state', () => {
  // The identity point: 32 bytes, but small order, so never an acceptable signing key.
  const smallOrder = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0));

  it('execution refuses unacceptable keys where a rule would store them (MALFORMED_BODY)', () => {
    const { chain, a, alice } = world();
    const cases = [
      chain.run(a.admin, 'provider.register', { provider: smallOrder, role: 'nurse' }),
      chain.run(alice, 'patient.delegate', {
        patient: alice.publicKey,
        delegate: smallOrder,
        relation: 'proxy',
        expiresAt: chain.time + DAY,
      }),
      chain.run(a.admin, 'governance.propose', {
        change: { type: 'add', organization: { ...org('bad').spec, validatorKey: smallOrder } },
      }),
    ];
    for (const receipt of cases) {
      expect(receipt.code).toBe('MALFORMED_BODY');
      expect(receipt.message).toContain('acceptable Ed25519 public key');
    }
  });

  it('a key that is only looked up is simply not found', () => {
    const { chain, alice } = world();
    const r = chain.run(
      alice,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: smallOrder }, chain.time),
    );
    expect(r.code).toBe('GRANTEE_NOT_FOUND');
  });
});

describe('coverage of codes', () => {
  it('every receipt code and deny reason is asserted by some test', () => {
    const dir = dirname(fileURLToPath(import.meta.url));
    const text = readdirSync(dir)
      .filter((file) => file.endsWith('.test.ts'))
      .map((file) => readFileSync(join(dir, file), 'utf8'))
      .join('\n');
    const untested = [...RECEIPT_CODES, ...DENY_REASONS].filter(
      (code) => !text.includes(`'${code}'`),
    );
    expect(untested).toEqual([]);
  });
});
