import {
  accessRequestJson,
  MedchainClient,
  requestNonce,
  sendTransaction,
  signAccessRequest,
  signRequest,
  signTransaction,
} from '@medchain/client';
import { fromHex, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  auditTrail,
  consentToFhir,
  encodeTransaction,
  recordId,
  stateKeys,
  type TxBodies,
  type TxKind,
  withConsentTransaction,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccessKey, REFUSED_AS_NOT_FOUND, ROUTE_ACCESS } from '../../src/api/authorization.js';
import type { MedchainNode } from '../../src/index.js';
import {
  CHAIN_ID,
  makeNetwork,
  type Network,
  orgAdminOf,
  orgIdOf,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * Every row of the authorization table (ROUTE_ACCESS), allowed and refused, over real HTTP on
 * 127.0.0.1 against a real committing node (one validator, auth required), with every party set
 * up through real transactions (POST /v1/tx). auth.test.ts runs the same table in more detail
 * against the ledger without consensus; this file shows the running node enforces it, and that
 * refused requests write nothing.
 *
 * Not covered here: a second organization (each genesis organization is a validator, so a
 * second one would need a second running node to commit), and a refused metrics scrape (every
 * request from here is a loopback peer; auth.test.ts checks the token path).
 */

const who = (label: string) => new Signer(sha256(utf8(`auth-rows-node:${label}`)));
const clinician = who('clinician');
const colleague = who('colleague');
const patient = who('patient');
const delegate = who('delegate');
const lapsed = who('lapsed-delegate');
const stranger = who('stranger');
const researcher = who('researcher');
const otherResearcher = who('other-researcher');
const newcomer = who('newcomer');
const batchNewcomer = who('batch-newcomer');
const forger = who('forger');
const NONE = undefined;

const orgId = orgIdOf(0);
const content = utf8(JSON.stringify({ resourceType: 'Observation', status: 'final' }));
const anchorBody = (label: string) => ({
  patient: patient.publicKey,
  custodian: orgId,
  resourceType: 'Observation',
  contentHash: sha256(content),
  nonce: sha256(utf8(label)).slice(0, 16),
});
/** Served through the fetch row; stored in the vault during setup. */
const record = recordId(orgId, patient.publicKey, anchorBody('served').nonce);
/** Stored through the putVaultRecord row. */
const spare = recordId(orgId, patient.publicKey, anchorBody('spare').nonce);
/** Erased on the ledger during setup; shredded through the eraseVaultRecord row. */
const doomed = recordId(orgId, patient.publicKey, anchorBody('doomed').nonce);
const hex = toHex;
const patientKey = hex(patient.publicKey);

let network: Network;
let node: MedchainNode;
let base: string;
let admin: Signer;
let validator: Signer;
let client: MedchainClient;
let anchorHash = '';
let consentId = '';
/** The colleague's logged (permitted) access: an audit entry for the FHIR rows. */
let auditTx = '';
/** Two research exports by `researcher`: one to read, one to delete (paths under the API). */
let exportRead = '';
let exportDeleted = '';
let lapsesAt = 0;
const nonces = new Map<string, number>();

/** Submits through POST /v1/tx (the client), returning the hash; committed later by `commit`. */
async function submit<K extends TxKind>(from: Signer, kind: K, body: TxBodies[K]) {
  const id = hex(from.publicKey);
  const nonce = (nonces.get(id) ?? 0) + 1;
  nonces.set(id, nonce);
  const sent = await sendTransaction(client, kind, body, { signer: from, nonce, wait: false });
  return sent.hash;
}

/** Waits for each transaction's receipt (read as the org admin, a member) and checks it is OK. */
async function commit(hashes: readonly string[]): Promise<void> {
  for (const hash of hashes) {
    expect((await client.waitForReceipt(hash)).receipt.code, hash).toBe('OK');
  }
}

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
}

