import { fromHex, toHex } from '@medchain/crypto';
import {
  auditTrail,
  consentsOfPatient,
  encodeStateProof,
  getConsent,
  getDelegate,
  getOrganization,
  getPatient,
  getProvider,
  getRecord,
  memberIds,
  type PageRequest,
  providersOfOrganization,
  recordHistory,
  recordsOfPatient,
} from '@medchain/ledger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { RECORD_HTTP_STATUS, RecordError } from '../records/errors.js';
import { type RecordOperationId, type RecordsApi, recordHandlers } from '../records/http.js';
import type { ApiBackend, SubmitRejection } from './backend.js';
import { DEFAULT_EVENT_STREAM_OPTIONS, EventHub, type EventStreamOptions } from './events.js';
import { blockJson, type Json, toJson, transactionJson } from './json.js';
import { API_PREFIX, type OperationId, ROUTES } from './routes.js';

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
}

export interface ApiServer {
  /** Listens and returns the address, e.g. `http://127.0.0.1:8645`. */
  start(): Promise<string>;
  /** Ends the event streams, stops listening and waits for requests in flight. */
  close(): Promise<void>;
  /** The fastify instance, for `inject` in tests. */
  readonly fastify: FastifyInstance;
  /** Every route fastify registered (method and URL), as the OpenAPI test compares them. */
  readonly routes: ReadonlyArray<{ readonly method: string; readonly url: string }>;
}

