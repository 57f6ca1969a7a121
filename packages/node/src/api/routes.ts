import {
  CONSENT_ACTIONS,
  DENY_REASONS,
  EMERGENCY_REASONS,
  MAX_PAGE_SIZE,
  MAX_SCOPE_ITEMS,
  MAX_TX_BYTES,
  PROVIDER_ROLES,
  PURPOSES,
  RECEIPT_CODES,
  ROLE_REFUSAL_CODES,
  TX_KINDS,
} from '@medchain/ledger';
import { MAX_RECORD_BYTES } from '../records/protocol.js';
import { ADMIN_ROUTES } from './admin.js';
import { SUBMIT_REJECTIONS } from './backend.js';

/**
 * Every route of the API, as data: the server registers these (request schemas validate every
 * input) and the OpenAPI document is generated from the same table, so the two cannot drift.
 * Response schemas are for the document only: fastify does not serialize with them.
 */

export const API_PREFIX = '/v1';

/** Most transactions in one POST /v1/txs. */
export const MAX_BATCH_TXS = 1000;
/** Largest POST /v1/txs body: a thousand typical transactions as JSON hex, with room. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

export type JsonSchema = { readonly [key: string]: unknown };

const hex = (bytes: number, description: string): JsonSchema => ({
  type: 'string',
  pattern: `^[0-9a-f]{${bytes * 2}}$`,
  description: `${description} (${bytes} bytes, lowercase hex)`,
});

const HASH = hex(32, 'a hash');
const KEY = hex(32, 'an Ed25519 public key');
const SIGNATURE = hex(64, 'an Ed25519 signature');
const TX_HEX = {
  type: 'string',
  minLength: 2,
  pattern: '^(?:[0-9a-f]{2})+$',
  description: 'canonical transaction bytes, lowercase hex',
};
const ANY_HEX = { type: 'string', pattern: '^(?:[0-9a-f]{2})*$', description: 'lowercase hex' };
const INT = { type: 'integer' };
const MS = { type: 'integer', description: 'ms since the Unix epoch (block time)' };
const STR = { type: 'string' };
const BOOL = { type: 'boolean' };

const object = (properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((name) => !optional.includes(name)),
});
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] });
const array = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const page = (item: string): JsonSchema =>
  object({
    items: array(ref(item)),
    total: { type: 'integer', description: 'items in the whole list' },
    nextOffset: nullable({ type: 'integer', description: 'offset of the next page' }),
  });

/** Shapes of the response bodies, shared by the routes (OpenAPI components). */
export const COMPONENT_SCHEMAS: Record<string, JsonSchema> = {
  Error: object({
    error: object({
      code: {
        type: 'string',
        description:
          'BAD_REQUEST, ROUTE_NOT_FOUND, METHOD_NOT_ALLOWED, *_NOT_FOUND, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, TOO_MANY_STREAMS, RATE_LIMITED, HOST_NOT_ALLOWED; 401: SIGNATURE_MISSING, SIGNATURE_MALFORMED, SIGNATURE_PROFILE, SIGNATURE_EXPIRED, SIGNATURE_NOT_YET_VALID, SIGNATURE_BAD_KEY, SIGNATURE_INVALID, DIGEST_MISSING, DIGEST_MISMATCH, SIGNATURE_REPLAYED, KEY_UNKNOWN, CREDENTIAL_MISSING, CREDENTIAL_INVALID (metrics); 403: FORBIDDEN, REQUESTER_NO_ROLE, VAULT_NOT_ANCHORED_BY_SIGNER, VAULT_NOT_CUSTODIAN; 503: REPLAY_CACHE_FULL; record routes: RECORD_* (see the route); INTERNAL; or a transaction rejection code',
      },
      message: { type: 'string', description: 'what is wrong, for a human' },
    }),
  }),
  Validator: object({ orgId: HASH, publicKey: KEY, peerId: STR }),
  Status: object({
    chainId: STR,
    height: { type: 'integer', description: 'last committed block; 0 = genesis only' },
    lastBlockHash: HASH,
    stateRoot: { ...HASH, description: 'state root after the last committed block' },
    view: INT,
    validators: array(ref('Validator')),
    peers: array({ type: 'string', description: 'libp2p peer id' }),
    syncing: BOOL,
    mempoolSize: INT,
  }),
  Transaction: object({
    hash: HASH,
    chainId: STR,
    kind: { enum: [...TX_KINDS] },
    body: { type: 'object', description: 'the kind-specific body; bytes as hex' },
    signer: KEY,
    nonce: INT,
    signature: SIGNATURE,
  }),
  Receipt: object({
    txHash: HASH,
    code: { enum: [...RECEIPT_CODES] },
    message: { type: 'string', description: 'empty when code is OK' },
  }),
  Header: object({
    chainId: STR,
    height: INT,
    time: MS,
    parentHash: HASH,
    txRoot: HASH,
    stateRoot: { ...HASH, description: 'state root after the parent block' },
    validatorSetHash: HASH,
    proposer: KEY,
  }),
  Certificate: object({
    height: INT,
    view: INT,
    digest: HASH,
    votes: array(object({ from: KEY, signature: SIGNATURE })),
  }),
  Block: object({
    hash: HASH,
    header: ref('Header'),
    txs: array(ref('Transaction')),
    receipts: array(ref('Receipt')),
    certificate: nullable(ref('Certificate')),
  }),
  SignedHeader: object({
    hash: { ...HASH, description: 'headerHash(header)' },
    header: ref('Header'),
    certificate: nullable(ref('Certificate')),
  }),
  Genesis: object({
    hash: { ...HASH, description: 'genesisHash: block 1 names it as its parent' },
    genesis: {
      type: 'object',
      description:
        'the genesis document as genesisToJson writes it (chainId, genesisTime, organizations, params, consensus); bytes as hex',
    },
  }),
  ValidatorSet: object({
    fromHeight: {
      type: 'integer',
      description:
        'the first block this set decides; header fromHeight-1 carries its hash and is certified by the set before (1 = the genesis set)',
    },
    validatorSetHash: HASH,
    validators: array(ref('Validator')),
  }),
  TxStatus: object(
    {
      status: { enum: ['pending', 'committed'] },
      tx: ref('Transaction'),
      height: INT,
      index: INT,
      receipt: ref('Receipt'),
    },
    ['height', 'index', 'receipt'],
  ),
  Patient: object({ key: KEY, registeredAt: MS, breakGlassOptOut: BOOL, researchOptOut: BOOL }),
  Delegate: object({
    patient: KEY,
    delegate: KEY,
    relation: { enum: ['guardian', 'proxy'] },
    grantedAt: MS,
    expiresAt: MS,
  }),
  Consent: object({
    id: HASH,
    patient: KEY,
    grantee: object({ type: { enum: ['provider', 'organization'] }, id: HASH }),
    recordIds: array(HASH),
    resourceTypes: array(STR),
    actions: array({ enum: [...CONSENT_ACTIONS] }),
    purposes: array({ enum: [...PURPOSES] }),
    validFrom: MS,
    validUntil: MS,
    grantedBy: KEY,
    createdAt: MS,
    status: { enum: ['active', 'revoked'] },
    revokedAt: nullable(MS),
    revokedBy: nullable(KEY),
  }),
  AuditEntry: object(
    {
      patient: KEY,
      index: INT,
      recordId: { ...HASH, description: 'the record accessed; for a research release, the first' },
      recordIds: {
        ...array(HASH),
        minItems: 1,
        maxItems: MAX_SCOPE_ITEMS,
        description: 'a research release only: every record released, in order',
      },
      custodian: HASH,
      requester: KEY,
      action: { enum: [...CONSENT_ACTIONS] },
      purpose: { enum: [...PURPOSES] },
      decision: { enum: ['permit', 'deny'] },
      consentId: nullable(HASH),
      denyReason: nullable(STR),
      emergency: BOOL,
      emergencyReason: nullable(STR),
      time: MS,
      txHash: HASH,
      requestHash: HASH,
    },
    ['recordIds'],
  ),
  Record: object({
    id: HASH,
    patient: KEY,
    custodian: HASH,
    resourceType: STR,
    version: INT,
    contentHash: HASH,
    erased: BOOL,
    createdAt: MS,
    updatedAt: MS,
  }),
  RecordVersion: object({
    version: INT,
    contentHash: HASH,
    previousHash: nullable(HASH),
    author: KEY,
    time: MS,
    txHash: HASH,
  }),
  Organization: object(
    {
      id: HASH,
      adminKeys: array(KEY),
      validatorKey: KEY,
      peerId: STR,
      status: { enum: ['member', 'removed'] },
      since: MS,
      formerValidatorKeys: {
        ...array(KEY),
        description: 'validator keys it rotated away from, oldest first (absent before any)',
      },
    },
    ['formerValidatorKeys'],
  ),
  Provider: object({
    key: KEY,
    org: HASH,
    role: { enum: [...PROVIDER_ROLES] },
    status: { enum: ['active', 'suspended'] },
    registeredAt: MS,
    suspendedAt: nullable(MS),
  }),
  Equivocation: object({
    validator: KEY,
    phase: { enum: ['preprepare', 'prepare', 'commit', 'checkpoint'] },
    height: INT,
    view: nullable({ ...INT, description: 'the view of both votes; null for a checkpoint' }),
    first: ref('SignedStatement'),
    second: ref('SignedStatement'),
    verified: {
      type: 'boolean',
      description:
        'both signatures verify (verifyEquivocation, consensus) against the validator set of the height',
    },
    recordedAt: { type: 'integer', description: 'ms since the Unix epoch (this node’s clock)' },
  }),
  SignedStatement: object({
    digest: {
      ...HASH,
      description: 'the block digest voted for (the state root, for a checkpoint)',
    },
    signature: { ...ANY_HEX, description: 'the validator’s signature over what the phase signs' },
  }),
  StateProof: object({
    height: { type: 'integer', description: 'the proof is against the state after this block' },
    stateRoot: HASH,
    header: nullable({
      ...ref('Header'),
      description: 'the header of block height+1, which carries stateRoot',
    }),
    certificate: nullable(ref('Certificate')),
    key: ANY_HEX,
    value: nullable({ ...ANY_HEX, description: 'canonical bytes of the value; null = absent' }),
    proof: { ...ANY_HEX, description: 'encodeStateProof bytes (ledger)' },
  }),
};

