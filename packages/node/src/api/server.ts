import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import { decodeStoredCanonical, fromHex, merkleProof, toHex } from '@medchain/crypto';
import {
  auditTrail,
  type ConsentEntry,
  consentsOfPatient,
  encodeStateProof,
  type GenesisDocument,
  genesisHash,
  genesisToJson,
  getConsent,
  getDelegate,
  getOrganization,
  getPatient,
  getProvider,
  getRecord,
  type KeyValueReader,
  LedgerError,
  MAX_PAGE_SIZE,
  memberIds,
  type PageRequest,
  providersOfOrganization,
  recordHistory,
  recordsOfPatient,
  stateKeys,
  transactionHash,
} from '@medchain/ledger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { decodeTxBatch } from '../chain/gossip.js';
import { NodeError } from '../errors.js';
import { outcomeOfError, sendOutcome } from '../fhir/outcome.js';
import { FHIR_BASE, type FhirRouteSet, fhirApi } from '../fhir/rest.js';
import type { Logger } from '../logger.js';
import { certificateExpiry, type Metrics } from '../metrics.js';
import { RECORD_HTTP_STATUS, RecordError } from '../records/errors.js';
import { type RecordOperationId, type RecordsApi, recordHandlers } from '../records/http.js';
import { type AdminOperationId, adminHandlers } from './admin.js';
import { type AppServingOptions, registerApp } from './app-static.js';
import {
  AuthError,
  Authenticator,
  consentSubject,
  DEFAULT_REPLAY_CACHE_SIZE,
  decide,
  identify,
  organizationOfValidator,
  recordSubject,
  type Subject,
  standingsOf,
  stateKeyAccess,
} from './auth.js';
import {
  type AccessKey,
  allows,
  type Policy,
  REFUSED_AS_NOT_FOUND,
  ROUTE_ACCESS,
} from './authorization.js';
import type { ApiBackend, SubmitRejection } from './backend.js';
import { DEFAULT_EVENT_STREAM_OPTIONS, EventHub, type EventStreamOptions } from './events.js';
import { HttpError } from './http-error.js';
import { blockJson, type Json, toJson, transactionJson } from './json.js';
import { isLoopbackHost } from './loopback.js';
import { API_PREFIX, MAX_BATCH_TXS, type OperationId, ROUTES } from './routes.js';
import { ValidatorSetHistory } from './validator-sets.js';

export { HttpError };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's row in the authorization table. */
    access?: AccessKey;
  }
}

export interface ApiServerOptions {
  readonly backend: ApiBackend;
  readonly logger: Logger;
  /** The node's metrics: requests are counted in `metrics.http`, GET /v1/metrics serves `metrics.register`. */
  readonly metrics: Metrics;
  /** Loopback by default: exposing the API is an operator's explicit choice. */
  readonly host?: string;
  /** 0 picks a free port (see the address start() returns). */
  readonly port?: number;
  /** Largest request body in bytes; larger ones get 413. */
  readonly bodyLimit?: number;
  readonly events?: Partial<EventStreamOptions>;
  /** Record exchange (vault and fetch routes); without it those routes answer 404. */
  readonly records?: RecordsApi;
  /** Served at GET /v1/genesis and the root of GET /v1/validator-sets; without it both answer 404. */
  readonly genesis?: GenesisDocument;
  /** The node's validator key: the member organization holding it is "this node's organization". */
  readonly nodeKey?: Uint8Array;
  /** The node's clock (ms): signature windows and delegation expiry. Default Date.now. */
  readonly now?: () => number;
  /**
   * 'required' (default): routes that act for a party or read party data need a request
   * signature (see authorization.ts). 'off': no request is authenticated (only for clients that
   * do not sign yet; loopback only).
   */
  readonly auth?: ApiAuthMode;
  /** (keyid, nonce) pairs remembered against replay. Default 100,000. */
  readonly replayCacheSize?: number;
  /** HTTPS: PEM file paths. Without it the API speaks plain HTTP, which only loopback may. */
  readonly tls?: ApiTlsOptions;
  /** Plain HTTP on a non-loopback host: an operator's explicit choice (behind a TLS proxy). */
  readonly insecureHttp?: boolean;
  /** Origins a browser may call from (CORS). Default none. */
  readonly corsOrigins?: readonly string[];
  /** Host header values accepted on loopback connections besides localhost/127.0.0.1/[::1] with the port. */
  readonly allowedHosts?: readonly string[];
  readonly rateLimit?: Partial<ApiRateLimit>;
  /** A bearer token that may scrape GET /v1/metrics from a non-loopback address. */
  readonly metricsToken?: string;
  /** More routes under /fhir/r4 (the research export, Consent import). */
  readonly fhirRouteSets?: readonly FhirRouteSet[];
  /** Serve the web app under /app (app-static.ts); without it /app is not routed. */
  readonly app?: AppServingOptions;
}

export type ApiAuthMode = 'required' | 'off';

export interface ApiTlsOptions {
  /** PEM certificate chain file. */
  readonly cert: string;
  /** PEM private key file. */
  readonly key: string;
  /** PEM CA bundle that client certificates must chain to (with requestClientCert). */
  readonly ca?: string;
  /** Ask for and verify a client certificate (member systems); connections without one are refused. */
  readonly requestClientCert?: boolean;
}

