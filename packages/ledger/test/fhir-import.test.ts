import { toHex } from '@medchain/crypto';
import {
  CONSENT_ACTIONS,
  type ConsentEntry,
  type ConsentTerms,
  consentFromFhir,
  consentToFhir,
  consentToFhirR5,
  exportConsent,
  type FhirResource,
  type Grantee,
  getConsent,
  grantRefusal,
  LedgerError,
  PURPOSES,
  readConsentTransaction,
  readFhirConsent,
  readFhirConsentR5,
  TRANSACTION_EXTENSION,
  transactionHash,
  withConsentTransaction,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fhirSchemaErrors, hl7Examples } from './fhir-schema.js';
import {
  bytes,
  Chain,
  DAY,
  expectAllOk,
  genesisDoc,
  grantBody,
  org,
  signer,
  world,
} from './helpers.js';

const SEED = Number(process.env.LEDGER_PROPERTY_SEED ?? 20261206);

type Json = Record<string, unknown>;
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const expressions = (reading: ReturnType<typeof readFhirConsent>) =>
  reading.ok ? [] : [...new Set(reading.issues.map((issue) => issue.expression))];

/** The terms of a stored consent (what a grant carries). */
const termsOf = (consent: ConsentEntry): ConsentTerms => {
  const { patient, grantee, recordIds, resourceTypes, actions, purposes, validFrom, validUntil } =
    consent;
  return { patient, grantee, recordIds, resourceTypes, actions, purposes, validFrom, validUntil };
};

// ---- HL7's examples ----

const pkbNested = Array.from({ length: 11 }, (_, i) => [
  `Consent.provision.provision[${i}].type`,
  `Consent.provision.provision[${i}].securityLabel`,
]).flat();

/**
 * What each of HL7's 12 R4 Consent examples gives: the elements its refusal names (every one,
 * in the order the reader meets them). None imports as published: each needs something a
 * consent.grant cannot be (deny rules, OPTOUT, custodian/author roles, labels, codes) or lacks
 * what a grant must name (a recipient, an end, the data). The ledger README's table explains each.
 */
const HL7_R4: Record<string, readonly string[]> = {
  'Consent-consent-example-Emergency.json': [
    'Consent.sourceAttachment',
    'Consent.policyRule',
    'Consent.provision.actor[0].role',
    'Consent.provision.provision[0].type',
    'Consent.provision.provision[0].actor[0].role',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-Out.json': [
    'Consent.sourceAttachment',
    'Consent.policyRule',
    'Consent.provision.actor[0].role',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-basic.json': [
    'Consent.sourceAttachment',
    'Consent.provision.actor',
    'Consent.provision.class',
  ],
  'Consent-consent-example-grantor.json': [
    'Consent.sourceAttachment',
    'Consent.policyRule',
    'Consent.provision.actor[1]',
    'Consent.provision.actor[0].role',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-notAuthor.json': [
    'Consent.sourceAttachment',
    'Consent.provision.actor[0].role',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-notOrg.json': [
    'Consent.sourceAttachment',
    'Consent.provision.type',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-notThem.json': [
    'Consent.sourceAttachment',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-notThis.json': [
    'Consent.sourceAttachment',
    'Consent.provision.data[0].meaning',
    'Consent.provision.actor',
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-notTime.json': [
    'Consent.sourceAttachment',
    'Consent.provision.actor',
    'Consent.provision.class',
  ],
  'Consent-consent-example-pkb.json': [
    'Consent.policyRule',
    'Consent.provision.securityLabel',
    ...pkbNested,
    'Consent.provision.period.end',
    'Consent.provision.class',
  ],
  'Consent-consent-example-signature.json': [
    'Consent.provision.provision[0].code',
    'Consent.provision.provision[0].actor[0].role',
    'Consent.provision.provision[0].class[0]',
    'Consent.provision.class',
  ],
  'Consent-consent-example-smartonfhir.json': ['Consent.provision.actor'],
};