async function call(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  as: Signer | undefined,
  body?: unknown,
): Promise<Answer> {
  const url = `${base}${path}`;
  const bytes = body === undefined ? undefined : utf8(JSON.stringify(body));
  const headers: Record<string, string> =
    bytes === undefined ? {} : { 'content-type': 'application/json' };
  if (as !== undefined) {
    Object.assign(
      headers,
      await signRequest({ method, url, ...(bytes === undefined ? {} : { body: bytes }) }, as, {
        now: Date.now(),
        nonce: requestNonce(),
      }),
    );
  }
  const controller = new AbortController();
  const response = await fetch(url, {
    method,
    headers,
    signal: controller.signal,
    ...(bytes === undefined ? {} : { body: bytes }),
  });
  let code: string | undefined;
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) {
    code = ((await response.json()) as { error?: { code: string } }).error?.code;
  } else if (type.startsWith('application/fhir+json')) {
    // The FHIR routes answer errors as OperationOutcome, the code in issue.details.
    const outcome = (await response.json()) as {
      issue?: { details?: { coding: { code: string }[] } }[];
    };
    code = outcome.issue?.[0]?.details?.coding[0]?.code;
  } else {
    // The event streams never end: the head is the answer.
    controller.abort();
    await response.body?.cancel().catch(() => undefined);
  }
  return { status: response.status, code };
}

/** A signed AccessRequest for the served record, in the API's JSON form. */
async function accessBody(requester: Signer) {
  return accessRequestJson(
    await signAccessRequest(requester, { recordId: record, action: 'access', purpose: 'TREAT' }),
  );
}

type Case = readonly [label: string, as: Signer | undefined, status: number, code?: string];

interface Row {
  readonly method?: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  /** The JSON body, built per caller (a signed access request names its requester). */
  readonly body?: (as: Signer | undefined) => unknown | Promise<unknown>;
  /** Instead of the signed-request call (the routes that authenticate their own payload). */
  readonly send?: (as: Signer | undefined) => Promise<Answer>;
  /** Who gets through: their status (never 401/403). */
  readonly allowed: readonly Case[];
  /** Who is refused: their 401/403 status and error code (404 on REFUSED_AS_NOT_FOUND routes). */
  readonly refused: readonly Case[];
}

const anyone: Case[] = [['anyone, unsigned', NONE, 200]];
const publicRow = (path: string): Row[] => [{ path, allowed: anyone, refused: [] }];
const unsigned: Case = ['unsigned', NONE, 401, 'SIGNATURE_MISSING'];
const unknownKey: Case = ['an unknown key', stranger, 401, 'KEY_UNKNOWN'];
const lapsedKey: Case = ['a lapsed delegate', lapsed, 401, 'KEY_UNKNOWN'];
const forbidden = (label: string, as: Signer): Case => [label, as, 403, 'FORBIDDEN'];
/** The refusals every signed route owes (no signature, an unknown key), then `more`. */
const unsignedOrUnknown = (...more: Case[]): Case[] => [unsigned, unknownKey, ...more];

/**
 * POST /v1/tx with a transaction signed by `from` (no request signature: the tx's own); or
 * POST /v1/txs with it alone (`batch`), whose one result's status and code stand for the answer.
 */
async function postTx<K extends TxKind>(
  from: Signer,
  kind: K,
  body: TxBodies[K],
  tamper = false,
  batch = false,
) {
  const tx = await signTransaction(from, { chainId: CHAIN_ID, kind, body, nonce: 1 });
  const signature = tamper
    ? Uint8Array.from(tx.signature, (byte, i) => (i ? byte : byte ^ 1))
    : tx.signature;
  const bytes = encodeTransaction({ ...tx, signature });
  const response = await fetch(`${base}/v1/${batch ? 'txs' : 'tx'}`, {
    method: 'POST',
    headers: { 'content-type': batch ? 'application/json' : 'application/octet-stream' },
    body: batch ? JSON.stringify({ txs: [hex(bytes)] }) : bytes,
  });
  const json = (await response.json()) as {
    error?: { code: string };
    results?: { status?: number; code?: string }[];
  };
  const result = json.results?.[0];
  if (result?.status !== undefined) return { status: result.status, code: result.code };
  return { status: response.status, code: json.error?.code };
}

