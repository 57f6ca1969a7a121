import { rmSync } from 'node:fs';
import {
  fetchRecord,
  importConsent,
  KeySigner,
  type MedchainClient,
  putRecord,
  requestNonce,
  signRequest,
  type TxBodies,
} from '@medchain/client';
import { type Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { adminSigner, type Devnet, devnetClient, readDevnet } from '@medchain/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeHarborFindings } from '../../../node/src/fhir/export/deidentify.js';
import { consentToImport, fhirClient, valid } from '../../../node/test/fhir-client.js';
import { cli, devnetUp, tempDir } from '../helpers.js';

/**
 * The FHIR R4 interface against a real devnet: 4 validator processes started by `medchain
 * devnet up`, every party set up by real transactions through @medchain/client, and an EHR's
 * FHIR client (fhir-kit-client, every request signed) on the nodes' /fhir/r4: metadata, Consent
 * search with paging, read, AuditEvent search, Consent import seen on another node, and a
 * research export by the Bulk Data flow. Every returned resource is checked against the R4 schema.
 */

type Client = ReturnType<typeof fhirClient>;
type Resource = { resourceType: string; id?: string; [element: string]: unknown };
type Bundle = Resource & {
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: { resource: Resource }[];
};

const DAY = 86_400_000;
const who = (label: string) => new KeySigner(sha256(utf8(`fhir-devnet:${label}`)));
const clinician = who('clinician');
const researcher = who('researcher');
/** p0: treatment + research; p1: research; p2: research but opted out; p3: none (imports later). */
const patients = [0, 1, 2, 3].map((i) => who(`patient-${i}`));
const released = [0, 1];
const marker = (i: number) => 4000 + i;
const family = (i: number) => `Zqdevnet${i}fam`;

const dir = tempDir('fhir-devnet');
let devnet: Devnet;
let fhirBase: string[];
const consentIds = new Map<number, string[]>();
let clinicianLog = '';

const client = (node: number, as?: KeySigner): MedchainClient =>
  devnetClient(devnet, devnet.nodes[node]!, {
    timeoutMs: 20_000,
    ...(as === undefined ? {} : { signer: as }),
  });
const ehr = (node: number, as?: KeySigner): Client =>
  fhirClient(fhirBase[node]!, as as Signer | undefined);
const send = { timeoutMs: 60_000 };

/** Every page of a search, following the Bundle's next links (bounded). */
async function allPages(fhir: Client, resourceType: string, searchParams: object) {
  const pages: Bundle[] = [
    valid<Bundle>(await fhir.search({ resourceType, searchParams: searchParams as never })),
  ];
  for (let i = 0; i < 50; i++) {
    const next = fhir.nextPage({ bundle: pages.at(-1)! as never });
    if (next === undefined) break;
    pages.push(valid<Bundle>(await next));
  }
  return pages;
}
const idsOf = (pages: Bundle[]) => pages.flatMap((p) => (p.entry ?? []).map((e) => e.resource.id!));

/** A Bulk Data request signed by `as`. */
async function call(url: string, as: KeySigner, headers: Record<string, string> = {}) {
  const signed = await signRequest({ method: 'GET', url }, as, {
    now: Date.now(),
    nonce: requestNonce(),
  });
  return fetch(url, { headers: { ...headers, ...signed } });
}

function observation(i: number): Resource {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose' }] },
    subject: { reference: `Patient/mrn-${i}`, display: `Ann ${family(i)}` },
    effectiveDateTime: '2026-03-04T08:15:00Z',
    valueQuantity: { value: marker(i), unit: 'mg/dL' },
  };
}

beforeAll(async () => {
  await devnetUp(dir);
  devnet = readDevnet(dir);
  fhirBase = devnet.nodes.map((n) => `${n.api}/fhir/r4`);
  const [adminA, adminB] = [0, 1].map((n) => adminSigner(dir, devnet.nodes[n]!));
  await Promise.all([
    client(0, adminA).sendTransaction(
      'provider.register',
      { provider: clinician.publicKey, role: 'clinician' },
      send,
    ),
    client(1, adminB).sendTransaction(
      'provider.register',
      { provider: researcher.publicKey, role: 'researcher' },
      send,
    ),
    ...patients.map((p) => client(0, p).sendTransaction('patient.register', {}, send)),
  ]);
  const records: string[] = [];
  const asClinician = client(0, clinician);
  for (const [i, p] of patients.entries()) {
    const content = utf8(JSON.stringify(observation(i)));
    records.push((await putRecord(asClinician, { patient: p.publicKey, content }, send)).recordId);
  }
  const now = Date.now();
  const grant = (i: number, to: KeySigner, purpose: 'TREAT' | 'HRESCH') =>
    ({
      patient: patients[i]!.publicKey,
      grantee: { type: 'provider', id: to.publicKey },
      recordIds: [],
      resourceTypes: ['Observation'],
      actions: purpose === 'TREAT' ? ['access'] : ['access', 'disclose'],
      purposes: [purpose],
      validFrom: now - 60_000,
      validUntil: now + DAY,
    }) satisfies TxBodies['consent.grant'];
  await Promise.all(
    [0, 1, 2].map(async (i) => {
      const as = client(i, patients[i]!);
      const ids: string[] = [];
      if (i === 0)
        ids.push(
          (await as.sendTransaction('consent.grant', grant(0, clinician, 'TREAT'), send)).hash,
        );
      ids.push(
        (await as.sendTransaction('consent.grant', grant(i, researcher, 'HRESCH'), send)).hash,
      );
      if (i === 2) {
        await as.sendTransaction(
          'patient.policy',
          { patient: patients[2]!.publicKey, breakGlassOptOut: false, researchOptOut: true },
          send,
        );
      }
      consentIds.set(i, ids);
    }),
  );
  // The clinician reads patient 0's record: hospital A decides, logs (committed), then serves.
  const fetched = await fetchRecord(asClinician, clinician, {
    recordId: records[0]!,
    action: 'access',
    purpose: 'TREAT',
  });
  expect(JSON.parse(new TextDecoder().decode(fetched.content))).toEqual(observation(0));
  clinicianLog = fetched.answer.logTx;
}, 240_000);

