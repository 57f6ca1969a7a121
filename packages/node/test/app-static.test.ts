import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createApiServer } from '../src/api/index.js';
import { loadConfig } from '../src/config.js';
import { NodeError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { LedgerBackend } from './api-chain.js';
import { tempDir } from './helpers.js';

/**
 * The node serves the built web app under /app over real HTTP, with request authentication on:
 * public files, the app's own CSP, the dashboard's node list, an unbuilt app answered with a
 * code, and the API's host check in front of it.
 */

const DASHBOARD = ['http://127.0.0.1:7703', 'https://node.hospital-c.example:7701'];
const INDEX = '<!doctype html><html lang="en"><title>medchain</title></html>';
const ASSET = 'export const x = 1;';

let dir: { path: string; remove: () => Promise<void> };
let built: string;
let unbuilt: string;
const servers: ApiServer[] = [];

async function serve(app?: { root: string; dashboardNodes?: string[] }): Promise<string> {
  const api = createApiServer({
    backend: new LedgerBackend(),
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    port: 0,
    ...(app === undefined ? {} : { app }),
  });
  servers.push(api);
  return api.start();
}

/** A GET with an explicit Host header (fetch may not set it), redirects not followed. */
function getWithHost(
  url: string,
  host: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

beforeAll(async () => {
  dir = await tempDir('app');
  built = join(dir.path, 'built');
  mkdirSync(join(built, 'assets'), { recursive: true });
  writeFileSync(join(built, 'index.html'), INDEX);
  writeFileSync(join(built, 'assets', 'index-Abc123.js'), ASSET);
  writeFileSync(join(dir.path, 'secret.txt'), 'outside the app');
  unbuilt = join(dir.path, 'unbuilt');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await dir.remove();
});

describe('the web app under /app', () => {
  let url: string;
  beforeAll(async () => {
    url = await serve({ root: built, dashboardNodes: DASHBOARD });
  });

  it('serves index.html without a request signature, under a strict CSP naming the dashboard nodes', async () => {
    const response = await fetch(`${url}/app/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toBe(INDEX);
    const csp = response.headers.get('content-security-policy');
    expect(csp).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        `connect-src 'self' ${DASHBOARD.join(' ')}; font-src 'self'; manifest-src 'self'; ` +
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(csp).not.toMatch(/unsafe|https:(?!\/\/)|\*/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    // index.html must be revalidated so a rebuilt app is picked up.
    expect(response.headers.get('cache-control')).toBe('no-cache');
  });

  it('serves hashed assets as immutable, with their type', async () => {
    const response = await fetch(`${url}/app/assets/index-Abc123.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^(text|application)\/javascript/);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await response.text()).toBe(ASSET);
  });

  it('redirects / and /app to /app/', async () => {
    const root = await fetch(`${url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/app/');
    const bare = await fetch(`${url}/app`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/app/');
    for (const redirect of [root, bare]) {
      expect(redirect.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    }
  });

  it('lists the dashboard nodes at /app/config.json, and nothing else', async () => {
    const response = await fetch(`${url}/app/config.json`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ dashboardNodes: DASHBOARD });
  });

  it('answers a missing file 404 APP_FILE_NOT_FOUND, and keeps the API CSP on API routes', async () => {
    const response = await fetch(`${url}/app/nope.js`);
    expect(response.status).toBe(404);
    expect((await errorOf(response)).code).toBe('APP_FILE_NOT_FOUND');
    const health = await fetch(`${url}/v1/health`);
    expect(health.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    expect(health.headers.get('content-security-policy')).not.toContain('connect-src');
  });

  it('refuses a foreign Host (DNS rebinding) before serving the app', async () => {
    const { port } = new URL(url);
    const foreign = await getWithHost(`${url}/app/`, `attacker.example:${port}`);
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body).error.code).toBe('HOST_NOT_ALLOWED');
    expect(foreign.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect((await getWithHost(`${url}/app/`, `localhost:${port}`)).status).toBe(200);
  });

  it('never answers 5xx nor a file outside the app, whatever the path', async () => {
    const segment = fc.oneof(
      fc.constantFrom('..', '%2e%2e', '%2E%2E%2F', '.', 'secret.txt', 'assets', '%00', '%', '~'),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { maxLength: 5 }), async (segments) => {
        const path = `/app/${segments.join('/')}`;
        const response = await servers[0]!.fastify.inject({ method: 'GET', url: path });
        expect(response.statusCode, path).toBeLessThan(500);
        expect(response.body, path).not.toContain('outside the app');
        // Errors too (a malformed path is refused before routing) carry a CSP and no caching.
        expect(response.headers['content-security-policy'], path).toMatch(/frame-ancestors 'none'/);
        expect(response.headers['x-content-type-options'], path).toBe('nosniff');
        // Only a served file may be cached (an asset, immutably); an error never is.
        expect(response.headers['cache-control'], path).toMatch(
          response.statusCode < 300
            ? /^(no-cache|public, max-age=31536000, immutable)$/
            : /^no-(store|cache)$/,
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('an app that is not built', () => {
  it('answers 503 APP_NOT_BUILT saying to run pnpm build, then serves it once built', async () => {
    const url = await serve({ root: unbuilt });
    for (const path of ['/app/', '/app/assets/index-Abc123.js', '/app/config.json']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status, path).toBe(503);
      const error = await errorOf(response);
      expect(error.code).toBe('APP_NOT_BUILT');
      expect(error.message).toContain('pnpm build');
      // Public answer: the node's install path is not the visitor's business.
      expect(error.message).not.toContain(unbuilt);
    }
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    mkdirSync(unbuilt);
    writeFileSync(join(unbuilt, 'index.html'), INDEX);
    expect((await fetch(`${url}/app/`)).status).toBe(200);
    rmSync(unbuilt, { recursive: true });
  });
});

describe('a node without the app', () => {
  it('does not route /app', async () => {
    const url = await serve();
    const response = await fetch(`${url}/app/`);
    expect(response.status).toBe(404);
    expect((await errorOf(response)).code).toBe('ROUTE_NOT_FOUND');
  });
});

describe('config api.app', () => {
  const fieldOf = (run: () => unknown): string | undefined => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(NodeError);
      return (error as NodeError).field;
    }
    throw new Error('expected a NodeError');
  };

  it('is enabled with no dashboard nodes by default; dashboard nodes are exact origins', () => {
    const home = dir.path;
    expect(loadConfig(home).api.app).toEqual({ enabled: true, dashboardNodes: [] });
    const set = loadConfig(home, {
      api: { app: { dashboardNodes: ['http://127.0.0.1:7703'] } as never },
    });
    expect(set.api.app).toEqual({ enabled: true, dashboardNodes: ['http://127.0.0.1:7703'] });
    expect(
      fieldOf(() =>
        loadConfig(home, {
          api: { app: { dashboardNodes: ['http://127.0.0.1:7703/v1'] } as never },
        }),
      ),
    ).toBe('api.app.dashboardNodes[0]');
    expect(fieldOf(() => loadConfig(home, { api: { app: { enabled: 'yes' } as never } }))).toBe(
      'api.app.enabled',
    );
    expect(fieldOf(() => loadConfig(home, { api: { app: { nodes: [] } as never } }))).toBe(
      'api.app.nodes',
    );
  });
});