export interface ApiRateLimit {
  /** Requests per window from one address (every route but POST /v1/tx, which the mempool limits). */
  readonly perAddress: number;
  /** Signed requests per window by one key. */
  readonly perKey: number;
  readonly windowMs: number;
}

export const DEFAULT_API_RATE_LIMIT: ApiRateLimit = {
  perAddress: 6000,
  perKey: 3000,
  windowMs: 60_000,
};

export interface ApiServer {
  /** Listens and returns the address, e.g. `http://127.0.0.1:8645`. */
  start(): Promise<string>;
  /** Ends the event streams, stops listening and waits for requests in flight. */
  close(): Promise<void>;
  /** The fastify instance, for `inject` in tests. */
  readonly fastify: FastifyInstance;
  /** Every route fastify registered (method and URL), as the OpenAPI test compares them. */
  readonly routes: ReadonlyArray<{ readonly method: string; readonly url: string }>;
  /** Request-signature verification and its replay cache (benchmarks read it). */
  readonly authenticator: Authenticator;
}

/** The default of the node config (`api.port`). */
export const DEFAULT_API_PORT = 7701;
/** Room for the hex of the largest transaction (2 x 16 KiB) and JSON framing. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;
/**
 * How long `close()` lets requests in progress finish before it cuts their connections: a
 * client that never completes its request (a body announced and not sent) would otherwise
 * hold the node's shutdown forever.
 */
export const CLOSE_GRACE_MS = 5_000;

/** The HTTP status of each mempool refusal (POST /v1/tx, /v1/txs, and the FHIR Consent import). */
export const REJECTION_STATUS: Record<SubmitRejection, number> = {
  MALFORMED: 400,
  WRONG_CHAIN: 400,
  BAD_SIGNATURE: 400,
  BAD_NONCE: 409,
  DUPLICATE: 409,
  TOO_LARGE: 413,
  RATE_LIMITED: 429,
  MEMPOOL_FULL: 503,
  NOT_READY: 503,
  // The signer has no role under which the transaction could succeed (mempool admission).
  NOT_MEMBER_ADMIN: 403,
  NOT_ORG_ADMIN: 403,
  PATIENT_EXISTS: 403,
  NOT_PATIENT: 403,
  NOT_PATIENT_OR_DELEGATE: 403,
  NOT_CUSTODIAN_PROVIDER: 403,
  ROLE_NOT_ALLOWED: 403,
  NOT_AUTHORIZED: 403,
  NOT_CUSTODIAN_AGENT: 403,
};

const FASTIFY_ERROR_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'PAYLOAD_TOO_LARGE',
};

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<Json | undefined>;

interface ApiMetrics {
  readonly eventClients: Gauge;
  readonly eventClientsDropped: Counter;
}

// One set per registry: a node restarting its API in the same process reuses them.
const apiMetricsByRegistry = new WeakMap<Registry, ApiMetrics>();

function apiMetrics(register: Registry): ApiMetrics {
  let metrics = apiMetricsByRegistry.get(register);
  if (metrics === undefined) {
    metrics = {
      eventClients: new Gauge({
        name: 'medchain_http_event_streams',
        help: 'Open server-sent event streams',
        registers: [register],
      }),
      eventClientsDropped: new Counter({
        name: 'medchain_http_event_streams_dropped_total',
        help: 'Event stream clients disconnected for reading too slowly',
        registers: [register],
      }),
    };
    apiMetricsByRegistry.set(register, metrics);
  }
  return metrics;
}

function notFound(what: string, code: string): never {
  throw new HttpError(404, code, `${what} not found`);
}

function pageRequest(query: unknown): PageRequest {
  const { offset, limit, reverse } = query as { offset: number; limit: number; reverse: boolean };
  return { offset, limit, reverse };
}

/** Path parameters and query values arrive validated by the route's schema; this only decodes. */
function hexParam(request: FastifyRequest, name: string): Uint8Array {
  return fromHex((request.params as Record<string, string>)[name]!);
}

/** The ids a grantee-consents entry lists (the ledger keeps them oldest first, in one value). */
function granteeConsentIds(
  state: KeyValueReader,
  patient: Uint8Array,
  type: 'provider' | 'organization',
  id: Uint8Array,
): Uint8Array[] {
  const raw = state.get(stateKeys.granteeConsents(patient, type, id));
  return raw === undefined ? [] : (decodeStoredCanonical(raw) as Uint8Array[]);
}

function pageOf<T>(all: readonly T[], request: PageRequest) {
  const offset = request.offset ?? 0;
  const limit = Math.min(MAX_PAGE_SIZE, request.limit ?? 50);
  const ordered = request.reverse ? [...all].reverse() : all;
  const items = ordered.slice(offset, offset + limit);
  const next = offset + items.length;
  return { items, total: all.length, nextOffset: next < all.length ? next : null };
}

