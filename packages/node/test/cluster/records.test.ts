import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AccessRequestFields,
  accessRequestJson,
  openServedRecord,
  signAccessRequest,
  signRequest,
} from '@medchain/client';
import { type Canonical, fromHex, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  type AccessRequest,
  auditTrail,
  recordId as deriveRecordId,
  encodeTransaction,
  exportAuditTrail,
  getRecord,
  signTransaction,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirSchemaErrors } from '../../../ledger/test/fhir-schema.js';
import {
  CONFIG_FILE_NAME,
  decodeAnswer,
  encodeSignedRequest,
  type MedchainNode,
} from '../../src/index.js';
import {
  CHAIN_ID,
  counterValue,
  makeNetwork,
  type Network,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON; the test reads the fields it checks
type ApiJson = Record<string, any>;

/** A key with its seed (the requester opens envelopes with the seed). */
interface Actor {
  readonly seed: Uint8Array;
  readonly signer: Signer;
  readonly key: Uint8Array;
}
function actor(label: string): Actor {
  const seed = sha256(utf8(`records-test:${label}`));
  const signer = new Signer(seed);
  return { seed, signer, key: signer.publicKey };
}

/** Fixture PHI: names and identifiers that must never reach a chain database. */
const PHI = ['Quackenbush', 'Fiddlesworth', 'Wigglesbottom', 'MRN-4471-QX', 'MRN-9902-ZZ'];

function observation(name: string, mrn: string, value: number): Uint8Array {
  return utf8(
    JSON.stringify({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
      subject: { display: name, identifier: { system: 'urn:mrn', value: mrn } },
      valueQuantity: { value, unit: 'beats/minute' },
    }),
  );
}
function condition(name: string, mrn: string): Uint8Array {
  return utf8(
    JSON.stringify({
      resourceType: 'Condition',
      code: { text: 'Type 2 diabetes mellitus' },
      subject: { display: name, identifier: { system: 'urn:mrn', value: mrn } },
    }),
  );
}

async function filesUnder(dir: string): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out.push([path, await readFile(path)]);
    }
  }
  return out;
}
const containing = (files: Array<[string, Buffer]>, needle: string) =>
  files.filter(([, bytes]) => bytes.includes(Buffer.from(needle))).map(([path]) => path);

type Outcome = { decision: 'permit' | 'deny'; denyReason: string | null; emergency: boolean };

/**
 * Two hospitals in a 4-validator cluster on real libp2p (TCP, 127.0.0.1): hospital A (node 0)
 * holds the records, a clinician of hospital B asks B's node (node 1) over the HTTP API, and
 * B's node relays to A over /medchain/records/1.0.0.
 */