const PAGE_QUERY: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    offset: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 },
    reverse: { type: 'boolean', default: false, description: 'newest first' },
  },
};
const NO_QUERY: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };

const params = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required: Object.keys(properties),
});

export type HttpMethod = 'GET' | 'POST';

export interface ResponseSpec {
  readonly description: string;
  /** A component name, or an inline schema; absent for error responses (always Error). */
  readonly schema?: JsonSchema;
  /** Default application/json. */
  readonly contentType?: string;
}

export interface RouteSpec {
  readonly operationId: string;
  readonly method: HttpMethod;
  /** Without the prefix, fastify style (`:name` for path parameters). */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly params?: JsonSchema;
  readonly querystring: JsonSchema;
  readonly headers?: JsonSchema;
  /** JSON body schema (fastify validates it); other accepted media types are listed apart. */
  readonly body?: JsonSchema;
  readonly rawBody?: { readonly contentType: string; readonly description: string };
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /** A larger request body limit than the server's default (record uploads). */
  readonly bodyLimit?: number;
}

const ok = (description: string, component: string): Record<number, ResponseSpec> => ({
  200: { description, schema: ref(component) },
});
const BAD = { description: 'invalid input' };
const NOT_FOUND = (what: string) => ({ description: `${what} not found` });

const patientKey = params({ key: KEY });