/** The default of the node config (`api.port`). */
export const DEFAULT_API_PORT = 7701;
/** Room for the hex of the largest transaction (2 x 16 KiB) and JSON framing. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** An error the API answers with a status and a code (never a 5xx for bad input). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const REJECTION_STATUS: Record<SubmitRejection, number> = {
  MALFORMED: 400,
  WRONG_CHAIN: 400,
  BAD_SIGNATURE: 400,
  BAD_NONCE: 409,
  DUPLICATE: 409,
  TOO_LARGE: 413,
  RATE_LIMITED: 429,
  MEMPOOL_FULL: 503,
  NOT_READY: 503,
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

function buildHandlers(backend: ApiBackend, metrics: Metrics, events: EventHub) {
  const patientOr404 = (key: Uint8Array) => {
    const patient = getPatient(backend.state(), key);
    return patient ?? notFound(`patient ${toHex(key)}`, 'PATIENT_NOT_FOUND');
  };

  const handlers: Record<Exclude<OperationId, RecordOperationId>, Handler> = {
    health: async () => ({ status: 'ok' }),

    status: async () => {
      const status = await backend.status();
      return toJson(status);
    },

    submitTransaction: async (request, reply) => {
      const body = request.body;
      const bytes = Buffer.isBuffer(body)
        ? new Uint8Array(body)
        : fromHex((body as { tx: string }).tx);
      if (bytes.length === 0) throw new HttpError(400, 'BAD_REQUEST', 'empty transaction');
      const result = await backend.submitTransaction(bytes);
      if (!result.accepted) {
        const status = REJECTION_STATUS[result.code];
        if (status === 429 || status === 503) reply.header('retry-after', '1');
        throw new HttpError(status, result.code, result.message);
      }
      reply.code(202);
      return { hash: toHex(result.hash) };
    },

    getTransaction: async (request): Promise<Json> => {
      const hash = hexParam(request, 'hash');
      const found = await backend.transaction(hash);
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
      return toJson(consentsOfPatient(backend.state(), key, pageRequest(request.query)));
    },

    listAudit: async (request) => {
      const key = hexParam(request, 'key');
      patientOr404(key);
      return toJson(auditTrail(backend.state(), key, pageRequest(request.query)));
    },

    listPatientRecords: async (request) => {
      const key = hexParam(request, 'key');
      patientOr404(key);
      return toJson(recordsOfPatient(backend.state(), key, pageRequest(request.query)));
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
      return toJson({ record, versions: recordHistory(reader, id, pageRequest(request.query)) });
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
      const providers = providersOfOrganization(reader, id, pageRequest(request.query));
      return toJson({ organization, providers });
    },

    getProvider: async (request) => {
      const key = hexParam(request, 'key');
      const provider = getProvider(backend.state(), key);
      return provider === undefined
        ? notFound(`provider ${toHex(key)}`, 'PROVIDER_NOT_FOUND')
        : toJson(provider);
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

/**
 * The node's HTTP JSON API (see src/api/README.md and openapi.json). Every input is checked by
 * a JSON schema; bad input gets a 4xx `{error: {code, message}}`; nothing a client sends can
 * make it answer 5xx or crash the node.
 */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const { backend, logger, metrics } = options;
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_API_PORT;
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
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    exposeHeadRoutes: false,
    // Errors fastify raises before routing (a malformed URL, a bad content-type header).
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode ?? 400;
      const body = { error: { code: 'BAD_REQUEST', message: error.message } };
      (reply as unknown as FastifyReply).code(status).send(body);
    },
    // Unknown query parameters are refused, not silently dropped: a typo must not change meaning.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  app.setSchemaErrorFormatter((errors, part) => {
    const problems = errors.map((e) => {
      const unknown = (e.params as { additionalProperty?: string }).additionalProperty;
      return `${part}${e.instancePath} ${e.message}${unknown === undefined ? '' : ` (${unknown})`}`;
    });
    return new Error(problems.join('; '));
  });
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );

  app.addHook('onResponse', async (request, reply) => {
    // Unmatched paths share one label so arbitrary URLs cannot grow the metric without bound.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.http.requests.inc({ route, status: String(reply.statusCode) });
    metrics.http.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.addHook('preClose', async () => events.close());

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.length > 200 ? `${request.url.slice(0, 200)}...` : request.url;
    return reply
      .code(404)
      .send({ error: { code: 'ROUTE_NOT_FOUND', message: `no route ${request.method} ${path}` } });
  });

  app.setErrorHandler(async (error: FastifyError | HttpError, request, reply) => {
    if (error instanceof RecordError) {
      return reply.code(RECORD_HTTP_STATUS[error.code]).send({
        error: { code: error.code, message: error.message, ...error.details },
      });
    }
    if (error instanceof HttpError) {
      return reply.code(error.status).send({ error: { code: error.code, message: error.message } });
    }
    if (error.validation !== undefined) {
      return reply.code(400).send({ error: { code: 'BAD_REQUEST', message: error.message } });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = FASTIFY_ERROR_CODES[error.code] ?? 'BAD_REQUEST';
      const message =
        code === 'UNSUPPORTED_MEDIA_TYPE'
          ? `content type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted: send application/json (or application/octet-stream to POST /v1/tx)`
          : error.message;
      return reply.code(status).send({ error: { code, message } });
    }
    logger.error(
      { err: error, method: request.method, route: request.routeOptions.url },
      'api error',
    );
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
  });

  const handlers = {
    ...buildHandlers(backend, metrics, events),
    ...recordHandlers(options.records),
  };
  for (const route of ROUTES) {
    const schema: Record<string, unknown> = { querystring: route.querystring };
    if ('params' in route) schema.params = route.params;
    if ('headers' in route) schema.headers = route.headers;
    if ('body' in route) schema.body = { content: { 'application/json': { schema: route.body } } };
    const handler = handlers[route.operationId];
    app.route({
      method: route.method,
      url: `${API_PREFIX}${route.path}`,
      schema,
      ...('bodyLimit' in route ? { bodyLimit: route.bodyLimit } : {}),
      handler: async (request, reply) => {
        const body = await handler(request, reply);
        // A hijacked reply (the event stream) is written by its owner, not by fastify.
        return reply.sent ? reply : body;
      },
    });
  }

  return {
    fastify: app,
    routes,
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
      await app.close();
    },
  };
}