describe('consent-gated record exchange between hospitals', () => {
  let network: Network;
  const nodes: Array<MedchainNode | undefined> = [];
  const A = () => nodes[0]!;
  const B = () => nodes[1]!;
  const nonces = new Map<string, number>();
  const expectedAudit = new Map<string, Outcome[]>();

  let orgA: Uint8Array;
  const author = actor('author-at-A');
  const clinician = actor('clinician-at-B');
  const emergency = actor('emergency-at-B');
  const patient1 = actor('patient-1');
  const patient2 = actor('patient-2');
  const delegate = actor('delegate-of-1');
  const records: Record<string, { id: Uint8Array; content: Uint8Array; patient: Actor }> = {};

  /** Signs and submits a tx at node A; resolves with its receipt code once A and B hold it. */
  async function send(signer: Actor | Signer, kind: TxKind, body: Canonical): Promise<string> {
    const s = signer instanceof Signer ? signer : signer.signer;
    const id = toHex(s.publicKey);
    const nonce = (nonces.get(id) ?? 0) + 1;
    nonces.set(id, nonce);
    const tx = signTransaction({ chainId: CHAIN_ID, kind, body, signer: s.publicKey, nonce }, s);
    const result = A().parts.backend.submitTransaction(encodeTransaction(tx));
    if (!result.accepted) throw new Error(`${kind} refused: ${result.code} ${result.message}`);
    const hash = transactionHash(tx);
    let code = '';
    for (const node of [A(), B()]) {
      await waitUntil(
        `${kind} committed`,
        () => {
          const status = node.parts.backend.transaction(hash);
          if (status.status === 'committed') code = status.receipt.code;
          return status.status === 'committed';
        },
        { intervalMs: 20, tries: 1500 },
      );
    }
    return code;
  }
  const sendOk = async (signer: Actor | Signer, kind: TxKind, body: Canonical) =>
    expect(await send(signer, kind, body)).toBe('OK');

  /** An API call; party routes are signed (RFC 9421, medchain profile) by `as`. */
  async function http(node: MedchainNode, path: string, body?: unknown, as?: Signer) {
    const url = `${node.parts.apiUrl}/v1${path}`;
    const method = body === undefined ? 'GET' : 'POST';
    const bytes = body === undefined ? undefined : utf8(JSON.stringify(body));
    const signature =
      as === undefined
        ? {}
        : await signRequest({ method, url, ...(bytes === undefined ? {} : { body: bytes }) }, as, {
            now: Date.now(),
            nonce: toHex(new Uint8Array(randomBytes(16))),
          });
    const response = await fetch(url, {
      method,
      headers: {
        ...signature,
        ...(bytes === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(bytes === undefined ? {} : { body: bytes }),
    });
    return { status: response.status, json: (await response.json()) as ApiJson };
  }

  async function putRecord(name: string, patient: Actor, content: Uint8Array, type: string) {
    const nonce = new Uint8Array(randomBytes(16));
    const id = deriveRecordId(orgA, patient.key, nonce);
    // Anchor first: the vault takes a version only from the key that anchored it.
    await sendOk(author, 'record.anchor', {
      patient: patient.key,
      custodian: orgA,
      resourceType: type,
      contentHash: sha256(content),
      nonce,
    });
    const put = await http(
      A(),
      '/vault/records',
      { recordId: toHex(id), patient: toHex(patient.key), version: 1, content: toHex(content) },
      author.signer,
    );
    expect(put.status).toBe(201);
    expect(put.json.contentHash).toBe(toHex(sha256(content)));
    records[name] = { id, content, patient };
  }

  /** A request signed by `who` (the client's signAccessRequest: fresh nonce, now unless set). */
  async function newRequest(who: Actor, name: string, extra: Partial<AccessRequestFields> = {}) {
    const signed = await signAccessRequest(who.signer, {
      recordId: records[name]!.id,
      action: 'access',
      purpose: 'TREAT',
      ...extra,
    });
    return { request: signed.request, signed, json: accessRequestJson(signed) };
  }

  /**
   * The clinician's app: asks its own node (B) to fetch, then opens the envelope with its own
   * key and checks the content against the anchor on B's ledger. `logged` records the outcome
   * the patient's audit trail must show.
   */
  async function read(who: Actor, name: string, extra: Partial<AccessRequestFields> = {}) {
    const { request, json } = await newRequest(who, name, extra);
    return send_(who, name, request, json);
  }
  async function send_(
    who: Actor,
    name: string,
    request: AccessRequest,
    json: unknown,
  ): Promise<{
    status: number;
    code?: string;
    reason?: string;
    content?: Uint8Array;
    body: ApiJson;
  }> {
    const { id, patient } = records[name]!;
    const answer = await http(B(), `/records/${toHex(id)}/fetch`, json);
    const trail = expectedAudit.get(toHex(patient.key)) ?? [];
    expectedAudit.set(toHex(patient.key), trail);
    const emergencyFlag = request.emergencyReason !== undefined;
    if (answer.status === 200) {
      trail.push({ decision: 'permit', denyReason: null, emergency: emergencyFlag });
      const anchored = getRecord(B().parts.backend.state(), id)!.contentHash;
      const content = openServedRecord({
        request,
        envelope: fromHex(answer.json.envelope),
        recipientSeed: who.seed,
        custodianKey: fromHex(answer.json.custodianKey),
        anchoredHash: anchored,
      });
      return { status: 200, content, body: answer.json };
    }
    const error = answer.json.error as { code: string; reason?: string };
    if (error.code === 'RECORD_ACCESS_DENIED') {
      trail.push({ decision: 'deny', denyReason: error.reason!, emergency: emergencyFlag });
    }
    return {
      status: answer.status,
      code: error.code,
      ...(error.reason === undefined ? {} : { reason: error.reason }),
      body: answer.json,
    };
  }

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    for (const home of network.homes) {
      const path = join(home.home, CONFIG_FILE_NAME);
      const config = JSON.parse(await readFile(path, 'utf8'));
      await writeFile(path, JSON.stringify({ ...config, records: { logTimeoutMs: 3_000 } }));
    }
    for (const home of network.homes) nodes.push(await startNode(home));
    orgA = sha256(utf8('cluster-test:org:0'));
    const admin = (i: number) =>
      new Signer(sha256(utf8(`cluster-test:admin:${i}:${network.root}`)));
    await sendOk(admin(0), 'provider.register', { provider: author.key, role: 'clinician' });
    await sendOk(admin(1), 'provider.register', { provider: clinician.key, role: 'clinician' });
    await sendOk(admin(1), 'provider.register', { provider: emergency.key, role: 'emergency' });
    for (const p of [patient1, patient2]) await sendOk(p, 'patient.register', {});
    await putRecord(
      'obs',
      patient1,
      observation('Ottoline Quackenbush', 'MRN-4471-QX', 72),
      'Observation',
    );
    await putRecord(
      'cond',
      patient1,
      condition('Ottoline Quackenbush', 'MRN-4471-QX'),
      'Condition',
    );
    await putRecord(
      'p2obs',
      patient2,
      observation('Barnaby Fiddlesworth', 'MRN-9902-ZZ', 88),
      'Observation',
    );
  }, 120_000);

  afterAll(async () => {
    for (const node of nodes) await node?.stop();
    await network?.remove();
  });

  const grant = (
    patient: Actor,
    grantee: Actor,
    scope: { resourceTypes?: string[] },
    untilMs: number,
  ) => ({
    patient: patient.key,
    grantee: { type: 'provider', id: grantee.key },
    recordIds: [],
    resourceTypes: scope.resourceTypes ?? [],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: Date.now() - 60_000,
    validUntil: Date.now() + untilMs,
  });
  let observationGrant: Uint8Array;

  it('grant -> read OK with identical content; an Observation grant does not open a Condition', async () => {
    const tx = grant(patient1, clinician, { resourceTypes: ['Observation'] }, 600_000);
    await sendOk(patient1, 'consent.grant', tx);
    observationGrant = transactionHash(
      signTransaction(
        {
          chainId: CHAIN_ID,
          kind: 'consent.grant',
          body: tx,
          signer: patient1.key,
          nonce: nonces.get(toHex(patient1.key))!,
        },
        patient1.signer,
      ),
    );
    const served = await read(clinician, 'obs');
    expect(served.status).toBe(200);
    expect(toHex(served.content!)).toBe(toHex(records.obs!.content));
    // B's node relayed it but cannot open it: the envelope is sealed to the clinician.
    const validatorB = sha256(utf8(`cluster-test:validator:1:${network.root}`));
    const { request } = await newRequest(clinician, 'obs');
    expect(() =>
      openServedRecord({
        request,
        envelope: fromHex(served.body.envelope),
        recipientSeed: validatorB,
        custodianKey: fromHex(served.body.custodianKey),
        anchoredHash: sha256(records.obs!.content),
      }),
    ).toThrow(expect.objectContaining({ code: 'RECORD_VERIFY_FAILED' }));

    const other = await read(clinician, 'cond');
    expect(other).toMatchObject({
      status: 403,
      code: 'RECORD_ACCESS_DENIED',
      reason: 'NO_CONSENT',
    });
  });

  it('refuses replayed, stale and badly signed requests', async () => {
    const { request, json } = await newRequest(clinician, 'obs');
    expect((await send_(clinician, 'obs', request, json)).status).toBe(200);
    expect(await send_(clinician, 'obs', request, json)).toMatchObject({
      status: 409,
      code: 'RECORD_REQUEST_REPLAYED',
    });
    const stale = await read(clinician, 'obs', { time: Date.now() - 11 * 60_000 });
    expect(stale).toMatchObject({ status: 400, code: 'RECORD_REQUEST_STALE' });
    const forged = await newRequest(clinician, 'obs');
    const forgedJson = { ...forged.json, signature: toHex(emergency.signer.sign(utf8('x'))) };
    expect((await send_(clinician, 'obs', forged.request, forgedJson)).status).toBe(400);
  });

  it("a member node relaying a stranger's request over libp2p: the custodian refuses it, logs nothing", async () => {
    const metric = A().metrics.register.getSingleMetric('medchain_records_requests_total') as never;
    const trail = () => auditTrail(A().parts.backend.history(), patient1.key, { limit: 1 }).total;
    const before = trail();
    // The API route would refuse these (REQUESTER_NO_ROLE); B's node sends them straight to A.
    for (const who of [actor('stranger'), patient2]) {
      const { signed } = await newRequest(who, 'obs');
      const answer = decodeAnswer(
        await B().parts.records.protocol.request(A().parts.peerId, encodeSignedRequest(signed)),
      );
      expect(answer).toMatchObject({ status: 'error', code: 'REQUESTER_NO_ROLE' });
    }
    expect(await counterValue(metric, { outcome: 'REQUESTER_NO_ROLE' })).toBe(2);
    expect(trail()).toBe(before);
    // The same refusal when the requester's node is the custodian itself.
    const { signed } = await newRequest(actor('stranger'), 'obs');
    await expect(A().parts.records.fetch(signed)).rejects.toMatchObject({
      code: 'REQUESTER_NO_ROLE',
    });
    expect(trail()).toBe(before);
  });

  it('serves concurrent requests (each logged under its own custodian nonce)', async () => {
    const reads = await Promise.all(Array.from({ length: 8 }, () => read(clinician, 'obs')));
    expect(reads.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(reads.map((r) => r.body.logTx)).size).toBe(8);
  });

  it('revoke -> denied', async () => {
    await sendOk(patient1, 'consent.revoke', { consentId: observationGrant });
    expect(await read(clinician, 'obs')).toMatchObject({ status: 403, reason: 'NO_CONSENT' });
  });

  it('expired -> denied', async () => {
    const tx = grant(patient1, clinician, { resourceTypes: ['Observation'] }, 3_000);
    await sendOk(patient1, 'consent.grant', tx);
    const first = await read(clinician, 'obs');
    expect(first.status).toBe(200);
    await waitUntil('the consent expires', () => Date.now() > tx.validUntil + 100, {
      intervalMs: 100,
    });
    expect(await read(clinician, 'obs')).toMatchObject({ status: 403, reason: 'NO_CONSENT' });
  });

  it('a delegate speaks for the patient until the delegation expires', async () => {
    const expiresAt = Date.now() + 4_000;
    await sendOk(patient1, 'patient.delegate', {
      patient: patient1.key,
      delegate: delegate.key,
      relation: 'proxy',
      expiresAt,
    });
    await sendOk(
      delegate,
      'consent.grant',
      grant(patient1, clinician, { resourceTypes: ['Condition'] }, 600_000),
    );
    const viaDelegate = await read(clinician, 'cond');
    expect(viaDelegate.status).toBe(200);
    expect(viaDelegate.content).toEqual(records.cond!.content);
    expect((await read(delegate, 'cond')).status).toBe(200);
    await waitUntil('the delegation expires', () => Date.now() > expiresAt + 100, {
      intervalMs: 100,
    });
    // A lapsed delegate has no role left: refused before anything is logged.
    expect(await read(delegate, 'cond')).toMatchObject({
      status: 403,
      code: 'REQUESTER_NO_ROLE',
    });
    expect(
      await send(
        delegate,
        'consent.grant',
        grant(patient1, clinician, { resourceTypes: ['Observation'] }, 600_000),
      ),
    ).toBe('NOT_PATIENT_OR_DELEGATE');
  });

  it('break-glass is served, flagged, and reaches the patient audit stream at once', async () => {
    const controller = new AbortController();
    const streamUrl = `${B().parts.apiUrl}/v1/events?patient=${toHex(patient1.key)}`;
    const stream = await fetch(streamUrl, {
      signal: controller.signal,
      headers: await signRequest({ method: 'GET', url: streamUrl }, patient1.signer, {
        now: Date.now(),
        nonce: toHex(new Uint8Array(randomBytes(16))),
      }),
    });
    const reader = stream.body!.getReader();
    const flagged = (async () => {
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += Buffer.from(value).toString('utf8');
        for (const block of text.split('\n\n')) {
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (block.includes('event: audit') && data !== undefined && JSON.parse(data).emergency) {
            return JSON.parse(data);
          }
        }
      }
    })();
    const without = await read(emergency, 'obs', { purpose: 'ETREAT' });
    expect(without).toMatchObject({ status: 403, reason: 'NO_CONSENT' });
    const glass = await read(emergency, 'obs', {
      purpose: 'ETREAT',
      emergencyReason: 'patient-unconscious',
    });
    expect(glass.status).toBe(200);
    expect(glass.content).toEqual(records.obs!.content);
    const entry = await flagged;
    controller.abort();
    expect(entry).toMatchObject({
      emergency: true,
      emergencyReason: 'patient-unconscious',
      decision: 'permit',
      requester: toHex(emergency.key),
      txHash: glass.body.logTx,
    });
  });

  it('break-glass is denied (and logged) when the patient opted out', async () => {
    await sendOk(patient2, 'patient.policy', {
      patient: patient2.key,
      breakGlassOptOut: true,
      researchOptOut: false,
    });
    const denied = await read(emergency, 'p2obs', {
      purpose: 'ETREAT',
      emergencyReason: 'life-threatening',
    });
    expect(denied).toMatchObject({ status: 403, reason: 'BREAK_GLASS_OPT_OUT' });
  });

  it('after erase the record is never served and its plaintext is nowhere under the custodian home', async () => {
    await putRecord(
      'erased',
      patient1,
      observation('Hortensia Wigglesbottom', 'MRN-4471-QX', 90),
      'Observation',
    );
    expect((await read(patient1, 'erased')).status).toBe(200);
    const path = `/vault/records/${toHex(records.erased!.id)}/erase`;
    // A live record cannot be shredded through the API: the ledger erasure comes first.
    expect((await http(A(), path, {}, author.signer)).json.error.code).toBe('RECORD_BAD_REQUEST');
    expect((await A().parts.vault.describe(records.erased!.id))?.versions).toHaveLength(1);
    await sendOk(author, 'record.erase', { recordId: records.erased!.id });
    // The custodian's node shreds by itself once the erasure commits.
    await waitUntil('the vault shreds', () => A().parts.vault.isErased(records.erased!.id));
    expect((await http(A(), path, {}, author.signer)).json).toMatchObject({ held: false });
    expect(await read(patient1, 'erased')).toMatchObject({ status: 403, reason: 'RECORD_ERASED' });
    await expect(A().parts.vault.get(records.erased!.id)).rejects.toMatchObject({
      code: 'RECORD_ERASED',
    });
    const files = await filesUnder(network.homes[0]!.home);
    expect(containing(files, 'Wigglesbottom')).toEqual([]);
    expect(containing(files, 'Hortensia')).toEqual([]);
  });

  it('every logged attempt is in the patient audit trail with its outcome, as schema-valid FHIR AuditEvents', async () => {
    for (const p of [patient1, patient2]) {
      const trail = auditTrail(A().parts.backend.history(), p.key, { limit: 200 }).items;
      expect(
        trail.map((e) => ({
          decision: e.decision,
          denyReason: e.denyReason,
          emergency: e.emergency,
        })),
      ).toEqual(expectedAudit.get(toHex(p.key)));
      const events = exportAuditTrail(
        A().parts.backend.state(),
        A().parts.backend.history(),
        p.key,
        { limit: 200 },
      ).items;
      expect(events.length).toBe(trail.length);
      for (const event of events) expect(fhirSchemaErrors(event)).toEqual([]);
    }
  });

  it('serves nothing when the access log cannot commit (no quorum)', async () => {
    const metric = A().metrics.register.getSingleMetric('medchain_records_requests_total') as never;
    const before = await counterValue(metric, { outcome: 'served' });
    await nodes[2]!.stop();
    await nodes[3]!.stop();
    nodes[2] = undefined;
    nodes[3] = undefined;
    const { request, json } = await newRequest(patient1, 'obs');
    const answer = await http(B(), `/records/${toHex(request.recordId)}/fetch`, json);
    expect(answer.status).toBe(502);
    expect(answer.json.error.code).toBe('RECORD_LOG_FAILED');
    expect(answer.json).not.toHaveProperty('envelope');
    expect(await counterValue(metric, { outcome: 'served' })).toBe(before);
    expect(await counterValue(metric, { outcome: 'RECORD_LOG_FAILED' })).toBe(1);
  });

  it('a custodian that is offline gives a clear error', async () => {
    await nodes[0]!.stop();
    nodes[0] = undefined;
    const { request, json } = await newRequest(patient1, 'obs');
    const answer = await http(B(), `/records/${toHex(request.recordId)}/fetch`, json);
    expect(answer.status).toBe(502);
    expect(answer.json.error.code).toBe('RECORD_CUSTODIAN_UNREACHABLE');
  });

  it('no PHI on the ledger: no fixture name or identifier in any byte of any chain database', async () => {
    for (const [i, node] of nodes.entries()) {
      await node?.stop();
      nodes[i] = undefined;
    }
    for (const home of network.homes) {
      const files = [
        ...(await filesUnder(join(home.home, 'db'))),
        ...(await filesUnder(join(home.home, 'wal'))),
      ];
      expect(files.length).toBeGreaterThan(0);
      for (const needle of PHI) expect(containing(files, needle)).toEqual([]);
      // Table files are compressed: read every stored value too.
      const db = new Level<Uint8Array, Uint8Array>(join(home.home, 'db'), {
        keyEncoding: 'view',
        valueEncoding: 'view',
      });
      await db.open();
      let values = 0;
      for await (const [key, value] of db.iterator()) {
        values++;
        const both = Buffer.concat([key, value]);
        for (const needle of PHI) expect(both.includes(Buffer.from(needle))).toBe(false);
      }
      await db.close();
      expect(values).toBeGreaterThan(0);
    }
  });
});
