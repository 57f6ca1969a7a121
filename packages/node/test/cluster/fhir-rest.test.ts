import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  certificateFromJson,
  genesisFromJson,
  genesisHash,
  headerFromJson,
  LightClient,
  logAccess,
  MedchainClient,
  sendTransaction,
  signAccessRequest,
} from '@medchain/client';
import { fromHex, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { headerHash, recordId, type TxBodies, type TxKind } from '@medchain/ledger';
import fc from 'fast-check';
import type { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantBody } from '../../../ledger/test/helpers.js';
import { AUDIT_EVENT_PARAMS, CONSENT_PARAMS } from '../../src/fhir/resources.js';
import type { MedchainNode } from '../../src/index.js';
import { GENESIS_FILE } from '../../src/node.js';
import { makeNetwork, type Network, orgAdminOf, orgIdOf, startNode } from '../cluster-harness.js';
import { fhirClient, signedHeaders, valid } from '../fhir-client.js';

/**
 * The FHIR R4 endpoint as an EHR uses it: fhir-kit-client (a maintained FHIR client library)
 * against a real committing node over HTTP on 127.0.0.1, every request signed by the EHR
 * user's key through the client's request hook, every party set up by real transactions.
 * Every resource the endpoint returns (Bundles, their entries, OperationOutcomes) is checked
 * against the official FHIR R4 JSON schema.
 */

type Resource = { resourceType: string; id?: string; [element: string]: unknown };
type Bundle = Resource & {
  total: number;
  link: { relation: string; url: string }[];
  entry?: { fullUrl?: string; resource: Resource; search: { mode: string } }[];
};

const who = (label: string) => new Signer(sha256(utf8(`fhir-rest:${label}`)));
const clinician = who('clinician');
const colleague = who('colleague');
const nurse = who('nurse');
const medic = who('medic');
const patient = who('patient');
const delegate = who('delegate');
const other = who('other-patient');
const stranger = who('stranger');
const hex = toHex;
const patientKey = hex(patient.publicKey);
const orgId = orgIdOf(0);
const recordNonce = sha256(utf8('fhir-rest:record')).slice(0, 16);
const record = recordId(orgId, patient.publicKey, recordNonce);
const DAY = 86_400_000;
/** Purposes the setup's consents cycle through. */
const PURPOSES = ['TREAT', 'PUBHLTH', 'HOPERAT'] as const;
const GRANTS = 22;

let network: Network;
let node: MedchainNode;
let base: string;
let admin: Signer;
const nonces = new Map<string, number>();
/** Consent ids in ledger order (the patient's list), and the ones revoked. */
const consentIds: string[] = [];
const revoked = new Set<string>();
let revokedAt = 0;
/** The clock when the grants were made: their periods and dates are relative to it. */
let grantedAt = 0;
/** The audit entries the setup logged: permit, deny, break-glass. */
const audit = { permit: '', deny: '', emergency: '' };
let ledgerClient: MedchainClient;

function nextNonce(from: Signer): number {
  const id = hex(from.publicKey);
  const nonce = (nonces.get(id) ?? 0) + 1;
  nonces.set(id, nonce);
  return nonce;
}

async function submit<K extends TxKind>(from: Signer, kind: K, body: TxBodies[K]) {
  const sent = await sendTransaction(ledgerClient, kind, body, {
    signer: from,
    nonce: nextNonce(from),
    wait: false,
  });
  return sent.hash;
}

async function commit(hashes: readonly string[]): Promise<void> {
  for (const hash of hashes) {
    expect((await ledgerClient.waitForReceipt(hash)).receipt.code, hash).toBe('OK');
  }
}

/** An EHR's FHIR client signing every request with `as` (RFC 9421, @medchain/client). */
const ehr = (as?: Signer, customHeaders: Record<string, string> = {}) =>
  fhirClient(`${base}/fhir/r4`, as, customHeaders);

/** A request the endpoint refuses: its status and its (schema-valid) OperationOutcome. */
async function refused(
  request: Promise<unknown> | undefined,
): Promise<{ status: number; code: string; issue: Record<string, unknown> }> {
  try {
    await request;
  } catch (error) {
    const response = (error as { response?: { status: number; data: Resource } }).response;
    if (response === undefined) throw error;
    const outcome = valid<Resource & { issue: Record<string, unknown>[] }>(response.data);
    expect(outcome.resourceType).toBe('OperationOutcome');
    const issue = outcome.issue[0]!;
    const code = (issue.details as { coding: { code: string }[] }).coding[0]!.code;
    return { status: response.status, code, issue };
  }
  throw new Error('the request was not refused');
}

const ids = (bundle: Bundle, mode = 'match') =>
  (bundle.entry ?? []).filter((e) => e.search.mode === mode).map((e) => e.resource.id!);

async function searchAll(client: Client, resourceType: string, searchParams: object) {
  let page = valid<Bundle>(
    await client.search({ resourceType, searchParams: searchParams as never }),
  );
  const found = ids(page);
  for (let next = client.nextPage({ bundle: page }); next !== undefined; ) {
    page = valid<Bundle>(await next);
    found.push(...ids(page));
    next = client.nextPage({ bundle: page });
  }
  return found;
}

beforeAll(async () => {
  network = await makeNetwork({ validators: 1 });
  admin = orgAdminOf(network, 0);
  node = await startNode(network.homes[0]!);
  base = node.parts.apiUrl;
  ledgerClient = new MedchainClient({ url: base, signer: admin });
  await commit([
    await submit(admin, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }),
    await submit(admin, 'provider.register', { provider: colleague.publicKey, role: 'clinician' }),
    await submit(admin, 'provider.register', { provider: nurse.publicKey, role: 'nurse' }),
    await submit(admin, 'provider.register', { provider: medic.publicKey, role: 'emergency' }),
    await submit(patient, 'patient.register', {}),
    await submit(other, 'patient.register', {}),
  ]);
  const now = Date.now();
  grantedAt = now;
  const grants: string[] = [];
  for (let i = 0; i < GRANTS; i++) {
    grants.push(
      await submit(
        patient,
        'consent.grant',
        grantBody(
          patient,
          i % 2 === 0
            ? { type: 'provider', id: colleague.publicKey }
            : { type: 'organization', id: orgId },
          now - 60_000,
          { purposes: [PURPOSES[i % PURPOSES.length]!], validUntil: now + (i + 1) * DAY },
        ),
      ),
    );
  }
  await commit([
    await submit(clinician, 'record.anchor', {
      patient: patient.publicKey,
      custodian: orgId,
      resourceType: 'Observation',
      contentHash: sha256(utf8('fhir-rest:observation')),
      nonce: recordNonce,
    }),
    ...grants,
    await submit(patient, 'patient.delegate', {
      patient: patient.publicKey,
      delegate: delegate.publicKey,
      relation: 'proxy',
      expiresAt: now + DAY,
    }),
    await submit(
      other,
      'consent.grant',
      grantBody(other, { type: 'provider', id: colleague.publicKey }, now - 60_000, {
        validUntil: now + DAY,
      }),
    ),
  ]);
  consentIds.push(...grants);
  const revokes: string[] = [];
  for (const i of [3, 8, 13]) {
    revoked.add(grants[i]!);
    revokes.push(await submit(patient, 'consent.revoke', { consentId: fromHex(grants[i]!) }));
  }
  revokedAt = Date.now();
  await commit(revokes);
  // The custodian logs three decisions through its own decision route (logAccess).
  const custodian = new MedchainClient({ url: base, signer: clinician });
  const log = async (
    requester: Signer,
    fields: Partial<Parameters<typeof signAccessRequest>[1]> = {},
  ) => {
    const signed = await signAccessRequest(requester, {
      recordId: record,
      action: 'access',
      purpose: 'TREAT',
      ...fields,
    });
    const logged = await logAccess(custodian, signed, {
      nonce: nextNonce(clinician),
      wait: false,
    });
    return logged.tx.hash;
  };
  audit.permit = await log(colleague);
  // No consent permits the action `correct`.
  audit.deny = await log(nurse, { action: 'correct' });
  audit.emergency = await log(medic, { purpose: 'ETREAT', emergencyReason: 'patient-unconscious' });
  await commit(Object.values(audit));
}, 60_000);

