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
    description: 'invalid request ({error: {code, message}})',
  };
  const op: Record<string, unknown> = {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
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
        'The HTTP JSON API of a medchain node (loopback by default). Bytes are lowercase hex, bigints decimal strings; every error body is {"error": {"code", "message"}}.',
    },
    servers: [{ url: `http://127.0.0.1:${DEFAULT_API_PORT}` }],
    paths,
    components: { schemas: COMPONENT_SCHEMAS },
  };
}
