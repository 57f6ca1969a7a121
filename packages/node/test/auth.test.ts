import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signRequest } from '@medchain/client';
import { type Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  accessRequestDigest,
  encodeTransaction,
  recordId,
  stateKeys,
  transactionHash,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, type ApiServerOptions, createApiServer } from '../src/api/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { RecordError } from '../src/records/errors.js';
import type { RecordsApi } from '../src/records/http.js';
import { Vault } from '../src/vault/index.js';
import { accessRequest, populatedBackend, signer } from './api-chain.js';

/**
 * Who may call what, over real HTTP (127.0.0.1) against the real API server in front of a real
 * ledger (api-chain.ts: blocks executed and certified) and a real vault: every row of the
 * authorization table allowed and refused, each 401 and 403 code, and the transport hygiene
 * (TLS, CORS, Host, 405, 429, security headers).
 */

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'medchain-auth-'));
const world = populatedBackend();
const { backend, a, b, clinician, bClinician, alice, record, consentId, access } = world;
const delegate = signer('alice/delegate');
const lapsed = signer('alice/lapsed-delegate');
const colleague = signer('a/colleague');
const stranger = signer('nobody');
const validator = a.validator;

backend.admit(
  backend.sign(alice, 'patient.delegate', {
    patient: alice.publicKey,
    delegate: delegate.publicKey,
    relation: 'proxy',
    expiresAt: backend.time + 30 * DAY,
  }),
);
backend.admit(
  backend.sign(alice, 'patient.delegate', {
    patient: alice.publicKey,
    delegate: lapsed.publicKey,
    relation: 'proxy',
    expiresAt: backend.time + 5_000,
  }),
);
backend.admit(
  backend.sign(a.admin, 'provider.register', { provider: colleague.publicKey, role: 'clinician' }),
);
backend.commit();
// Version 2 of alice's record, amended by the clinician: the vault may take it from that key only.
const v2 = utf8(JSON.stringify({ resourceType: 'Observation', status: 'final', value: 2 }));
backend.admit(
  backend.sign(clinician, 'record.amend', { recordId: record, contentHash: sha256(v2) }),
);
backend.commit();
// A record anchored and then erased on the ledger: the vault may shred it.
const erasedNonce = sha256(utf8('erased-record')).slice(0, 16);
const erased = recordId(a.id, alice.publicKey, erasedNonce);
backend.admit(
  backend.sign(clinician, 'record.anchor', {
    patient: alice.publicKey,
    custodian: a.id,
    resourceType: 'Observation',
    contentHash: sha256(utf8('erased')),
    nonce: erasedNonce,
  }),
);
backend.commit();
backend.admit(backend.sign(clinician, 'record.erase', { recordId: erased }));
backend.commit();
// A record id nobody anchored.
const neverAnchored = recordId(a.id, alice.publicKey, sha256(utf8('never')).slice(0, 16));

/** The node's clock: ten minutes after the last block, so the lapsed delegation has expired. */
const clock = () => backend.time + 600_000;

let fetchCalls = 0;
const servers: ApiServer[] = [];
let vault: Vault;

async function serve(
  extra: Partial<ApiServerOptions> = {},
): Promise<{ base: string; server: ApiServer }> {
  const records: RecordsApi = {
    putRecord: (put) => vault.put(put),
    eraseRecord: (id) => vault.erase(id),
    // The relay to a custodian is out of scope here (auth-node.test.ts runs it for real).
    fetch: async () => {
      fetchCalls += 1;
      throw new RecordError('RECORD_CUSTODIAN_UNREACHABLE', 'no custodian in this test');
    },
  };
  const server = createApiServer({
    backend,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    port: 0,
    records,
    genesis: backend.doc,
    nodeKey: a.validator.publicKey,
    now: clock,
    ...extra,
  });
  servers.push(server);
  return { base: await server.start(), server };
}