afterAll(async () => {
  await node?.stop();
  await network?.remove();
});

describe('GET /metadata', () => {
  it('is a CapabilityStatement stating the resources, interactions, parameters, formats and signature scheme', async () => {
    const statement = valid<Resource & { rest: Record<string, unknown>[] }>(
      await ehr().capabilityStatement(),
    );
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
    expect(statement.format).toContain('application/fhir+json');
    const [rest] = statement.rest as [
      { security: { description: string }; resource: Record<string, unknown>[] },
    ];
    expect(rest.security.description).toContain('RFC 9421');
    // One entry per type: the import route set adds `create` to Consent's.
    const types = rest.resource.map((r) => r.type as string);
    expect(new Set(types).size).toBe(types.length);
    const byType = Object.fromEntries(rest.resource.map((r) => [r.type as string, r]));
    expect(byType.Consent!.interaction).toEqual(
      expect.arrayContaining([{ code: 'read' }, { code: 'search-type' }, { code: 'create' }]),
    );
    expect(Object.keys(byType)).toEqual(
      expect.arrayContaining(['Consent', 'AuditEvent', 'Provenance']),
    );
    const names = (type: string) =>
      ((byType[type]!.searchParam ?? []) as { name: string }[]).map((p) => p.name).sort();
    expect(names('Consent')).toEqual(CONSENT_PARAMS.map((p) => p.name).sort());
    expect(names('Consent')).toEqual(
      expect.arrayContaining([
        'patient',
        'status',
        'actor',
        'purpose',
        'period',
        'date',
        '_lastUpdated',
      ]),
    );
    expect(names('AuditEvent')).toEqual(AUDIT_EVENT_PARAMS.map((p) => p.name).sort());
    expect(names('AuditEvent')).toEqual(
      expect.arrayContaining(['patient', 'agent', 'date', 'outcome', 'purpose']),
    );
    expect(byType.Provenance!.interaction).toEqual([{ code: 'read' }]);
  });

  it('every parameter it states is honoured under Prefer: handling=strict; one it does not state is refused', async () => {
    const strict = ehr(patient, { prefer: 'handling=strict' });
    const samples: Record<string, string> = {
      patient: patientKey,
      status: 'active',
      actor: `Practitioner/${hex(colleague.publicKey)}`,
      purpose: 'TREAT',
      period: 'ge2020-01-01',
      date: 'ge2020',
      _lastUpdated: 'ge2020-01-01T00:00:00Z',
      _id: consentIds[0]!,
      agent: `Practitioner/${hex(colleague.publicKey)}`,
      outcome: '0',
    };
    for (const [type, params] of [
      ['Consent', CONSENT_PARAMS],
      ['AuditEvent', AUDIT_EVENT_PARAMS],
    ] as const) {
      for (const { name } of params) {
        const searchParams = { patient: patientKey, [name]: samples[name]! };
        valid(await strict.search({ resourceType: type, searchParams }));
      }
      const unknown = await refused(
        strict.search({
          resourceType: type,
          searchParams: { patient: patientKey, identifier: 'x' },
        }),
      );
      expect(unknown).toMatchObject({ status: 400, code: 'SEARCH_PARAM_UNKNOWN' });
      expect(unknown.issue.expression).toEqual(['identifier']);
    }
  });
});

