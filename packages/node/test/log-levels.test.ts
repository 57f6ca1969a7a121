import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { MedchainClient, signRequest } from '@medchain/client';
import { type Signer, utf8 } from '@medchain/crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, createApiServer } from '../src/api/index.js';
import { loadConfig } from '../src/config.js';
import {
  createLogger,
  LOG_LEVELS,
  LOG_MODULES,
  type Logger,
  type LogLevel,
  type LogModule,
  logLevelsOf,
  moduleLogger,
  withModuleLevels,
} from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { populatedBackend } from './api-chain.js';

/**
 * Per-module log levels: set in config (`logLevels`), and changed at run time through
 * GET/POST /v1/admin/log-levels, which only an admin of the node's own organization may call.
 */

function memoryLog() {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  const lines = () =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { module?: string; msg: string; level: number });
  return { stream, lines };
}

describe('module levels in the logger', () => {
  it('each module child logs at its own level, and a change reaches children already made', () => {
    const out = memoryLog();
    const root = createLogger({
      level: 'info',
      modules: { consensus: 'debug', net: 'error' },
      destination: out.stream,
    });
    const consensus = moduleLogger(root, 'consensus');
    const net = moduleLogger(root, 'net');
    const api = moduleLogger(root, 'api');
    consensus.debug('c-debug');
    net.warn('n-warn');
    api.info('a-info');
    api.debug('a-debug');
    logLevelsOf(api).apply({ level: 'warn', modules: { net: 'debug', consensus: null } });
    consensus.info('c-info');
    consensus.warn('c-warn');
    net.debug('n-debug');
    api.info('a-info-2');
    expect(out.lines().map((line) => `${line.module}:${line.msg}`)).toEqual([
      'consensus:c-debug',
      'api:a-info',
      'consensus:c-warn',
      'net:n-debug',
    ]);
  });

  it('the levels in force always match the model, for any sequence of changes', () => {
    const level = fc.constantFrom(...LOG_LEVELS);
    const module = fc.constantFrom(...LOG_MODULES);
    const change = fc.record(
      {
        level,
        modules: fc.dictionary(module, fc.option(level, { nil: null })),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(change, { maxLength: 8 }), fc.uniqueArray(module), (changes, made) => {
        const root = createLogger({ level: 'info', destination: memoryLog().stream });
        const children = new Map<LogModule, Logger>(made.map((m) => [m, moduleLogger(root, m)]));
        let model = { level: 'info' as LogLevel, modules: new Map<LogModule, LogLevel>() };
        for (const step of changes) {
          const view = logLevelsOf(root).apply(step);
          model = { level: step.level ?? model.level, modules: new Map(model.modules) };
          for (const [m, l] of Object.entries(step.modules ?? {})) {
            if (l === null) model.modules.delete(m as LogModule);
            else model.modules.set(m as LogModule, l);
          }
          expect(view.level).toBe(model.level);
          expect(view.modules).toEqual(Object.fromEntries(model.modules));
          for (const m of LOG_MODULES) {
            const expected = model.modules.get(m) ?? model.level;
            expect(view.effective[m]).toBe(expected);
            if (children.has(m)) expect(children.get(m)!.level).toBe(expected);
          }
        }
      }),
    );
  });

  it('withModuleLevels applies config levels to a logger made elsewhere', () => {
    const out = memoryLog();
    const root = withModuleLevels(createLogger({ level: 'warn', destination: out.stream }), {
      sync: 'debug',
    });
    moduleLogger(root, 'sync').debug('s-debug');
    moduleLogger(root, 'db').info('d-info');
    expect(out.lines().map((line) => line.msg)).toEqual(['s-debug']);
  });
});