function buildHandlers(
  backend: ApiBackend,
  metrics: Metrics,
  events: EventHub,
  genesis: GenesisDocument | undefined,
  validatorSets: ValidatorSetHistory | undefined,
  streamCheck: (request: FastifyRequest) => (() => boolean) | undefined,
  /** A request to a REFUSED_AS_NOT_FOUND route that its caller may not read: answered as unknown. */
  refusedAsUnknown: (request: FastifyRequest) => boolean,
) {
  const patientOr404 = (key: Uint8Array) => {
    const patient = getPatient(backend.state(), key);
    return patient ?? notFound(`patient ${toHex(key)}`, 'PATIENT_NOT_FOUND');
  };

  const handlers: Record<Exclude<OperationId, RecordOperationId | AdminOperationId>, Handler> = {
    health: async () => ({ status: 'ok' }),

    status: async () => {
      const status = await backend.status();
      return toJson(status);
    },

    submitTransaction: async (request, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      const body = request.body;
      const bytes = Buffer.isBuffer(body)
        ? new Uint8Array(body)
        : fromHex((body as { tx: string }).tx);
      if (bytes.length === 0) throw new HttpError(400, 'BAD_REQUEST', 'empty transaction');
      const result = await backend.submitTransaction(bytes, request.ip);
      if (!result.accepted) {
        const status = REJECTION_STATUS[result.code];
        if (status === 429 || status === 503) reply.header('retry-after', '1');
        throw new HttpError(status, result.code, result.message);
      }
      reply.code(202);
      return { hash: toHex(result.hash) };
    },

    submitTransactions: async (request, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      const body = request.body;
      const tooMany = (count: number) =>
        new HttpError(
          413,
          'TOO_MANY_TRANSACTIONS',
          `${count} transactions; at most ${MAX_BATCH_TXS} per request`,
        );
      let list: Uint8Array[];
      if (Buffer.isBuffer(body)) {
        try {
          list = decodeTxBatch(body);
        } catch (error) {
          throw new HttpError(
            400,
            'BAD_REQUEST',
            `the body is not the canonical encoding of a list of transaction byte strings (${(error as Error).message})`,
          );
        }
        if (list.length === 0) throw new HttpError(400, 'BAD_REQUEST', 'no transaction');
        if (list.length > MAX_BATCH_TXS) throw tooMany(list.length);
      } else {
        // The schema checked the hex: counted before any is decoded.
        const { txs } = body as { txs: string[] };
        if (txs.length > MAX_BATCH_TXS) throw tooMany(txs.length);
        list = txs.map((text) => fromHex(text));
      }
      const results = await backend.submitTransactions(list, request.ip);
      let accepted = 0;
      let retryLater = false;
      const answers = results.map((result): Json => {
        if (result.accepted) {
          accepted++;
          return { accepted: true, hash: toHex(result.hash) };
        }
        const status = REJECTION_STATUS[result.code];
        if (status === 429 || status === 503) retryLater = true;
        return { accepted: false, code: result.code, message: result.message, status };
      });
      if (retryLater) reply.header('retry-after', '1');
      return { accepted, results: answers };
    },

    getTransaction: async (request): Promise<Json> => {
      const hash = hexParam(request, 'hash');
      const found = refusedAsUnknown(request)
        ? { status: 'unknown' as const }
        : await backend.transaction(hash);
      if (found.status === 'unknown') return notFound(`transaction ${toHex(hash)}`, 'TX_NOT_FOUND');
      if (found.status === 'pending') return { status: 'pending', tx: transactionJson(found.tx) };
      return {
        status: 'committed',
        tx: transactionJson(found.tx),
        height: found.height,
        index: found.index,
        receipt: toJson(found.receipt),
      };
    },

    getLatestBlock: async () => {
      const stored = await backend.latestBlock();
      return stored === undefined
        ? notFound('no block after genesis; a block', 'BLOCK_NOT_FOUND')
        : blockJson(stored);
    },

    getBlock: async (request) => {
      const height = Number((request.params as { height: string }).height);
      if (!Number.isSafeInteger(height)) {
        throw new HttpError(400, 'BAD_REQUEST', 'params/height is above the largest safe integer');
      }
      const stored = await backend.block(height);
      return stored === undefined
        ? notFound(`block ${height}`, 'BLOCK_NOT_FOUND')
        : blockJson(stored);
    },

    getHeader: async (request) => {
      const height = Number((request.params as { height: string }).height);
      const stored = Number.isSafeInteger(height) ? await backend.block(height) : undefined;
      if (stored === undefined) return notFound(`block ${height}`, 'BLOCK_NOT_FOUND');
      return {
        hash: toHex(stored.hash),
        header: toJson(stored.block.header),
        certificate: toJson(stored.certificate),
      };
    },

    getGenesis: async () => {
      if (genesis === undefined) return notFound('the genesis document', 'GENESIS_NOT_FOUND');
      return { hash: toHex(genesisHash(genesis)), genesis: genesisToJson(genesis) as Json };
    },

    listValidatorSets: async () => {
      if (validatorSets === undefined) {
        return notFound('the genesis document', 'GENESIS_NOT_FOUND');
      }
      return { items: toJson(await validatorSets.entries()) };
    },

    getPatient: async (request) => toJson(patientOr404(hexParam(request, 'key'))),

    getDelegate: async (request) => {
      const patient = hexParam(request, 'key');
      const delegate = hexParam(request, 'delegate');
      const entry = getDelegate(backend.state(), patient, delegate);
      return entry === undefined
        ? notFound(`delegate ${toHex(delegate)} of patient ${toHex(patient)}`, 'DELEGATE_NOT_FOUND')
        : toJson(entry);
    },

    listConsents: async (request) => {
      const key = hexParam(request, 'key');
      patientOr404(key);
      return toJson(
        consentsOfPatient(backend.state(), backend.history(), key, pageRequest(request.query)),
      );
    },

    listAudit: async (request) => {
      const key = hexParam(request, 'key');
      patientOr404(key);
      return toJson(auditTrail(backend.history(), key, pageRequest(request.query)));
    },

    getAuditInclusion: async (request) => {
      const key = hexParam(request, 'key');
      patientOr404(key);
      const index = Number((request.params as Params).index);
      const entry = auditTrail(backend.history(), key, { offset: index, limit: 1 }).items[0];
      const found = entry && (await backend.transaction(entry.txHash));
      const block = found?.status === 'committed' ? await backend.block(found.height) : undefined;
      if (entry === undefined || found?.status !== 'committed' || block === undefined) {
        return notFound(`audit entry ${index} of patient ${toHex(key)}`, 'AUDIT_ENTRY_NOT_FOUND');
      }
      const proof = merkleProof(block.block.txs.map(transactionHash), found.index);
      return toJson({ height: found.height, proof });
    },

    listPatientRecords: async (request) => {
      const key = hexParam(request, 'key');
      patientOr404(key);
      return toJson(
        recordsOfPatient(backend.state(), backend.history(), key, pageRequest(request.query)),
      );
    },

    getConsent: async (request) => {
      const id = hexParam(request, 'id');
      const consent = getConsent(backend.state(), id);
      return consent === undefined
        ? notFound(`consent ${toHex(id)}`, 'CONSENT_NOT_FOUND')
        : toJson(consent);
    },

    getRecord: async (request) => {
      const id = hexParam(request, 'id');
      const reader = backend.state();
      const record = getRecord(reader, id) ?? notFound(`record ${toHex(id)}`, 'RECORD_NOT_FOUND');
      const versions = recordHistory(backend.history(), id, pageRequest(request.query));
      return toJson({ record, versions });
    },

    listOrganizations: async () => {
      const reader = backend.state();
      return toJson({ items: memberIds(reader).map((id) => getOrganization(reader, id)) });
    },

    getOrganization: async (request) => {
      const id = hexParam(request, 'id');
      const reader = backend.state();
      const organization =
        getOrganization(reader, id) ??
        notFound(`organization ${toHex(id)}`, 'ORGANIZATION_NOT_FOUND');
      const providers = providersOfOrganization(
        reader,
        backend.history(),
        id,
        pageRequest(request.query),
      );
      return toJson({ organization, providers });
    },

    getProvider: async (request) => {
      const key = hexParam(request, 'key');
      const provider = getProvider(backend.state(), key);
      return provider === undefined
        ? notFound(`provider ${toHex(key)}`, 'PROVIDER_NOT_FOUND')
        : toJson(provider);
    },

    listProviderConsents: async (request) => {
      const key = hexParam(request, 'key');
      const state = backend.state();
      const provider =
        getProvider(state, key) ?? notFound(`provider ${toHex(key)}`, 'PROVIDER_NOT_FOUND');
      const patient = fromHex((request.query as { patient: string }).patient);
      const ids = [
        ...granteeConsentIds(state, patient, 'provider', key),
        ...granteeConsentIds(state, patient, 'organization', provider.org),
      ];
      const consents = ids
        .map((id) => getConsent(state, id))
        .filter((c): c is ConsentEntry => c !== undefined);
      return toJson(pageOf(consents, pageRequest(request.query)));
    },

    getStateProof: async (request) => {
      const key = fromHex((request.query as { key: string }).key);
      const answer = await backend.stateProof(key);
      return toJson({
        height: answer.height,
        stateRoot: answer.stateRoot,
        header: answer.header,
        certificate: answer.certificate,
        key,
        value: answer.value ?? null,
        proof: encodeStateProof(answer.proof),
      });
    },

    events: async (request, reply) => {
      const { patient } = request.query as { patient?: string };
      if (!events.canAccept()) {
        reply.header('retry-after', '5');
        throw new HttpError(503, 'TOO_MANY_STREAMS', 'too many event streams are open');
      }
      reply.hijack();
      metrics.http.requests.inc({ route: `${API_PREFIX}/events`, status: '200' });
      const lastEventId = request.headers['last-event-id'];
      events.open(
        reply.raw,
        patient === undefined ? null : fromHex(patient),
        typeof lastEventId === 'string' ? Number(lastEventId) : null,
        // The hijacked stream carries the headers the hooks set (security, CORS).
        reply.getHeaders() as OutgoingHttpHeaders,
        streamCheck(request),
      );
      return undefined;
    },

    listEvidence: async () => {
      const { items, total } = await backend.evidence();
      return {
        items: items.map(({ evidence, verified, recordedAt }) =>
          toJson({ ...evidence, verified, recordedAt }),
        ),
        total,
      };
    },

    metrics: async (_request, reply) => {
      reply.header('content-type', metrics.register.contentType);
      return (await metrics.register.metrics()) as Json;
    },
  };
  return handlers;
}

