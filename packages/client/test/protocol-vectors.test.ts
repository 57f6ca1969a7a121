/**
 * The test vectors of docs/PROTOCOL.md, recomputed from the code. Every `json vector=<name>`
 * block in the document and docs/vectors/protocol.json must equal what the code produces now,
 * so the document cannot drift from the implementation. After a deliberate protocol change:
 * `UPDATE_VECTORS=1 npx vitest run packages/client/test/protocol-vectors.test.ts`, then
 * `npx biome check --write docs/vectors/protocol.json`, and review the diff.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type CommitCertificate,
  commitCertificateSigningHash,
  primaryIndex,
  quorumSize,
  verifyCommitCertificate,
  voteSigningHash,
} from '@medchain/consensus';
import {
  type Canonical,
  encodeCanonical,
  HashDomain,
  keyPairFromSeed,
  merkleLeafHash,
  Signer,
  sha256,
  taggedHash,
  toHex,
  utf8,
  verify,
} from '@medchain/crypto';
import {
  AUDIT_CHAIN_START,
  type AuditEntry,
  AuthenticatedState,
  accessRequestDigest,
  auditChainStep,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  decodeStateProof,
  encodeHeader,
  encodeServedRecord,
  encodeStateProof,
  encodeTransaction,
  type GenesisDocument,
  genesisHash,
  genesisToJson,
  headerHash,
  initGenesisState,
  isCompleteAuditTrail,
  MemoryStore,
  recordCommitment,
  recordId,
  type StateProof,
  signingDigest,
  signTransaction,
  stateKeyHash,
  stateKeys,
  type Transaction,
  transactionHash,
  type UnsignedTransaction,
  validatorSetHash,
  verifyStateProof,
  verifyTransactionSignature,
} from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { toDidKey } from '../src/did-key.js';
import { signatureBase, signRequest, verifyRequestSignature } from '../src/http-signature.js';
import { valueToJson } from '../src/json.js';

const DOC = new URL('../../../docs/PROTOCOL.md', import.meta.url);
const JSON_FILE = new URL('../../../docs/vectors/protocol.json', import.meta.url);
const CRYPTO_README = new URL('../../crypto/README.md', import.meta.url);
const PYTHON_CHECK = new URL('../../../docs/vectors/check.py', import.meta.url);
const UPDATE = process.env.UPDATE_VECTORS === '1';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The API's JSON mapping: bytes as lowercase hex, bigints as decimal strings. */
function json(value: unknown): Json {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(json);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)]));
  }
  return value as Json;
}

const hex = (bytes: Uint8Array) => toHex(bytes);
/** Fixed, reproducible seeds: SHA-256 of a label. */
const seedOf = (label: string) => sha256(utf8(`medchain protocol vector: ${label}`));

const CHAIN_ID = 'medchain-vectors';
const TIME = 1_800_000_000_000;

// --- the cast: four member organizations, a patient and a clinician -------------------

const ORGS = ['a', 'b', 'c', 'd'].map((name) => {
  const adminSeed = seedOf(`org-${name} admin`);
  const validatorSeed = seedOf(`org-${name} validator`);
  return {
    id: seedOf(`org-${name} id`),
    adminSeed,
    validatorSeed,
    adminKey: keyPairFromSeed(adminSeed).publicKey,
    validatorKey: keyPairFromSeed(validatorSeed).publicKey,
    peerId: `12D3KooWVectorPeer${name.toUpperCase()}${'1'.repeat(34)}`,
  };
});
const PATIENT_SEED = seedOf('patient');
const patient = new Signer(PATIENT_SEED);
const CLINICIAN_SEED = seedOf('clinician');
const clinician = new Signer(CLINICIAN_SEED);

const GENESIS: GenesisDocument = {
  chainId: CHAIN_ID,
  genesisTime: TIME - 60_000,
  organizations: ORGS.map((org) => ({
    id: org.id,
    adminKeys: [org.adminKey],
    validatorKey: org.validatorKey,
    peerId: org.peerId,
  })),
  params: DEFAULT_LEDGER_PARAMS,
  consensus: {},
};
const genesisState = new AuthenticatedState(new MemoryStore());
const genesis = initGenesisState(genesisState, GENESIS);
const validators = genesis.validators;