/** One or more rows per key of ROUTE_ACCESS (built after setup: they name committed hashes). */
function table(): Record<AccessKey, Row[]> {
  const now = Date.now();
  /** A Consent for the patient carrying a consent.grant whose signature is all zeros. */
  const unsignedGrant = withConsentTransaction(
    consentToFhir(
      {
        id: new Uint8Array(32),
        patient: patient.publicKey,
        grantee: { type: 'provider', id: colleague.publicKey },
        recordIds: [],
        resourceTypes: ['Observation'],
        actions: ['access'],
        purposes: ['TREAT'],
        validFrom: now,
        validUntil: now + 86_400_000,
        grantedBy: patient.publicKey,
        createdAt: now,
        status: 'active',
        revokedAt: null,
        revokedBy: null,
      },
      { time: now, resourceTypeOf: () => undefined },
    ),
    { signer: patient.publicKey, nonce: 1, signature: new Uint8Array(64) },
  );
  const patientSide = (tail: string): Row[] => [
    {
      path: `/v1/patients/${patientKey}${tail}`,
      allowed: [
        ['the patient', patient, 200],
        ['a live delegate', delegate, 200],
      ],
      refused: unsignedOrUnknown(
        lapsedKey,
        forbidden('the custodian provider', clinician),
        forbidden('the org admin', admin),
      ),
    },
  ];
  const membersOnly = (path: string): Row[] => [
    {
      path,
      allowed: [
        ['the member admin', admin, 200],
        ['the validator', validator, 200],
      ],
      refused: unsignedOrUnknown(
        forbidden('a provider', clinician),
        forbidden('a patient', patient),
      ),
    },
  ];
  /** The node's own settings: its organization's admin only. */
  const nodeAdminOnly = (route: Omit<Row, 'allowed' | 'refused'>): Row[] => [
    {
      ...route,
      allowed: [["the admin of this node's organization", admin, 200]],
      refused: unsignedOrUnknown(
        forbidden("this node's validator key", validator),
        forbidden('a provider of the organization', clinician),
        forbidden('a patient', patient),
      ),
    },
  ];
  /** An export's status, files and cancel: the study that kicked it off only. */
  const studyOnly = (route: Omit<Row, 'allowed' | 'refused'>, status = 200): Row[] => [
    {
      ...route,
      allowed: [['the study that kicked it off', researcher, status]],
      refused: unsignedOrUnknown(
        forbidden('another researcher', otherResearcher),
        forbidden('the org admin', admin),
      ),
    },
  ];
  return {
    health: publicRow('/v1/health'),
    status: publicRow('/v1/status'),
    getHeader: publicRow('/v1/headers/1'),
    getGenesis: publicRow('/v1/genesis'),
    listValidatorSets: publicRow('/v1/validator-sets'),
    listOrganizations: publicRow('/v1/organizations'),
    listEvidence: publicRow('/v1/consensus/evidence'),
    metrics: [{ path: '/v1/metrics', allowed: [['a loopback peer', NONE, 200]], refused: [] }],
    getLogLevels: nodeAdminOnly({ path: '/v1/admin/log-levels' }),
    setLogLevels: nodeAdminOnly({
      method: 'POST',
      path: '/v1/admin/log-levels',
      body: () => ({ modules: { consensus: null } }),
    }),
    submitTransaction: [
      {
        path: '/v1/tx',
        send: async (as) => {
          if (as === newcomer) return postTx(newcomer, 'patient.register', {});
          if (as === forger) return postTx(forger, 'patient.register', {}, true);
          return postTx(stranger, 'provider.register', {
            provider: stranger.publicKey,
            role: 'clinician',
          });
        },
        allowed: [['a new patient registering', newcomer, 202]],
        refused: [
          ['a forged transaction signature', forger, 400, 'BAD_SIGNATURE'],
          ['a key with no admin role', stranger, 403, 'NOT_ORG_ADMIN'],
        ],
      },
    ],
    submitTransactions: [
      {
        path: '/v1/txs',
        send: async (as) => {
          if (as === batchNewcomer) return postTx(as, 'patient.register', {}, false, true);
          if (as === forger) return postTx(forger, 'patient.register', {}, true, true);
          return postTx(
            stranger,
            'provider.register',
            { provider: stranger.publicKey, role: 'clinician' },
            false,
            true,
          );
        },
        allowed: [['a new patient registering', batchNewcomer, 200]],
        refused: [
          ['a forged transaction signature', forger, 400, 'BAD_SIGNATURE'],
          ['a key with no admin role', stranger, 403, 'NOT_ORG_ADMIN'],
        ],
      },
    ],
    getTransaction: [
      {
        path: `/v1/tx/${anchorHash}`,
        allowed: [
          ['its signer', clinician, 200],
          ['the member admin', admin, 200],
          ['the validator', validator, 200],
        ],
        // Refused as unknown: the 404 a transaction this node does not know gets.
        refused: [
          unsigned,
          ['an unknown key', stranger, 404, 'TX_NOT_FOUND'],
          ['another provider', colleague, 404, 'TX_NOT_FOUND'],
          ['the patient', patient, 404, 'TX_NOT_FOUND'],
        ],
      },
    ],
    getLatestBlock: membersOnly('/v1/blocks/latest'),
    getBlock: membersOnly('/v1/blocks/1'),
    getPatient: patientSide(''),
    listConsents: patientSide('/consents'),
    listAudit: patientSide('/audit'),
    getAuditInclusion: patientSide('/audit/0/inclusion'),
    listPatientRecords: patientSide('/records'),
    getDelegate: [
      {
        path: `/v1/patients/${patientKey}/delegates/${hex(delegate.publicKey)}`,
        allowed: [
          ['the patient', patient, 200],
          ['the delegate itself', delegate, 200],
        ],
        refused: unsignedOrUnknown(lapsedKey, forbidden('a provider', clinician)),
      },
    ],
    getConsent: [
      {
        path: `/v1/consents/${consentId}`,
        allowed: [
          ['the patient', patient, 200],
          ['a live delegate', delegate, 200],
          ['the grantee provider', colleague, 200],
        ],
        refused: unsignedOrUnknown(
          forbidden('another provider', clinician),
          forbidden('the org admin (the consent names the provider)', admin),
        ),
      },
    ],
    getRecord: [
      {
        path: `/v1/records/${hex(record)}`,
        allowed: [
          ['the patient', patient, 200],
          ['a live delegate', delegate, 200],
          ['a custodian provider', colleague, 200],
          ['the custodian admin', admin, 200],
        ],
        refused: unsignedOrUnknown(forbidden('the validator key', validator)),
      },
    ],
    fetchRecord: [
      {
        method: 'POST',
        path: `/v1/records/${hex(record)}/fetch`,
        send: async (as) =>
          call('POST', `/v1/records/${hex(record)}/fetch`, NONE, await accessBody(as ?? stranger)),
        allowed: [['the patient', patient, 200]],
        refused: [
          ['a key with no role', stranger, 403, 'REQUESTER_NO_ROLE'],
          ['a lapsed delegate', lapsed, 403, 'REQUESTER_NO_ROLE'],
        ],
      },
    ],
    accessDecision: [
      {
        method: 'POST',
        path: '/v1/access/decision',
        body: () => accessBody(colleague),
        allowed: [
          ['the custodian admin', admin, 200],
          ['a custodian provider', clinician, 200],
        ],
        refused: unsignedOrUnknown(
          forbidden('the patient', patient),
          forbidden('a live delegate', delegate),
          forbidden('the validator key', validator),
        ),
      },
    ],
    putVaultRecord: [
      {
        method: 'POST',
        path: '/v1/vault/records',
        body: () => ({
          recordId: hex(spare),
          patient: patientKey,
          version: 1,
          content: hex(content),
        }),
        allowed: [['the anchoring provider', clinician, 201]],
        refused: unsignedOrUnknown(
          forbidden('the org admin', admin),
          forbidden('the patient', patient),
          ['a provider who did not anchor it', colleague, 403, 'VAULT_NOT_ANCHORED_BY_SIGNER'],
        ),
      },
    ],
    eraseVaultRecord: [
      {
        method: 'POST',
        path: `/v1/vault/records/${hex(doomed)}/erase`,
        body: () => ({}),
        allowed: [
          ['the own org admin', admin, 200],
          ['an own org provider', colleague, 200],
        ],
        refused: unsignedOrUnknown(
          forbidden('the patient', patient),
          forbidden('the validator key', validator),
        ),
      },
    ],
    getOrganization: [
      {
        path: `/v1/organizations/${hex(orgId)}`,
        allowed: [
          ['its provider', clinician, 200],
          ['its admin', admin, 200],
          ['the validator', validator, 200],
        ],
        refused: unsignedOrUnknown(forbidden('a patient', patient)),
      },
    ],
    getProvider: [
      {
        path: `/v1/providers/${hex(clinician.publicKey)}`,
        allowed: [
          ['a patient', patient, 200],
          ['a provider', colleague, 200],
          ['a member admin', admin, 200],
          ['the validator', validator, 200],
        ],
        // Any registered key passes: no 403 exists for this route.
        refused: unsignedOrUnknown(lapsedKey),
      },
    ],
    listProviderConsents: [
      {
        path: `/v1/providers/${hex(colleague.publicKey)}/consents?patient=${patientKey}`,
        allowed: [
          ['the provider itself', colleague, 200],
          ["its organization's admin", admin, 200],
        ],
        refused: unsignedOrUnknown(
          forbidden('another provider', clinician),
          forbidden('the patient', patient),
        ),
      },
    ],
    getStateProof: [
      {
        path: `/v1/state/proof?key=${hex(stateKeys.members())}`,
        allowed: anyone,
        refused: [],
      },
      {
        path: `/v1/state/proof?key=${hex(stateKeys.patient(patient.publicKey))}`,
        allowed: [
          ['the patient', patient, 200],
          ['a live delegate', delegate, 200],
        ],
        refused: unsignedOrUnknown(forbidden('a provider', clinician)),
      },
      {
        path: `/v1/state/proof?key=${hex(stateKeys.nonce(clinician.publicKey))}`,
        allowed: [
          ['its owner', clinician, 200],
          ['the member admin', admin, 200],
        ],
        refused: [forbidden('a patient', patient)],
      },
    ],
    events: [
      {
        path: '/v1/events',
        allowed: [
          ['the member admin', admin, 200],
          ['the validator', validator, 200],
        ],
        refused: unsignedOrUnknown(forbidden('a patient', patient)),
      },
    ],
    patientEvents: [
      {
        path: `/v1/events?patient=${patientKey}`,
        allowed: [
          ['the patient', patient, 200],
          ['a live delegate', delegate, 200],
        ],
        refused: unsignedOrUnknown(lapsedKey, forbidden('a provider', clinician)),
      },
    ],
    fhirMetadata: publicRow('/fhir/r4/metadata'),
    fhirSearchConsent: [
      ...patientSide('').map((row) => ({ ...row, path: `/fhir/r4/Consent?patient=${patientKey}` })),
      {
        path: `/fhir/r4/Consent?patient=${patientKey}&actor=Practitioner/${hex(colleague.publicKey)}`,
        allowed: [['the grantee the actor names', colleague, 200]],
        refused: unsignedOrUnknown(forbidden('another provider', clinician)),
      },
    ],
    fhirReadConsent: [
      {
        path: `/fhir/r4/Consent/${consentId}`,
        allowed: [
          ['the patient', patient, 200],
          ['a live delegate', delegate, 200],
          ['the grantee provider', colleague, 200],
        ],
        refused: unsignedOrUnknown(
          lapsedKey,
          forbidden('another provider', clinician),
          forbidden('the org admin (the consent names the provider)', admin),
        ),
      },
    ],
    fhirSearchAuditEvent: [
      ...patientSide('').map((row) => ({
        ...row,
        path: `/fhir/r4/AuditEvent?patient=${patientKey}`,
      })),
      {
        path: `/fhir/r4/AuditEvent?patient=${patientKey}&agent=Practitioner/${hex(colleague.publicKey)}`,
        allowed: [['the requester the agent names', colleague, 200]],
        refused: unsignedOrUnknown(forbidden('another provider', clinician)),
      },
    ],
    fhirReadAuditEvent: [
      {
        path: `/fhir/r4/AuditEvent/${auditTx}`,
        allowed: [
          ['the patient', patient, 200],
          ['a live delegate', delegate, 200],
          ['the requester it logs', colleague, 200],
        ],
        refused: unsignedOrUnknown(
          lapsedKey,
          forbidden('the custodian provider', clinician),
          forbidden('the org admin', admin),
        ),
      },
    ],
    fhirReadProvenance: [
      {
        path: `/fhir/r4/Provenance/${auditTx}`,
        allowed: [
          ['the patient', patient, 200],
          ['the requester the audit entry logs', colleague, 200],
        ],
        refused: unsignedOrUnknown(lapsedKey, forbidden('the custodian provider', clinician)),
      },
      {
        path: `/fhir/r4/Provenance/${consentId}`,
        allowed: [
          ['a live delegate', delegate, 200],
          ['the grantee of the consent', colleague, 200],
        ],
        refused: [forbidden('another provider', clinician)],
      },
    ],
    fhirCreateConsent: [
      {
        method: 'POST',
        path: '/fhir/r4/Consent',
        // Past the guard, a grant nobody signed is the handler's 400 BAD_SIGNATURE: nothing is submitted.
        body: () => unsignedGrant,
        allowed: [
          ['the patient', patient, 400],
          ['a live delegate', delegate, 400],
        ],
        refused: unsignedOrUnknown(
          lapsedKey,
          forbidden('the custodian provider', clinician),
          forbidden('the org admin', admin),
        ),
      },
    ],
    fhirExportKickOff: [
      {
        path: '/fhir/r4/$export',
        // Past the guard, a kick-off without Prefer: respond-async is the handler's 400.
        allowed: [
          ['a researcher', researcher, 400],
          ['another researcher', otherResearcher, 400],
        ],
        refused: unsignedOrUnknown(
          forbidden('a clinician', clinician),
          forbidden('a patient', patient),
          forbidden('the org admin', admin),
        ),
      },
    ],
    fhirExportStatus: studyOnly({ path: exportRead }),
    fhirExportFile: studyOnly({
      path: `${exportRead.replace('/bulkstatus/', '/bulkfiles/')}/errors.ndjson`,
    }),
    fhirExportCancel: studyOnly({ method: 'DELETE', path: exportDeleted }, 202),
  };
}