describe('Consent search and read', () => {
  it("pages through every one of the patient's consents once, in ledger order, with self/next/previous links", async () => {
    const client = ehr(patient);
    const first = valid<Bundle>(
      await client.search({
        resourceType: 'Consent',
        searchParams: { patient: patientKey, _count: 5 },
      }),
    );
    expect(first).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: GRANTS });
    expect(first.link.map((l) => l.relation)).toEqual(['self', 'next']);
    expect(first.entry![0]!.fullUrl).toBe(`${base}/fhir/r4/Consent/${consentIds[0]}`);
    expect(await searchAll(client, 'Consent', { patient: patientKey, _count: 5 })).toEqual(
      consentIds,
    );
    // Back from the second page is the first page again.
    const second = valid<Bundle>(await client.nextPage({ bundle: first })!);
    expect(second.link.map((l) => l.relation)).toEqual(['self', 'next', 'previous']);
    expect(ids(valid<Bundle>(await client.prevPage({ bundle: second })!))).toEqual(ids(first));
    // The self link names the page it is.
    expect(ids(valid<Bundle>(await client.request(second.link[0]!.url)))).toEqual(ids(second));
  });

  it('paging is stable while the patient grants more: the next page continues where the last ended', async () => {
    const client = ehr(delegate);
    const first = valid<Bundle>(
      await client.search({
        resourceType: 'Consent',
        searchParams: { patient: patientKey, _count: 10 },
      }),
    );
    const now = Date.now();
    const added = await submit(
      patient,
      'consent.grant',
      grantBody(patient, { type: 'provider', id: nurse.publicKey }, now - 60_000, {
        purposes: ['PATRQT'],
        validUntil: now + DAY,
      }),
    );
    await commit([added]);
    const rest: string[] = [];
    let page = valid<Bundle>(await client.nextPage({ bundle: first })!);
    expect(page.total).toBe(GRANTS + 1);
    for (;;) {
      rest.push(...ids(page));
      const next = client.nextPage({ bundle: page });
      if (next === undefined) break;
      page = valid<Bundle>(await next);
    }
    expect([...ids(first), ...rest]).toEqual([...consentIds, added]);
    consentIds.push(added);
  });

  it('filters by status, actor, purpose, period, date and _lastUpdated (comma = or, repeated = and)', async () => {
    const client = ehr(patient);
    const search = (params: object) =>
      searchAll(client, 'Consent', { patient: patientKey, ...params });
    const all = await search({});
    expect(all).toEqual(consentIds);
    const purposeOf = (id: string): string => {
      const i = consentIds.indexOf(id);
      return i < GRANTS ? PURPOSES[i % PURPOSES.length]! : 'PATRQT';
    };
    expect(await search({ status: 'inactive' })).toEqual(all.filter((id) => revoked.has(id)));
    // The same search by POST _search (a form body; the signature's Content-Digest covers it).
    const posted = valid<Bundle>(
      await client.search({
        resourceType: 'Consent',
        searchParams: { patient: patientKey, status: 'inactive' },
        options: { postSearch: true },
      }),
    );
    expect(ids(posted)).toEqual(all.filter((id) => revoked.has(id)));
    expect(await search({ status: 'active' })).toEqual(all.filter((id) => !revoked.has(id)));
    expect(await search({ purpose: 'PUBHLTH' })).toEqual(
      all.filter((id) => purposeOf(id) === 'PUBHLTH'),
    );
    expect(
      await search({ purpose: 'http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT,PATRQT' }),
    ).toEqual(all.filter((id) => ['TREAT', 'PATRQT'].includes(purposeOf(id))));
    expect(await search({ actor: `Organization/${hex(orgId)}` })).toEqual(
      consentIds.slice(0, GRANTS).filter((_, i) => i % 2 === 1),
    );
    expect(await search({ actor: hex(colleague.publicKey), status: 'active' })).toEqual(
      consentIds.slice(0, GRANTS).filter((id, i) => i % 2 === 0 && !revoked.has(id)),
    );
    // Grant i runs until grantedAt + (i+1) days. `ge` a day matches periods ending after that
    // day, so the day grant 9 ends on leaves grants 10..21 (and none of the later one-day
    // grant), at any time of day; repeated parameters are ANDed.
    const inTen = new Date(grantedAt + 10 * DAY).toISOString().slice(0, 10);
    expect(await search({ period: `ge${inTen}` })).toEqual(consentIds.slice(10, GRANTS));
    expect(await search({ period: [`ge${inTen}`, 'lt2020'] })).toEqual([]);
    // The grants were dated today, revocations changed _lastUpdated of three.
    const today = new Date(grantedAt).toISOString().slice(0, 10);
    expect(await search({ date: today })).toEqual(all);
    expect(await search({ date: 'lt2020-01-01' })).toEqual([]);
    const revokedSince = new Date(revokedAt - 5_000).toISOString();
    expect((await search({ _lastUpdated: `ge${revokedSince}` })).length).toBeGreaterThanOrEqual(
      revoked.size,
    );
    expect(await search({ _lastUpdated: `gt${revokedSince}`, status: 'inactive' })).toEqual(
      all.filter((id) => revoked.has(id)),
    );
  });

  it('read returns the resource the search shows; an unknown or malformed id is 404', async () => {
    const client = ehr(colleague);
    const id = consentIds[0]!;
    const consent = valid<Resource>(await client.read({ resourceType: 'Consent', id }));
    const page = valid<Bundle>(
      await client.search({
        resourceType: 'Consent',
        searchParams: {
          patient: patientKey,
          actor: `Practitioner/${hex(colleague.publicKey)}`,
          _id: id,
        },
      }),
    );
    expect(page.entry![0]!.resource).toEqual(consent);
    expect(consent).toMatchObject({
      id,
      status: 'active',
      patient: { reference: `Patient/${patientKey}` },
    });
    for (const missing of [hex(sha256(utf8('no such consent'))), 'not-a-hash']) {
      expect(await refused(client.read({ resourceType: 'Consent', id: missing }))).toMatchObject({
        status: 404,
        code: 'RESOURCE_NOT_FOUND',
      });
    }
  });
});