// --- vectors -----------------------------------------------------------------------------

function taggedHashVector(): Json {
  const data = utf8('abc');
  const tag = utf8(HashDomain.Transaction);
  const preimage = new Uint8Array([tag.length, ...tag, ...data]);
  const hash = taggedHash('Transaction', data);
  expect(hash).toEqual(sha256(preimage));
  return {
    domain: 'Transaction',
    tag: HashDomain.Transaction,
    data: hex(data),
    preimage: hex(preimage),
    hash: hex(hash),
  };
}

function canonicalVector(): Json {
  const key = keyPairFromSeed(seedOf('canonical')).publicKey;
  const cases: [string, Canonical][] = [
    ['0', 0],
    ['127', 127],
    ['128', 128],
    ['65535', 65535],
    ['4294967295 (2^32 - 1)', 4294967295],
    ['4294967296 (2^32): int64, not uint', 4294967296],
    ['1800000000000 (a time in ms): int64', 1800000000000],
    ['256', 256],
    ['65536', 65536],
    ['-1', -1],
    ['-32', -32],
    ['-33', -33],
    ['-129', -129],
    ['-32769', -32769],
    ['-2147483648 (-2^31)', -2147483648],
    ['-2147483649: int64', -2147483649],
    ['9223372036854775808 (2^63): uint64', 2n ** 63n],
    ['true', true],
    ['null', null],
    ['"TREAT"', 'TREAT'],
    ['"é" (UTF-8 c3 a9)', 'é'],
    ['"medchain-vectors/" + 23 × "x" (40 bytes: str8)', `medchain-vectors/${'x'.repeat(23)}`],
    ['bin 0102', new Uint8Array([1, 2])],
    ['bin, a 32-byte key', key],
    ['[]', []],
    ['["a", 1]', ['a', 1]],
    ['{}', {}],
    ['{"b": 1, "a": 2} (keys sorted)', { b: 1, a: 2 }],
    ['{"nonce": 1, "kind": "patient.register"}', { nonce: 1, kind: 'patient.register' }],
    [
      '{"k00": 0, ..., "k15": 15} (16 entries: map16)',
      Object.fromEntries(
        Array.from({ length: 16 }, (_, i) => [`k${String(i).padStart(2, '0')}`, i]),
      ),
    ],
  ];
  return cases.map(([value, canonical]) => ({ value, hex: hex(encodeCanonical(canonical)) }));
}

function txVector(tx: Transaction, seed: Uint8Array): Json {
  const unsigned: UnsignedTransaction = {
    chainId: tx.chainId,
    kind: tx.kind,
    body: tx.body,
    signer: tx.signer,
    nonce: tx.nonce,
  };
  const unsignedBytes = encodeCanonical({ ...unsigned });
  const digest = signingDigest(unsigned);
  expect(digest).toEqual(taggedHash('Transaction', unsignedBytes));
  expect(verifyTransactionSignature(tx)).toBe(true);
  const bytes = encodeTransaction(tx);
  return {
    seed: hex(seed),
    publicKey: hex(tx.signer),
    fields: json({ ...unsigned }),
    unsignedCanonical: hex(unsignedBytes),
    signingDigest: hex(digest),
    signature: hex(tx.signature),
    signedCanonical: hex(bytes),
    hash: hex(transactionHash(tx)),
    submit: { tx: hex(bytes) },
  };
}

const RECORD_NONCE = seedOf('record nonce').slice(0, 16);
const RECORD_ID = recordId(ORGS[0]!.id, patient.publicKey, RECORD_NONCE);

const tx1 = signTransaction(
  { chainId: CHAIN_ID, kind: 'patient.register', body: {}, signer: patient.publicKey, nonce: 1 },
  patient,
);
const tx2 = signTransaction(
  {
    chainId: CHAIN_ID,
    kind: 'consent.grant',
    body: {
      patient: patient.publicKey,
      grantee: { type: 'provider', id: clinician.publicKey },
      recordIds: [RECORD_ID],
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: TIME,
      validUntil: TIME + 3_600_000,
    },
    signer: patient.publicKey,
    nonce: 2,
  },
  patient,
);

