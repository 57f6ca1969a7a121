import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONFIG_FILE_NAME,
  DEFAULT_CONFIG,
  loadConfig,
  MAX_CLOCK_OFFSET_MS,
  NodeError,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function home(config?: unknown): Promise<string> {
  const dir = await tempDir('config');
  cleanups.push(dir.remove);
  if (config !== undefined) {
    await mkdir(dir.path, { recursive: true });
    const text = typeof config === 'string' ? config : JSON.stringify(config);
    await writeFile(join(dir.path, CONFIG_FILE_NAME), text);
  }
  return dir.path;
}

async function somePeerId(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
}

function codeOf(run: () => unknown): { code: string; field: string | undefined } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(NodeError);
    return { code: (error as NodeError).code, field: (error as NodeError).field };
  }
  throw new Error('expected a NodeError');
}

describe('loadConfig', () => {
  it('uses the documented defaults when there is no config file', async () => {
    const path = await home();
    const config = loadConfig(path);
    expect(config).toEqual({ ...DEFAULT_CONFIG, home: path });
    expect(config.api.host).toBe('127.0.0.1');
    expect(config.privateNetwork).toBe(true);
  });

  it("the mempool's admission limits: the documented defaults, set by the file", async () => {
    const defaults = loadConfig(await home()).mempool;
    expect(defaults).toMatchObject({
      maxPerSigner: 256,
      maxPerAddress: 2_000,
      futureNonceTtlMs: 60_000,
    });
    const path = await home({ mempool: { maxPerSigner: 16, futureNonceTtlMs: 5_000 } });
    expect(loadConfig(path, { mempool: { maxPerAddress: 100 } }).mempool).toEqual({
      ...defaults,
      maxPerSigner: 16,
      maxPerAddress: 100,
      futureNonceTtlMs: 5_000,
    });
  });

  it('the memory bounds: the documented defaults, set one by one by the file', async () => {
    const defaults = loadConfig(await home()).memory;
    expect(defaults).toEqual({
      stateCacheBytes: 16 * 1024 * 1024,
      dbBlockCacheBytes: 8 * 1024 * 1024,
      dbWriteBufferBytes: 16 * 1024 * 1024,
      dbMaxOpenFiles: 64,
      heapGrowingPercent: 50,
    });
    const path = await home({ memory: { stateCacheBytes: 64 * 1024 * 1024 } });
    expect(loadConfig(path, { memory: { heapGrowingPercent: 0 } }).memory).toEqual({
      ...defaults,
      stateCacheBytes: 64 * 1024 * 1024,
      heapGrowingPercent: 0,
    });
  });

  it('layers file over defaults and flags over the file, section by section', async () => {
    const peerId = await somePeerId();
    const path = await home({
      logLevel: 'debug',
      mempool: { maxTxs: 10 },
      api: { port: 9000 },
      peers: [{ peerId, addrs: ['/ip4/127.0.0.1/tcp/7000'] }],
    });
    const config = loadConfig(path, {
      api: { host: '0.0.0.0', insecureHttp: true, metricsToken: 'scrape' },
      mempool: { maxBytes: 1 << 20 },
    });
    expect(config.logLevel).toBe('debug');
    expect(config.api).toEqual({
      ...DEFAULT_CONFIG.api,
      host: '0.0.0.0',
      port: 9000,
      insecureHttp: true,
      metricsToken: 'scrape',
    });
    expect(config.mempool).toEqual({
      ...DEFAULT_CONFIG.mempool,
      maxTxs: 10,
      maxBytes: 1 << 20,
    });
    expect(config.peers).toEqual([{ peerId, addrs: ['/ip4/127.0.0.1/tcp/7000'] }]);
  });

  it('the API section: plain HTTP only on loopback, auth off only there, nested limits over defaults', async () => {
    const path0 = await home();
    const defaults = loadConfig(path0);
    expect(defaults.api).toMatchObject({
      auth: 'required',
      insecureHttp: false,
      cors: { origins: [] },
    });
    const open = codeOf(() => loadConfig(path0, { api: { host: '10.0.0.5' } }));
    expect(open.code).toBe('NODE_CONFIG_INVALID');
    expect(open.field).toBe('api.tls');
    const tls = loadConfig(path0, {
      api: { host: '10.0.0.5', tls: { cert: '/c.pem', key: '/k.pem' } },
    });
    expect(tls.api.tls).toEqual({ cert: '/c.pem', key: '/k.pem' });
    const authOff = codeOf(() =>
      loadConfig(path0, { api: { host: '10.0.0.5', insecureHttp: true, auth: 'off' } }),
    );
    expect(authOff.field).toBe('api.auth');
    // Behind a local proxy every caller is loopback, which metrics trust: a token is required.
    for (const host of ['10.0.0.5', '127.0.0.1']) {
      const untokened = codeOf(() => loadConfig(path0, { api: { host, insecureHttp: true } }));
      expect(untokened).toEqual({ code: 'NODE_CONFIG_INVALID', field: 'api.metricsToken' });
    }
    expect(loadConfig(path0, { api: { auth: 'off' } }).api.auth).toBe('off');
    const limited = loadConfig(await home({ api: { rateLimit: { perKey: 10 } } }));
    expect(limited.api.rateLimit).toEqual({ ...DEFAULT_CONFIG.api.rateLimit, perKey: 10 });
    const badOrigin = codeOf(() =>
      loadConfig(path0, { api: { cors: { origins: ['https://app.example/path'] } } }),
    );
    expect(badOrigin.field).toBe('api.cors.origins[0]');
    const unknown = codeOf(() => loadConfig(path0, { api: { cors: { origin: [] } as never } }));
    expect(unknown.code).toBe('NODE_CONFIG_UNKNOWN_FIELD');
    const clientCert = codeOf(() =>
      loadConfig(path0, { api: { tls: { cert: 'c', key: 'k', requestClientCert: true } } }),
    );
    expect(clientCert.field).toBe('api.tls.ca');
  });

  it('takes a test clock offset of either sign up to an hour, the flag over the file', async () => {
    expect(loadConfig(await home()).clockOffsetMs).toBeUndefined();
    const path = await home({ clockOffsetMs: -MAX_CLOCK_OFFSET_MS });
    expect(loadConfig(path).clockOffsetMs).toBe(-MAX_CLOCK_OFFSET_MS);
    expect(loadConfig(path, { clockOffsetMs: 4_000 }).clockOffsetMs).toBe(4_000);
    expect(loadConfig(path, { clockOffsetMs: MAX_CLOCK_OFFSET_MS }).clockOffsetMs).toBe(
      MAX_CLOCK_OFFSET_MS,
    );
  });

  it('reports unreadable, non-JSON and non-object files with their own codes', async () => {
    const brokenHome = await home('{oops');
    expect(codeOf(() => loadConfig(brokenHome)).code).toBe('NODE_CONFIG_PARSE');
    // A directory where the file should be cannot be read.
    const dirHome = await home();
    await mkdir(join(dirHome, CONFIG_FILE_NAME));
    expect(codeOf(() => loadConfig(dirHome)).code).toBe('NODE_CONFIG_READ');
    const arrayHome = await home('[1,2]');
    expect(codeOf(() => loadConfig(arrayHome)).code).toBe('NODE_CONFIG_PARSE');
  });

  it('names the field of every bad value', async () => {
    const peerId = await somePeerId();
    const cases: Array<[unknown, string, string]> = [
      [{ typo: 1 }, 'NODE_CONFIG_UNKNOWN_FIELD', 'typo'],
      [{ mempool: { maxTx: 1 } }, 'NODE_CONFIG_UNKNOWN_FIELD', 'mempool.maxTx'],
      [{ home: '/x' }, 'NODE_CONFIG_UNKNOWN_FIELD', 'home'],
      [{ listen: [] }, 'NODE_CONFIG_INVALID', 'listen'],
      [{ listen: ['not-an-addr'] }, 'NODE_CONFIG_INVALID', 'listen[0]'],
      [{ listen: 'x' }, 'NODE_CONFIG_INVALID', 'listen'],
      [{ api: { port: 70000 } }, 'NODE_CONFIG_INVALID', 'api.port'],
      [{ api: { port: 1.5 } }, 'NODE_CONFIG_INVALID', 'api.port'],
      [{ api: { host: '' } }, 'NODE_CONFIG_INVALID', 'api.host'],
      [{ api: 3 }, 'NODE_CONFIG_INVALID', 'api'],
      [{ privateNetwork: 'yes' }, 'NODE_CONFIG_INVALID', 'privateNetwork'],
      [{ logLevel: 'loud' }, 'NODE_CONFIG_INVALID', 'logLevel'],
      [{ mempool: { maxTxs: 0 } }, 'NODE_CONFIG_INVALID', 'mempool.maxTxs'],
      [{ mempool: { maxBytes: '1' } }, 'NODE_CONFIG_INVALID', 'mempool.maxBytes'],
      [{ mempool: { maxTxBytes: 10 } }, 'NODE_CONFIG_INVALID', 'mempool.maxTxBytes'],
      [{ mempool: { maxPerSigner: 0 } }, 'NODE_CONFIG_INVALID', 'mempool.maxPerSigner'],
      [{ mempool: { maxPerAddress: 2.5 } }, 'NODE_CONFIG_INVALID', 'mempool.maxPerAddress'],
      [{ mempool: { futureNonceTtlMs: 999 } }, 'NODE_CONFIG_INVALID', 'mempool.futureNonceTtlMs'],
      [{ mempool: { futureNonceTtlMs: '60s' } }, 'NODE_CONFIG_INVALID', 'mempool.futureNonceTtlMs'],
      [
        { mempool: { maxTxBytes: 4096, maxBytes: 2048 } },
        'NODE_CONFIG_INVALID',
        'mempool.maxTxBytes',
      ],
      [{ block: { maxTxs: -1 } }, 'NODE_CONFIG_INVALID', 'block.maxTxs'],
      [{ block: { maxBytes: 10 } }, 'NODE_CONFIG_INVALID', 'block.maxBytes'],
      [{ block: { batchTimeMs: 60_001 } }, 'NODE_CONFIG_INVALID', 'block.batchTimeMs'],
      [{ tickIntervalMs: 0 }, 'NODE_CONFIG_INVALID', 'tickIntervalMs'],
      [{ memory: { stateCache: 1 } }, 'NODE_CONFIG_UNKNOWN_FIELD', 'memory.stateCache'],
      [{ memory: { stateCacheBytes: 1000 } }, 'NODE_CONFIG_INVALID', 'memory.stateCacheBytes'],
      [{ memory: { dbBlockCacheBytes: -1 } }, 'NODE_CONFIG_INVALID', 'memory.dbBlockCacheBytes'],
      [{ memory: { dbWriteBufferBytes: 1 } }, 'NODE_CONFIG_INVALID', 'memory.dbWriteBufferBytes'],
      [{ memory: { dbMaxOpenFiles: 8 } }, 'NODE_CONFIG_INVALID', 'memory.dbMaxOpenFiles'],
      [{ memory: { heapGrowingPercent: 1.5 } }, 'NODE_CONFIG_INVALID', 'memory.heapGrowingPercent'],
      [{ memory: 32 }, 'NODE_CONFIG_INVALID', 'memory'],
      [{ clockOffsetMs: 3_600_001 }, 'NODE_CONFIG_INVALID', 'clockOffsetMs'],
      [{ clockOffsetMs: -3_600_001 }, 'NODE_CONFIG_INVALID', 'clockOffsetMs'],
      [{ clockOffsetMs: 2.5 }, 'NODE_CONFIG_INVALID', 'clockOffsetMs'],
      [{ clockOffsetMs: '4000' }, 'NODE_CONFIG_INVALID', 'clockOffsetMs'],
      [{ peers: {} }, 'NODE_CONFIG_INVALID', 'peers'],
      [{ peers: [1] }, 'NODE_CONFIG_INVALID', 'peers[0]'],
      [
        { peers: [{ peerId: 'abc', addrs: ['/ip4/1.2.3.4/tcp/1'] }] },
        'NODE_CONFIG_INVALID',
        'peers[0].peerId',
      ],
      [{ peers: [{ peerId, addrs: [] }] }, 'NODE_CONFIG_INVALID', 'peers[0].addrs'],
      [
        { peers: [{ peerId, addrs: ['/ip4/1.2.3.4/tcp/1'], x: 1 }] },
        'NODE_CONFIG_UNKNOWN_FIELD',
        'peers[0].x',
      ],
      [
        { peers: [{ peerId, addrs: [`/ip4/1.2.3.4/tcp/1/p2p/${peerId}`] }] },
        'NODE_CONFIG_INVALID',
        'peers[0].addrs[0]',
      ],
      [
        {
          peers: [
            { peerId, addrs: ['/ip4/1.2.3.4/tcp/1'] },
            { peerId, addrs: ['/ip4/1.2.3.5/tcp/1'] },
          ],
        },
        'NODE_CONFIG_INVALID',
        'peers[1].peerId',
      ],
    ];
    for (const [file, code, field] of cases) {
      const path = await home(file);
      expect({ file, ...codeOf(() => loadConfig(path)) }).toEqual({ file, code, field });
    }
  });

  it('validates flags the same way as the file', async () => {
    const path = await home();
    expect(codeOf(() => loadConfig(path, { tickIntervalMs: -5 }))).toEqual({
      code: 'NODE_CONFIG_INVALID',
      field: 'tickIntervalMs',
    });
    expect(
      codeOf(() =>
        loadConfig(path, { bogus: true } as unknown as Parameters<typeof loadConfig>[1]),
      ),
    ).toEqual({ code: 'NODE_CONFIG_UNKNOWN_FIELD', field: 'bogus' });
  });
});