describe('config logLevels', () => {
  const home = mkdtempSync(join(tmpdir(), 'medchain-log-levels-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  const withFile = (content: unknown) => {
    writeFileSync(join(home, 'config.json'), JSON.stringify(content));
    return () => loadConfig(home);
  };

  it('defaults to none, and takes a level per known module', () => {
    expect(withFile({})().logLevels).toEqual({});
    expect(withFile({ logLevels: { consensus: 'debug', api: 'warn' } })().logLevels).toEqual({
      consensus: 'debug',
      api: 'warn',
    });
  });

  it('refuses an unknown module or level, naming the field', () => {
    expect(withFile({ logLevels: { consensos: 'debug' } })).toThrow(
      expect.objectContaining({ code: 'NODE_CONFIG_UNKNOWN_FIELD', field: 'logLevels.consensos' }),
    );
    expect(withFile({ logLevels: { consensus: 'loud' } })).toThrow(
      expect.objectContaining({ code: 'NODE_CONFIG_INVALID', field: 'logLevels.consensus' }),
    );
    expect(withFile({ logLevels: 'debug' })).toThrow(
      expect.objectContaining({ code: 'NODE_CONFIG_INVALID', field: 'logLevels' }),
    );
  });
});

describe('GET/POST /v1/admin/log-levels', () => {
  const { backend, a, b, clinician, alice } = populatedBackend();
  const out = memoryLog();
  const root = createLogger({ level: 'info', destination: out.stream });
  const consensus = moduleLogger(root, 'consensus');
  let server: ApiServer;
  let base = '';
  const clock = () => backend.time + 60_000;

  beforeAll(async () => {
    server = createApiServer({
      backend,
      logger: moduleLogger(root, 'api'),
      metrics: createMetrics(),
      port: 0,
      nodeKey: a.validator.publicKey,
      now: clock,
    });
    base = await server.start();
  });
  afterAll(() => server.close());

  async function call(
    method: 'GET' | 'POST',
    as: Signer | undefined,
    body?: unknown,
    type = 'application/json',
  ) {
    const url = `${base}/v1/admin/log-levels`;
    const bytes = body === undefined ? undefined : utf8(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (bytes !== undefined) headers['content-type'] = type;
    if (as !== undefined) {
      Object.assign(
        headers,
        await signRequest({ method, url, ...(bytes === undefined ? {} : { body: bytes }) }, as, {
          now: clock(),
          nonce: randomBytes(18).toString('base64url'),
        }),
      );
    }
    const response = await fetch(url, { method, headers, ...(bytes ? { body: bytes } : {}) });
    return {
      status: response.status,
      body: (await response.json()) as {
        level?: string;
        modules?: object;
        effective: Record<string, string>;
        error?: { code: string };
      },
    };
  }

  it("lets this node's organization's admin read and change the levels, at once", async () => {
    const read = await call('GET', a.admin);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ level: 'info', modules: {} });
    expect(read.body.effective.consensus).toBe('info');
    consensus.debug('before');
    const set = await call('POST', a.admin, { modules: { consensus: 'debug' } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ level: 'info', modules: { consensus: 'debug' } });
    consensus.debug('after');
    const messages = out.lines().map((line) => line.msg);
    expect(messages).not.toContain('before');
    expect(messages).toContain('after');
    expect(out.lines()).toContainEqual(
      expect.objectContaining({ module: 'api', msg: 'log levels changed' }),
    );
    const back = await call('POST', a.admin, { level: 'warn', modules: { consensus: null } });
    expect(back.body).toMatchObject({ level: 'warn', modules: {} });
    expect(consensus.level).toBe('warn');
  });

  it('works through @medchain/client as docs/OPERATIONS.md shows', async () => {
    const client = new MedchainClient({ url: base, signer: a.admin, now: clock });
    const set = await client.post<{ effective: Record<string, string> }>('/admin/log-levels', {
      modules: { sync: 'trace' },
    });
    expect(set.effective.sync).toBe('trace');
    await client.post('/admin/log-levels', { modules: { sync: null } });
    expect(logLevelsOf(root).view().modules).not.toHaveProperty('sync');
  });

  it("refuses everyone else: another member's admin, the validator key, providers, patients", async () => {
    const levels = logLevelsOf(root).view();
    for (const as of [b.admin, a.validator, b.validator, clinician, alice]) {
      for (const method of ['GET', 'POST'] as const) {
        const answer = await call(method, as, method === 'POST' ? { level: 'trace' } : undefined);
        expect(answer).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      }
    }
    expect(await call('POST', undefined, { level: 'trace' })).toMatchObject({
      status: 401,
      body: { error: { code: 'SIGNATURE_MISSING' } },
    });
    expect(logLevelsOf(root).view()).toEqual(levels);
  });

  it('answers 400 to an unknown module or level, an empty change, and changes nothing', async () => {
    const levels = logLevelsOf(root).view();
    for (const body of [
      { modules: { consensos: 'debug' } },
      { level: 'loud' },
      { modules: { consensus: 'loud' } },
      {},
      { level: 'info', extra: 1 },
    ]) {
      const answer = await call('POST', a.admin, body);
      expect(answer, JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { error: { code: 'BAD_REQUEST' } },
      });
    }
    // FHIR's JSON type (parsed for /fhir/r4) is no way around the body's schema: 415 here.
    expect(
      await call('POST', a.admin, { modules: { consensus: 'loud' } }, 'application/fhir+json'),
    ).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    const charset = await call(
      'POST',
      a.admin,
      { level: 'loud' },
      'application/json; charset=utf-8',
    );
    expect(charset.status).toBe(400);
    expect(logLevelsOf(root).view()).toEqual(levels);
  });
});