describe('AuditEvent search and read (IHE BALP shapes)', () => {
  it('finds every logged decision, with outcome, agent, purpose and date filters', async () => {
    const client = ehr(patient);
    const search = (params: object) =>
      searchAll(client, 'AuditEvent', { patient: `Patient/${patientKey}`, ...params });
    const all = [audit.permit, audit.deny, audit.emergency];
    expect(await search({})).toEqual(all);
    expect(await search({ outcome: '8' })).toEqual([audit.deny]);
    const posted = valid<Bundle>(
      await client.search({
        resourceType: 'AuditEvent',
        searchParams: { patient: patientKey, outcome: '8' },
        options: { postSearch: true },
      }),
    );
    expect(ids(posted)).toEqual([audit.deny]);
    expect(await search({ outcome: '0' })).toEqual([audit.permit, audit.emergency]);
    expect(await search({ agent: `Practitioner/${hex(nurse.publicKey)}` })).toEqual([audit.deny]);
    expect(await search({ agent: `Organization/${hex(orgId)}` })).toEqual(all);
    expect(await search({ purpose: 'BTG' })).toEqual([audit.emergency]);
    expect(await search({ purpose: 'TREAT' })).toEqual([audit.permit, audit.deny]);
    expect(await search({ date: new Date(revokedAt).toISOString().slice(0, 10) })).toEqual(all);
    expect(await search({ date: 'gt2099' })).toEqual([]);
  });

  it('permit and deny are BALP consent decisions; break-glass is a security alert with BTG', async () => {
    const client = ehr(patient);
    const read = async (id: string) =>
      valid<Resource>(await client.read({ resourceType: 'AuditEvent', id }));
    const balp =
      'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.AuthZconsent';
    const permit = await read(audit.permit);
    expect(permit).toMatchObject({
      meta: { profile: [balp] },
      type: { code: '110113' },
      subtype: [{ code: 'AuthZ-Consent' }],
      action: 'E',
      outcome: '0',
    });
    expect(JSON.stringify(permit.entity)).toContain(`Consent/${consentIds[0]}`);
    // The requester's organization is named (BALP userorg), from committed state.
    expect(JSON.stringify(permit.agent)).toContain(`Organization/${hex(orgId)}`);
    expect(await read(audit.deny)).toMatchObject({ meta: { profile: [balp] }, outcome: '8' });
    const glass = await read(audit.emergency);
    expect(glass).toMatchObject({ type: { code: '110113' }, subtype: [{ code: '110127' }] });
    expect(JSON.stringify(glass.purposeOfEvent)).toContain('"BTG"');
  });
});

