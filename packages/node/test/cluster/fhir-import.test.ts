import {
  ClientError,
  importConsent,
  MedchainClient,
  sendTransaction,
  signConsent,
} from '@medchain/client';
import { fromHex, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  CONSENT_ACTIONS,
  type ConsentEntry,
  consentsOfPatient,
  consentToFhirR5,
  expectedNonce,
  type FhirResource,
  getConsent,
  PURPOSES,
  readFhirConsent,
  readFhirConsentR5,
  recordId,
  stateKeys,
  type TxBodies,
  type TxKind,
  withConsentTransaction,
} from '@medchain/ledger';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirSchemaErrors, hl7Examples } from '../../../ledger/test/fhir-schema.js';
import type { MedchainNode } from '../../src/index.js';
import { makeNetwork, type Network, orgAdminOf, orgIdOf, startNode } from '../cluster-harness.js';
import { consentToImport, fhirClient, signedHeaders } from '../fhir-client.js';

/**
 * POST /fhir/r4/Consent on a real committing node (one validator) over HTTP on 127.0.0.1:
 * Consents signed by the patient or a delegate with @medchain/client, posted with
 * fhir-kit-client (a maintained FHIR client, its requests signed through its request hook) and
 * with the client's own importConsent. Every answer is checked against the FHIR R4 schema;
 * every refusal is an OperationOutcome and leaves the chain's state root as it was.
 */

type Resource = FhirResource & { id?: string };
type Outcome = {
  resourceType: 'OperationOutcome';
  issue: { code: string; expression?: string[]; details?: { coding: { code: string }[] } }[];
};

const who = (label: string) => new Signer(sha256(utf8(`fhir-import:${label}`)));
const clinician = who('clinician');
const patient = who('patient');
const delegate = who('delegate');
const other = who('other-patient');
const stranger = who('stranger');
const hex = toHex;
const orgId = orgIdOf(0);
const recordNonce = sha256(utf8('fhir-import:record')).slice(0, 16);
const record = recordId(orgId, patient.publicKey, recordNonce);
const DAY = 86_400_000;
const PRCP = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

let network: Network;
let node: MedchainNode;
let base: string;
let ledgerClient: MedchainClient;

const state = () => node.parts.backend.state();
const stateRoot = () => hex(node.parts.chain.stateRoot);

/** An EHR's FHIR client signing every request with `as` (RFC 9421) through its request hook. */
const ehr = (as?: Signer) => fhirClient(`${base}/fhir/r4`, as);

/** The medchain client of a party: signs its grants and requests with its key. */
const clientOf = (as: Signer) => new MedchainClient({ url: base, signer: as });

/**
 * A Consent signed by `by` with its next nonce on the committed state (the client's proven nonce
 * trails it by a block; importConsent steps up on 409, a single POST does not).
 */
const signedBy = (by: Signer, consent: unknown, signer = by) =>
  signConsent(clientOf(by), consent, {
    signer,
    nonce: expectedNonce(state(), signer.publicKey),
  });

/** POSTs raw bytes (signed as `as`) to /fhir/r4/Consent: status and the parsed answer. */
async function post(body: string, as: Signer | null = patient) {
  const url = `${base}/fhir/r4/Consent`;
  const bytes = utf8(body);
  const headers: Record<string, string> = { 'content-type': 'application/fhir+json' };
  if (as !== null) {
    Object.assign(headers, await signedHeaders(as, 'POST', url, bytes));
  }
  const response = await fetch(url, { method: 'POST', headers, body: bytes });
  return { status: response.status, answer: (await response.json()) as Resource };
}