let base = '';
beforeAll(async () => {
  vault = await Vault.open(join(dir, 'vault'), { masterSeed: sha256(utf8('auth-test-vault')) });
  ({ base } = await serve());
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await vault.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Call {
  readonly as?: Signer;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Sign at this clock instead of the node's. */
  readonly signedAt?: number;
  readonly base?: string;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

const nonce = () => randomBytes(18).toString('base64url');

async function signedHeaders(
  method: string,
  url: string,
  bytes: Uint8Array | undefined,
  as: Signer,
  at: number,
): Promise<Record<string, string>> {
  return signRequest({ method, url, ...(bytes === undefined ? {} : { body: bytes }) }, as, {
    now: at,
    nonce: nonce(),
  });
}

async function call(method: 'GET' | 'POST', path: string, options: Call = {}): Promise<Answer> {
  const url = `${options.base ?? base}${path}`;
  const bytes = options.body === undefined ? undefined : utf8(JSON.stringify(options.body));
  const headers: Record<string, string> = { ...options.headers };
  if (bytes !== undefined) headers['content-type'] = 'application/json';
  if (options.as !== undefined) {
    Object.assign(
      headers,
      await signedHeaders(method, url, bytes, options.as, options.signedAt ?? clock()),
    );
  }
  const response = await fetch(url, {
    method,
    headers,
    ...(bytes === undefined ? {} : { body: bytes }),
  });
  const text = await response.text();
  const isJson = response.headers.get('content-type')?.startsWith('application/json');
  return {
    status: response.status,
    headers: response.headers,
    body: isJson ? JSON.parse(text) : {},
  };
}

const hex = toHex;
const accessHash = hex(transactionHash(access));
const patientKey = hex(alice.publicKey);

interface Row {
  readonly route: string;
  readonly method?: 'GET' | 'POST';
  readonly path: string;
  readonly body?: () => unknown;
  /** Who passes (status < 400, or a 404 past the check). */
  readonly allowed: ReadonlyArray<readonly [string, Signer | undefined, number]>;
  /** Who is refused, with the status and code. */
  readonly refused: ReadonlyArray<readonly [string, Signer | undefined, number, string]>;
}

const NONE = undefined;
const vaultPut = (version: number, content: Uint8Array) => () => ({
  recordId: hex(record),
  patient: patientKey,
  version,
  content: hex(content),
});

/** One row per route of the table; each names who gets through and who is refused. */
const ROWS: Row[] = [
  { route: 'health', path: '/v1/health', allowed: [['anyone', NONE, 200]], refused: [] },
  { route: 'status', path: '/v1/status', allowed: [['anyone', NONE, 200]], refused: [] },
  { route: 'getHeader', path: '/v1/headers/1', allowed: [['anyone', NONE, 200]], refused: [] },
  { route: 'getGenesis', path: '/v1/genesis', allowed: [['anyone', NONE, 200]], refused: [] },
  {
    route: 'listValidatorSets',
    path: '/v1/validator-sets',
    allowed: [['anyone', NONE, 200]],
    refused: [],
  },
  {
    route: 'listOrganizations',
    path: '/v1/organizations',
    allowed: [['anyone', NONE, 200]],
    refused: [],
  },
  {
    route: 'listEvidence',
    path: '/v1/consensus/evidence',
    allowed: [['anyone', NONE, 200]],
    refused: [],
  },
  {
    route: 'getTransaction',
    path: `/v1/tx/${accessHash}`,
    allowed: [
      ['its signer', clinician, 200],
      ['a member admin', b.admin, 200],
      ['a validator', validator, 200],
    ],
    // Refused as unknown: a non-member learns nothing of transactions that are not theirs.
    refused: [
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
      ['another provider', bClinician, 404, 'TX_NOT_FOUND'],
      ['the patient', alice, 404, 'TX_NOT_FOUND'],
      ['a stranger', stranger, 404, 'TX_NOT_FOUND'],
    ],
  },
  {
    route: 'getBlock',
    path: '/v1/blocks/1',
    allowed: [
      ['a member admin', b.admin, 200],
      ['a validator', validator, 200],
    ],
    refused: [
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
      ['a provider', clinician, 403, 'FORBIDDEN'],
      ['a patient', alice, 403, 'FORBIDDEN'],
    ],
  },
  {
    route: 'getLatestBlock',
    path: '/v1/blocks/latest',
    allowed: [['a member admin', a.admin, 200]],
    refused: [['a provider', clinician, 403, 'FORBIDDEN']],
  },
  ...(['', '/consents', '/audit', '/records'] as const).map(
    (tail): Row => ({
      route: `patient${tail}`,
      path: `/v1/patients/${patientKey}${tail}`,
      allowed: [
        ['the patient', alice, 200],
        ['a live delegate', delegate, 200],
      ],
      refused: [
        ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
        ['a lapsed delegate', lapsed, 401, 'KEY_UNKNOWN'],
        ['the custodian provider', clinician, 403, 'FORBIDDEN'],
        ['a member admin', a.admin, 403, 'FORBIDDEN'],
        ['a stranger', stranger, 401, 'KEY_UNKNOWN'],
      ],
    }),
  ),
  {
    route: 'getDelegate',
    path: `/v1/patients/${patientKey}/delegates/${hex(delegate.publicKey)}`,
    allowed: [
      ['the patient', alice, 200],
      ['the delegate', delegate, 200],
    ],
    refused: [['a provider', bClinician, 403, 'FORBIDDEN']],
  },
  {
    route: 'getConsent',
    path: `/v1/consents/${hex(consentId)}`,
    allowed: [
      ['the patient', alice, 200],
      ['a live delegate', delegate, 200],
      ['the grantee', bClinician, 200],
    ],
    refused: [
      ['another provider', clinician, 403, 'FORBIDDEN'],
      ["the grantee's admin (consent names the provider)", b.admin, 403, 'FORBIDDEN'],
    ],
  },
  {
    route: 'getRecord',
    path: `/v1/records/${hex(record)}`,
    allowed: [
      ['the patient', alice, 200],
      ['a custodian provider', colleague, 200],
      ['a custodian admin', a.admin, 200],
    ],
    refused: [
      ["another organization's provider", bClinician, 403, 'FORBIDDEN'],
      ['another admin', b.admin, 403, 'FORBIDDEN'],
    ],
  },
  {
    route: 'getOrganization',
    path: `/v1/organizations/${hex(a.id)}`,
    allowed: [
      ['its provider', clinician, 200],
      ['its admin', a.admin, 200],
      ['a member admin', b.admin, 200],
      ['a validator', b.validator, 200],
    ],
    refused: [
      ["another organization's provider", bClinician, 403, 'FORBIDDEN'],
      ['a patient', alice, 403, 'FORBIDDEN'],
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
    ],
  },
  {
    route: 'getProvider',
    path: `/v1/providers/${hex(bClinician.publicKey)}`,
    allowed: [
      ['a patient', alice, 200],
      ['a provider', clinician, 200],
    ],
    refused: [
      ['a stranger', stranger, 401, 'KEY_UNKNOWN'],
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
    ],
  },
  {
    route: 'listProviderConsents',
    path: `/v1/providers/${hex(bClinician.publicKey)}/consents?patient=${patientKey}`,
    allowed: [
      ['the provider', bClinician, 200],
      ["its organization's admin", b.admin, 200],
    ],
    refused: [
      ['another provider', clinician, 403, 'FORBIDDEN'],
      ['the patient', alice, 403, 'FORBIDDEN'],
    ],
  },
  {
    route: 'getStateProof (public table)',
    path: `/v1/state/proof?key=${hex(stateKeys.members())}`,
    allowed: [['anyone', NONE, 200]],
    refused: [],
  },
  {
    route: 'getStateProof (a patient entry)',
    path: `/v1/state/proof?key=${hex(stateKeys.patient(alice.publicKey))}`,
    allowed: [
      ['the patient', alice, 200],
      ['a live delegate', delegate, 200],
    ],
    refused: [
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
      ['a provider', clinician, 403, 'FORBIDDEN'],
    ],
  },
  {
    route: 'getStateProof (a consent, as its route)',
    path: `/v1/state/proof?key=${hex(stateKeys.consent(consentId))}`,
    allowed: [['the grantee', bClinician, 200]],
    refused: [['another provider', clinician, 403, 'FORBIDDEN']],
  },
  {
    route: 'getStateProof (a nonce)',
    path: `/v1/state/proof?key=${hex(stateKeys.nonce(clinician.publicKey))}`,
    allowed: [
      ['its owner', clinician, 200],
      ['a member admin', b.admin, 200],
    ],
    refused: [['a patient', alice, 403, 'FORBIDDEN']],
  },
  {
    route: 'getStateProof (no known table)',
    path: '/v1/state/proof?key=00',
    allowed: [['a member admin', b.admin, 200]],
    refused: [['a patient', alice, 403, 'FORBIDDEN']],
  },
  {
    route: 'accessDecision',
    method: 'POST',
    path: '/v1/access/decision',
    body: () => signedAccess(bClinician),
    allowed: [
      ["the custodian's admin", a.admin, 200],
      ["a custodian's provider", colleague, 200],
    ],
    refused: [
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
      ['a key with no role', stranger, 401, 'KEY_UNKNOWN'],
      ['the patient', alice, 403, 'FORBIDDEN'],
      ['a live delegate', delegate, 403, 'FORBIDDEN'],
      ["another organization's provider (the requester)", bClinician, 403, 'FORBIDDEN'],
      ["another organization's admin", b.admin, 403, 'FORBIDDEN'],
      ["the custodian's validator key", validator, 403, 'FORBIDDEN'],
    ],
  },
  {
    route: 'putVaultRecord',
    method: 'POST',
    path: '/v1/vault/records',
    body: vaultPut(2, v2),
    allowed: [['the amending key', clinician, 201]],
    refused: [
      ['unsigned', NONE, 401, 'SIGNATURE_MISSING'],
      ['a stranger', stranger, 401, 'KEY_UNKNOWN'],
      ["another organization's provider", bClinician, 403, 'FORBIDDEN'],
      ['its own admin', a.admin, 403, 'FORBIDDEN'],
      ['a colleague who did not amend it', colleague, 403, 'VAULT_NOT_ANCHORED_BY_SIGNER'],
    ],
  },
  {
    route: 'eraseVaultRecord',
    method: 'POST',
    path: `/v1/vault/records/${hex(neverAnchored)}/erase`,
    body: () => ({}),
    allowed: [],
    refused: [
      ['a stranger', stranger, 401, 'KEY_UNKNOWN'],
      ["another organization's admin", b.admin, 403, 'FORBIDDEN'],
      ['its own admin, for a never-anchored id', a.admin, 403, 'VAULT_NOT_CUSTODIAN'],
      ['its own provider, for a never-anchored id', clinician, 403, 'VAULT_NOT_CUSTODIAN'],
    ],
  },
];

describe('the authorization table, row by row, over real HTTP', () => {
  for (const row of ROWS) {
    const method = row.method ?? 'GET';
    for (const [who, as, status] of row.allowed) {
      it(`${row.route}: ${who} gets ${status}`, async () => {
        const answer = await call(method, row.path, {
          ...(as === undefined ? {} : { as }),
          ...(row.body === undefined ? {} : { body: row.body() }),
        });
        expect(answer.status, JSON.stringify(answer.body)).toBe(status);
      });
    }
    for (const [who, as, status, code] of row.refused) {
      it(`${row.route}: ${who} gets ${status} ${code}`, async () => {
        const answer = await call(method, row.path, {
          ...(as === undefined ? {} : { as }),
          ...(row.body === undefined ? {} : { body: row.body() }),
        });
        expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status, code });
        expect(typeof answer.body.error?.message).toBe('string');
      });
    }
  }

  it('GET /v1/tx/:hash answers a registered key 404 for a transaction this node does not know', async () => {
    // Found by the 30-minute chaos run: a patient polling its transaction at a node that had
    // lost it in a restart got 403 FORBIDDEN, which clients take as a refusal, not "not yet".
    const unknown = hex(sha256(utf8('a transaction no node has seen')));
    for (const as of [alice, clinician]) {
      const answer = await call('GET', `/v1/tx/${unknown}`, { as });
      expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
        status: 404,
        code: 'TX_NOT_FOUND',
      });
    }
    // The nonce of such a request is used all the same: the same signed request again is a replay.
    const url = `${base}/v1/tx/${unknown}`;
    const headers = await signedHeaders('GET', url, undefined, alice, clock());
    expect((await fetch(url, { headers })).status).toBe(404);
    const again = await fetch(url, { headers });
    expect(((await again.json()) as Answer['body']).error?.code).toBe('SIGNATURE_REPLAYED');
  });

  it('POST /v1/tx needs no request signature: the transaction signature is enough', async () => {
    const tx = backend.sign(stranger, 'patient.register', {});
    const answer = await call('POST', '/v1/tx', { body: { tx: hex(encodeTransaction(tx)) } });
    expect(answer.status).toBe(202);
    backend.mempool.clear();
  });

  it('the provider consents route lists what the patient gave the provider or its organization', async () => {
    const answer = await call(
      'GET',
      `/v1/providers/${hex(bClinician.publicKey)}/consents?patient=${patientKey}`,
      {
        as: bClinician,
      },
    );
    expect(answer.body).toMatchObject({ total: 1, items: [{ id: hex(consentId) }] });
  });

  it('the event streams: a patient and a live delegate follow theirs; others are refused', async () => {
    const open = async (path: string, as: Signer) => {
      const controller = new AbortController();
      const url = `${base}${path}`;
      const response = await fetch(url, {
        headers: await signedHeaders('GET', url, undefined, as, clock()),
        signal: controller.signal,
      });
      const status = response.status;
      const noStore = response.headers.get('cache-control');
      const nosniff = response.headers.get('x-content-type-options');
      controller.abort();
      await response.body?.cancel().catch(() => undefined);
      return { status, noStore, nosniff };
    };
    const audit = `/v1/events?patient=${patientKey}`;
    expect(await open(audit, alice)).toMatchObject({ status: 200, nosniff: 'nosniff' });
    expect((await open(audit, alice)).noStore).toContain('no-store');
    expect((await open(audit, delegate)).status).toBe(200);
    expect((await open(audit, clinician)).status).toBe(403);
    expect((await open('/v1/events', b.admin)).status).toBe(200);
    expect((await open('/v1/events', alice)).status).toBe(403);
  });

  it('metrics: a loopback peer, or the scrape token from elsewhere', async () => {
    const { server } = await serve({ metricsToken: 'scrape-secret' });
    const scrape = (authorization?: string) =>
      server.fastify.inject({
        url: '/v1/metrics',
        remoteAddress: '10.1.2.3',
        ...(authorization === undefined ? {} : { headers: { authorization } }),
      });
    expect((await call('GET', '/v1/metrics')).status).toBe(200);
    expect((await scrape()).json().error.code).toBe('CREDENTIAL_MISSING');
    expect((await scrape('Bearer wrong')).statusCode).toBe(401);
    expect((await scrape('Bearer wrong')).json().error.code).toBe('CREDENTIAL_INVALID');
    expect((await scrape('Bearer scrape-secret')).statusCode).toBe(200);
  });
});