const KEYS = Object.keys(ROUTE_ACCESS) as AccessKey[];
let rows: Record<AccessKey, Row[]>;
let auditBefore = 0;
const audit = () => auditTrail(node.parts.backend.history(), patient.publicKey).total;

beforeAll(async () => {
  network = await makeNetwork({ validators: 1 });
  admin = orgAdminOf(network, 0);
  validator = network.homes[0]!.validator;
  node = await startNode(network.homes[0]!);
  base = node.parts.apiUrl;
  client = new MedchainClient({ url: base, signer: admin });
  // Each round's transactions go into one or two blocks.
  await commit([
    await submit(admin, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }),
    await submit(admin, 'provider.register', { provider: colleague.publicKey, role: 'clinician' }),
    await submit(admin, 'provider.register', {
      provider: researcher.publicKey,
      role: 'researcher',
    }),
    await submit(admin, 'provider.register', {
      provider: otherResearcher.publicKey,
      role: 'researcher',
    }),
    await submit(patient, 'patient.register', {}),
  ]);
  lapsesAt = Date.now() + 3_000;
  const grant = await submit(patient, 'consent.grant', {
    patient: patient.publicKey,
    grantee: { type: 'provider', id: colleague.publicKey },
    recordIds: [],
    resourceTypes: ['Observation'],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: Date.now() - 60_000,
    validUntil: Date.now() + 86_400_000,
  });
  anchorHash = await submit(clinician, 'record.anchor', anchorBody('served'));
  await commit([
    anchorHash,
    grant,
    await submit(patient, 'patient.delegate', {
      patient: patient.publicKey,
      delegate: delegate.publicKey,
      relation: 'proxy',
      expiresAt: Date.now() + 86_400_000,
    }),
    await submit(patient, 'patient.delegate', {
      patient: patient.publicKey,
      delegate: lapsed.publicKey,
      relation: 'proxy',
      expiresAt: lapsesAt,
    }),
    await submit(clinician, 'record.anchor', anchorBody('spare')),
    await submit(clinician, 'record.anchor', anchorBody('doomed')),
  ]);
  consentId = grant;
  const asked = await signAccessRequest(colleague, {
    recordId: record,
    action: 'access',
    purpose: 'TREAT',
  });
  auditTx = await submit(clinician, 'access.log', {
    request: asked.request,
    requestSignature: asked.signature,
    decision: 'permit',
    consentId: fromHex(grant),
  });
  await commit([auditTx, await submit(clinician, 'record.erase', { recordId: doomed })]);
  // The served record's bytes, through the same vault route the table row exercises.
  const stored = await call('POST', '/v1/vault/records', clinician, {
    recordId: hex(record),
    patient: patientKey,
    version: 1,
    content: hex(content),
  });
  expect(stored.status).toBe(201);
  await waitUntil('the short delegation lapses', () => Date.now() > lapsesAt + 200, {
    intervalMs: 50,
  });
  // Two research exports (nobody consented: each completes at once, with no patient in it).
  const kickOff = async () => {
    const url = `${base}/fhir/r4/$export`;
    const signed = await signRequest({ method: 'GET', url }, researcher, {
      now: Date.now(),
      nonce: requestNonce(),
    });
    const answer = await fetch(url, { headers: { prefer: 'respond-async', ...signed } });
    expect(answer.status).toBe(202);
    const path = new URL(answer.headers.get('content-location')!).pathname;
    const id = path.split('/').at(-1)!;
    await waitUntil('the export', () => node.parts.researchExports.get(id)?.status === 'complete');
    return path;
  };
  exportRead = await kickOff();
  exportDeleted = await kickOff();
  rows = table();
  auditBefore = audit();
}, 30_000);