/** A refusal: an OperationOutcome valid against the R4 schema, and nothing committed. */
async function refusedWith(
  attempt: () => Promise<{ status: number; answer: Resource }>,
): Promise<{ status: number; codes: string[]; expressions: string[] }> {
  const root = stateRoot();
  const consents = consentsOfPatient(
    state(),
    node.parts.backend.history(),
    patient.publicKey,
  ).total;
  const { status, answer } = await attempt();
  expect(answer.resourceType).toBe('OperationOutcome');
  expect(fhirSchemaErrors(answer)).toEqual([]);
  // Nothing reached a block: let one block's worth of time pass, then compare.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(stateRoot()).toBe(root);
  expect(consentsOfPatient(state(), node.parts.backend.history(), patient.publicKey).total).toBe(
    consents,
  );
  const issues = (answer as unknown as Outcome).issue;
  return {
    status,
    codes: issues.map((i) => i.details?.coding[0]?.code ?? ''),
    expressions: issues.flatMap((i) => i.expression ?? []),
  };
}

/** A Consent as a client sends it, for `patient` to `clinician`, starting now for 30 days. */
const consentFor = (overrides: Partial<ConsentEntry> = {}, grantor = patient): Resource =>
  consentToImport(patient.publicKey, clinician.publicKey, {
    validUntil: Date.now() + 30 * DAY,
    grantedBy: grantor.publicKey,
    ...overrides,
  });

const nonces = new Map<string, number>();
async function submit<K extends TxKind>(from: Signer, kind: K, body: TxBodies[K]) {
  const id = hex(from.publicKey);
  const nonce = (nonces.get(id) ?? 0) + 1;
  nonces.set(id, nonce);
  return (await sendTransaction(ledgerClient, kind, body, { signer: from, nonce, wait: false }))
    .hash;
}