describe('refusals of the signature itself', () => {
  const path = `/v1/patients/${patientKey}/consents`;

  it('unsigned: 401 SIGNATURE_MISSING', async () => {
    expect((await call('GET', path)).body.error?.code).toBe('SIGNATURE_MISSING');
  });

  it('a bad signature: 401 SIGNATURE_INVALID', async () => {
    const url = `${base}${path}`;
    const headers = await signedHeaders('GET', url, undefined, alice, clock());
    const bytes = Buffer.from(headers.signature!.split(':')[1]!, 'base64');
    bytes[0]! ^= 1;
    headers.signature = `medchain=:${bytes.toString('base64')}:`;
    const response = await fetch(url, { headers });
    expect(response.status).toBe(401);
    expect(((await response.json()) as Answer['body']).error?.code).toBe('SIGNATURE_INVALID');
  });

  it('signed for another path: 401 SIGNATURE_INVALID', async () => {
    const url = `${base}${path}`;
    const headers = await signedHeaders(
      'GET',
      `${base}/v1/patients/${patientKey}/audit`,
      undefined,
      alice,
      clock(),
    );
    const response = await fetch(url, { headers });
    expect(((await response.json()) as Answer['body']).error?.code).toBe('SIGNATURE_INVALID');
  });

  it('expired, or created in the future: 401 SIGNATURE_EXPIRED / SIGNATURE_NOT_YET_VALID', async () => {
    const expired = await call('GET', path, { as: alice, signedAt: clock() - 400_000 });
    expect({ status: expired.status, code: expired.body.error?.code }).toEqual({
      status: 401,
      code: 'SIGNATURE_EXPIRED',
    });
    const future = await call('GET', path, { as: alice, signedAt: clock() + 120_000 });
    expect(future.body.error?.code).toBe('SIGNATURE_NOT_YET_VALID');
  });

  it('replayed: the same signed request twice is 401 SIGNATURE_REPLAYED the second time', async () => {
    const url = `${base}${path}`;
    const headers = await signedHeaders('GET', url, undefined, alice, clock());
    expect((await fetch(url, { headers })).status).toBe(200);
    const again = await fetch(url, { headers });
    expect(again.status).toBe(401);
    expect(((await again.json()) as Answer['body']).error?.code).toBe('SIGNATURE_REPLAYED');
  });

  it('a body other than the one signed: 401 DIGEST_MISMATCH, nothing stored', async () => {
    const url = `${base}/v1/vault/records`;
    const signedBody = utf8(JSON.stringify(vaultPut(2, v2)()));
    const headers = await signedHeaders('POST', url, signedBody, clinician, clock());
    const other = JSON.stringify({ ...vaultPut(2, v2)(), version: 3 });
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: other,
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as Answer['body']).error?.code).toBe('DIGEST_MISMATCH');
  });

  it('a vault body sent as octet-stream: 415 UNSUPPORTED_MEDIA_TYPE (was 500)', async () => {
    for (const path of ['/v1/vault/records', `/v1/records/${hex(record)}/fetch`]) {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array([1, 2, 3]),
      });
      expect(response.status).toBe(415);
      expect(((await response.json()) as Answer['body']).error?.code).toBe(
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
  });
});