afterAll(async () => {
  await node?.stop();
  await network?.remove();
});

describe('the authorization table, row by row, on a real node over real HTTP', () => {
  it('has rows for exactly the keys of ROUTE_ACCESS, with the refusals each policy implies', () => {
    expect(Object.keys(rows).sort()).toEqual([...KEYS].sort());
    for (const key of KEYS) {
      const policy = ROUTE_ACCESS[key];
      const cases = rows[key];
      expect(cases.length, key).toBeGreaterThan(0);
      expect(cases.flatMap((row) => row.allowed).length, key).toBeGreaterThan(0);
      if (policy.kind !== 'signed') continue;
      const codes = new Set(cases.flatMap((row) => row.refused.map((refusal) => refusal[3])));
      expect(codes.has('SIGNATURE_MISSING'), key).toBe(true);
      if (REFUSED_AS_NOT_FOUND.has(key)) {
        // Neither 401 KEY_UNKNOWN nor 403 FORBIDDEN: every refused key gets the route's 404.
        const others = [...codes].filter((code) => code !== 'SIGNATURE_MISSING');
        expect(others.length === 1 && others[0]!.endsWith('_NOT_FOUND'), key).toBe(true);
        continue;
      }
      expect(codes.has('KEY_UNKNOWN'), key).toBe(true);
      // A route open to every registered key has no key to refuse with 403.
      if (!(policy.allow as readonly string[]).includes('registered')) {
        expect(codes.has('FORBIDDEN'), key).toBe(true);
      }
    }
  });

  for (const key of KEYS) {
    it(`${key}: the refused standings get 401/403, the allowed ones get through`, async () => {
      for (const row of rows[key]) {
        const method = row.method ?? 'GET';
        const send =
          row.send ??
          (async (as: Signer | undefined) =>
            call(method, row.path, as, row.body === undefined ? undefined : await row.body(as)));
        // Refusals first: an allowed write (a vault put, an erase) must not change their answer.
        for (const [label, as, status, code] of row.refused) {
          expect(await send(as), `${row.path}: ${label}`).toEqual({ status, code });
        }
        for (const [label, as, status] of row.allowed) {
          const answer = await send(as);
          expect(answer.status, `${row.path}: ${label} (${answer.code})`).toBe(status);
        }
      }
    });
  }

  it('the refused requests wrote nothing; the chain kept committing', async () => {
    // The allowed writes (a registration, the served fetch's access.log) commit; nothing else waits.
    await waitUntil('the mempool drains', () => node.parts.mempool.size === 0);
    const height = node.parts.chain.height;
    await commit([await submit(who('filler'), 'patient.register', {})]);
    expect(node.parts.chain.height).toBeGreaterThan(height);
    expect(node.parts.mempool.size).toBe(0);
    // One audit entry: the patient's served fetch; the stranger's request and the decisions none.
    expect(audit()).toBe(auditBefore + 1);
    // The stranger's provider.register never landed: it still has no nonce, and is still unknown.
    for (const refused of [stranger, forger]) {
      expect((await client.stateProof(stateKeys.nonce(refused.publicKey))).value).toBeNull();
    }
    expect(await call('GET', '/v1/organizations', stranger)).toMatchObject({ status: 200 });
    expect(await call('GET', `/v1/providers/${hex(clinician.publicKey)}`, stranger)).toEqual({
      status: 401,
      code: 'KEY_UNKNOWN',
    });
    // The erase row shredded the record the ledger erased.
    expect(await node.parts.vault.isErased(doomed)).toBe(true);
  });
});