beforeAll(async () => {
  network = await makeNetwork({ validators: 1 });
  const admin = orgAdminOf(network, 0);
  node = await startNode(network.homes[0]!);
  base = node.parts.apiUrl;
  ledgerClient = new MedchainClient({ url: base, signer: admin });
  const round = async (hashes: Promise<string>[]) => {
    for (const hash of await Promise.all(hashes)) {
      expect((await ledgerClient.waitForReceipt(hash)).receipt.code, hash).toBe('OK');
    }
  };
  await round([
    submit(admin, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }),
    submit(patient, 'patient.register', {}),
    submit(other, 'patient.register', {}),
  ]);
  await round([
    submit(patient, 'patient.delegate', {
      patient: patient.publicKey,
      delegate: delegate.publicKey,
      relation: 'guardian',
      expiresAt: Date.now() + 30 * DAY,
    }),
    submit(clinician, 'record.anchor', {
      patient: patient.publicKey,
      custodian: orgId,
      resourceType: 'Observation',
      contentHash: sha256(utf8('fhir-import:content')),
      nonce: recordNonce,
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await node?.stop();
  await network?.remove();
});

describe('POST /fhir/r4/Consent', () => {
  it('fhir-kit-client posts a patient-signed Consent: 201, the grant is on the ledger, read back equal', async () => {
    const signed = await signedBy(patient, consentFor({ recordIds: [record] }));
    const created = (await ehr(patient).create({
      resourceType: 'Consent',
      body: signed.resource,
    })) as Resource;
    expect(fhirSchemaErrors(created)).toEqual([]);
    expect(created.id).toBe(signed.hash);
    // The node's export of the grant reads back to exactly what was signed.
    const reading = readFhirConsent(created);
    expect(reading).toMatchObject({ ok: true, terms: signed.terms });
    const stored = getConsent(state(), fromHex(signed.hash))!;
    expect(hex(stored.grantedBy)).toBe(hex(patient.publicKey));
    expect(stored.recordIds.map(hex)).toEqual([hex(record)]);
    const read = (await ehr(patient).read({
      resourceType: 'Consent',
      id: signed.hash,
    })) as Resource;
    expect(read).toEqual(created);
  });

  it('GET /metadata states Consent create, once, beside read and search', async () => {
    const statement = (await ehr().capabilityStatement()) as Resource & {
      rest: { resource: { type: string; interaction: { code: string }[] }[] }[];
    };
    const consent = statement.rest[0]!.resource.filter((r) => r.type === 'Consent');
    expect(consent.map((r) => r.interaction.map((i) => i.code))).toEqual([
      ['read', 'search-type', 'create'],
    ]);
  });

  it('a delegate imports with importConsent: 201 with Location, performer RelatedPerson', async () => {
    const imported = await importConsent(clientOf(delegate), consentFor({}, delegate));
    expect(imported.status).toBe(201);
    expect(imported.location).toBe(`${base}/fhir/r4/Consent/${imported.id}`);
    expect(fhirSchemaErrors(imported.resource)).toEqual([]);
    expect(imported.resource.performer).toEqual([
      { reference: `RelatedPerson/${hex(delegate.publicKey)}` },
    ]);
    expect(hex(getConsent(state(), fromHex(imported.id))!.grantedBy)).toBe(hex(delegate.publicKey));
  });

  it('an R5 Consent (fhirVersion=5.0) imports too; another FHIR version is 415', async () => {
    const now = Date.now();
    const r5 = consentToFhirR5(
      {
        id: new Uint8Array(32),
        patient: patient.publicKey,
        grantee: { type: 'organization', id: orgId },
        recordIds: [record],
        resourceTypes: ['Condition'],
        actions: ['access', 'use'],
        purposes: ['TREAT', 'HOPERAT'],
        validFrom: now - 60_000,
        validUntil: now + DAY,
        grantedBy: patient.publicKey,
        createdAt: now,
        status: 'active',
        revokedAt: null,
        revokedBy: null,
      },
      { time: now, resourceTypeOf: () => 'Observation' },
    );
    const imported = await importConsent(clientOf(patient), r5, { fhirVersion: '5.0' });
    expect(imported.status).toBe(201);
    const stored = getConsent(state(), fromHex(imported.id))!;
    const reading = readFhirConsentR5(r5);
    expect(reading.ok && reading.terms).toEqual({
      patient: stored.patient,
      grantee: stored.grantee,
      recordIds: stored.recordIds,
      resourceTypes: stored.resourceTypes,
      actions: stored.actions,
      purposes: stored.purposes,
      validFrom: stored.validFrom,
      validUntil: stored.validUntil,
    });
    // The answer is the endpoint's R4 export of the same grant.
    expect(readFhirConsent(imported.resource)).toMatchObject({ ok: true });
    const url = `${base}/fhir/r4/Consent`;
    const body = utf8(JSON.stringify(r5));
    const headers = {
      'content-type': 'application/fhir+json; fhirVersion=3.0',
      ...(await signedHeaders(patient, 'POST', url, body)),
    };
    const response = await fetch(url, { method: 'POST', headers, body });
    expect(response.status).toBe(415);
    expect(((await response.json()) as Outcome).issue[0]!.details!.coding[0]!.code).toBe(
      'FHIR_VERSION_UNSUPPORTED',
    );
  });

  it('round trip over HTTP: random grants import and export back to the terms that were signed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom(...CONSENT_ACTIONS), { minLength: 1 }),
        fc.uniqueArray(fc.constantFrom(...PURPOSES), { minLength: 1 }),
        fc.uniqueArray(fc.constantFrom('Observation', 'Condition', 'MedicationRequest'), {
          maxLength: 2,
        }),
        fc.boolean(),
        fc.integer({ min: 1, max: 365 }),
        async (actions, purposes, resourceTypes, withRecord, days) => {
          const recordIds = withRecord || resourceTypes.length === 0 ? [record] : [];
          const imported = await importConsent(
            clientOf(patient),
            consentFor({
              actions,
              purposes,
              resourceTypes,
              recordIds,
              validUntil: Date.now() + days * DAY,
            }),
          );
          expect(imported.status).toBe(201);
          expect(fhirSchemaErrors(imported.resource)).toEqual([]);
          const stored = getConsent(state(), fromHex(imported.id))!;
          expect(stored).toMatchObject({ actions, purposes, resourceTypes });
          expect(readFhirConsent(imported.resource)).toMatchObject({ ok: true });
        },
      ),
      { numRuns: 6, seed: 20261206 },
    );
  });
});