let accessCounter = 0;

/** A requester-signed AccessRequest for alice's record, as the fetch route takes it. */
function signedAccess(requester: Signer) {
  accessCounter += 1;
  const requestNonce = sha256(utf8(`fetch:${accessCounter}`)).slice(0, 16);
  const request = {
    recordId: record,
    requester: requester.publicKey,
    action: 'access',
    purpose: 'TREAT',
    time: clock(),
    nonce: requestNonce,
  } as const;
  return {
    request: {
      ...request,
      recordId: hex(record),
      requester: hex(requester.publicKey),
      nonce: hex(requestNonce),
    },
    signature: hex(requester.sign(accessRequestDigest(request))),
  };
}

describe('record fetch: a key with no role is refused before anything is relayed', () => {
  it('erase of an anchored record the ledger erased: its own admin and providers', async () => {
    for (const as of [a.admin, clinician]) {
      const answer = await call('POST', `/v1/vault/records/${hex(erased)}/erase`, { as, body: {} });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 200,
        body: { recordId: hex(erased), held: false },
      });
    }
    const other = await call('POST', `/v1/vault/records/${hex(erased)}/erase`, {
      as: bClinician,
      body: {},
    });
    expect(other.body.error?.code).toBe('FORBIDDEN');
  });

  it('a provider, the patient, a live delegate pass the role check and reach the custodian relay', async () => {
    for (const requester of [bClinician, alice, delegate]) {
      const before = fetchCalls;
      const answer = await call('POST', `/v1/records/${hex(record)}/fetch`, {
        body: signedAccess(requester),
      });
      expect(answer.body.error?.code).toBe('RECORD_CUSTODIAN_UNREACHABLE');
      expect(fetchCalls).toBe(before + 1);
    }
  });

  it('a stranger, a lapsed delegate: 403 REQUESTER_NO_ROLE, the custodian never asked', async () => {
    for (const requester of [stranger, lapsed]) {
      const before = fetchCalls;
      const answer = await call('POST', `/v1/records/${hex(record)}/fetch`, {
        body: signedAccess(requester),
      });
      expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
        status: 403,
        code: 'REQUESTER_NO_ROLE',
      });
      expect(fetchCalls).toBe(before);
    }
  });
});