afterAll(async () => {
  await cli(['devnet', 'down', '--dir', dir]);
  for (const node of readDevnet(dir).nodes) {
    if (node.pid === null) continue;
    try {
      process.kill(node.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('FHIR R4 on a 4-validator devnet (fhir-kit-client, signed requests)', () => {
  it('GET metadata: an R4 CapabilityStatement naming Consent, AuditEvent and $export', async () => {
    const statement = valid<
      Resource & { rest: { resource: { type: string }[]; operation?: { name: string }[] }[] }
    >(await ehr(2).capabilityStatement());
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
    const types = statement.rest[0]!.resource.map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['Consent', 'AuditEvent']));
    expect(statement.rest[0]!.operation?.map((o) => o.name)).toContain('export');
  });

  it('Consent search pages with _count=1: every consent exactly once; read by id', async () => {
    const patient = toHex(patients[0]!.publicKey);
    const pages = await allPages(ehr(1, patients[0]), 'Consent', { patient, _count: 1 });
    expect(pages.length).toBeGreaterThanOrEqual(2);
    for (const page of pages) expect(page.entry?.length ?? 0).toBeLessThanOrEqual(1);
    expect(idsOf(pages).sort()).toEqual([...consentIds.get(0)!].sort());
    const id = consentIds.get(0)![0]!;
    const read = valid<Resource>(await ehr(3, patients[0]).read({ resourceType: 'Consent', id }));
    expect(read).toMatchObject({ resourceType: 'Consent', id, status: 'active' });
  });

  it("AuditEvent search by patient holds the clinician's committed access", async () => {
    const patient = toHex(patients[0]!.publicKey);
    const pages = await allPages(ehr(2, patients[0]), 'AuditEvent', { patient });
    expect(idsOf(pages)).toContain(clinicianLog);
  });

  it('imports a Consent on one node; a search on another node finds it', async () => {
    const p = patients[3]!;
    const imported = await importConsent(
      client(0, p),
      consentToImport(p.publicKey, clinician.publicKey),
    );
    expect(imported.status).toBe(201);
    valid(imported.resource);
    const patient = toHex(p.publicKey);
    const pages = await allPages(ehr(3, p), 'Consent', { patient });
    expect(idsOf(pages)).toEqual([imported.id]);
  });

  it('research export: Bulk Data kick-off, poll, ndjson of exactly the released, de-identified; disclosures committed', async () => {
    const base = fhirBase[0]!;
    const kickOff = await call(`${base}/$export?_type=Observation`, researcher, {
      accept: 'application/fhir+json',
      prefer: 'respond-async',
    });
    expect(kickOff.status).toBe(202);
    const statusUrl = kickOff.headers.get('content-location') ?? '';
    expect(statusUrl).toMatch(/\/bulkstatus\/[0-9a-f]{32}$/);
    let answer = await call(statusUrl, researcher, { accept: 'application/json' });
    for (let i = 0; i < 300 && answer.status === 202; i++) {
      await new Promise((r) => setTimeout(r, 200));
      answer = await call(statusUrl, researcher, { accept: 'application/json' });
    }
    expect(answer.status).toBe(200);
    const manifest = (await answer.json()) as {
      output: { type: string; url: string; count: number }[];
      error: unknown[];
    };
    expect(manifest.error).toEqual([]);
    expect(manifest.output.map((o) => o.type)).toEqual(['Observation']);
    const download = await call(manifest.output[0]!.url, researcher, {
      accept: 'application/fhir+ndjson',
    });
    expect(download.status).toBe(200);
    const text = await download.text();
    const lines = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => valid<Resource>(JSON.parse(l)));
    expect(lines.map((o) => (o.valueQuantity as { value: number }).value - 4000).sort()).toEqual(
      released,
    );
    for (const line of lines) expect(safeHarborFindings(line)).toEqual([]);
    for (const i of [0, 1, 2, 3]) {
      expect(text.includes(family(i))).toBe(false);
      expect(text.includes(toHex(patients[i]!.publicKey))).toBe(false);
    }
    // Each released patient's trail, read on another node, has the committed disclosure.
    for (const [i, p] of patients.entries()) {
      const pages = await allPages(ehr(1, p), 'AuditEvent', { patient: toHex(p.publicKey) });
      const disclosures = pages
        .flatMap((page) => (page.entry ?? []).map((e) => e.resource))
        .filter((e) =>
          ((e.subtype as { code: string }[] | undefined) ?? []).some((c) => c.code === 'disclose'),
        );
      expect(disclosures.length, `patient ${i}`).toBe(released.includes(i) ? 1 : 0);
    }
  }, 90_000);
});