/** A hospital in June 2016, when HL7's smartonfhir consent was live. */
function chain2016() {
  const hospital = org('hl7-hospital');
  const chain = new Chain({
    ...genesisDoc([hospital]),
    genesisTime: Date.parse('2016-06-23T07:00:00Z'),
  });
  const nurse = signer('hl7/nurse');
  const patient = signer('hl7/patient-xcda');
  const peter = signer('hl7/related-person-peter');
  expectAllOk(
    chain.block([
      chain.tx(hospital.admin, 'provider.register', { provider: nurse.publicKey, role: 'nurse' }),
      chain.tx(patient, 'patient.register', {}),
    ]).receipts,
  );
  expectAllOk([
    chain.run(patient, 'patient.delegate', {
      patient: patient.publicKey,
      delegate: peter.publicKey,
      relation: 'guardian',
      expiresAt: chain.time + 365 * DAY,
    }),
  ]);
  // HL7's references are names, not keys: the fixture's identities stand in for them.
  const options = {
    resolvePatient: (ref: string) => (ref.startsWith('Patient/') ? patient.publicKey : undefined),
    resolveGrantor: (ref: string) =>
      ref === 'RelatedPerson/peter'
        ? peter.publicKey
        : ref.startsWith('Patient/')
          ? patient.publicKey
          : undefined,
    resolveActor: (ref: string): Grantee | undefined =>
      ref.startsWith('Practitioner/')
        ? { type: 'provider', id: nurse.publicKey }
        : ref.startsWith('Organization/')
          ? { type: 'organization', id: hospital.spec.id }
          : undefined,
  };
  return { chain, hospital, nurse, patient, peter, options };
}

describe("HL7's R4 Consent examples", () => {
  it('all 12 are tried: each is refused with an issue naming every element medchain cannot map', () => {
    const examples = hl7Examples('Consent');
    expect(examples.map((e) => e.file)).toEqual(Object.keys(HL7_R4).sort());
    const { options } = chain2016();
    for (const { file, resource } of examples) {
      const reading = readFhirConsent(resource, options);
      expect(reading.ok, file).toBe(false);
      expect(expressions(reading), file).toEqual(HL7_R4[file]);
      if (!reading.ok) {
        for (const issue of reading.issues) {
          expect(['not-supported', 'required'], `${file} ${issue.expression}`).toContain(
            issue.code,
          );
          expect(issue.diagnostics.length, file).toBeGreaterThan(10);
        }
      }
      expect(() => consentFromFhir(resource, options), file).toThrow(LedgerError);
    }
  });

  it('smartonfhir with its recipient named maps to a grant by the delegate that exports back to an equivalent Consent (R4 and R5)', () => {
    const { chain, nurse, patient, peter, options } = chain2016();
    const example = clone(
      hl7Examples('Consent').find((e) => e.file.endsWith('smartonfhir.json'))!.resource,
    ) as Json & { provision: Json & { provision: Json[] } };
    // The one thing it lacks: who receives (in SMART on FHIR, the app's user).
    example.provision.actor = [
      {
        role: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' },
          ],
        },
        reference: { reference: 'Practitioner/smart-app-user' },
      },
    ];
    const reading = readFhirConsent(example, options);
    if (!reading.ok) throw new Error(JSON.stringify(reading.issues));
    expect(reading.grantor).toEqual(peter.publicKey);
    expect(reading.terms).toEqual({
      patient: patient.publicKey,
      grantee: { type: 'provider', id: nurse.publicKey },
      recordIds: [],
      resourceTypes: ['MedicationRequest'],
      actions: ['access'],
      // No purpose in the resource: FHIR reads that as any purpose.
      purposes: [...PURPOSES],
      validFrom: Date.parse('2016-06-23T17:02:33+10:00'),
      validUntil: Date.parse('2016-06-23T17:32:33+10:00'),
    });
    const tx = chain.tx(peter, 'consent.grant', reading.terms);
    expectAllOk(chain.block([tx]).receipts);
    const consent = getConsent(chain.state, transactionHash(tx))!;
    const r4 = exportConsent(chain.state, consent.id, chain.time)!;
    expect(fhirSchemaErrors(r4)).toEqual([]);
    expect(r4.performer).toEqual([{ reference: `RelatedPerson/${toHex(peter.publicKey)}` }]);
    expect(readFhirConsent(r4)).toEqual({
      ok: true,
      terms: reading.terms,
      grantor: peter.publicKey,
    });
    const r5 = consentToFhirR5(consent, { time: chain.time, resourceTypeOf: () => undefined });
    expect(fhirSchemaErrors(r5, 'R5')).toEqual([]);
    expect(readFhirConsentR5(r5)).toEqual({
      ok: true,
      terms: reading.terms,
      grantor: peter.publicKey,
    });
  });
});