// Organization a's admin moves its node to a new validator key (not in block 1: the header
// vectors stay as they are).
const orgA = new Signer(ORGS[0]!.adminSeed);
const txRotate = signTransaction(
  {
    chainId: CHAIN_ID,
    kind: 'organization.rotate-key',
    body: {
      oldKey: ORGS[0]!.validatorKey,
      newKey: keyPairFromSeed(seedOf('org-a validator 2')).publicKey,
    },
    signer: orgA.publicKey,
    nonce: 1,
  },
  orgA,
);

const proposer = validators[primaryIndex(1, 0, validators.length)]!.publicKey;
const block1 = buildBlock(
  {
    chainId: CHAIN_ID,
    height: 1,
    time: TIME,
    parentHash: genesis.hash,
    stateRoot: genesis.stateRoot,
    validatorSetHash: genesis.validatorSetHash,
    proposer,
  },
  [tx1, tx2],
);
const header1 = block1.header;

function genesisVector(): Json {
  const canonical = encodeCanonical(genesisToJsonCanonical());
  expect(taggedHash('BlockHeader', canonical)).toEqual(genesisHash(GENESIS));
  return {
    document: genesisToJson(GENESIS) as Json,
    canonical: hex(canonical),
    hash: hex(genesis.hash),
    stateRoot: hex(genesis.stateRoot),
  };
}

/** The genesis document as the canonical value genesisHash encodes (bytes, not hex). */
function genesisToJsonCanonical(): Canonical {
  return {
    chainId: GENESIS.chainId,
    genesisTime: GENESIS.genesisTime,
    organizations: GENESIS.organizations.map((org) => ({
      id: org.id,
      adminKeys: [...org.adminKeys],
      validatorKey: org.validatorKey,
      peerId: org.peerId,
    })),
    params: { ...GENESIS.params },
    consensus: { ...GENESIS.consensus },
  };
}

function validatorSetVector(): Json {
  const list = validators.map((v) => ({
    orgId: v.orgId,
    publicKey: v.publicKey,
    peerId: v.peerId,
  }));
  const canonical = encodeCanonical(list);
  expect(taggedHash('ValidatorSet', canonical)).toEqual(validatorSetHash(validators));
  return {
    validators: json(list),
    canonical: hex(canonical),
    hash: hex(validatorSetHash(validators)),
  };
}

function headerVector(): Json {
  const txHashes = block1.txs.map(transactionHash);
  return {
    header: json(header1),
    txHashes: txHashes.map(hex),
    merkleLeafHashes: txHashes.map((h) => hex(merkleLeafHash(h))),
    canonical: hex(encodeHeader(header1)),
    hash: hex(headerHash(header1)),
  };
}

function certificateVector(): Json {
  const digest = headerHash(header1);
  const signingMap = { chain: CHAIN_ID, type: 'commit', height: 1, view: 0, digest };
  const signingHash = voteSigningHash(CHAIN_ID, 'commit', 1, 0, digest);
  expect(signingHash).toEqual(taggedHash('ConsensusMessage', encodeCanonical(signingMap)));
  const quorum = quorumSize(validators.length);
  const seeds = new Map(ORGS.map((org) => [hex(org.validatorKey), org.validatorSeed]));
  const voters = validators.slice(0, quorum);
  const certificate: CommitCertificate = {
    height: 1,
    view: 0,
    digest,
    votes: voters.map((v) => ({
      from: v.publicKey,
      signature: new Signer(seeds.get(hex(v.publicKey))!).sign(signingHash),
    })),
  };
  const keys = validators.map((v) => v.publicKey);
  expect(commitCertificateSigningHash(CHAIN_ID, certificate)).toEqual(signingHash);
  expect(verifyCommitCertificate(CHAIN_ID, certificate, keys, { verify })).toBe(true);
  const short = { ...certificate, votes: certificate.votes.slice(1) };
  expect(verifyCommitCertificate(CHAIN_ID, short, keys, { verify })).toBe(false);
  return {
    validatorSetHash: hex(genesis.validatorSetHash),
    validatorKeys: keys.map(hex),
    quorum,
    voteSigningMap: json(signingMap),
    voteSigningCanonical: hex(encodeCanonical(signingMap)),
    voteSigningHash: hex(signingHash),
    certificate: json(certificate),
  };
}