/** HL7's references name people and places; the node knows keys: rewrite them onto this chain's. */
function onThisChain(resource: unknown): Resource {
  return JSON.parse(
    JSON.stringify(resource)
      .replace(/"Patient\/[^"]+"/g, `"Patient/${hex(patient.publicKey)}"`)
      .replace(/"RelatedPerson\/[^"]+"/g, `"RelatedPerson/${hex(delegate.publicKey)}"`)
      .replace(/"Practitioner\/[^"]+"/g, `"Practitioner/${hex(clinician.publicKey)}"`)
      .replace(/"Organization\/[^"]+"/g, `"Organization/${hex(orgId)}"`),
  ) as Resource;
}

describe("HL7's R4 Consent examples over HTTP", () => {
  it('each of the 12 is refused with an OperationOutcome naming the same elements as the ledger', async () => {
    const examples = hl7Examples('Consent');
    expect(examples).toHaveLength(12);
    for (const { file, resource } of examples) {
      const rewritten = onThisChain(resource);
      const reading = readFhirConsent(rewritten);
      expect(reading.ok, file).toBe(false);
      // Signed or not, the Consent itself is refused first: a dummy transaction suffices.
      const body = withConsentTransaction(rewritten, {
        signer: patient.publicKey,
        nonce: 1,
        signature: new Uint8Array(64),
      });
      const refusal = await refusedWith(() => post(JSON.stringify(body)));
      expect(refusal.status, file).toBe(422);
      expect(
        refusal.codes.every((code) => code === 'FHIR_CONSENT_UNSUPPORTED'),
        file,
      ).toBe(true);
      expect(refusal.expressions, file).toEqual(
        reading.ok ? [] : reading.issues.map((issue) => issue.expression),
      );
    }
  });

  it('smartonfhir with its recipient named and its half hour moved to now imports, signed by the delegate', async () => {
    const example = onThisChain(
      hl7Examples('Consent').find((e) => e.file.endsWith('smartonfhir.json'))!.resource,
    ) as Resource & { provision: { period: unknown; actor?: unknown } };
    const start = Date.now() - 60_000;
    example.provision.period = {
      start: new Date(start).toISOString(),
      end: new Date(start + 30 * 60_000).toISOString(),
    };
    example.provision.actor = [
      {
        role: { coding: [{ system: PRCP, code: 'PRCP' }] },
        reference: { reference: `Practitioner/${hex(clinician.publicKey)}` },
      },
    ];
    const imported = await importConsent(clientOf(delegate), example);
    expect(imported.status).toBe(201);
    expect(fhirSchemaErrors(imported.resource)).toEqual([]);
    const stored = getConsent(state(), fromHex(imported.id))!;
    expect(stored).toMatchObject({ resourceTypes: ['MedicationRequest'], actions: ['access'] });
    expect(hex(stored.grantedBy)).toBe(hex(delegate.publicKey));
  });
});

