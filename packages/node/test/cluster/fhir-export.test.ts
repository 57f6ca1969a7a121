import { randomBytes } from 'node:crypto';
import { requestNonce, signRequest } from '@medchain/client';
import { type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  auditTrail,
  encodeTransaction,
  RECORD_SALT_BYTES,
  recordCommitment,
  recordId,
  type TxKind,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeHarborFindings } from '../../src/fhir/export/deidentify.js';
import type { ExportJob } from '../../src/fhir/export/jobs.js';
import type { MedchainNode } from '../../src/index.js';
import {
  makeNetwork,
  type Network,
  nextNonceSigner,
  orgAdminOf,
  orgIdOf,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * Acceptance, "research export at scale": a real multi-validator chain (validators in this
 * process over TCP libp2p, each with its own LevelDB, WAL and HTTP API on 127.0.0.1) with
 * 1,000 registered patients whose records sit in the custodian's vault, a mix of research
 * consents (to the study's key or its organization), consents for treatment only and research
 * opt-outs. The study runs the FHIR Bulk Data flow over HTTP with signed requests: kick-off,
 * polling, manifest, ndjson downloads, delete. The export holds exactly the consenting,
 * non-opted-out patients; each of them has a committed disclosure entry from before the first
 * byte of their data was written; no Safe Harbor identifier is in the ndjson.
 */

const PATIENTS = 1_000;
const VALIDATORS = Number(process.env.FHIR_EXPORT_VALIDATORS ?? 4);
const CLINICIANS = 10;

const key = (label: string) => new Signer(sha256(utf8(`fhir-export:${label}`)));
const study = key('study');
const otherStudy = key('other-study');
const outsider = key('org1-clinician');
const clinicians = Array.from({ length: CLINICIANS }, (_, i) => key(`clinician-${i}`));
const patients = Array.from({ length: PATIENTS }, (_, i) => key(`patient-${i}`));

type Kind = 'research-to-key' | 'research-to-org' | 'treatment-only' | 'none' | 'opted-out';
/** Who is in the study: research consents two ways; treatment-only, none and opt-outs not. */
const kindOf = (i: number): Kind =>
  i % 10 === 3
    ? 'opted-out'
    : i % 7 === 0
      ? 'treatment-only'
      : i % 11 === 0
        ? 'none'
        : i % 2 === 0
          ? 'research-to-key'
          : 'research-to-org';
const isReleased = (i: number) => kindOf(i).startsWith('research');

/** Identifiers planted in patient i's records: none may reach the export. */
function planted(i: number) {
  const n = String(i).padStart(4, '0');
  return {
    family: `Zqfam${n}x`,
    given: `Zqgiv${n}y`,
    mrn: `MRN-77${n}91`,
    ssn: `${String(100 + (i % 800)).padStart(3, '0')}-4${n.slice(0, 1)}-${n}`,
    phone: `(617) 55${n.slice(0, 1)}-${n}`,
    email: `zq${n}@patients.example.org`,
    street: `${n} Zqstreet Road`,
    city: `Zqcity${n}`,
    zip: `02${n.slice(1)}`,
    birthDate: `19${40 + (i % 60)}-0${1 + (i % 9)}-1${i % 10}`,
    url: `https://portal.example.org/patients/${n}`,
    ip: `10.${i % 250}.${(i * 7) % 250}.9`,
  };
}

interface Observation extends Record<string, unknown> {
  readonly subject: { readonly reference: string; readonly display: string };
}

/**
 * Patient i's records in the vault: most keep a Bundle (Patient and Observation, linked by
 * urn:uuid), every fourth keeps the two resources as two records.
 */
function records(i: number): Record<string, unknown>[] {
  const [patient, observation] = resources(i);
  if (i % 4 === 0) return [patient, observation];
  const urn = `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return [
    {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: urn, resource: patient },
        { resource: { ...observation, subject: { ...observation.subject, reference: urn } } },
      ],
    },
  ];
}

function resources(i: number): [patient: Record<string, unknown>, observation: Observation] {
  const p = planted(i);
  return [
    {
      resourceType: 'Patient',
      id: `pat-${p.mrn}`,
      identifier: [
        { system: 'http://hospital.example.org/mrn', value: p.mrn },
        { system: 'http://hl7.org/fhir/sid/us-ssn', value: p.ssn },
      ],
      name: [{ family: p.family, given: [p.given] }],
      telecom: [
        { system: 'phone', value: p.phone },
        { system: 'email', value: p.email },
        { system: 'url', value: p.url },
      ],
      gender: i % 2 === 0 ? 'female' : 'male',
      birthDate: p.birthDate,
      address: [{ line: [p.street], city: p.city, state: 'MA', postalCode: p.zip, country: 'US' }],
      photo: [{ contentType: 'image/png', data: Buffer.from(p.family).toString('base64') }],
    },
    {
      resourceType: 'Observation',
      id: `obs-${p.mrn}`,
      status: 'final',
      code: {
        coding: [{ system: 'http://loinc.org', code: '2339-0', display: 'Glucose' }],
        // Free text typed at the bedside may name the patient: it must not survive.
        text: `Glucose for ${p.given} ${p.family}`,
      },
      subject: { reference: `Patient/pat-${p.mrn}`, display: `${p.given} ${p.family}` },
      effectiveDateTime: `${p.birthDate.slice(0, 4)}-06-0${1 + (i % 9)}T08:15:00Z`,
      // A study marker that identifies no one: which patient a line came from, for the test.
      valueQuantity: { value: 1000 + i, unit: 'mg/dL' },
      note: [{ text: `seen from ${p.ip} by ${p.email}` }],
    },
  ];
}

let network: Network;
const nodes: MedchainNode[] = [];
let custodian: MedchainNode;
let base: string;

/** Submits to the custodian's node; returns the hashes to wait for. */
function submitAll(txs: readonly ReturnType<ReturnType<typeof nextNonceSigner>>[]): string[] {
  return txs.map((tx) => {
    const result = custodian.parts.backend.submitTransaction(encodeTransaction(tx));
    if (!result.accepted) throw new Error(`refused ${tx.kind}: ${result.code} ${result.message}`);
    return toHex(result.hash);
  });
}

const receipts = new Map<string, string>();
async function committed(hashes: readonly string[]): Promise<void> {
  await waitUntil(`${hashes.length} transactions`, () => hashes.every((h) => receipts.has(h)), {
    tries: 1200,
    intervalMs: 50,
  });
  const failed = hashes.filter((h) => receipts.get(h) !== 'OK').map((h) => receipts.get(h));
  expect(failed).toEqual([]);
}

/** A Bulk Data client request: fetch, signed by `as` (RFC 9421, the medchain profile). */
async function call(
  method: 'GET' | 'DELETE',
  url: string,
  as: Signer | undefined,
  headers: Record<string, string> = {},
): Promise<Response> {
  const signed =
    as === undefined
      ? {}
      : await signRequest({ method, url }, as, { now: Date.now(), nonce: requestNonce() });
  return fetch(url, { method, headers: { ...headers, ...signed } });
}

/** The status and medchain's error code of an OperationOutcome answer. */
async function codeOf(answer: Response): Promise<[number, string | undefined]> {
  const outcome = (await answer.json()) as {
    issue: { details?: { coding: { code: string }[] } }[];
  };
  return [answer.status, outcome.issue[0]?.details?.coding[0]?.code];
}

const kickOffHeaders = { accept: 'application/fhir+json', prefer: 'respond-async' };

beforeAll(async () => {
  network = await makeNetwork({ validators: VALIDATORS, batchTimeMs: 50, blockMaxTxs: 2_000 });
  for (const home of network.homes) nodes.push(await startNode(home));
  custodian = nodes[0]!;
  base = `${custodian.parts.apiUrl}/fhir/r4`;
  custodian.parts.backend.subscribe((event) => {
    for (const receipt of event.receipts) receipts.set(toHex(receipt.txHash), receipt.code);
  });
  const sign = nextNonceSigner();
  const tx = (from: Signer, kind: TxKind, body: object) => sign(from, kind, body as Canonical);
  const admin = (i: number) => orgAdminOf(network, i);
  // The study is a researcher of organization 1; the custodian is organization 0.
  const researchOrg = VALIDATORS > 1 ? 1 : 0;
  await committed(
    submitAll([
      ...clinicians.map((c) =>
        tx(admin(0), 'provider.register', { provider: c.publicKey, role: 'clinician' }),
      ),
      tx(admin(researchOrg), 'provider.register', {
        provider: study.publicKey,
        role: 'researcher',
      }),
      tx(admin(researchOrg), 'provider.register', {
        provider: otherStudy.publicKey,
        role: 'researcher',
      }),
      tx(admin(researchOrg), 'provider.register', {
        provider: outsider.publicKey,
        role: 'clinician',
      }),
      ...patients.map((p) => tx(p, 'patient.register', {})),
    ]),
  );
  const now = Date.now();
  const salts: Uint8Array[][] = [];
  const second: ReturnType<typeof tx>[] = [];
  patients.forEach((p, i) => {
    const kind = kindOf(i);
    const stored = records(i);
    const contents = stored.map((r) => utf8(JSON.stringify(r)));
    salts.push(contents.map(() => new Uint8Array(randomBytes(RECORD_SALT_BYTES))));
    contents.forEach((content, r) => {
      second.push(
        tx(clinicians[(2 * i + r) % CLINICIANS]!, 'record.anchor', {
          patient: p.publicKey,
          custodian: orgIdOf(0),
          resourceType: stored[r]!.resourceType,
          contentHash: recordCommitment(salts[i]![r]!, content),
          nonce: sha256(utf8(`record-${i}-${r}`)).slice(0, 16),
        }),
      );
    });
    const grant = (grantee: object, purposes: string[]) =>
      tx(p, 'consent.grant', {
        patient: p.publicKey,
        grantee,
        recordIds: [],
        resourceTypes: ['Patient', 'Observation', 'Bundle'],
        actions: ['access', 'disclose'],
        purposes,
        validFrom: now - 60_000,
        validUntil: now + 86_400_000,
      });
    const toKey = { type: 'provider', id: study.publicKey };
    const toOrg = { type: 'organization', id: orgIdOf(researchOrg) };
    if (kind === 'research-to-key' || kind === 'opted-out') second.push(grant(toKey, ['HRESCH']));
    if (kind === 'research-to-org') second.push(grant(toOrg, ['HRESCH']));
    if (kind === 'treatment-only') second.push(grant(toOrg, ['TREAT']));
    if (kind === 'opted-out') {
      second.push(
        tx(p, 'patient.policy', {
          patient: p.publicKey,
          breakGlassOptOut: false,
          researchOptOut: true,
        }),
      );
    }
  });
  const ledgerDone = committed(submitAll(second));
  // Meanwhile, the custodian's vault: every record with its salt (as POST /v1/vault/records
  // stores it once the anchor is committed; the export serves only anchored versions).
  for (const [i, p] of patients.entries()) {
    for (const [r, resource] of records(i).entries()) {
      await custodian.parts.vault.put({
        recordId: recordId(orgIdOf(0), p.publicKey, sha256(utf8(`record-${i}-${r}`)).slice(0, 16)),
        patient: p.publicKey,
        version: 1,
        content: utf8(JSON.stringify(resource)),
        salt: salts[i]![r]!,
      });
    }
  }
  await ledgerDone;
}, 240_000);

afterAll(async () => {
  for (const node of nodes) await node.stop();
  await network?.remove();
});

describe(`research export of a ${PATIENTS}-patient chain (${VALIDATORS} validators)`, () => {
  let statusUrl = '';
  let job: ExportJob;
  let manifest: {
    transactionTime: string;
    request: string;
    requiresAccessToken: boolean;
    output: { type: string; url: string; count: number }[];
    error: unknown[];
  };
  const lines = new Map<string, Record<string, unknown>[]>();
  let ndjsonText = '';

  it('kicks off only for the study, asynchronously', async () => {
    const url = `${base}/$export?_type=Patient,Observation`;
    const unsigned = await call('GET', url, undefined, kickOffHeaders);
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    // A clinician, a patient: not a study.
    for (const who of [outsider, patients[1]!]) {
      const refused = await call('GET', url, who, kickOffHeaders);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    }
    const sync = await call('GET', url, study, { accept: 'application/fhir+json' });
    expect(await codeOf(sync)).toEqual([400, 'EXPORT_ASYNC_REQUIRED']);
    const strict = { ...kickOffHeaders, prefer: 'respond-async, handling=strict' };
    const refusals: [query: string, code: string][] = [
      ['_typeFilter=Patient%3Factive%3Dtrue', 'EXPORT_PARAM_UNSUPPORTED'],
      ['_outputFormat=application/fhir%2Bjson', 'EXPORT_FORMAT_UNSUPPORTED'],
      ['_type=Patient,not-a-type', 'EXPORT_BAD_TYPE'],
      ['_since=yesterday', 'EXPORT_BAD_SINCE'],
    ];
    for (const [query, code] of refusals) {
      expect(await codeOf(await call('GET', `${base}/$export?${query}`, study, strict))).toEqual([
        400,
        code,
      ]);
    }
    // The CapabilityStatement names the operation.
    const metadata = (await (await call('GET', `${base}/metadata`, undefined)).json()) as {
      rest: { operation?: { name: string; definition: string }[] }[];
    };
    expect(metadata.rest[0]!.operation).toContainEqual({
      name: 'export',
      definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
    });
    const started = await call('GET', url, study, kickOffHeaders);
    expect(started.status).toBe(202);
    statusUrl = started.headers.get('content-location') ?? '';
    expect(statusUrl).toMatch(new RegExp(`^${base}/bulkstatus/[0-9a-f]{32}$`));
    job = custodian.parts.researchExports.get(statusUrl.split('/').at(-1)!)!;
    expect(job).toBeDefined();
  });

  it('answers 202 with X-Progress while running, then the manifest; to the study only', async () => {
    expect((await call('GET', statusUrl, otherStudy)).status).toBe(403);
    let progress = 0;
    let answer: Response | undefined;
    await waitUntil(
      'the export',
      async () => {
        answer = await call('GET', statusUrl, study, { accept: 'application/json' });
        if (answer.status === 202) {
          expect(answer.headers.get('x-progress')).toMatch(/^\d+ of \d+ patients released$/);
          progress++;
          return false;
        }
        return true;
      },
      { tries: 600, intervalMs: 200 },
    );
    expect(answer!.status).toBe(200);
    manifest = (await answer!.json()) as typeof manifest;
    expect(progress).toBeGreaterThan(0);
    expect(manifest).toMatchObject({
      request: `${base}/$export?_type=Patient,Observation`,
      requiresAccessToken: true,
      error: [],
    });
    expect(Date.parse(manifest.transactionTime)).toBeGreaterThan(0);
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
    // 45 s on 4 validators at load average ~20 on 2 cores.
  }, 150_000);

  it('serves the ndjson files to the study only', async () => {
    for (const output of manifest.output) {
      expect((await call('GET', output.url, otherStudy)).status).toBe(403);
      const answer = await call('GET', output.url, study, { accept: 'application/fhir+ndjson' });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('application/fhir+ndjson');
      const text = await answer.text();
      ndjsonText += text;
      const parsed = text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(parsed).toHaveLength(output.count);
      lines.set(output.type, parsed);
    }
  });

  it('holds exactly the consenting patients who did not opt out', () => {
    const expected = patients.filter((_, i) => isReleased(i));
    expect(expected.length).toBeGreaterThan(400);
    expect(new Set(job.releases.map((r) => r.patient))).toEqual(
      new Set(expected.map((p) => toHex(p.publicKey))),
    );
    expect(lines.get('Patient')).toHaveLength(expected.length);
    const markers = lines
      .get('Observation')!
      .map((o) => (o.valueQuantity as { value: number }).value - 1000)
      .sort((a, b) => a - b);
    expect(markers).toEqual(patients.map((_, i) => i).filter(isReleased));
    expect(job.excluded).toEqual({
      'opted-out': patients.filter((_, i) => kindOf(i) === 'opted-out').length,
      'no-consent': patients.filter((_, i) => ['none', 'treatment-only'].includes(kindOf(i)))
        .length,
    });
    // Each Observation's subject is the pseudonym of a Patient in the export.
    const ids = new Set(lines.get('Patient')!.map((p) => `Patient/${p.id as string}`));
    for (const observation of lines.get('Observation')!) {
      expect(ids.has((observation.subject as { reference: string }).reference)).toBe(true);
    }
  });

  it('committed every release before the first byte of that patient left', async () => {
    expect(job.releases).toHaveLength(job.released);
    const heights = new Set<number>();
    for (const release of job.releases) {
      expect(release.firstByteAt).toBeDefined();
      expect(release.committedAt).toBeLessThanOrEqual(release.firstByteAt!);
      expect(release.blockTime).toBeLessThanOrEqual(release.firstByteAt!);
      heights.add(release.height);
    }
    // Releases were batched into blocks, not one block each.
    expect(heights.size).toBeLessThan(job.releases.length / 4);
    // On every validator: the entry in that block, and on the patient's audit trail.
    for (const node of nodes) {
      for (const release of job.releases) {
        const trail = auditTrail(
          node.parts.backend.history(),
          Buffer.from(release.patient, 'hex'),
          {
            reverse: true,
          },
        );
        const entry = trail.items.find((e) => toHex(e.txHash) === release.txHash);
        expect(entry).toMatchObject({
          action: 'disclose',
          purpose: 'HRESCH',
          decision: 'permit',
          requester: study.publicKey,
          requestHash: job.kickOff.requestHash,
          time: release.blockTime,
        });
      }
    }
    const block = await custodian.parts.backend.block(job.releases[0]!.height);
    expect(block?.receipts.map((r) => toHex(r.txHash))).toContain(job.releases[0]!.txHash);
  });

  it('leaves no Safe Harbor identifier in the ndjson', () => {
    for (const resources of lines.values()) {
      for (const resource of resources) expect(safeHarborFindings(resource)).toEqual([]);
    }
    // Ids and references are random pseudonyms (hex, which may contain any digits); every
    // other value is text the scan below searches for what was planted.
    const text: string[] = [];
    const visit = (node: unknown, name: string): void => {
      if (Array.isArray(node)) for (const item of node) visit(item, name);
      else if (typeof node === 'object' && node !== null) {
        for (const [key, child] of Object.entries(node)) visit(child, key);
      } else if (name === 'id') expect(node).toMatch(/^[0-9a-f]{32}$/);
      else if (name === 'reference') expect(node).toMatch(/^Patient\/[0-9a-f]{32}$/);
      else text.push(String(node));
    };
    for (const resources of lines.values()) visit(resources, '');
    const values = text.join('\n');
    for (const [i] of patients.entries()) {
      for (const value of Object.values(planted(i))) {
        expect(values.includes(value), `${value} of patient ${i}`).toBe(false);
      }
    }
    // Dates: years only; addresses: state, ZIP3 and country.
    expect(ndjsonText).not.toMatch(/\d{4}-\d{2}-\d{2}/);
    for (const patient of lines.get('Patient')!) {
      expect(Object.keys(patient).sort()).toEqual([
        'address',
        'birthDate',
        'gender',
        'id',
        'resourceType',
      ]);
    }
    // The pseudonyms are not the patients' ledger keys.
    for (const p of patients) expect(ndjsonText.includes(toHex(p.publicKey))).toBe(false);
  });

  it('deletes the export for the study; then it is gone', async () => {
    expect((await call('DELETE', statusUrl, otherStudy)).status).toBe(403);
    expect((await call('DELETE', statusUrl, study)).status).toBe(202);
    const gone = await call('GET', statusUrl, study);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });
});