/** Every path the API serves, with the methods it answers (405 and `Allow` for the others). */
function methodsByPath(): Array<{ pattern: RegExp; methods: string[] }> {
  const byPath = new Map<string, string[]>();
  for (const route of ROUTES) {
    const methods = byPath.get(route.path) ?? [];
    methods.push(route.method);
    byPath.set(route.path, methods);
  }
  return [...byPath].map(([path, methods]) => ({
    pattern: new RegExp(`^${API_PREFIX}${path.replace(/:[A-Za-z]+/g, '[^/]+')}$`),
    methods,
  }));
}

function readPem(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new NodeError(
      'NODE_CONFIG_INVALID',
      `config field "${field}": cannot read ${path}: ${(error as Error).message}`,
      field,
    );
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Operation ids of routes whose path names a party or a key (their subject). */
type Params = Record<string, string>;

/**
 * The node's HTTP JSON API (see src/api/README.md and openapi.json). Every input is checked by
 * a JSON schema; bad input gets a 4xx `{error: {code, message}}`; nothing a client sends can
 * make it answer 5xx or crash the node. Who may call what is the table in authorization.ts.
 */
/** A history read this node cannot answer (it started from a state snapshot): 409. */
function isHistoryMissing(error: unknown): error is LedgerError {
  return error instanceof LedgerError && error.code === 'LEDGER_HISTORY_MISSING';
}

export function createApiServer(options: ApiServerOptions): ApiServer {
  const { backend, logger, metrics } = options;
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_API_PORT;
  const now = options.now ?? Date.now;
  const authMode = options.auth ?? 'required';
  const loopback = isLoopbackHost(host);
  if (!loopback && options.tls === undefined && options.insecureHttp !== true) {
    throw new NodeError(
      'NODE_CONFIG_INVALID',
      `config field "api.tls": the API listens on ${host}, which is not loopback, without TLS; set api.tls (cert and key files), or api.insecureHttp: true behind a TLS proxy`,
      'api.tls',
    );
  }
  if (!loopback && authMode === 'off') {
    throw new NodeError(
      'NODE_CONFIG_INVALID',
      `config field "api.auth": "off" is only allowed on a loopback host, not ${host}`,
      'api.auth',
    );
  }
  const https =
    options.tls === undefined
      ? undefined
      : {
          cert: readPem(options.tls.cert, 'api.tls.cert'),
          key: readPem(options.tls.key, 'api.tls.key'),
          ...(options.tls.ca === undefined ? {} : { ca: readPem(options.tls.ca, 'api.tls.ca') }),
          ...(options.tls.requestClientCert === true
            ? { requestCert: true, rejectUnauthorized: true }
            : {}),
        };
  if (https !== undefined) metrics.tls.certificateExpiry.set(certificateExpiry(https.cert));
  const rateLimit = { ...DEFAULT_API_RATE_LIMIT, ...options.rateLimit };
  const authenticator = new Authenticator({
    now,
    replayCacheSize: options.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE,
  });
  const metricsToken =
    options.metricsToken === undefined ? undefined : sha256(options.metricsToken);
  const extraHosts = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const ownOrganization = () =>
    options.nodeKey === undefined
      ? undefined
      : organizationOfValidator(backend.state(), options.nodeKey);

  const streamMetrics = apiMetrics(metrics.register);
  const events = new EventHub(
    backend,
    logger,
    { ...DEFAULT_EVENT_STREAM_OPTIONS, ...options.events },
    {
      onOpen: () => streamMetrics.eventClients.inc(),
      onClose: (openedAt) => {
        streamMetrics.eventClients.dec();
        metrics.http.requestSeconds.observe(
          { route: `${API_PREFIX}/events` },
          (performance.now() - openedAt) / 1000,
        );
      },
      onSlowClientDropped: () => streamMetrics.eventClientsDropped.inc(),
    },
  );

  const app = Fastify({
    ...(https === undefined ? {} : { https }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    exposeHeadRoutes: false,
    // Errors fastify raises before routing (a malformed URL, a bad content-type header).
    frameworkErrors: (error, request, raw) => {
      const reply = raw as unknown as FastifyReply;
      // Helmet's hooks have not run before routing: the headers every answer carries, here.
      reply.headers({
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      });
      // The FHIR endpoint answers every error with an OperationOutcome, these too.
      if (request.url.startsWith(`${FHIR_BASE}/`)) {
        const { status, outcome } = outcomeOfError(error);
        sendOutcome(reply, status, outcome);
        return;
      }
      const status = error.statusCode ?? 400;
      reply.code(status).send({ error: { code: 'BAD_REQUEST', message: error.message } });
    },
    // Unknown query parameters are refused, not silently dropped: a typo must not change meaning.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  }) as unknown as FastifyInstance;
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // The CORS plugin's catch-all preflight route is not part of the API.
      if (method !== 'OPTIONS') routes.push({ method, url: route.url });
    }
  });
  app.setSchemaErrorFormatter((errors, part) => {
    const problems = errors.map((e) => {
      const unknown = (e.params as { additionalProperty?: string }).additionalProperty;
      return `${part}${e.instancePath} ${e.message}${unknown === undefined ? '' : ` (${unknown})`}`;
    });
    return new Error(problems.join('; '));
  });

  // Bodies are read as bytes and kept: a request signature's Content-Digest covers exactly the
  // bytes received, so it is checked against them, not against a re-serialization. POST /v1/tx
  // and /v1/txs read no request signature, so their bodies are not kept.
  const txUrls = new Set([`${API_PREFIX}/tx`, `${API_PREFIX}/txs`]);
  const rawBodies = new WeakMap<FastifyRequest, Buffer>();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(
    ['application/json', 'application/fhir+json'],
    { parseAs: 'buffer' },
    (request, body, done) => {
      // FHIR's JSON type only under /fhir/r4: a /v1 body schema is keyed on application/json,
      // and fastify validates nothing for a content type its schema does not name.
      const fhirJson = /^application\/fhir\+json/i.test(request.headers['content-type'] ?? '');
      if (fhirJson && !request.url.startsWith(`${FHIR_BASE}/`)) {
        done(unsupportedMediaType(request), undefined);
        return;
      }
      if (!txUrls.has(request.routeOptions.url ?? '')) rawBodies.set(request, body as Buffer);
      parseJson(request, (body as Buffer).toString('utf8'), done);
    },
  );
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer' },
    (request, body, done) => {
      // Only transactions travel as raw bytes; elsewhere the JSON schema would be bypassed.
      if (!txUrls.has(request.routeOptions.url ?? '')) {
        done(unsupportedMediaType(request), undefined);
        return;
      }
      done(null, body);
    },
  );

  // DNS rebinding: a page on an attacker's name resolving to 127.0.0.1 reaches a loopback API
  // with its own name in Host; only this machine's names (and configured ones) pass.
  app.addHook('onRequest', (request, _reply, done) => {
    const { localAddress, localPort } = request.raw.socket;
    // Injected requests (tests, benchmarks) have no socket address to protect.
    if (localAddress === undefined || localPort === undefined || !isLoopbackHost(localAddress)) {
      done();
      return;
    }
    const value = (request.headers.host ?? '').toLowerCase();
    const colon = value.lastIndexOf(':');
    const name = colon > value.lastIndexOf(']') ? value.slice(0, colon) : value;
    const portPart = colon > value.lastIndexOf(']') ? value.slice(colon + 1) : '';
    const defaultPort = https === undefined ? 80 : 443;
    const portOk = portPart === String(localPort) || (portPart === '' && localPort === defaultPort);
    if (
      extraHosts.has(value) ||
      (portOk && (name === 'localhost' || name === '127.0.0.1' || name === '[::1]'))
    ) {
      done();
      return;
    }
    done(
      new HttpError(
        403,
        'HOST_NOT_ALLOWED',
        `Host ${JSON.stringify(request.headers.host ?? '')} is not this loopback API's (use 127.0.0.1:${localPort}, or add it to api.allowedHosts)`,
      ),
    );
  });

  app.register(fastifyHelmet, {
    global: true,
    // A JSON API: no document may be framed or run scripts.
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    strictTransportSecurity: https !== undefined,
    crossOriginResourcePolicy: {
      policy: options.corsOrigins?.length ? 'cross-origin' : 'same-origin',
    },
  });
  app.register(fastifyCors, {
    origin: [...(options.corsOrigins ?? [])],
    methods: ['GET', 'POST'],
    allowedHeaders: [
      'content-type',
      'signature',
      'signature-input',
      'content-digest',
      'last-event-id',
    ],
    exposedHeaders: ['retry-after', 'content-digest'],
    maxAge: 600,
    // A preflight without Origin is answered 204 without CORS headers, not with a text 400.
    strictPreflight: false,
  });
  app.register(fastifyRateLimit, {
    global: true,
    max: rateLimit.perAddress,
    timeWindow: rateLimit.windowMs,
    errorResponseBuilder: (_request, context) =>
      new HttpError(
        429,
        'RATE_LIMITED',
        `too many requests from this address; retry in ${context.after}`,
      ),
  });

  // Callback-style hooks here and above: no promise per request on the POST /v1/tx path.
  app.addHook('onSend', (request, reply, payload, done) => {
    // Party data must not sit in shared or browser caches.
    const access = request.routeOptions.config?.access;
    if (access === undefined || ROUTE_ACCESS[access].kind !== 'public') {
      reply.header('cache-control', 'no-store');
    }
    done(null, payload);
  });

  app.addHook('onResponse', async (request, reply) => {
    // Unmatched paths share one label so arbitrary URLs cannot grow the metric without bound.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.http.requests.inc({ route, status: String(reply.statusCode) });
    metrics.http.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.addHook('preClose', async () => events.close());

  const paths = methodsByPath();
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?', 1)[0]!;
    const known = paths.find((p) => p.pattern.test(path));
    if (known !== undefined && !known.methods.includes(request.method)) {
      const allow = known.methods.join(', ');
      return reply
        .code(405)
        .header('allow', allow)
        .send({
          error: {
            code: 'METHOD_NOT_ALLOWED',
            message: `${request.method} is not allowed here; use ${allow}`,
          },
        });
    }
    const shown = request.url.length > 200 ? `${request.url.slice(0, 200)}...` : request.url;
    return reply
      .code(404)
      .send({ error: { code: 'ROUTE_NOT_FOUND', message: `no route ${request.method} ${shown}` } });
  });

  app.setErrorHandler(async (error: FastifyError | HttpError, request, reply) => {
    if (error instanceof RecordError) {
      return reply.code(RECORD_HTTP_STATUS[error.code]).send({
        error: { code: error.code, message: error.message, ...error.details },
      });
    }
    if (error instanceof HttpError || error instanceof AuthError) {
      return reply.code(error.status).send({ error: { code: error.code, message: error.message } });
    }
    if (isHistoryMissing(error)) {
      return reply.code(409).send({ error: { code: 'HISTORY_MISSING', message: error.message } });
    }
    if (error.validation !== undefined) {
      return reply.code(400).send({ error: { code: 'BAD_REQUEST', message: error.message } });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = FASTIFY_ERROR_CODES[error.code] ?? 'BAD_REQUEST';
      const message =
        code === 'UNSUPPORTED_MEDIA_TYPE' ? unsupportedMediaType(request).message : error.message;
      return reply.code(status).send({ error: { code, message } });
    }
    logger.error(
      { err: error, method: request.method, route: request.routeOptions.url },
      'api error',
    );
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });

  const signers = new WeakMap<FastifyRequest, Uint8Array>();
  /** Per event stream request: whether its caller still holds the standing that opened it. */
  const streamChecks = new WeakMap<FastifyRequest, () => boolean>();
  const refusedAsUnknown = new WeakSet<FastifyRequest>();
  const state = () => backend.state();

  /** What the request is about, for the standings (params are schema-checked by now). */
  const subjectOf = async (access: AccessKey, request: FastifyRequest): Promise<Subject> => {
    const params = request.params as Params;
    const hex = (name: string) => fromHex(params[name]!);
    switch (access) {
      case 'getTransaction': {
        const found = await backend.transaction(hex('hash'));
        return found.status === 'unknown' ? {} : { key: found.tx.signer };
      }
      case 'getPatient':
      case 'listConsents':
      case 'listAudit':
      case 'getAuditInclusion':
      case 'listPatientRecords':
        return { patient: hex('key') };
      case 'getDelegate':
        return { patient: hex('key'), key: hex('delegate') };
      case 'getConsent':
        return consentSubject(getConsent(state(), hex('id')));
      case 'getRecord':
        return recordSubject(state(), hex('id'));
      case 'accessDecision': {
        // The body is schema-checked by now; the record it names decides who may ask.
        const { recordId } = (request.body as { request: { recordId: string } }).request;
        return recordSubject(state(), fromHex(recordId));
      }
      case 'getOrganization':
        return { org: hex('id') };
      case 'listProviderConsents': {
        const key = hex('key');
        const org = getProvider(state(), key)?.org;
        return org === undefined ? { key } : { key, org };
      }
      case 'patientEvents':
        return { patient: fromHex((request.query as { patient: string }).patient) };
      default:
        return {};
    }
  };

  const keyLimiter = (instance: FastifyInstance) =>
    instance.createRateLimit({
      max: rateLimit.perKey,
      timeWindow: rateLimit.windowMs,
      keyGenerator: (request) => `key:${toHex(signers.get(request)!)}`,
    });

  const metricsAllowed = (request: FastifyRequest): void => {
    if (isLoopbackHost(request.raw.socket.remoteAddress ?? '')) return;
    const header = request.headers.authorization;
    if (metricsToken !== undefined && typeof header === 'string' && header.startsWith('Bearer ')) {
      // Compared as digests: equal lengths, constant time, and the token's length stays hidden.
      if (timingSafeEqual(sha256(header.slice('Bearer '.length)), metricsToken)) return;
      throw new AuthError(401, 'CREDENTIAL_INVALID', 'the scrape token is wrong');
    }
    throw new AuthError(
      401,
      'CREDENTIAL_MISSING',
      'metrics are served to loopback peers, or with the configured scrape token (Authorization: Bearer)',
    );
  };

  const guard =
    (
      operationId: AccessKey,
      limit: () => ReturnType<FastifyInstance['createRateLimit']>,
      /** The subject of a route outside the /v1 table (the FHIR routes resolve their own). */
      subjectOfRoute?: (request: FastifyRequest) => Subject | Promise<Subject>,
    ) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      let access: AccessKey = operationId;
      if (operationId === 'events' && (request.query as { patient?: string }).patient) {
        access = 'patientEvents';
      }
      let policy: Policy = ROUTE_ACCESS[access];
      let subject: Subject | undefined;
      if (operationId === 'getStateProof') {
        const found = stateKeyAccess(state(), fromHex((request.query as { key: string }).key));
        policy = found.policy;
        subject = found.subject;
      }
      if (policy.kind === 'metrics') return metricsAllowed(request);
      if (policy.kind !== 'signed' || authMode === 'off') return;
      const body = rawBodies.get(request);
      const verified = authenticator.verify({
        method: request.method,
        authority: request.headers.host ?? '',
        url: request.url,
        headers: request.headers,
        body: body === undefined || body.length === 0 ? undefined : body,
      });
      const key = verified.keyId;
      signers.set(request, key);
      const limited = await limit()(request);
      if (!limited.isAllowed && limited.isExceeded) {
        reply.header('retry-after', String(limited.ttlInSeconds));
        throw new AuthError(429, 'RATE_LIMITED', 'too many requests signed by this key');
      }
      // This node's organization costs two state reads: only the vault routes ask for it.
      const needsOwn = policy.allow.some((s) => s === 'own-org-admin' || s === 'own-org-provider');
      const about =
        subject ??
        (subjectOfRoute === undefined
          ? await subjectOf(access, request)
          : await subjectOfRoute(request));
      const standingsNow = () => {
        const reader = state();
        return standingsOf(
          reader,
          identify(reader, key),
          about,
          needsOwn ? ownOrganization() : undefined,
          now(),
        );
      };
      const standings = standingsNow();
      if (REFUSED_AS_NOT_FOUND.has(access) && !allows(policy, standings)) {
        // The route answers as for a subject it does not know, by its own 404 path: the same
        // answer for "unknown here" and "someone else's", so nobody learns which, and a signer
        // polling for a transaction not here yet (sent to another node, or lost in a restart)
        // gets the "not yet" its client waits out.
        refusedAsUnknown.add(request);
      } else {
        decide(policy, standings);
      }
      // Only now, for a request about to be served, does its nonce take a replay-cache slot.
      authenticator.admit(verified);
      // A stream outlives this check: the hub asks again before each block it sends.
      if (operationId === 'events') streamChecks.set(request, () => allows(policy, standingsNow()));
    };

  const validatorSets =
    options.genesis === undefined ? undefined : new ValidatorSetHistory(backend, options.genesis);
  const handlers = {
    ...buildHandlers(
      backend,
      metrics,
      events,
      options.genesis,
      validatorSets,
      (request) => streamChecks.get(request),
      (request) => refusedAsUnknown.has(request),
    ),
    ...recordHandlers(options.records, {
      state,
      history: () => backend.history(),
      ownOrganization,
      now,
      signerOf: (request) => signers.get(request),
      authRequired: authMode === 'required',
    }),
    ...adminHandlers(logger),
  };

  if (options.app !== undefined) registerApp(app, options.app);

  // Routes go in a plugin registered after the rate limiter, whose onRoute hook must see them.
  app.register(async (instance) => {
    let limiter: ReturnType<FastifyInstance['createRateLimit']> | undefined;
    const limit = () => {
      limiter ??= keyLimiter(instance);
      return limiter;
    };
    for (const route of ROUTES) {
      const schema: Record<string, unknown> = { querystring: route.querystring };
      if ('params' in route) schema.params = route.params;
      if ('headers' in route) schema.headers = route.headers;
      if ('body' in route)
        schema.body = { content: { 'application/json': { schema: route.body } } };
      const handler = handlers[route.operationId];
      const isTransaction =
        route.operationId === 'submitTransaction' || route.operationId === 'submitTransactions';
      instance.route({
        method: route.method,
        url: `${API_PREFIX}${route.path}`,
        schema,
        // POST /v1/tx(s) stay on their fast path: each tx signature authenticates it and the
        // mempool's admission limits (per signer and address) bound it.
        config: { access: route.operationId, ...(isTransaction ? { rateLimit: false } : {}) },
        // Helmet costs ~50 µs a request; the transaction answer ({hash}) gets nosniff alone.
        ...(isTransaction ? { helmet: false } : { preHandler: guard(route.operationId, limit) }),
        ...('bodyLimit' in route ? { bodyLimit: route.bodyLimit } : {}),
        handler: async (request, reply) => {
          const body = await handler(request, reply);
          // A hijacked reply (the event stream) is written by its owner, not by fastify.
          return reply.sent ? reply : body;
        },
      });
    }
    instance.register(
      fhirApi({
        backend,
        logger,
        authorize: (access, subject) => guard(access, limit, subject),
        signerOf: (request) => signers.get(request),
        keepBody: (request, body) => rawBodies.set(request, body),
        ...(options.fhirRouteSets === undefined ? {} : { routeSets: options.fhirRouteSets }),
      }),
      { prefix: FHIR_BASE },
    );
  });

  return {
    fastify: app,
    routes,
    authenticator,
    async start() {
      try {
        return await app.listen({ host, port });
      } catch (error) {
        throw new NodeError(
          'NODE_API_LISTEN',
          `cannot listen on ${host}:${port}: ${(error as Error).message}`,
        );
      }
    },
    async close() {
      const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}

function unsupportedMediaType(request: FastifyRequest): HttpError {
  return new HttpError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `content type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted: send application/json (or application/octet-stream to POST /v1/tx or /v1/txs)`,
  );
}