/** An AccessRequest exactly as the requester signed it (bytes as hex), with its signature. */
const SIGNED_ACCESS_REQUEST: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['request', 'signature'],
  properties: {
    request: {
      type: 'object',
      additionalProperties: false,
      required: ['recordId', 'requester', 'action', 'purpose', 'time', 'nonce'],
      properties: {
        recordId: HASH,
        requester: KEY,
        action: { enum: [...CONSENT_ACTIONS] },
        purpose: { enum: [...PURPOSES] },
        time: { type: 'integer', description: "the requester's clock, ms since the epoch" },
        nonce: hex(16, 'a fresh random nonce'),
        emergencyReason: { enum: [...EMERGENCY_REASONS] },
      },
    },
    signature: {
      ...SIGNATURE,
      description: 'Ed25519 by the requester over accessRequestDigest(request)',
    },
  },
};

/** A block height path parameter. Digits only: one spelling per height (no 1e3, +1 or 01). */
const HEIGHT_PARAM = {
  type: 'string',
  pattern: '^[1-9][0-9]{0,15}$',
  description: 'block height, from 1 (decimal digits)',
} as const;

export const ROUTES = [
  {
    operationId: 'health',
    method: 'GET',
    path: '/health',
    summary: 'Liveness: the HTTP server answers',
    querystring: NO_QUERY,
    responses: { 200: { description: 'alive', schema: object({ status: { const: 'ok' } }) } },
  },
  {
    operationId: 'status',
    method: 'GET',
    path: '/status',
    summary: 'Height, last block hash, state root, view, validators, peers, syncing',
    querystring: NO_QUERY,
    responses: ok('the node status', 'Status'),
  },
  {
    operationId: 'submitTransaction',
    method: 'POST',
    path: '/tx',
    summary: 'Submit a signed transaction to the mempool',
    description: `Canonical transaction bytes (at most ${MAX_TX_BYTES}), as JSON {"tx": hex} or as a raw application/octet-stream body. 202 means admitted to the mempool, not committed: poll GET /v1/tx/{hash}. Rejection codes: ${SUBMIT_REJECTIONS.join(', ')}.`,
    querystring: NO_QUERY,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['tx'],
      properties: {
        tx: TX_HEX,
      },
    },
    rawBody: {
      contentType: 'application/octet-stream',
      description: 'canonical transaction bytes',
    },
    responses: {
      202: { description: 'admitted to the mempool', schema: object({ hash: HASH }) },
      400: { description: 'MALFORMED, WRONG_CHAIN, BAD_SIGNATURE or invalid input' },
      403: {
        description: `the signer has no role under which the transaction could succeed on the committed state; the code its receipt would carry (the ledger's ROLE_REFUSAL_CODES): ${ROLE_REFUSAL_CODES.join(', ')}. Not admitted, not gossiped, never committed`,
      },
      409: { description: 'BAD_NONCE or DUPLICATE' },
      413: { description: 'TOO_LARGE or PAYLOAD_TOO_LARGE' },
      415: { description: 'not JSON or octet-stream' },
      429: {
        description:
          'RATE_LIMITED (see Retry-After): the signer, or this client address, has as many transactions pending as the mempool allows (mempool.maxPerSigner, mempool.maxPerAddress)',
      },
      503: { description: 'MEMPOOL_FULL or NOT_READY (see Retry-After)' },
    },
  },
  {
    operationId: 'submitTransactions',
    method: 'POST',
    path: '/txs',
    summary: 'Submit many signed transactions to the mempool in one request',
    description: `At most ${MAX_BATCH_TXS} transactions, each as POST /v1/tx takes it: JSON {"txs": [hex, ...]}, or an application/octet-stream body holding the canonical encoding of the list of transaction byte strings (a mempool gossip frame). The body may be at most ${MAX_BATCH_BODY_BYTES} bytes. Each is admitted in order, as if posted alone: a later one sees the earlier ones, so a repeat within the batch is DUPLICATE and one signer's nonces may follow each other. 200 with one result per transaction, in order: {accepted: true, hash} (admitted to the mempool, not committed: poll GET /v1/tx/{hash}) or {accepted: false, code, message, status}, status being what POST /v1/tx would have answered (retry the 429s and 503s later; Retry-After is set when there are any). Rejection codes: ${SUBMIT_REJECTIONS.join(', ')}. Public as POST /v1/tx: each transaction's own signature authenticates it, and the mempool's admission limits apply to each.`,
    querystring: NO_QUERY,
    bodyLimit: MAX_BATCH_BODY_BYTES,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['txs'],
      properties: {
        txs: {
          type: 'array',
          minItems: 1,
          description: `at most ${MAX_BATCH_TXS}`,
          items: TX_HEX,
        },
      },
    },
    rawBody: {
      contentType: 'application/octet-stream',
      description: 'the canonical encoding of a list of transaction byte strings',
    },
    responses: {
      200: {
        description: 'one result per transaction, in order',
        schema: object({
          accepted: { type: 'integer', description: 'how many were admitted' },
          results: array({
            oneOf: [
              object({ accepted: { const: true }, hash: HASH }),
              object({
                accepted: { const: false },
                code: { enum: [...SUBMIT_REJECTIONS] },
                message: STR,
                status: {
                  type: 'integer',
                  description: 'the HTTP status POST /v1/tx would have answered',
                },
              }),
            ],
          }),
        }),
      },
      400: {
        description: 'BAD_REQUEST: not JSON of that shape, not a canonical list, or no transaction',
      },
      413: {
        description: `TOO_MANY_TRANSACTIONS (more than ${MAX_BATCH_TXS}) or PAYLOAD_TOO_LARGE (body over ${MAX_BATCH_BODY_BYTES} bytes)`,
      },
      415: { description: 'not JSON or octet-stream' },
    },
  },
  {
    operationId: 'getTransaction',
    method: 'GET',
    path: '/tx/:hash',
    summary: 'A transaction: pending, or committed with its height, position and receipt',
    params: params({ hash: HASH }),
    querystring: NO_QUERY,
    responses: { ...ok('the transaction', 'TxStatus'), 400: BAD, 404: NOT_FOUND('TX') },
  },
  {
    operationId: 'getLatestBlock',
    method: 'GET',
    path: '/blocks/latest',
    summary: 'The last committed block with its commit certificate and receipts',
    querystring: NO_QUERY,
    responses: { ...ok('the block', 'Block'), 404: NOT_FOUND('BLOCK (only genesis)') },
  },
  {
    operationId: 'getBlock',
    method: 'GET',
    path: '/blocks/:height',
    summary: 'A committed block with its commit certificate and receipts',
    params: params({ height: HEIGHT_PARAM }),
    querystring: NO_QUERY,
    responses: { ...ok('the block', 'Block'), 400: BAD, 404: NOT_FOUND('BLOCK') },
  },
  {
    operationId: 'getHeader',
    method: 'GET',
    path: '/headers/:height',
    summary: 'A committed block header with its commit certificate (no transactions)',
    description:
      'What a light client needs to follow the chain: check the certificate against the validator set deciding this height (GET /v1/validator-sets), then headerHash(header) == certificate.digest.',
    params: params({ height: HEIGHT_PARAM }),
    querystring: NO_QUERY,
    responses: { ...ok('the header', 'SignedHeader'), 400: BAD, 404: NOT_FOUND('BLOCK') },
  },
  {
    operationId: 'getGenesis',
    method: 'GET',
    path: '/genesis',
    summary: 'The genesis document and its hash',
    querystring: NO_QUERY,
    responses: ok('the genesis', 'Genesis'),
  },
  {
    operationId: 'listValidatorSets',
    method: 'GET',
    path: '/validator-sets',
    summary: 'Every validator set from genesis, with the first height each decides',
    description:
      'Oldest first. A light client starts from the genesis set (check it against GET /v1/genesis), and for each later set fetches header fromHeight-1, checks its certificate with the set before and that header.validatorSetHash == validatorSetHash(validators). Organizations are never re-admitted, so sets never repeat.',
    querystring: NO_QUERY,
    responses: {
      200: {
        description: 'the sets',
        schema: object({ items: array(ref('ValidatorSet')) }),
      },
    },
  },
  {
    operationId: 'getPatient',
    method: 'GET',
    path: '/patients/:key',
    summary: "A patient's entry, with its policy (break-glass and research opt-outs)",
    params: patientKey,
    querystring: NO_QUERY,
    responses: { ...ok('the patient', 'Patient'), 400: BAD, 404: NOT_FOUND('PATIENT') },
  },
  {
    operationId: 'getDelegate',
    method: 'GET',
    path: '/patients/:key/delegates/:delegate',
    summary: 'One delegate (guardian or proxy) of a patient, with its expiry',
    description: 'The state keeps no list of delegates, so they are looked up one by one.',
    params: params({ key: KEY, delegate: KEY }),
    querystring: NO_QUERY,
    responses: { ...ok('the delegate', 'Delegate'), 400: BAD, 404: NOT_FOUND('DELEGATE') },
  },
  {
    operationId: 'listConsents',
    method: 'GET',
    path: '/patients/:key/consents',
    summary: "A patient's consents (active and revoked), paged",
    params: patientKey,
    querystring: PAGE_QUERY,
    responses: {
      200: { description: 'a page of consents', schema: page('Consent') },
      400: BAD,
      404: NOT_FOUND('PATIENT'),
    },
  },
  {
    operationId: 'listAudit',
    method: 'GET',
    path: '/patients/:key/audit',
    summary: "A patient's audit trail: every logged access decision, break-glass flagged",
    params: patientKey,
    querystring: PAGE_QUERY,
    responses: {
      200: { description: 'a page of audit entries', schema: page('AuditEntry') },
      400: BAD,
      404: NOT_FOUND('PATIENT'),
    },
  },
  {
    operationId: 'getAuditInclusion',
    method: 'GET',
    path: '/patients/:key/audit/:index/inclusion',
    summary: "Where an audit entry's transaction is: its block and a Merkle path to the tx root",
    description:
      "With the block's certified header (GET /headers/:height), this proves the entry's transaction is in that block; the audit accumulator in the state proves the entry itself (PROTOCOL.md, audit trail).",
    params: params({
      key: KEY,
      index: {
        type: 'string',
        pattern: '^(?:0|[1-9][0-9]{0,15})$',
        description: 'the entry index',
      },
    }),
    querystring: NO_QUERY,
    responses: {
      200: {
        description: "the block height and the Merkle path of the entry's transaction",
        schema: object({
          height: INT,
          proof: object({ index: INT, size: INT, path: array(HASH) }),
        }),
      },
      400: BAD,
      404: NOT_FOUND('PATIENT or AUDIT_ENTRY'),
    },
  },
  {
    operationId: 'listPatientRecords',
    method: 'GET',
    path: '/patients/:key/records',
    summary: 'The records anchored for a patient, paged',
    params: patientKey,
    querystring: PAGE_QUERY,
    responses: {
      200: { description: 'a page of records', schema: page('Record') },
      400: BAD,
      404: NOT_FOUND('PATIENT'),
    },
  },
  {
    operationId: 'getConsent',
    method: 'GET',
    path: '/consents/:id',
    summary: 'One consent by id (the hash of its grant transaction)',
    params: params({ id: HASH }),
    querystring: NO_QUERY,
    responses: { ...ok('the consent', 'Consent'), 400: BAD, 404: NOT_FOUND('CONSENT') },
  },
  {
    operationId: 'getRecord',
    method: 'GET',
    path: '/records/:id',
    summary: "A record's anchor and a page of its version history",
    params: params({ id: HASH }),
    querystring: PAGE_QUERY,
    responses: {
      200: {
        description: 'the record and a page of its versions',
        schema: object({ record: ref('Record'), versions: page('RecordVersion') }),
      },
      400: BAD,
      404: NOT_FOUND('RECORD'),
    },
  },
  {
    operationId: 'fetchRecord',
    method: 'POST',
    path: '/records/:id/fetch',
    summary: "Fetch a record from its custodian with the requester's signed access request",
    description:
      "Body: the AccessRequest exactly as the requester signed it (bytes as hex) and the Ed25519 signature over accessRequestDigest(request). This node finds the custodian on the ledger and relays the request over the records protocol; the custodian decides on its committed state, logs access.log (or access.emergency) and, once that entry is committed, answers with the record sealed to the requester's key. The answer's envelope (encodeEnvelope bytes) opens only with the requester's key; check that its sender is custodianKey; its payload is canonical {content, salt} (salt absent for an unsalted anchor), and recordCommitment(salt, content) (or sha256(content) without a salt) must equal the anchored contentHash. Errors: RECORD_ACCESS_DENIED 403 (logged), RECORD_REQUEST_STALE 400, RECORD_REQUEST_REPLAYED 409, RECORD_NOT_FOUND 404, RECORD_ERASED 410, RECORD_LOG_FAILED / RECORD_CUSTODIAN_UNREACHABLE 502.",
    params: params({ id: HASH }),
    querystring: NO_QUERY,
    body: SIGNED_ACCESS_REQUEST,
    responses: {
      200: {
        description: 'the record, sealed to the requester',
        schema: object({
          record: ref('Record'),
          custodianKey: KEY,
          logTx: HASH,
          version: INT,
          contentHash: HASH,
          resourceType: STR,
          envelope: { ...ANY_HEX, description: 'encodeEnvelope bytes (crypto)' },
        }),
      },
      400: BAD,
      403: { description: 'RECORD_ACCESS_DENIED (the denial is logged on the ledger)' },
      404: NOT_FOUND('RECORD'),
      409: { description: 'RECORD_REQUEST_REPLAYED' },
      410: { description: 'RECORD_ERASED' },
      502: { description: 'RECORD_LOG_FAILED, RECORD_CUSTODIAN_UNREACHABLE, RECORD_VERIFY_FAILED' },
    },
  },
  {
    operationId: 'accessDecision',
    method: 'POST',
    path: '/access/decision',
    summary: "The ledger's access decision for a requester-signed AccessRequest (custodian side)",
    description:
      "For a custodian that logs access itself (access.log / access.emergency carry the decision and consentId; execution re-decides at block time and fails DECISION_MISMATCH if they differ). Body: the signed AccessRequest as POST /v1/records/{id}/fetch takes it. The node checks the requester's signature and answers decideAccess (ledger) on its committed state at request.time: only the decision and the consent it rests on, not the patient's entries. Nothing is written. RECORD_BAD_REQUEST 400: the request does not parse or its signature does not verify.",
    querystring: NO_QUERY,
    body: SIGNED_ACCESS_REQUEST,
    responses: {
      200: {
        description: 'the decision',
        schema: object(
          {
            decision: { enum: ['permit', 'deny'] },
            basis: {
              enum: ['consent', 'break-glass', 'patient'],
              description: 'why a permit (absent on deny)',
            },
            reason: { enum: [...DENY_REASONS], description: 'why a deny (absent on permit)' },
            consentId: nullable({
              ...HASH,
              description: 'the consent a permit rests on (null without one)',
            }),
          },
          ['basis', 'reason'],
        ),
      },
      400: { description: 'BAD_REQUEST, RECORD_BAD_REQUEST' },
    },
  },
  {
    operationId: 'putVaultRecord',
    method: 'POST',
    path: '/vault/records',
    summary: "Store a version of a record in this node's vault (hospital-internal)",
    description: `FHIR R4 JSON (a resource or Bundle with resourceType), as hex of its bytes, at most ${MAX_RECORD_BYTES} bytes. Encrypted at rest under the record's own data key. Anchor it first (record.anchor / record.amend, signed by the key that signs this upload, with contentHash = recordCommitment(salt, content): H_RecordContent(salt || content) under a fresh 32-byte random salt, sent here as salt and kept in the vault beside the record's key; without salt, contentHash = sha256 of the bytes). The node serves only the version whose anchor the ledger holds.`,
    querystring: NO_QUERY,
    bodyLimit: 2 * MAX_RECORD_BYTES + 64 * 1024,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['recordId', 'patient', 'version', 'content'],
      properties: {
        recordId: HASH,
        patient: KEY,
        version: { type: 'integer', minimum: 1, maximum: 2 ** 32 - 1 },
        content: {
          type: 'string',
          minLength: 2,
          maxLength: 2 * MAX_RECORD_BYTES,
          pattern: '^(?:[0-9a-f]{2})+$',
          description: 'the FHIR JSON bytes, lowercase hex',
        },
        salt: { ...HASH, description: 'the 32-byte salt the anchor commits with, lowercase hex' },
      },
    },
    responses: {
      201: {
        description: 'stored',
        schema: object({ recordId: HASH, version: INT, contentHash: HASH, resourceType: STR }),
      },
      400: { description: 'BAD_REQUEST, RECORD_INVALID_FHIR' },
      409: { description: 'RECORD_VERSION_EXISTS' },
      410: { description: 'RECORD_ERASED' },
    },
  },
  {
    operationId: 'eraseVaultRecord',
    method: 'POST',
    path: '/vault/records/:id/erase',
    summary: 'Crypto-shred a record in this vault (hospital-internal)',
    description:
      "Deletes the wrapped data key and every ciphertext, compacts the vault database, and refuses the record from then on. Signed by an admin or provider of this node's organization, and only for a record anchored with this organization as custodian (else 403 VAULT_NOT_CUSTODIAN, also for a record never anchored) that the ledger shows erased (a live one is 400 RECORD_BAD_REQUEST): commit record.erase first; the node also shreds by itself when an erasure commits, so `held` may be false here.",
    params: params({ id: HASH }),
    querystring: NO_QUERY,
    responses: {
      200: {
        description: 'erased; held says whether the vault had the record',
        schema: object({ recordId: HASH, held: BOOL }),
      },
      400: BAD,
    },
  },
  {
    operationId: 'listOrganizations',
    method: 'GET',
    path: '/organizations',
    summary: 'The member organizations',
    querystring: NO_QUERY,
    responses: {
      200: {
        description: 'every member',
        schema: object({ items: array(ref('Organization')) }),
      },
    },
  },
  {
    operationId: 'getOrganization',
    method: 'GET',
    path: '/organizations/:id',
    summary: 'An organization (member or removed) and a page of its providers',
    params: params({ id: HASH }),
    querystring: PAGE_QUERY,
    responses: {
      200: {
        description: 'the organization and a page of its providers',
        schema: object({ organization: ref('Organization'), providers: page('Provider') }),
      },
      400: BAD,
      404: NOT_FOUND('ORGANIZATION'),
    },
  },
  {
    operationId: 'getProvider',
    method: 'GET',
    path: '/providers/:key',
    summary: 'A provider: organization, role, status',
    params: params({ key: KEY }),
    querystring: NO_QUERY,
    responses: { ...ok('the provider', 'Provider'), 400: BAD, 404: NOT_FOUND('PROVIDER') },
  },
  {
    operationId: 'listProviderConsents',
    method: 'GET',
    path: '/providers/:key/consents',
    summary: "The consents one patient gave this provider or the provider's organization",
    description:
      'The ledger indexes consents by patient and grantee, so the patient is named. Oldest first: those naming the provider, then those naming its organization (as the access decision reads them).',
    params: params({ key: KEY }),
    querystring: {
      ...PAGE_QUERY,
      required: ['patient'],
      properties: { patient: KEY, ...(PAGE_QUERY.properties as Record<string, JsonSchema>) },
    },
    responses: {
      200: { description: 'a page of consents', schema: page('Consent') },
      400: BAD,
      404: NOT_FOUND('PROVIDER'),
    },
  },
  {
    operationId: 'getStateProof',
    method: 'GET',
    path: '/state/proof',
    summary: 'An inclusion or non-inclusion proof of a state key',
    description:
      "The proof is against the state after block `height`, whose root the certified header of block height+1 carries (so it trails the committed state by one block). Check the certificate, then header.stateRoot == stateRoot, then verifyStateProof(stateRoot, key, value, decodeStateProof(proof)). Keys are the ledger's stateKeys bytes.",
    querystring: {
      type: 'object',
      additionalProperties: false,
      required: ['key'],
      properties: {
        key: {
          type: 'string',
          minLength: 2,
          maxLength: 2048,
          pattern: '^(?:[0-9a-f]{2})+$',
          description: 'state key, lowercase hex',
        },
      },
    },
    responses: { ...ok('the proof', 'StateProof'), 400: BAD },
  },
  {
    operationId: 'events',
    method: 'GET',
    path: '/events',
    summary: 'Server-sent events: new blocks, or one patient’s new audit entries',
    description:
      'text/event-stream. Without `patient`: one `block` event per committed block ({hash, header, receipts}), id = height. With `patient`: one `audit` event per new audit entry of that patient (an AuditEntry), id = its index. A comment line is sent every heartbeat interval. A client that reads too slowly is disconnected. With Last-Event-ID (as EventSource sends on reconnect), the events after that id are replayed first, at most 1000 per connection (then the stream ends and the client reconnects).',
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { patient: KEY },
    },
    headers: {
      type: 'object',
      properties: {
        'last-event-id': {
          type: 'string',
          pattern: '^(?:0|[1-9][0-9]{0,15})$',
          description:
            'resume: the id of the last event received (a height, or an audit index); what came after it is sent first',
        },
      },
    },
    responses: {
      200: { description: 'the event stream', contentType: 'text/event-stream', schema: STR },
      400: BAD,
      503: { description: 'TOO_MANY_STREAMS' },
    },
  },
  {
    operationId: 'listEvidence',
    method: 'GET',
    path: '/consensus/evidence',
    summary: 'Equivocations this node caught: validators that signed two conflicting votes',
    description:
      'Each item is proof that one validator signed two different statements where it may sign one: two PRE-PREPAREs, PREPAREs or COMMITs for one (height, view), or two CHECKPOINTs for one height. An honest network has none. Oldest first; the node keeps the most recent 1000 in its database (across restarts); `total` counts every one it ever recorded.',
    querystring: NO_QUERY,
    responses: {
      200: {
        description: 'the evidence',
        schema: object({
          items: array(ref('Equivocation')),
          total: { type: 'integer', description: 'equivocations this node ever recorded' },
        }),
      },
    },
  },
  {
    operationId: 'metrics',
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics (text exposition format)',
    querystring: NO_QUERY,
    responses: {
      200: { description: 'the metrics', contentType: 'text/plain; version=0.0.4', schema: STR },
    },
  },
  ...ADMIN_ROUTES,
] as const satisfies readonly RouteSpec[];

export type OperationId = (typeof ROUTES)[number]['operationId'];