function proofVector(key: Uint8Array, what: string): Json {
  const proof = genesisState.prove(key, genesis.stateRoot);
  const value = genesisState.getCommitted(key, genesis.stateRoot);
  const encoded = encodeStateProof(proof);
  expect(verifyStateProof(genesis.stateRoot, key, value, decodeStateProof(encoded))).toBe(true);
  // The same proof must not prove the other answer.
  const other = value === undefined ? utf8('x') : undefined;
  expect(verifyStateProof(genesis.stateRoot, key, other, proof)).toBe(false);
  return {
    what,
    stateRoot: hex(genesis.stateRoot),
    key: hex(key),
    keyHash: hex(stateKeyHash(key)),
    value: value === undefined ? null : hex(value),
    valueHash: value === undefined ? null : hex(sha256(value)),
    proof: hex(encoded),
    decoded: json(proofFields(proof)),
  };
}

function proofFields(proof: StateProof): Record<string, unknown> {
  return {
    depth: proof.depth,
    bitmap: proof.bitmap,
    siblings: proof.siblings,
    ...(proof.leaf === undefined ? {} : { leaf: proof.leaf }),
  };
}

/** An absent key whose non-inclusion proof ends at another key's leaf (`leaf`) or not. */
function absentKey(endsAtLeaf: boolean): Uint8Array {
  for (let i = 0; ; i++) {
    const key = stateKeys.patient(keyPairFromSeed(seedOf(`absent ${i}`)).publicKey);
    if (genesisState.getCommitted(key, genesis.stateRoot) !== undefined) continue;
    const proof = genesisState.prove(key, genesis.stateRoot);
    if ((proof.leaf !== undefined) === endsAtLeaf) return key;
  }
}

function stateKeysVector(): Json {
  const org = ORGS[0]!.id;
  const examples: [string, Uint8Array][] = [
    ['chain', stateKeys.chain()],
    ['members', stateKeys.members()],
    ['nonce(patient)', stateKeys.nonce(patient.publicKey)],
    ['org(orgA)', stateKeys.organization(org)],
    ['patient(patient)', stateKeys.patient(patient.publicKey)],
    ['audit-acc(patient)', stateKeys.auditAccumulator(patient.publicKey)],
    [
      'grantee-consents(patient, provider, clinician)',
      stateKeys.granteeConsents(patient.publicKey, 'provider', clinician.publicKey),
    ],
  ];
  return {
    patient: hex(patient.publicKey),
    clinician: hex(clinician.publicKey),
    orgA: hex(org),
    keys: examples.map(([name, key]) => ({ name, key: hex(key) })),
  };
}

function idsVector(): Json {
  return {
    recordId: {
      custodian: hex(ORGS[0]!.id),
      patient: hex(patient.publicKey),
      nonce: hex(RECORD_NONCE),
      id: hex(RECORD_ID),
    },
    consentId: hex(transactionHash(tx2)),
    didKey: [patient.publicKey, clinician.publicKey].map((key) => ({
      key: hex(key),
      did: toDidKey(key),
    })),
  };
}

const ACCESS_REQUEST = {
  recordId: RECORD_ID,
  requester: clinician.publicKey,
  action: 'access' as const,
  purpose: 'TREAT' as const,
  time: TIME + 60_000,
  nonce: seedOf('access nonce').slice(0, 16),
};

function accessRequestVector(): Json {
  const digest = accessRequestDigest(ACCESS_REQUEST);
  const canonical = encodeCanonical({ ...ACCESS_REQUEST });
  expect(digest).toEqual(taggedHash('AccessRequest', canonical));
  return {
    seed: hex(CLINICIAN_SEED),
    request: json(ACCESS_REQUEST),
    canonical: hex(canonical),
    digest: hex(digest),
    signature: hex(clinician.sign(digest)),
  };
}