describe("the custodian's access decision: the decision, not the patient's entries", () => {
  const decide = (body: unknown, as: Signer = a.admin) =>
    call('POST', '/v1/access/decision', { as, body });

  it('answers the ledger decision at the request time, and writes nothing', async () => {
    const height = backend.blocks.length;
    const pending = backend.mempool.size;
    const consented = await decide(signedAccess(bClinician));
    expect(consented.body).toEqual({
      decision: 'permit',
      basis: 'consent',
      consentId: hex(consentId),
    });
    expect((await decide(signedAccess(alice), clinician)).body).toEqual({
      decision: 'permit',
      basis: 'patient',
      consentId: null,
    });
    expect((await decide(signedAccess(colleague))).body).toEqual({
      decision: 'deny',
      reason: 'NO_CONSENT',
      consentId: null,
    });
    expect({ height: backend.blocks.length, pending: backend.mempool.size }).toEqual({
      height,
      pending,
    });
  });

  it('a requester signature that does not verify: 400 RECORD_BAD_REQUEST', async () => {
    const body = signedAccess(bClinician);
    const forged = { ...body, request: { ...body.request, purpose: 'HRESCH' } };
    const answer = await decide(forged);
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
      status: 400,
      code: 'RECORD_BAD_REQUEST',
    });
    const malformed = await decide({ ...body, signature: 'zz' });
    expect({ status: malformed.status, code: malformed.body.error?.code }).toEqual({
      status: 400,
      code: 'BAD_REQUEST',
    });
  });

  it('a record the ledger does not know has no custodian: 403 FORBIDDEN', async () => {
    const body = signedAccess(bClinician);
    const answer = await decide({
      ...body,
      request: { ...body.request, recordId: hex(neverAnchored) },
    });
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({
      status: 403,
      code: 'FORBIDDEN',
    });
  });
});