describe('bad input: an OperationOutcome with the right status, and nothing committed', () => {
  it('malformed FHIR JSON: 400', async () => {
    expect((await refusedWith(() => post('{"resourceType": "Consent", "status": '))).status).toBe(
      400,
    );
    const notConsent = await refusedWith(() => post(JSON.stringify({ resourceType: 'Patient' })));
    expect(notConsent.status).toBe(400);
    const shapeless = await refusedWith(() =>
      post(JSON.stringify({ ...consentFor(), provision: 'permit' })),
    );
    expect(shapeless.status).toBe(400);
    expect(shapeless.expressions[0]).toBe('Consent.provision');
  });

  it('no transaction extension: 400 naming it', async () => {
    const refusal = await refusedWith(() => post(JSON.stringify(consentFor())));
    expect(refusal.status).toBe(400);
    expect(refusal.expressions).toEqual([
      "Consent.extension('urn:medchain:fhir:consent-transaction')",
    ]);
  });

  it('a signature by another key, or over a changed Consent: 400 BAD_SIGNATURE', async () => {
    const signed = await signConsent(clientOf(patient), consentFor());
    // The other patient's signature under the patient's name.
    const forged = await signConsent(clientOf(patient), consentFor(), { signer: other });
    const extension = (r: Resource) => r.extension as { extension: { url: string }[] }[];
    const wrongKey = structuredClone(forged.resource);
    extension(wrongKey)[0]!.extension[0] = {
      url: 'signer',
      valueString: hex(patient.publicKey),
    } as never;
    const byOther = await refusedWith(() => post(JSON.stringify(wrongKey)));
    expect(byOther).toMatchObject({ status: 400, codes: ['BAD_SIGNATURE'] });
    // A changed Consent: one more action than was signed.
    const tampered = structuredClone(signed.resource) as Resource & {
      provision: { action: unknown[] };
    };
    tampered.provision.action.push({
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'disclose' }],
    });
    const changed = await refusedWith(() => post(JSON.stringify(tampered)));
    expect(changed).toMatchObject({
      status: 400,
      codes: ['BAD_SIGNATURE'],
      expressions: [
        "Consent.extension('urn:medchain:fhir:consent-transaction').extension('signature')",
      ],
    });
    // fhir-kit-client sees the same refusal as an HTTP error carrying the OperationOutcome.
    const error = await ehr(patient)
      .create({ resourceType: 'Consent', body: tampered })
      .then(
        () => undefined,
        (e: { response: { status: number; data: Outcome } }) => e,
      );
    expect(error?.response.status).toBe(400);
    expect(error?.response.data.resourceType).toBe('OperationOutcome');
  });

  it('a Consent for a patient the signer may not act for: 403', async () => {
    // The other patient signs the grant and the request: not the patient's side.
    const forOther = await signConsent(clientOf(other), consentFor({}, other));
    const http = await refusedWith(() => post(JSON.stringify(forOther.resource), other));
    expect(http).toMatchObject({ status: 403, codes: ['FORBIDDEN'] });
    // The patient's own request carrying the other patient's grant: the ledger's role check.
    const { performer: _performer, ...anonymous } = consentFor();
    const grant = await signConsent(clientOf(other), anonymous as Resource);
    const ledger = await refusedWith(() => post(JSON.stringify(grant.resource), patient));
    expect(ledger).toMatchObject({ status: 403, codes: ['NOT_PATIENT_OR_DELEGATE'] });
    // The performer says who grants: a delegate's signature on a Consent naming the patient is refused.
    const mismatch = await signConsent(clientOf(delegate), consentFor());
    expect(
      await refusedWith(() => post(JSON.stringify(mismatch.resource), delegate)),
    ).toMatchObject({
      status: 422,
      codes: ['GRANTOR_NOT_SIGNER'],
      expressions: ['Consent.performer[0]'],
    });
  });

  it('an end in the past: 422 BAD_WINDOW naming the period; importConsent throws it', async () => {
    const past = consentFor({ validFrom: Date.now() - 2 * DAY, validUntil: Date.now() - DAY });
    const signed = await signConsent(clientOf(patient), past);
    expect(await refusedWith(() => post(JSON.stringify(signed.resource)))).toMatchObject({
      status: 422,
      codes: ['BAD_WINDOW'],
      expressions: ['Consent.provision.period'],
    });
    const error = await importConsent(clientOf(patient), past).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'BAD_WINDOW', status: 422 });
  });

  it('unsigned, or signed by a key the ledger does not know: 401', async () => {
    const signed = await signConsent(clientOf(patient), consentFor());
    const body = JSON.stringify(signed.resource);
    expect(await refusedWith(() => post(body, null))).toMatchObject({
      status: 401,
      codes: ['SIGNATURE_MISSING'],
    });
    expect(await refusedWith(() => post(body, stranger))).toMatchObject({
      status: 401,
      codes: ['KEY_UNKNOWN'],
    });
  });

  it('the same signed grant twice: the second is refused (its nonce is used)', async () => {
    const signed = await signedBy(patient, consentFor());
    const first = await post(JSON.stringify(signed.resource));
    expect(first.status).toBe(201);
    const again = await refusedWith(() => post(JSON.stringify(signed.resource)));
    expect(again.status).toBe(409);
    expect(['BAD_NONCE', 'DUPLICATE']).toContain(again.codes[0]);
    expect(state().get(stateKeys.nonce(patient.publicKey))).toBeDefined();
  });
});