describe('Provenance: each AuditEvent tied to its block, transaction and commit certificate', () => {
  it('comes with _revinclude=Provenance:target and from Provenance/<id>; an EHR verifies it with the light client', async () => {
    const client = ehr(patient);
    const bundle = valid<Bundle>(
      await client.search({
        resourceType: 'AuditEvent',
        searchParams: { patient: patientKey, _revinclude: 'Provenance:target' },
      }),
    );
    const included = (bundle.entry ?? []).filter((e) => e.search.mode === 'include');
    expect(included.map((e) => e.resource.id)).toEqual(ids(bundle));
    const genesisText = readFileSync(join(network.homes[0]!.home, GENESIS_FILE), 'utf8');
    const trusted = genesisHash(genesisFromJson(JSON.parse(genesisText)));
    const light = await LightClient.fromNode(
      new MedchainClient({ url: base, signer: patient }),
      trusted,
    );
    for (const { resource } of included) {
      const provenance = resource as Resource & {
        target: { reference: string }[];
        extension: { url: string; valueUnsignedInt: number }[];
        entity: { what: { identifier: { system: string; value: string } } }[];
        signature: { data: string; sigFormat: string }[];
      };
      expect(valid(await client.read({ resourceType: 'Provenance', id: provenance.id! }))).toEqual(
        provenance,
      );
      expect(provenance.target).toEqual([{ reference: `AuditEvent/${provenance.id}` }]);
      const identifier = (system: string) =>
        provenance.entity.find((e) => e.what.identifier.system === system)!.what.identifier.value;
      const height = provenance.extension.find((e) =>
        e.url.endsWith('block-height'),
      )!.valueUnsignedInt;
      // 1. The block: its header (public) hashes to the block named, and its certificate (the
      // one carried in the signature) is a quorum of the validators deciding that height.
      const signed = await new MedchainClient({ url: base }).header(height);
      const header = headerFromJson(signed.header);
      expect(hex(headerHash(header))).toBe(identifier('urn:medchain:block'));
      const carried = JSON.parse(Buffer.from(provenance.signature[0]!.data, 'base64').toString());
      expect(carried).toEqual(signed.certificate);
      await light.verifyHeader(header, certificateFromJson(carried));
      // 2. The entry: proven in certified state, written by the transaction named.
      const [owner, index] = identifier('urn:medchain:audit-entry').split('/') as [string, string];
      const proven = await light.proveAuditEntry(owner, Number(index));
      expect(proven.check.verified).toBe(true);
      expect(hex(proven.value!.txHash)).toBe(identifier('urn:medchain:transaction'));
      expect(identifier('urn:medchain:transaction')).toBe(provenance.id);
    }
  });
});