// ---- round trips ----

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const consentEntry = fc
  .record({
    id: key,
    patient: key,
    delegate: fc.option(key, { nil: undefined }),
    grantee: fc.oneof(
      fc.record({ type: fc.constant('provider' as const), id: key }),
      fc.record({ type: fc.constant('organization' as const), id: key }),
    ),
    resourceTypes: fc.uniqueArray(
      fc.constantFrom(
        'Observation',
        'Condition',
        'MedicationRequest',
        'DiagnosticReport',
        'Patient',
      ),
      { maxLength: 4 },
    ),
    recordIds: fc.uniqueArray(key, { maxLength: 3, selector: toHex }),
    actions: fc.uniqueArray(fc.constantFrom(...CONSENT_ACTIONS), { minLength: 1 }),
    purposes: fc.uniqueArray(fc.constantFrom(...PURPOSES), { minLength: 1 }),
    validFrom: fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1_000_000_000_000, max: 2_000_000_000_000 }),
    ),
    duration: fc.integer({ min: 1, max: 5 * 365 * DAY }),
    createdAt: fc.integer({ min: 1_000_000_000_000, max: 2_000_000_000_000 }),
    revoked: fc.boolean(),
    timeOffset: fc.integer({ min: -DAY, max: 6 * 365 * DAY }),
  })
  .filter((c) => c.resourceTypes.length + c.recordIds.length > 0)
  .map((c): { consent: ConsentEntry; time: number } => ({
    consent: {
      id: c.id,
      patient: c.patient,
      grantee: c.grantee,
      recordIds: c.recordIds,
      resourceTypes: c.resourceTypes,
      actions: c.actions,
      purposes: c.purposes,
      validFrom: c.validFrom,
      validUntil: c.validFrom + c.duration,
      grantedBy: c.delegate ?? c.patient,
      createdAt: c.createdAt,
      status: c.revoked ? 'revoked' : 'active',
      revokedAt: c.revoked ? c.createdAt : null,
      revokedBy: c.revoked ? c.patient : null,
    },
    time: c.validFrom + c.timeOffset,
  }));

const exportOptions = (time: number) => ({ time, resourceTypeOf: () => 'Observation' });

/** Alice's live consent to the nurse, as the ledger holds it once granted. */
const nurseConsent = (w: ReturnType<typeof world>): ConsentEntry => ({
  ...grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time),
  id: bytes('consent'),
  grantedBy: w.alice.publicKey,
  createdAt: w.chain.time,
  status: 'active',
  revokedAt: null,
  revokedBy: null,
});

describe('Consent -> FHIR -> grant terms', () => {
  it.each([
    { release: 'R4', toFhir: consentToFhir, read: readFhirConsent },
    { release: 'R5', toFhir: consentToFhirR5, read: readFhirConsentR5 },
  ] as const)(
    '$release: every export is schema-valid and an active one reads back to the same terms and grantor',
    ({ release, toFhir, read }) => {
      fc.assert(
        fc.property(consentEntry, ({ consent, time }) => {
          const resource = toFhir(consent, exportOptions(time));
          expect(fhirSchemaErrors(resource, release)).toEqual([]);
          const reading = read(resource);
          if (resource.status === 'active') {
            expect(reading).toEqual({
              ok: true,
              terms: termsOf(consent),
              grantor: consent.grantedBy,
            });
          } else {
            expect(expressions(reading)).toEqual(['Consent.status']);
          }
        }),
        { numRuns: 300, seed: SEED },
      );
    },
  );

  it('the schema checks can fail: a broken export is caught in R4 and R5', () => {
    const w = world();
    const consent = nurseConsent(w);
    const r4 = consentToFhir(consent, exportOptions(w.chain.time));
    const r5 = consentToFhirR5(consent, exportOptions(w.chain.time));
    expect(fhirSchemaErrors({ ...r4, status: 'maybe' })).not.toEqual([]);
    // R5's schema types codes as strings (no enums): break a structure instead.
    expect(fhirSchemaErrors({ ...r5, subject: 'Patient/x' }, 'R5')).not.toEqual([]);
    // An R4 resource is not an R5 one (scope and patient are gone in R5).
    expect(fhirSchemaErrors(r4, 'R5')).not.toEqual([]);
  });
});