/** Two audit entries (an access, a research release) and the accumulator's running hash. */
function auditChainVector(): Json {
  const record = recordId(ORGS[0]!.id, patient.publicKey, seedOf('audit record').slice(0, 16));
  const common = {
    patient: patient.publicKey,
    recordId: record,
    custodian: ORGS[0]!.id,
    consentId: seedOf('audit consent'),
    denyReason: null,
    emergency: false,
    emergencyReason: null,
  };
  const entries: AuditEntry[] = [
    {
      ...common,
      index: 0,
      requester: clinician.publicKey,
      action: 'access',
      purpose: 'TREAT',
      decision: 'permit',
      time: TIME + 1_000,
      txHash: seedOf('audit tx 0'),
      requestHash: seedOf('audit request 0'),
    },
    {
      ...common,
      index: 1,
      recordIds: [record, seedOf('audit record 2')],
      requester: seedOf('audit study'),
      action: 'disclose',
      purpose: 'HRESCH',
      decision: 'permit',
      time: TIME + 2_000,
      txHash: seedOf('audit tx 1'),
      requestHash: seedOf('audit request 1'),
    },
  ];
  const hashes: Uint8Array[] = [];
  for (const entry of entries)
    hashes.push(auditChainStep(hashes.at(-1) ?? AUDIT_CHAIN_START, entry));
  const accumulator = { count: entries.length, hash: hashes.at(-1)! };
  expect(isCompleteAuditTrail(entries, accumulator)).toBe(true);
  expect(isCompleteAuditTrail(entries.slice(1), accumulator)).toBe(false);
  return {
    entries: entries.map(valueToJson) as Json[],
    canonical: entries.map((entry) => hex(encodeCanonical(entry as unknown as Canonical))),
    start: hex(AUDIT_CHAIN_START),
    hashes: hashes.map(hex),
    accumulator: hex(encodeCanonical(accumulator)),
  };
}

function recordCommitmentVector(): Json {
  const salt = seedOf('record salt');
  const content = utf8('{"resourceType":"Observation","status":"final"}');
  const commitment = recordCommitment(salt, content);
  const tag = utf8(HashDomain.RecordContent);
  expect(commitment).toEqual(sha256(new Uint8Array([tag.length, ...tag, ...salt, ...content])));
  return {
    salt: hex(salt),
    content: hex(content),
    commitment: hex(commitment),
    unsaltedAnchor: hex(sha256(content)),
    payload: hex(encodeServedRecord({ content, salt })),
    unsaltedPayload: hex(encodeServedRecord({ content })),
  };
}

const NODE = 'https://hospital-a.example:8443';

async function requestVector(method: string, path: string, body?: string): Promise<Json> {
  const url = `${NODE}${path}`;
  const now = TIME + 5_000;
  const nonce = 'vector-nonce-0001';
  const bytes = body === undefined ? undefined : utf8(body);
  const headers = await signRequest(
    { method, url, ...(bytes === undefined ? {} : { body: bytes }) },
    clinician,
    { now, nonce },
  );
  const parsed = new URL(url);
  const received = {
    method,
    authority: parsed.host,
    path: parsed.pathname,
    query: parsed.search.slice(1),
    headers,
    ...(bytes === undefined ? {} : { body: bytes }),
  };
  expect(verifyRequestSignature(received, { now })).toMatchObject({ nonce });
  const created = Math.floor(now / 1000);
  const components = ['@method', '@authority', '@path', '@query'];
  if (bytes !== undefined) components.push('content-digest');
  const base = signatureBase(
    [
      components.map((c) => [c, new Map()]),
      new Map<string, string | number>([
        ['created', created],
        ['expires', created + 60],
        ['nonce', nonce],
        ['keyid', hex(clinician.publicKey)],
        ['alg', 'ed25519'],
        ['tag', 'medchain-v1'],
      ]),
    ],
    (c) =>
      ({
        '@method': method,
        '@authority': parsed.host,
        '@path': parsed.pathname,
        '@query': `?${parsed.search.slice(1)}`,
        'content-digest': headers['content-digest'],
      })[c],
  );
  const signature = clinician.sign(utf8(base));
  expect(headers.signature).toBe(`medchain=:${Buffer.from(signature).toString('base64')}:`);
  return {
    seed: hex(CLINICIAN_SEED),
    keyid: hex(clinician.publicKey),
    now,
    nonce,
    method,
    url,
    body: body ?? null,
    headers: json(headers),
    signatureBase: base.split('\n'),
  };
}