describe('who may read what', () => {
  it('a patient reads only their own; a provider only what names it; others are refused', async () => {
    const own = { resourceType: 'Consent', searchParams: { patient: patientKey } };
    expect(await refused(ehr(other).search(own))).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(await refused(ehr(stranger).search(own))).toMatchObject({
      status: 401,
      code: 'KEY_UNKNOWN',
    });
    expect(await refused(ehr().search(own))).toMatchObject({ status: 401 });
    expect(await refused(ehr(colleague).search(own))).toMatchObject({ status: 403 });
    // Naming itself as the actor, the grantee sees the consents that name it, and only those.
    const named = await searchAll(ehr(colleague), 'Consent', {
      patient: patientKey,
      actor: `Practitioner/${hex(colleague.publicKey)}`,
    });
    expect(named).toEqual(consentIds.slice(0, GRANTS).filter((_, i) => i % 2 === 0));
    // The nurse sees the audit entry of its own request, not the others'.
    expect(
      await searchAll(ehr(nurse), 'AuditEvent', {
        patient: patientKey,
        agent: `Practitioner/${hex(nurse.publicKey)}`,
      }),
    ).toEqual([audit.deny]);
    expect(
      await refused(ehr(nurse).read({ resourceType: 'AuditEvent', id: audit.permit })),
    ).toMatchObject({ status: 403 });
  });

  it('no way around the standing: POST _search forms, several values, another key, Provenance', async () => {
    const nurseRef = `Practitioner/${hex(nurse.publicKey)}`;
    const form = (as: Signer, type: string, fields: Record<string, string>, query = '') =>
      ehr(as).request(`${type}/_search${query}`, {
        method: 'POST',
        body: new URLSearchParams(fields).toString(),
        options: { headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      });
    // A form body is the same search: the patient alone needs the patient's standing.
    expect(await refused(form(nurse, 'AuditEvent', { patient: patientKey }))).toMatchObject({
      status: 403,
    });
    expect(await refused(form(other, 'Consent', { patient: patientKey }))).toMatchObject({
      status: 403,
    });
    // Two patients, in one value, repeated, or split between the URL and the form: none.
    const otherKey = hex(other.publicKey);
    for (const patients of [`${patientKey},${otherKey}`, [patientKey, otherKey]]) {
      const search = ehr(patient).search({
        resourceType: 'Consent',
        searchParams: { patient: patients } as never,
      });
      expect(await refused(search)).toMatchObject({ status: 400, code: 'SEARCH_PATIENT_REQUIRED' });
    }
    expect(
      await refused(form(other, 'Consent', { patient: otherKey }, `?patient=${patientKey}`)),
    ).toMatchObject({ status: 400, code: 'SEARCH_PATIENT_REQUIRED' });
    // A grantee naming another grantee as the actor is refused.
    expect(
      await refused(
        ehr(colleague).search({
          resourceType: 'Consent',
          searchParams: { patient: patientKey, actor: nurseRef } as never,
        }),
      ),
    ).toMatchObject({ status: 403 });
    // The agent in the form and the patient in the URL: still only the nurse's own entry.
    const split = valid<Bundle>(
      await form(nurse, 'AuditEvent', { agent: nurseRef }, `?patient=${patientKey}`),
    );
    expect(ids(split)).toEqual([audit.deny]);
    // Naming itself among others, or another provider, or twice over: no narrower subject.
    for (const agent of [
      `${nurseRef},Practitioner/${hex(colleague.publicKey)}`,
      `Practitioner/${hex(colleague.publicKey)}`,
      `Organization/${hex(orgId)}`,
    ]) {
      const search = ehr(nurse).search({
        resourceType: 'AuditEvent',
        searchParams: { patient: patientKey, agent } as never,
      });
      expect(await refused(search), agent).toMatchObject({ status: 403 });
    }
    expect(
      await refused(
        ehr(nurse).request(
          `AuditEvent?patient=${patientKey}&agent=${nurseRef}&agent=Practitioner/${hex(medic.publicKey)}`,
        ),
      ),
    ).toMatchObject({ status: 403 });
    // A grantee's _revinclude brings the Provenance of what it may see, nothing more.
    const withProvenance = valid<Bundle>(
      await ehr(colleague).search({
        resourceType: 'Consent',
        searchParams: {
          patient: patientKey,
          actor: `Practitioner/${hex(colleague.publicKey)}`,
          _revinclude: 'Provenance:target',
          _count: '50',
        } as never,
      }),
    );
    const matched = ids(withProvenance);
    expect(ids(withProvenance, 'include')).toEqual(matched);
    // Provenance is read as its target is: by the audit entry's requester or the patient side.
    expect(
      await refused(ehr(nurse).read({ resourceType: 'Provenance', id: audit.permit })),
    ).toMatchObject({ status: 403 });
    expect(
      await refused(ehr(other).read({ resourceType: 'Provenance', id: consentIds[0]! })),
    ).toMatchObject({ status: 403 });
    expect(
      valid<Resource>(await ehr(nurse).read({ resourceType: 'Provenance', id: audit.deny })).id,
    ).toBe(audit.deny);
    // An unknown id and a known one look alike to a request without a signature.
    for (const id of [audit.permit, hex(sha256(utf8('no such transaction')))]) {
      expect(await refused(ehr().read({ resourceType: 'Provenance', id }))).toMatchObject({
        status: 401,
      });
    }
  });
});

describe('bad input: an OperationOutcome with the right status, and nothing committed', () => {
  it('never a 5xx nor anything but FHIR JSON, whatever the query, form body and headers', async () => {
    // Names a plain object holds by inheritance are among the keys tried.
    const name = fc.oneof(
      fc.constantFrom(
        'patient',
        'actor',
        'agent',
        'date',
        'status',
        '_count',
        '_after',
        '_before',
        '_revinclude',
        '_format',
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        'status:not',
        'patient:Patient',
      ),
      fc.string({ maxLength: 12 }),
    );
    const value = fc.oneof(
      fc.constantFrom(
        patientKey,
        `Patient/${patientKey}`,
        'ge2026',
        '99999999999',
        '-1',
        '%ff',
        '',
      ),
      fc.string({ maxLength: 20 }),
    );
    const pairs = fc.array(fc.tuple(name, value), { maxLength: 5 });
    const encode = (list: readonly (readonly [string, string])[]) =>
      list.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`).join('&');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('Consent', 'AuditEvent'),
        pairs,
        fc.option(pairs, { nil: undefined }),
        fc.option(fc.constantFrom('handling=strict', 'handling=lenient', 'x', ''), {
          nil: undefined,
        }),
        async (type, query, form, prefer) => {
          const url = `${base}/fhir/r4/${type}${form === undefined ? '' : '/_search'}?${encode([['patient', patientKey], ...query])}`;
          const body = form === undefined ? undefined : utf8(encode(form));
          const method = body === undefined ? 'GET' : 'POST';
          const headers: Record<string, string> = {
            ...(await signedHeaders(patient, method, url, body)),
            ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
            ...(prefer === undefined ? {} : { prefer }),
          };
          const response = await fetch(url, {
            method,
            headers,
            ...(body === undefined ? {} : { body }),
          });
          expect(response.status, url).toBeLessThan(500);
          expect(response.headers.get('content-type')).toMatch(/^application\/(fhir\+)?json/);
          const answer = valid<Resource>(await response.json());
          expect(answer.resourceType).toBe(response.ok ? 'Bundle' : 'OperationOutcome');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never a 5xx for reads of any id, any Accept, nor for a Consent body of any bytes and type', async () => {
    const segment = fc.oneof(
      fc.constantFrom('%ff', '%00', '%2e%2e', '..', 'x'.repeat(300), consentIds[0]!, audit.permit),
      fc.string({ maxLength: 16 }).map(encodeURIComponent),
    );
    const accept = fc.option(
      fc.oneof(
        fc.constantFrom(
          'application/fhir+json; q=abc',
          'application/fhir+json; fhirVersion=4.0',
          '*/*;q=0',
          'text/html',
          ',,,',
        ),
        fc.string({ maxLength: 24 }),
      ),
      { nil: undefined },
    );
    const ascii = (text: string) => /^[\t\x20-\x7e]*$/.test(text);
    const contentType = fc.oneof(
      fc.constantFrom(
        'application/fhir+json',
        'application/fhir+json; fhirVersion=5.0',
        'application/fhir+json; fhirVersion=9',
        'application/json; charset=latin1',
        'application/x-www-form-urlencoded',
        'text/plain',
      ),
      fc.string({ maxLength: 24 }).filter(ascii),
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.json().map(utf8),
      fc.constant(utf8(JSON.stringify({ resourceType: 'Consent', patient: { reference: 'x' } }))),
    );
    const send = async (
      method: string,
      path: string,
      headers: Record<string, string>,
      data?: Uint8Array,
    ) => {
      const url = `${base}/fhir/r4/${path}`;
      const signed = await signedHeaders(patient, method, url, data);
      const response = await fetch(url, {
        method,
        headers: { ...signed, ...headers },
        ...(data === undefined ? {} : { body: data }),
      });
      expect(response.status, `${method} ${url} ${JSON.stringify(headers)}`).toBeLessThan(500);
      if (response.ok) return;
      const text = await response.text();
      expect(response.headers.get('content-type'), text).toMatch(/^application\/(fhir\+)?json/);
      expect(JSON.parse(text).resourceType, text).toBe('OperationOutcome');
      valid(JSON.parse(text));
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('Consent', 'AuditEvent', 'Provenance', 'Patient'),
        segment,
        accept,
        async (type, id, accepts) => {
          await send('GET', `${type}/${id}`, accepts === undefined ? {} : { accept: accepts });
        },
      ),
      { numRuns: 60 },
    );
    // Queries that are not UTF-8 once percent-decoded, or not percent-encoding at all.
    for (const raw of [
      'date=%ff',
      '%ff=1',
      '_count=%C0%80',
      'status=%',
      'actor=%00',
      '_after=%ff',
    ]) {
      await send('GET', `Consent?patient=${patientKey}&${raw}`, {});
      await send(
        'POST',
        `Consent/_search?${raw}`,
        {
          'content-type': 'application/x-www-form-urlencoded',
        },
        utf8(`patient=${patientKey}&${raw}`),
      );
    }
    await fc.assert(
      fc.asyncProperty(contentType, body, async (type, data) => {
        await send('POST', 'Consent', { 'content-type': type }, data);
      }),
      { numRuns: 60 },
    );
  });

  it('unknown types, parameters, modifiers, values, formats and bodies; methods not allowed', async () => {
    const asPatient = new MedchainClient({ url: base, signer: patient });
    const before = {
      consents: (await asPatient.consents(patient.publicKey)).total,
      audit: (await asPatient.audit(patient.publicKey)).total,
    };
    const client = ehr(patient);
    const search = (searchParams: object, headers?: Record<string, string>) =>
      client.search({
        resourceType: 'Consent',
        searchParams: { patient: patientKey, ...searchParams } as never,
        ...(headers === undefined ? {} : { options: { headers } }),
      });
    expect(await refused(client.read({ resourceType: 'Patient', id: patientKey }))).toMatchObject({
      status: 404,
      code: 'RESOURCE_TYPE_NOT_SUPPORTED',
    });
    expect(await refused(client.search({ resourceType: 'Frobnicate' }))).toMatchObject({
      status: 404,
    });
    // Unknown parameters: lenient (the default) ignores and reports them; strict refuses.
    const lenient = valid<Bundle>(await search({ colour: 'blue' }));
    expect(ids(lenient)).toEqual(consentIds.slice(0, 20));
    expect(lenient.link[0]!.url).not.toContain('colour');
    const outcome = lenient.entry!.find((e) => e.search.mode === 'outcome')!.resource;
    expect(JSON.stringify(outcome)).toContain('colour');
    expect(await refused(search({ colour: 'blue' }, { prefer: 'handling=strict' }))).toMatchObject({
      status: 400,
      code: 'SEARCH_PARAM_UNKNOWN',
      issue: { expression: ['colour'] },
    });
    expect(await refused(search({ 'status:not': 'active' }))).toMatchObject({
      status: 400,
      code: 'SEARCH_MODIFIER_UNSUPPORTED',
    });
    expect(await refused(search({ date: 'yesterday' }))).toMatchObject({
      status: 400,
      code: 'SEARCH_PARAM_INVALID',
      issue: { expression: ['date'] },
    });
    expect(await refused(search({ _count: '-1' }))).toMatchObject({ status: 400 });
    expect(
      await refused(client.search({ resourceType: 'Consent', searchParams: { status: 'active' } })),
    ).toMatchObject({ status: 400, code: 'SEARCH_PATIENT_REQUIRED' });
    expect(
      await refused(
        client.search({ resourceType: 'Consent', searchParams: { patient: 'Patient/x' } }),
      ),
    ).toMatchObject({
      status: 400,
      code: 'SEARCH_PARAM_INVALID',
      issue: { expression: ['patient'] },
    });
    expect(await refused(search({ _format: 'xml' }))).toMatchObject({ status: 406 });
    expect(await refused(search({}, { accept: 'application/fhir+xml' }))).toMatchObject({
      status: 406,
    });
    expect(
      await refused(search({}, { accept: 'application/fhir+json; fhirVersion=5.0' })),
    ).toMatchObject({ status: 406 });
    // application/json is FHIR JSON too.
    const asJson = await fetch(`${base}/fhir/r4/metadata?_format=application/json`);
    expect(asJson.headers.get('content-type')).toMatch(/^application\/json/);
    const fhirJson = await fetch(`${base}/fhir/r4/metadata`);
    expect(fhirJson.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const deleted = refused(client.delete({ resourceType: 'Consent', id: consentIds[0]! }));
    expect(await deleted).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
    expect(
      await refused(
        client.create({ resourceType: 'AuditEvent', body: { resourceType: 'AuditEvent' } }),
      ),
    ).toMatchObject({ status: 405 });
    // Bodies (Consent create, the import route): malformed JSON, not JSON, too large.
    const post = (body: string, type: string) =>
      client.request('Consent', {
        method: 'POST',
        body,
        options: { headers: { 'content-type': type } },
      });
    expect(
      await refused(post('{"resourceType": "Consent",', 'application/fhir+json')),
    ).toMatchObject({ status: 400 });
    expect(await refused(post('<Consent/>', 'application/fhir+xml'))).toMatchObject({
      status: 415,
    });
    // POST _search takes a form body, and only it does.
    expect(
      await refused(
        client.request('Consent/_search', {
          method: 'POST',
          body: JSON.stringify({ patient: patientKey }),
          options: { headers: { 'content-type': 'application/json' } },
        }),
      ),
    ).toMatchObject({ status: 415 });
    expect(
      await refused(post(`patient=${patientKey}`, 'application/x-www-form-urlencoded')),
    ).toMatchObject({ status: 415 });
    const huge = JSON.stringify({ resourceType: 'Consent', text: { div: 'x'.repeat(200_000) } });
    expect(await refused(post(huge, 'application/fhir+json'))).toMatchObject({
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    });
    const after = {
      consents: (await asPatient.consents(patient.publicKey)).total,
      audit: (await asPatient.audit(patient.publicKey)).total,
    };
    expect(after).toEqual(before);
    expect(node.parts.mempool.size).toBe(0);
  });
});