// ---- what FHIR means by what it leaves out, and by nesting ----

let base: (FhirResource & { provision: Json }) | undefined;

/** An exported R4 consent (built once: a world takes a while). */
function baseConsent(): FhirResource & { provision: Json } {
  base ??= exportedConsent();
  return clone(base);
}

function exportedConsent(): FhirResource & { provision: Json } {
  const w = world();
  return consentToFhir(nurseConsent(w), exportOptions(w.chain.time)) as FhirResource & {
    provision: Json;
  };
}

const termsOrIssues = (resource: unknown) => {
  const reading = readFhirConsent(resource);
  return reading.ok ? reading.terms : expressions(reading);
};

describe('R4 semantics', () => {
  it('absent action, purpose and start mean any: all actions, all purposes, from the epoch', () => {
    const resource = baseConsent();
    const { action: _a, purpose: _p, ...rest } = resource.provision;
    const terms = consentFromFhir({
      ...resource,
      provision: { ...rest, period: { end: '2030-01-31' } },
    });
    expect(terms.actions).toEqual([...CONSENT_ACTIONS]);
    expect(terms.purposes).toEqual([...PURPOSES]);
    expect(terms.validFrom).toBe(0);
    // A date-only end covers its whole day.
    expect(terms.validUntil).toBe(Date.UTC(2030, 1, 1));
  });

  it('"anyone", "forever" and "all data" cannot be granted: required issues name them', () => {
    const resource = baseConsent();
    const { actor: _a, class: _c, ...rest } = resource.provision;
    expect(
      termsOrIssues({ ...resource, provision: { ...rest, period: { start: '2024-01-01' } } }),
    ).toEqual([
      'Consent.provision.actor',
      'Consent.provision.period.end',
      'Consent.provision.class',
    ]);
  });

  it('a nested permit narrows its parent; siblings that differ only in data unite', () => {
    const resource = baseConsent();
    const { class: _c, ...root } = resource.provision;
    const nested = (child: Json) => ({ ...resource, provision: { ...root, provision: [child] } });
    const cls = (code: string) => [{ system: 'http://hl7.org/fhir/resource-types', code }];
    const action = (code: string) => ({
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code }],
    });
    expect(
      consentFromFhir({
        ...resource,
        provision: {
          ...root,
          action: [action('access'), action('use')],
          provision: [{ type: 'permit', action: [action('use')], class: cls('Condition') }],
        },
      }),
    ).toMatchObject({ actions: ['use'], resourceTypes: ['Condition'] });
    expect(
      termsOrIssues(
        nested({ type: 'permit', action: [action('correct')], class: cls('Condition') }),
      ),
    ).toEqual(['Consent.provision.provision[0].action']);
    expect(termsOrIssues(nested({ type: 'deny', class: cls('Condition') }))).toEqual([
      'Consent.provision.provision[0].type',
    ]);
    const united = consentFromFhir({
      ...resource,
      provision: {
        ...root,
        provision: [
          { type: 'permit', class: cls('Condition') },
          { type: 'permit', class: cls('Observation') },
        ],
      },
    });
    expect(united.resourceTypes).toEqual(['Condition', 'Observation']);
    expect(
      termsOrIssues({
        ...resource,
        provision: {
          ...root,
          provision: [
            { type: 'permit', class: cls('Condition') },
            { type: 'permit', class: cls('Observation'), period: { start: '2023-11-20' } },
          ],
        },
      }),
    ).toEqual(['Consent.provision.provision[1]']);
  });

  it('malformed JSON shapes are structure issues (LEDGER_FHIR_INVALID), never exceptions', () => {
    const resource = baseConsent();
    for (const bad of [
      null,
      'Consent',
      [],
      { resourceType: 'Patient' },
      { ...resource, provision: 'permit' },
      { ...resource, provision: { ...resource.provision, action: 'access' } },
      { ...resource, provision: { ...resource.provision, period: { end: 'soon' } } },
      { ...resource, patient: 'Patient/x' },
      { ...resource, frobnicate: true },
    ]) {
      const reading = readFhirConsent(bad);
      expect(reading.ok, JSON.stringify(bad)?.slice(0, 80)).toBe(false);
      let error: unknown;
      try {
        consentFromFhir(bad);
      } catch (caught) {
        error = caught;
      }
      expect((error as LedgerError).code).toBe('LEDGER_FHIR_INVALID');
    }
  });

  it('fuzzed JSON never throws: it reads to terms or to issues', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const resource = baseConsent();
        for (const value of [
          a,
          { ...resource, provision: a },
          { ...resource, provision: { ...resource.provision, actor: a, data: b } },
        ]) {
          const r4 = readFhirConsent(value);
          const r5 = readFhirConsentR5(value);
          expect(typeof r4.ok).toBe('boolean');
          expect(typeof r5.ok).toBe('boolean');
        }
      }),
      { numRuns: 300, seed: SEED },
    );
  });
});