async function allVectors(): Promise<Record<string, Json>> {
  const vaultBody = JSON.stringify({
    recordId: hex(RECORD_ID),
    patient: hex(patient.publicKey),
    version: 1,
    content: hex(utf8('{"resourceType":"Observation","status":"final"}')),
  });
  return {
    'tagged-hash': taggedHashVector(),
    canonical: canonicalVector(),
    'tx-patient-register': txVector(tx1, PATIENT_SEED),
    'tx-consent-grant': txVector(tx2, PATIENT_SEED),
    'tx-rotate-key': txVector(txRotate, ORGS[0]!.adminSeed),
    ids: idsVector(),
    genesis: genesisVector(),
    'validator-set': validatorSetVector(),
    header: headerVector(),
    certificate: certificateVector(),
    'state-keys': stateKeysVector(),
    'proof-inclusion': proofVector(stateKeys.organization(ORGS[0]!.id), 'org(orgA) is present'),
    'proof-absent-empty': proofVector(
      absentKey(false),
      'absent: the walk ends at an empty subtree',
    ),
    'proof-absent-leaf': proofVector(
      absentKey(true),
      "absent: the walk ends at another key's leaf",
    ),
    'access-request': accessRequestVector(),
    'record-commitment': recordCommitmentVector(),
    'audit-chain': auditChainVector(),
    'request-get': await requestVector(
      'GET',
      `/v1/patients/${hex(patient.publicKey)}/consents?limit=10&offset=0`,
    ),
    'request-post': await requestVector('POST', '/v1/vault/records', vaultBody),
  };
}

const BLOCK = /```json vector=([a-z-]+)\n([\s\S]*?)\n```/g;

function docVectors(text: string): Map<string, unknown> {
  const found = new Map<string, unknown>();
  for (const [, name, body] of text.matchAll(BLOCK)) found.set(name!, JSON.parse(body!));
  return found;
}

/** `| Name | `tag` | 0xNN |` rows, as [name, tag, length]. */
function domainRows(text: string): [string, string, number][] {
  const rows: [string, string, number][] = [];
  for (const [, name, tag, len] of text.matchAll(
    /^\| (\w+) +\| `([^`]+)` +\| 0x([0-9a-f]{2}) +\|/gm,
  )) {
    rows.push([name!, tag!, Number.parseInt(len!, 16)]);
  }
  return rows;
}

describe('docs/PROTOCOL.md test vectors', async () => {
  const vectors = await allVectors();
  if (UPDATE) {
    const text = readFileSync(DOC, 'utf8').replace(BLOCK, (_block, name: string) => {
      const vector = vectors[name];
      if (vector === undefined) throw new Error(`PROTOCOL.md has an unknown vector ${name}`);
      return `\`\`\`json vector=${name}\n${JSON.stringify(vector, null, 2)}\n\`\`\``;
    });
    writeFileSync(DOC, text);
    writeFileSync(JSON_FILE, `${JSON.stringify(vectors, null, 2)}\n`);
  }
  const doc = readFileSync(DOC, 'utf8');
  const inDoc = docVectors(doc);

  it('the document quotes every vector, each equal to what the code computes', () => {
    expect([...inDoc.keys()].sort()).toEqual(Object.keys(vectors).sort());
    for (const [name, vector] of Object.entries(vectors)) {
      expect(inDoc.get(name), name).toEqual(vector);
    }
  });

  it('docs/vectors/protocol.json holds the same vectors', () => {
    expect(JSON.parse(readFileSync(JSON_FILE, 'utf8'))).toEqual(vectors);
  });

  // The second client, written from the document alone; needs python3 with `cryptography`.
  const python = spawnSync('python3', ['-c', 'import cryptography'], { encoding: 'utf8' });
  it.skipIf(python.status !== 0)('an independent Python client reproduces every vector', () => {
    const run = spawnSync('python3', [fileURLToPath(PYTHON_CHECK), fileURLToPath(JSON_FILE)], {
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^all \d+ checks match\n$/);
    expect(run.status).toBe(0);
  });

  it('the hash-domain tables (PROTOCOL.md, crypto README) are the code’s tags and lengths', () => {
    const expected = Object.entries(HashDomain).map(([name, tag]): [string, string, number] => [
      name,
      tag,
      utf8(tag).length,
    ]);
    expect(domainRows(doc)).toEqual(expected);
    expect(domainRows(readFileSync(CRYPTO_README, 'utf8'))).toEqual(expected);
  });
});
