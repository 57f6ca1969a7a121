import { type Policy, ROUTE_ACCESS, STATE_TABLE_ACCESS } from './authorization.js';
import {
  API_PREFIX,
  COMPONENT_SCHEMAS,
  type JsonSchema,
  ROUTES,
  type RouteSpec,
} from './routes.js';
import { DEFAULT_API_PORT } from './server.js';

/** `/tx/:hash` (fastify) -> `/tx/{hash}` (OpenAPI). */
export function openApiPath(fastifyPath: string): string {
  return fastifyPath.replace(/:([A-Za-z]+)/g, '{$1}');
}

const ERROR_RESPONSE = {
  description: 'error',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

function parameters(route: RouteSpec): unknown[] {
  const list = (where: 'path' | 'query' | 'header', schema: JsonSchema | undefined) => {
    const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
    const required = (schema?.required ?? []) as string[];
    return Object.entries(properties).map(([name, property]) => ({
      name,
      in: where,
      required: where === 'path' || required.includes(name),
      schema: property,
    }));
  };
  return [
    ...list('path', route.params),
    ...list('query', route.querystring),
    ...list('header', route.headers),
  ];
}

// OpenAPI has no scheme type for RFC 9421; the closest is a header-borne credential, with the
// profile in words.
const SIGNATURE_SCHEME = {
  type: 'apiKey',
  in: 'header',
  name: 'Signature',
  description:
    'HTTP Message Signatures (RFC 9421) with the medchain profile: label `medchain`; covered components, in order, "@method" "@authority" "@path" "@query" and, when the request has a body, "content-digest" (RFC 9530, `sha-256=:<base64>:` of the exact body bytes); parameters, in order, created, expires (expires - created <= 300 s), nonce (16-64 chars of [A-Za-z0-9_-], fresh per request), keyid (the signer\'s Ed25519 public key, 64 lowercase hex), alg="ed25519", tag="medchain-v1". Headers Signature-Input, Signature (medchain=:<base64 64-byte Ed25519 signature over the signature base>:) and Content-Digest. The node accepts now <= expires and created <= now + 30 s, each (keyid, nonce) once, and resolves the key\'s roles from committed state. 401: SIGNATURE_MISSING, SIGNATURE_MALFORMED, SIGNATURE_PROFILE, SIGNATURE_EXPIRED, SIGNATURE_NOT_YET_VALID, SIGNATURE_BAD_KEY, SIGNATURE_INVALID, DIGEST_MISSING, DIGEST_MISMATCH, SIGNATURE_REPLAYED, KEY_UNKNOWN; 403 FORBIDDEN. See docs and src/api/README.md for who may call what.',
};

const SCRAPE_SCHEME = {
  type: 'http',
  scheme: 'bearer',
  description:
    'GET /v1/metrics from a non-loopback address: the token configured as api.metricsToken (loopback peers need none).',
};

/** Who may call the route, in words (the authorization table's cell). */
function accessText(policy: Policy): string {
  switch (policy.kind) {
    case 'public':
      return 'Public: no request signature.';
    case 'transaction':
      return "Public: the transaction's own signature authenticates it (no request signature).";
    case 'access-request':
      return "No request signature: the requester's signed AccessRequest authenticates it; the requester must be an active provider, the patient or a live delegate (else 403 REQUESTER_NO_ROLE, nothing logged).";
    case 'metrics':
      return 'A loopback peer, or the scrape token (Authorization: Bearer).';
    case 'signed':
      return `Signed request (medchainSignature) by a key with one of these standings: ${policy.allow.join(', ')}.`;
  }
}

function security(operationId: string): Record<string, unknown> {
  if (operationId === 'getStateProof') {
    const tables = Object.entries(STATE_TABLE_ACCESS)
      .map(([table, policy]) => `${table}: ${accessText(policy)}`)
      .join(' ');
    return {
      security: [{}, { medchainSignature: [] }],
      'x-medchain-access': `By the proven key's table (the rule of the entry it proves). ${tables}`,
    };
  }
  const policy = (ROUTE_ACCESS as Record<string, Policy>)[operationId]!;
  const text = accessText(policy);
  if (operationId === 'events') {
    return {
      security: [{ medchainSignature: [] }],
      'x-medchain-access': `${text} With ?patient=: ${accessText(ROUTE_ACCESS.patientEvents)}`,
    };
  }
  if (policy.kind === 'signed') {
    return { security: [{ medchainSignature: [] }], 'x-medchain-access': text };
  }
  if (policy.kind === 'metrics') {
    return { security: [{}, { metricsToken: [] }], 'x-medchain-access': text };
  }
  return { security: [], 'x-medchain-access': text };
}

function operation(route: RouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] =
      response.schema === undefined
        ? { ...ERROR_RESPONSE, description: response.description }
        : {
            description: response.description,
            content: { [response.contentType ?? 'application/json']: { schema: response.schema } },
          };
  }
  responses['4XX'] = {
    ...ERROR_RESPONSE,
    description:
      'invalid request, 401 not authenticated, 403 not allowed, 405, 415, 429 (Retry-After): {error: {code, message}}',
  };
  const op: Record<string, unknown> = {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
    ...security(route.operationId),
    parameters: parameters(route),
    responses,
  };
  if (route.body !== undefined) {
    const content: Record<string, unknown> = { 'application/json': { schema: route.body } };
    if (route.rawBody !== undefined) {
      content[route.rawBody.contentType] = {
        schema: { type: 'string', contentMediaType: route.rawBody.contentType },
      };
    }
    op.requestBody = { required: true, content };
  }
  return op;
}

/** The OpenAPI 3.1 description of the API, generated from the route table. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES as readonly RouteSpec[]) {
    const path = openApiPath(`${API_PREFIX}${route.path}`);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'medchain node API',
      version: '1.0.0',
      description:
        'The HTTP JSON API of a medchain node (loopback by default; HTTPS with api.tls). Bytes are lowercase hex, bigints decimal strings; every error body is {"error": {"code", "message"}}. Routes that act for a party or read party data need an HTTP message signature (medchainSignature); each operation says who may call it (x-medchain-access).',
    },
    servers: [{ url: `http://127.0.0.1:${DEFAULT_API_PORT}` }],
    paths,
    components: {
      schemas: COMPONENT_SCHEMAS,
      securitySchemes: { medchainSignature: SIGNATURE_SCHEME, metricsToken: SCRAPE_SCHEME },
    },
  };
}
