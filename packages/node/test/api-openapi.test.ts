import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createApiServer, openApiDocument } from '../src/api/index.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { LedgerBackend } from './api-chain.js';

const FILE = new URL('../openapi.json', import.meta.url);

type Operation = { parameters: Array<{ name: string; in: string }> };
type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas: object } };

const generated = openApiDocument() as unknown as Doc;
// `UPDATE_OPENAPI=1 npx vitest run packages/node/test/api-openapi.test.ts` rewrites the file.
if (process.env.UPDATE_OPENAPI === '1') {
  writeFileSync(FILE, `${JSON.stringify(generated, null, 2)}\n`);
}
const committed = JSON.parse(readFileSync(FILE, 'utf8')) as Doc;

function server() {
  return createApiServer({
    backend: new LedgerBackend(),
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    port: 0,
  });
}

describe('OpenAPI document (packages/node/openapi.json)', () => {
  it('is the document the route table generates (regenerate it after changing a route)', () => {
    expect(committed).toEqual(generated);
  });

  it('describes exactly the routes fastify registered', async () => {
    const api = server();
    await api.fastify.ready();
    const registered = api.routes
      // The FHIR endpoint states its routes in its own CapabilityStatement (fhir-rest.test.ts).
      .filter(({ url }) => !url.startsWith('/fhir/'))
      .map(({ method, url }) => `${method} ${url.replace(/:([A-Za-z]+)/g, '{$1}')}`)
      .sort();
    const documented = Object.entries(committed.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(registered).toEqual(documented);
    await api.close();
  });

  it('every documented path answers from its own route, never the not-found handler', async () => {
    const api = server();
    const sample = '00'.repeat(32);
    for (const [path, methods] of Object.entries(committed.paths)) {
      for (const method of Object.keys(methods)) {
        // The stream route would hold the connection open; a bad query still reaches the route.
        const url =
          path.replace(/\{[A-Za-z]+\}/g, sample) + (path.endsWith('/events') ? '?patient=x' : '');
        const response = await api.fastify.inject({ method: method.toUpperCase() as 'GET', url });
        const isJson = String(response.headers['content-type']).startsWith('application/json');
        const code = isJson ? (response.json().error?.code ?? null) : null;
        expect({ url, code }).not.toEqual({
          url,
          code: 'ROUTE_NOT_FOUND',
        });
      }
    }
    await api.close();
  });

  it('declares every path parameter and resolves every schema reference', () => {
    const text = JSON.stringify(committed);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([A-Za-z]+)"/g)) {
      expect(Object.keys(committed.components.schemas)).toContain(name);
    }
    for (const [path, methods] of Object.entries(committed.paths)) {
      const names = [...path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]);
      for (const operation of Object.values(methods)) {
        const declared = operation.parameters.filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared.sort()).toEqual(names.sort());
      }
    }
  });
});