describe('transport and HTTP hygiene', () => {
  it('a wrong method on a known path: 405 with Allow and a code', async () => {
    const answer = await call('POST', '/v1/status', { body: {} });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET');
    expect(answer.body.error?.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('security headers: nosniff everywhere, no-store on party data only', async () => {
    const open = await call('GET', '/v1/status');
    expect(open.headers.get('x-content-type-options')).toBe('nosniff');
    expect(open.headers.get('cache-control')).toBeNull();
    const party = await call('GET', `/v1/patients/${patientKey}`, { as: alice });
    expect(party.headers.get('x-content-type-options')).toBe('nosniff');
    expect(party.headers.get('cache-control')).toBe('no-store');
    const refused = await call('GET', `/v1/patients/${patientKey}`);
    expect(refused.headers.get('cache-control')).toBe('no-store');
  });

  /** A raw request, so the Host header is what the test says. */
  const rawGet = (url: string, host: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const request = httpRequest(url, { headers: { ...headers, host } }, (response) => {
          let body = '';
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
          );
        });
        request.on('error', reject);
        request.end();
      },
    );

  it('the Host header on loopback: only this machine’s names with the port, or configured ones', async () => {
    const port = new URL(base).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      expect((await rawGet(`${base}/v1/health`, host)).status).toBe(200);
    }
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1:1', `[::2]:${port}`]) {
      const answer = await rawGet(`${base}/v1/health`, host);
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body).error.code).toBe('HOST_NOT_ALLOWED');
    }
    const configured = await serve({ allowedHosts: ['node.internal:7701'] });
    expect((await rawGet(`${configured.base}/v1/health`, 'node.internal:7701')).status).toBe(200);
  });

  it('CORS: no origin allowed by default; configured origins get the signature headers on preflight', async () => {
    const preflight = (at: string) =>
      fetch(`${at}/v1/patients/${patientKey}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'signature, signature-input',
        },
      });
    const closed = await preflight(base);
    expect(closed.headers.get('access-control-allow-origin')).toBeNull();
    const { base: open } = await serve({ corsOrigins: ['https://app.example'] });
    const allowed = await preflight(open);
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('signature-input');
    const other = await fetch(`${open}/v1/status`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('rate limits: per address and per key, 429 with Retry-After and a code', async () => {
    const byAddress = await serve({ rateLimit: { perAddress: 3 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await call('GET', '/v1/health', { base: byAddress.base })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await call('GET', '/v1/status', { base: byAddress.base });
    expect(limited.body.error?.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // POST /v1/tx is the mempool's to limit, not the address limiter's.
    const tx = backend.sign(signer('rate/patient'), 'patient.register', {});
    const txAnswer = await call('POST', '/v1/tx', {
      base: byAddress.base,
      body: { tx: hex(encodeTransaction(tx)) },
    });
    expect(txAnswer.status).toBe(202);
    backend.mempool.clear();

    const byKey = await serve({ rateLimit: { perKey: 2 } });
    const path = `/v1/patients/${patientKey}`;
    const keyed: number[] = [];
    for (let i = 0; i < 3; i++)
      keyed.push((await call('GET', path, { as: alice, base: byKey.base })).status);
    expect(keyed).toEqual([200, 200, 429]);
    const again = await call('GET', path, { as: alice, base: byKey.base });
    expect(again.body.error?.code).toBe('RATE_LIMITED');
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key is not held back by alice's budget.
    expect((await call('GET', path, { as: delegate, base: byKey.base })).status).toBe(200);
  });

  it('plain HTTP on a non-loopback host refuses to start, naming api.tls', () => {
    expect(() =>
      createApiServer({
        backend,
        logger: createLogger({ level: 'silent' }),
        metrics: createMetrics(),
        host: '0.0.0.0',
        port: 0,
      }),
    ).toThrow(/api\.tls/);
  });
});

describe('HTTPS', () => {
  const certDir = join(dir, 'tls');
  const certFile = join(certDir, 'cert.pem');
  const keyFile = join(certDir, 'key.pem');

  beforeAll(() => {
    execFileSync('mkdir', ['-p', certDir]);
    // A throwaway self-signed certificate for 127.0.0.1 (X.509 generation is not in node:crypto).
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-nodes',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
  });

  const get = (url: string, options: Record<string, unknown>) =>
    new Promise<number>((resolve, reject) => {
      const request = httpsRequest(url, options, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end();
    });

  it('serves over TLS; a client checking against the certificate gets through, one without it refuses', async () => {
    const { base: secure } = await serve({ tls: { cert: certFile, key: keyFile } });
    expect(secure.startsWith('https://')).toBe(true);
    const ca = readFileSync(certFile);
    expect(await get(`${secure}/v1/health`, { ca })).toBe(200);
    await expect(get(`${secure}/v1/health`, {})).rejects.toThrow(/self[- ]signed|certificate/i);
  });

  it('with requestClientCert, a member system must present a certificate from the CA', async () => {
    const { base: secure } = await serve({
      tls: { cert: certFile, key: keyFile, ca: certFile, requestClientCert: true },
    });
    const ca = readFileSync(certFile);
    await expect(get(`${secure}/v1/health`, { ca })).rejects.toThrow();
    const withCert = { ca, cert: readFileSync(certFile), key: readFileSync(keyFile) };
    expect(await get(`${secure}/v1/health`, withCert)).toBe(200);
  });
});

describe('the replay cache holds only the nonces of requests the node serves', () => {
  it("a stranger's signed requests and replays of one captured request do not fill it", async () => {
    const { base: small } = await serve({ replayCacheSize: 2 });
    const path = `/v1/patients/${patientKey}/consents`;
    const url = `${small}${path}`;
    for (let i = 0; i < 5; i++) {
      const answer = await call('GET', path, { as: stranger, base: small });
      expect(answer.body.error?.code).toBe('KEY_UNKNOWN');
    }
    const captured = await signedHeaders('GET', url, undefined, alice, clock());
    expect((await fetch(url, { headers: captured })).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const again = await fetch(url, { headers: captured });
      expect(((await again.json()) as Answer['body']).error?.code).toBe('SIGNATURE_REPLAYED');
    }
    // One slot taken by the captured request, one left: a fresh request is served, not 503.
    expect((await call('GET', path, { as: alice, base: small })).status).toBe(200);
    // And the window is really bounded: the next one finds the cache full.
    expect((await call('GET', path, { as: alice, base: small })).body.error?.code).toBe(
      'REPLAY_CACHE_FULL',
    );
  });
});

describe('an event stream ends once its caller loses the standing that opened it', () => {
  it("a delegate's audit stream ends when the delegation expires at the node's clock", async () => {
    let nodeNow = clock();
    const { base: node } = await serve({ now: () => nodeNow });
    const url = `${node}/v1/events?patient=${patientKey}`;
    const response = await fetch(url, {
      headers: await signedHeaders('GET', url, undefined, delegate, nodeNow),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = '';
    const readUntil = async (text: string) => {
      while (!received.includes(text)) {
        const { done, value } = await reader.read();
        if (done) return false;
        received += value;
      }
      return true;
    };
    const logAccess = () => {
      backend.admit(
        backend.sign(clinician, 'access.log', {
          ...accessRequest(backend, stranger, record),
          decision: 'deny',
          consentId: null,
        }),
      );
      backend.commit();
    };
    expect(await readUntil(': audit')).toBe(true);
    logAccess();
    expect(await readUntil('event: audit')).toBe(true);
    received = '';
    // The delegation (30 days) has expired by the node's clock: the next block ends the stream.
    nodeNow = backend.time + 31 * DAY;
    logAccess();
    expect(await readUntil('never')).toBe(false);
    expect(received).not.toContain('event: audit');
  });
});