describe('R5 semantics', () => {
  const r5 = () => {
    const w = world();
    const consent = { ...nurseConsent(w), recordIds: [w.aliceRecord] };
    return { w, resource: consentToFhirR5(consent, exportOptions(w.chain.time)) as Json };
  };

  it('exports decision deny with one permit provision per kind of data', () => {
    const { w, resource } = r5();
    expect(resource).toMatchObject({
      decision: 'deny',
      subject: { reference: `Patient/${toHex(w.alice.publicKey)}` },
      grantee: [{ reference: `Practitioner/${toHex(w.p.nurse.publicKey)}` }],
    });
    expect((resource.provision as Json[]).map((p) => Object.keys(p).sort())).toEqual([
      ['action', 'actor', 'purpose', 'resourceType'],
      ['action', 'actor', 'data', 'purpose'],
    ]);
  });

  it('refuses what R5 adds that a grant cannot be, by name', () => {
    const { resource } = r5();
    const issuesOf = (value: unknown) => {
      const reading = readFhirConsentR5(value);
      return reading.ok ? [] : reading.issues.map((i) => i.expression);
    };
    expect(issuesOf({ ...resource, decision: 'permit' })).toEqual(['Consent.decision']);
    expect(issuesOf({ ...resource, decision: undefined })).toEqual(['Consent.decision']);
    expect(
      issuesOf({ ...resource, grantee: [{ reference: `Organization/${'0'.repeat(64)}` }] }),
    ).toEqual(['Consent.grantee[0]']);
    const provision = resource.provision as Json[];
    expect(
      issuesOf({ ...resource, provision: [{ ...provision[0], provision: [{}] }, provision[1]] }),
    ).toEqual(['Consent.provision[0].provision']);
    expect(issuesOf({ ...resource, policyBasis: { url: 'https://example.org/policy' } })).toEqual([
      'Consent.policyBasis',
    ]);
    // Bookkeeping elements pass and are not kept.
    expect(
      readFhirConsentR5({
        ...resource,
        controller: [{ reference: 'Organization/x' }],
        regulatoryBasis: [{ text: 'HIPAA' }],
      }).ok,
    ).toBe(true);
  });
});

// ---- the transaction extension ----

describe('the transaction extension', () => {
  const transaction = { signer: bytes('signer'), nonce: 7, signature: new Uint8Array(64).fill(7) };

  it('round-trips, replacing an older one and keeping other extensions', () => {
    const other = { url: 'https://example.org/ext', valueString: 'kept' };
    const resource = withConsentTransaction(
      withConsentTransaction(
        { resourceType: 'Consent', extension: [other] },
        { ...transaction, nonce: 1 },
      ),
      transaction,
    );
    expect(resource.extension).toHaveLength(2);
    expect(readConsentTransaction(resource)).toEqual({ ok: true, transaction });
    expect(fhirSchemaErrors({ ...baseConsent(), extension: resource.extension })).toEqual([]);
    // The mapping ignores it: the signed body does not depend on the signature.
    expect(consentFromFhir({ ...baseConsent(), extension: resource.extension })).toEqual(
      consentFromFhir(baseConsent()),
    );
  });

  it('names what is missing or malformed', () => {
    const path = `Consent.extension('${TRANSACTION_EXTENSION}')`;
    const issues = (resource: FhirResource) => {
      const read = readConsentTransaction(resource);
      return read.ok ? [] : read.issues.map((i) => i.expression);
    };
    expect(issues({ resourceType: 'Consent' })).toEqual([path]);
    const good = withConsentTransaction({ resourceType: 'Consent' }, transaction);
    const parts = (good.extension as Json[])[0]!.extension as Json[];
    const with_ = (replace: Json) => ({
      resourceType: 'Consent',
      extension: [
        {
          url: TRANSACTION_EXTENSION,
          extension: parts.map((p) => (p.url === replace.url ? replace : p)),
        },
      ],
    });
    expect(issues(with_({ url: 'signer', valueString: 'AB'.repeat(32) }))).toEqual([
      `${path}.extension('signer')`,
    ]);
    expect(issues(with_({ url: 'nonce', valuePositiveInt: 0 }))).toEqual([
      `${path}.extension('nonce')`,
    ]);
    expect(issues(with_({ url: 'signature', valueString: 'ab' }))).toEqual([
      `${path}.extension('signature')`,
    ]);
    expect(
      issues({
        resourceType: 'Consent',
        extension: [...(good.extension as Json[]), ...(good.extension as Json[])],
      }),
    ).toEqual([path]);
  });
});

// ---- asking the grant rule before submitting ----

describe('grantRefusal', () => {
  it("agrees with execution's receipt code for grants of every kind of failure", () => {
    const w = world();
    const { chain, alice, bob, guardian, p, a } = w;
    expectAllOk([
      chain.run(alice, 'patient.delegate', {
        patient: alice.publicKey,
        delegate: guardian.publicKey,
        relation: 'guardian',
        expiresAt: chain.time + 300 * DAY,
      }),
    ]);
    const stranger = signer('stranger');
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.constantFrom(alice, guardian, bob, stranger),
        fc.constantFrom(alice, bob, stranger),
        fc.constantFrom<Grantee>(
          { type: 'provider', id: p.nurse.publicKey },
          { type: 'provider', id: stranger.publicKey },
          { type: 'organization', id: a.spec.id },
          { type: 'organization', id: bytes('no-such-org') },
        ),
        fc.subarray([w.aliceRecord, w.bobRecord]),
        fc.constantFrom(-DAY, 30 * DAY, 6 * 365 * DAY),
        (from, patient, grantee, recordIds, length) => {
          const time = chain.time + 1000;
          const terms = {
            ...grantBody(patient, grantee, time),
            recordIds,
            validFrom: time,
            validUntil: time + length,
          };
          const refusal = grantRefusal(chain.state, from.publicKey, terms, time);
          const receipt = chain.run(from, 'consent.grant', terms, time);
          seen.add(receipt.code);
          expect(refusal?.code ?? 'OK').toBe(receipt.code);
        },
      ),
      { numRuns: 150, seed: SEED },
    );
    expect([...seen].sort()).toEqual(
      [
        'OK',
        'NOT_PATIENT_OR_DELEGATE',
        'PATIENT_NOT_FOUND',
        'GRANTEE_NOT_FOUND',
        'BAD_WINDOW',
        'WINDOW_TOO_LONG',
        'SCOPE_INVALID',
      ].sort(),
    );
  });
});
