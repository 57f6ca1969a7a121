import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { DEFAULT_REPLAY_CACHE_SIZE } from './api/auth.js';
import { isLoopbackHost } from './api/loopback.js';
import { DEFAULT_API_RATE_LIMIT } from './api/server.js';
import { DEFAULT_MEMPOOL_LIMITS } from './chain/mempool.js';
import { DEFAULT_LEVEL_MEMORY } from './db/level-store.js';
import { DEFAULT_STATE_CACHE_BYTES } from './db/state-store.js';
import { NodeError } from './errors.js';
import { LOG_LEVELS, LOG_MODULES, type LogLevel, type ModuleLevels } from './logger.js';

/** The config file the node reads from its home directory. */
export const CONFIG_FILE_NAME = 'config.json';

export interface PeerConfig {
  /** libp2p peer id (base58btc `12D3Koo...`) of a consortium member's node. */
  peerId: string;
  /** Where to dial it, e.g. `/ip4/10.0.0.2/tcp/7700`. */
  addrs: string[];
}

export interface ApiConfig {
  host: string;
  port: number;
  /** 'required' (default): party routes need a request signature. 'off': none checked (loopback only). */
  auth: 'required' | 'off';
  /** HTTPS: PEM file paths. Required on a non-loopback host unless insecureHttp. Default none. */
  tls?: { cert: string; key: string; ca?: string; requestClientCert?: boolean };
  /**
   * Plain HTTP on a non-loopback host (behind a TLS-terminating proxy). Default false. Needs
   * metricsToken. Per-address limits then count the proxy's address, not the clients'.
   */
  insecureHttp: boolean;
  /** Browser origins allowed by CORS. Default none. */
  cors: { origins: string[] };
  /** Extra Host header values accepted on loopback connections. Default none. */
  allowedHosts: string[];
  /** Requests per window: per address (all but POST /v1/tx) and per signing key. */
  rateLimit: { perAddress: number; perKey: number; windowMs: number };
  /** (keyid, nonce) pairs remembered against replay. Default 100,000. */
  replayCacheSize: number;
  /** Bearer token that may scrape /v1/metrics from a non-loopback address. Default none; required with insecureHttp. */
  metricsToken?: string;
  /**
   * The web app under /app. Default enabled, no dashboard nodes. `dashboardNodes`: other nodes'
   * API URLs the operator dashboard reads (GET /app/config.json lists them; the page's CSP
   * allows them); each of those nodes must list this node's origin in its api.cors.origins.
   */
  app: { enabled: boolean; dashboardNodes: string[] };
}

export interface NodeConfig {
  /** Node home: config.json, peer key, LevelDB (`db/`), WAL (`wal/`). Given on the command line. */
  home: string;
  /** libp2p listen multiaddrs. Default `/ip4/0.0.0.0/tcp/7700`: peers are other hospitals, and the allowlist gater guards the port. */
  listen: string[];
  /** HTTP API. Default 127.0.0.1:7701, plain HTTP: loopback only until an operator opens it on purpose. */
  api: ApiConfig;
  /** The consortium members this node connects to. Default none. */
  peers: PeerConfig[];
  /** When true (default) only peers in the allowlist may connect or open streams. */
  privateNetwork: boolean;
  /** Default `info`. */
  logLevel: LogLevel;
  /** Levels for some modules (consensus, mempool, sync, records, db, wal, net, api, node) over logLevel. Default none. */
  logLevels: ModuleLevels;
  mempool: {
    /** Most transactions waiting at once. Default 4,000: two default blocks (~3.5 KB of memory each: README "Memory"). */
    maxTxs: number;
    /** Most bytes of transactions waiting at once, counted encoded. Default 16 MiB. */
    maxBytes: number;
    /** Largest accepted transaction. Default 64 KiB. */
    maxTxBytes: number;
    /** Most transactions pending per signer, whatever their source (then 429 RATE_LIMITED). Default 256. */
    maxPerSigner: number;
    /** Most transactions pending that one client address submitted through the API (then 429). Default 10,000. */
    maxPerAddress: number;
    /** How long a transaction may wait behind a nonce gap before it is dropped (node clock). Default 60 s. */
    futureNonceTtlMs: number;
  };
  block: {
    /** Most transactions the primary puts in one block (batch size). Default 2,000. */
    maxTxs: number;
    /** Most bytes of transactions in one block. Default 4 MiB. */
    maxBytes: number;
    /** How long the primary waits to fill a block before proposing a partial one. Default 50 ms. */
    batchTimeMs: number;
  };
  /** Length of one consensus tick (its timeouts count ticks). Default 100 ms. */
  tickIntervalMs: number;
  records: {
    /** How long the custodian waits for an access log entry to commit before refusing to serve. Default 20 s. */
    logTimeoutMs: number;
  };
  /** Memory bounds (README "Memory"): the defaults keep a validator under 300 MB of RSS under load. */
  memory: MemoryConfig;
  /**
   * FOR FAULT INJECTION AND TESTS ONLY: ms added to the system clock wherever the node reads
   * the time (block times, the drift check on proposals, access request times), so a devnet can
   * run one validator with a skewed clock. At most one hour either way. Absent (the true clock)
   * unless set, so `medchain init` never writes it.
   */
  clockOffsetMs?: number;
}

export interface MemoryConfig {
  /** Bytes of state (tree nodes and values, as binary strings) the state store keeps. Default 16 MiB. */
  stateCacheBytes: number;
  /** LevelDB's block cache (uncompressed blocks of the chain database). Default 8 MiB. */
  dbBlockCacheBytes: number;
  /** LevelDB's write buffer (memtable); two exist while one is written to disk. Default 16 MiB. */
  dbWriteBufferBytes: number;
  /**
   * LevelDB table files kept open. LevelDB maps each open table into memory (measured: every
   * 2 MiB table of an 84 MB database resident), so up to this many × 2 MiB count in RSS. Default 64.
   */
  dbMaxOpenFiles: number;
  /**
   * V8 grows the old generation to (1 + p/100) times the live heap before its next full
   * collection; 0 lets V8 choose (up to 4x under load). Default 50.
   */
  heapGrowingPercent: number;
}

export const DEFAULT_MEMORY_CONFIG: MemoryConfig = {
  stateCacheBytes: DEFAULT_STATE_CACHE_BYTES,
  dbBlockCacheBytes: DEFAULT_LEVEL_MEMORY.blockCacheBytes,
  dbWriteBufferBytes: DEFAULT_LEVEL_MEMORY.writeBufferBytes,
  dbMaxOpenFiles: DEFAULT_LEVEL_MEMORY.maxOpenFiles,
  heapGrowingPercent: 50,
};

/**
 * How a validator's process is started, beside the `memory` section: what only takes effect at
 * process start. A young generation of two 4 MiB semi-spaces (Node's default: 16 MiB) and two
 * malloc arenas (glibc's default: up to 8 per core, one per thread that allocates, such as
 * LevelDB's and libuv's) keep a validator under 300 MB of RSS at saturation at no cost in
 * throughput (devnet/BENCHMARKS.md, "Memory"). deploy/medchain.service, deploy/Containerfile
 * and the devnet start validators this way.
 */
export const VALIDATOR_PROCESS = {
  nodeFlags: ['--max-semi-space-size=4'],
  env: { MALLOC_ARENA_MAX: '2' },
} as const;

/** Values the node uses for anything neither config.json nor flags set. */
export const DEFAULT_CONFIG: Omit<NodeConfig, 'home'> = {
  listen: ['/ip4/0.0.0.0/tcp/7700'],
  api: {
    host: '127.0.0.1',
    port: 7701,
    auth: 'required',
    insecureHttp: false,
    cors: { origins: [] },
    allowedHosts: [],
    rateLimit: { ...DEFAULT_API_RATE_LIMIT },
    replayCacheSize: DEFAULT_REPLAY_CACHE_SIZE,
    app: { enabled: true, dashboardNodes: [] },
  },
  peers: [],
  privateNetwork: true,
  logLevel: 'info',
  logLevels: {},
  mempool: {
    maxTxs: 4_000,
    maxBytes: 16 * 1024 * 1024,
    maxTxBytes: 64 * 1024,
    ...DEFAULT_MEMPOOL_LIMITS,
  },
  block: { maxTxs: 2_000, maxBytes: 4 * 1024 * 1024, batchTimeMs: 50 },
  tickIntervalMs: 100,
  records: { logTimeoutMs: 20_000 },
  memory: { ...DEFAULT_MEMORY_CONFIG },
};

/** What a config file or the command line may set: any subset, nested objects partially. */
export interface ConfigOverrides {
  listen?: string[];
  api?: Partial<NodeConfig['api']>;
  peers?: PeerConfig[];
  privateNetwork?: boolean;
  logLevel?: LogLevel;
  logLevels?: ModuleLevels;
  mempool?: Partial<NodeConfig['mempool']>;
  block?: Partial<NodeConfig['block']>;
  tickIntervalMs?: number;
  records?: Partial<NodeConfig['records']>;
  memory?: Partial<MemoryConfig>;
  clockOffsetMs?: number;
}

const SECTION_KEYS = {
  api: [
    'host',
    'port',
    'auth',
    'tls',
    'insecureHttp',
    'cors',
    'allowedHosts',
    'rateLimit',
    'replayCacheSize',
    'metricsToken',
    'app',
  ],
  mempool: [
    'maxTxs',
    'maxBytes',
    'maxTxBytes',
    'maxPerSigner',
    'maxPerAddress',
    'futureNonceTtlMs',
  ],
  block: ['maxTxs', 'maxBytes', 'batchTimeMs'],
  records: ['logTimeoutMs'],
  memory: [
    'stateCacheBytes',
    'dbBlockCacheBytes',
    'dbWriteBufferBytes',
    'dbMaxOpenFiles',
    'heapGrowingPercent',
  ],
  logLevels: LOG_MODULES,
} as const;
const TOP_KEYS = new Set([...Object.keys(DEFAULT_CONFIG), 'clockOffsetMs']);
/** The widest test clock skew: enough for any drift scenario, too little to pass for a real setting. */
export const MAX_CLOCK_OFFSET_MS = 3_600_000;

const MIB = 1024 * 1024;

function invalid(field: string, message: string): NodeError {
  return new NodeError('NODE_CONFIG_INVALID', `config field "${field}": ${message}`, field);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rejects keys the node does not know, so a typo ("maxTx") fails loudly instead of being ignored. */
function checkKnownKeys(source: Record<string, unknown>, where: string): void {
  for (const key of Object.keys(source)) {
    const section = SECTION_KEYS[key as keyof typeof SECTION_KEYS];
    if (!TOP_KEYS.has(key)) {
      throw new NodeError(
        'NODE_CONFIG_UNKNOWN_FIELD',
        `unknown config field "${key}" in ${where}`,
        key,
      );
    }
    const value = source[key];
    if (section !== undefined && isPlainObject(value)) {
      for (const inner of Object.keys(value)) {
        if (!(section as readonly string[]).includes(inner)) {
          throw new NodeError(
            'NODE_CONFIG_UNKNOWN_FIELD',
            `unknown config field "${key}.${inner}" in ${where}`,
            `${key}.${inner}`,
          );
        }
      }
    }
  }
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalid(field, `expected an integer, got ${JSON.stringify(value)}`);
  }
  if (value < min || value > max) throw invalid(field, `must be between ${min} and ${max}`);
  return value;
}

function nonEmptyString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(field, 'expected a non-empty string');
  }
  return value;
}

function multiaddrList(value: unknown, field: string, allowEmpty: boolean): string[] {
  if (!Array.isArray(value)) throw invalid(field, 'expected an array of multiaddr strings');
  if (!allowEmpty && value.length === 0) throw invalid(field, 'needs at least one address');
  return value.map((item, i) => {
    const text = nonEmptyString(item, `${field}[${i}]`);
    try {
      multiaddr(text);
    } catch (error) {
      throw invalid(`${field}[${i}]`, `not a multiaddr (${(error as Error).message})`);
    }
    if (text.includes('/p2p/')) {
      throw invalid(`${field}[${i}]`, 'give the address without /p2p/<peer id>');
    }
    return text;
  });
}

function peerList(value: unknown): PeerConfig[] {
  if (!Array.isArray(value)) throw invalid('peers', 'expected an array of {peerId, addrs}');
  const seen = new Set<string>();
  return value.map((item, i) => {
    const field = `peers[${i}]`;
    if (!isPlainObject(item)) throw invalid(field, 'expected an object {peerId, addrs}');
    for (const key of Object.keys(item)) {
      if (key !== 'peerId' && key !== 'addrs') {
        throw new NodeError(
          'NODE_CONFIG_UNKNOWN_FIELD',
          `unknown config field "${field}.${key}"`,
          `${field}.${key}`,
        );
      }
    }
    const peerId = nonEmptyString(item.peerId, `${field}.peerId`);
    try {
      peerIdFromString(peerId);
    } catch {
      throw invalid(`${field}.peerId`, `not a libp2p peer id: ${JSON.stringify(peerId)}`);
    }
    if (seen.has(peerId)) throw invalid(`${field}.peerId`, `duplicate peer ${peerId}`);
    seen.add(peerId);
    return { peerId, addrs: multiaddrList(item.addrs, `${field}.addrs`, false) };
  });
}

function subObject(
  value: unknown,
  field: string,
  keys: readonly string[],
): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(field, 'expected an object');
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new NodeError(
        'NODE_CONFIG_UNKNOWN_FIELD',
        `unknown config field "${field}.${key}"`,
        `${field}.${key}`,
      );
    }
  }
  return value;
}

function stringList(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw invalid(field, 'expected an array of strings');
  return value.map((item, i) => nonEmptyString(item, `${field}[${i}]`));
}

function checkLogLevel(value: unknown, field: string): LogLevel {
  if (!LOG_LEVELS.includes(value as LogLevel)) {
    throw invalid(field, `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return value as LogLevel;
}

/** Exact origins (scheme, host, port; no path), as CORS and CSP compare them. */
function originList(value: unknown, field: string, example: string): string[] {
  return stringList(value, field).map((origin, i) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || parsed.origin !== origin) {
      throw invalid(`${field}[${i}]`, `expected an origin like ${example}`);
    }
    return origin;
  });
}

function apiSection(api: Record<string, unknown>): ApiConfig {
  const host = nonEmptyString(api.host, 'api.host');
  if (api.auth !== 'required' && api.auth !== 'off') {
    throw invalid('api.auth', 'expected "required" or "off"');
  }
  if (typeof api.insecureHttp !== 'boolean') {
    throw invalid('api.insecureHttp', 'expected true or false');
  }
  // Nested objects merge over their defaults, so a file may set one limit alone.
  const defaults = DEFAULT_CONFIG.api;
  const cors = { ...defaults.cors, ...subObject(api.cors, 'api.cors', ['origins']) };
  const origins = originList(cors.origins, 'api.cors.origins', 'https://app.example.org');
  const app = {
    ...defaults.app,
    ...subObject(api.app, 'api.app', ['enabled', 'dashboardNodes']),
  };
  if (typeof app.enabled !== 'boolean') throw invalid('api.app.enabled', 'expected true or false');
  const rate = {
    ...defaults.rateLimit,
    ...subObject(api.rateLimit, 'api.rateLimit', ['perAddress', 'perKey', 'windowMs']),
  };
  let tls: ApiConfig['tls'];
  if (api.tls !== undefined) {
    const t = subObject(api.tls, 'api.tls', ['cert', 'key', 'ca', 'requestClientCert']);
    if (t.requestClientCert !== undefined && typeof t.requestClientCert !== 'boolean') {
      throw invalid('api.tls.requestClientCert', 'expected true or false');
    }
    if (t.requestClientCert === true && t.ca === undefined) {
      throw invalid('api.tls.ca', 'client certificates need the CA bundle they must chain to');
    }
    tls = {
      cert: nonEmptyString(t.cert, 'api.tls.cert'),
      key: nonEmptyString(t.key, 'api.tls.key'),
      ...(t.ca === undefined ? {} : { ca: nonEmptyString(t.ca, 'api.tls.ca') }),
      ...(t.requestClientCert === undefined ? {} : { requestClientCert: t.requestClientCert }),
    };
  }
  const loopback = isLoopbackHost(host);
  if (!loopback && tls === undefined && api.insecureHttp !== true) {
    throw invalid(
      'api.tls',
      `api.host ${host} is not loopback: plain HTTP is refused; set api.tls (cert and key files), or api.insecureHttp: true behind a TLS proxy`,
    );
  }
  if (!loopback && api.auth === 'off') {
    throw invalid('api.auth', `"off" is only allowed on a loopback api.host, not ${host}`);
  }
  // Behind a TLS-terminating proxy on this machine every caller arrives from loopback, and
  // loopback peers may scrape metrics without a token: the token is what guards them then.
  if (api.insecureHttp === true && api.metricsToken === undefined) {
    throw invalid(
      'api.metricsToken',
      'api.insecureHttp: true (behind a proxy) needs api.metricsToken: through a local proxy every caller looks like loopback',
    );
  }
  return {
    host,
    port: integer(api.port, 'api.port', 0, 65_535),
    auth: api.auth,
    ...(tls === undefined ? {} : { tls }),
    insecureHttp: api.insecureHttp,
    cors: { origins },
    app: {
      enabled: app.enabled,
      dashboardNodes: originList(
        app.dashboardNodes,
        'api.app.dashboardNodes',
        'https://node.hospital-b.example:7701',
      ),
    },
    allowedHosts: stringList(api.allowedHosts, 'api.allowedHosts'),
    rateLimit: {
      perAddress: integer(rate.perAddress, 'api.rateLimit.perAddress', 1, 10_000_000),
      perKey: integer(rate.perKey, 'api.rateLimit.perKey', 1, 10_000_000),
      windowMs: integer(rate.windowMs, 'api.rateLimit.windowMs', 1000, 3_600_000),
    },
    replayCacheSize: integer(api.replayCacheSize, 'api.replayCacheSize', 1000, 10_000_000),
    ...(api.metricsToken === undefined
      ? {}
      : { metricsToken: nonEmptyString(api.metricsToken, 'api.metricsToken') }),
  };
}

/** Checks every field of a merged configuration; throws a NodeError naming the first bad field. */
export function validateConfig(candidate: Record<string, unknown>): NodeConfig {
  const section = (
    name: 'api' | 'mempool' | 'block' | 'records' | 'memory',
  ): Record<string, unknown> => {
    const value = candidate[name];
    if (!isPlainObject(value)) throw invalid(name, 'expected an object');
    return value;
  };
  const api = section('api');
  const mempool = section('mempool');
  const block = section('block');
  const records = section('records');
  const memory = section('memory');
  if (typeof candidate.privateNetwork !== 'boolean') {
    throw invalid('privateNetwork', 'expected true or false');
  }
  const logLevel = checkLogLevel(candidate.logLevel, 'logLevel');
  const logLevels = subObject(candidate.logLevels, 'logLevels', LOG_MODULES);
  for (const [module, level] of Object.entries(logLevels)) {
    checkLogLevel(level, `logLevels.${module}`);
  }
  const config: NodeConfig = {
    home: nonEmptyString(candidate.home, 'home'),
    listen: multiaddrList(candidate.listen, 'listen', false),
    api: apiSection(api),
    peers: peerList(candidate.peers),
    privateNetwork: candidate.privateNetwork,
    logLevel,
    logLevels: logLevels as ModuleLevels,
    mempool: {
      maxTxs: integer(mempool.maxTxs, 'mempool.maxTxs', 1, 10_000_000),
      maxBytes: integer(mempool.maxBytes, 'mempool.maxBytes', 1024, 2 ** 40),
      maxTxBytes: integer(mempool.maxTxBytes, 'mempool.maxTxBytes', 128, 16 * 1024 * 1024),
      maxPerSigner: integer(mempool.maxPerSigner, 'mempool.maxPerSigner', 1, 10_000_000),
      maxPerAddress: integer(mempool.maxPerAddress, 'mempool.maxPerAddress', 1, 10_000_000),
      // At least a second: the pool looks for expired transactions at most once a second.
      futureNonceTtlMs: integer(
        mempool.futureNonceTtlMs,
        'mempool.futureNonceTtlMs',
        1000,
        86_400_000,
      ),
    },
    block: {
      maxTxs: integer(block.maxTxs, 'block.maxTxs', 1, 1_000_000),
      maxBytes: integer(block.maxBytes, 'block.maxBytes', 1024, 1024 * 1024 * 1024),
      batchTimeMs: integer(block.batchTimeMs, 'block.batchTimeMs', 0, 60_000),
    },
    tickIntervalMs: integer(candidate.tickIntervalMs, 'tickIntervalMs', 1, 60_000),
    records: {
      logTimeoutMs: integer(records.logTimeoutMs, 'records.logTimeoutMs', 100, 600_000),
    },
    memory: {
      stateCacheBytes: integer(memory.stateCacheBytes, 'memory.stateCacheBytes', MIB, 2 ** 40),
      dbBlockCacheBytes: integer(memory.dbBlockCacheBytes, 'memory.dbBlockCacheBytes', 0, 2 ** 40),
      dbWriteBufferBytes: integer(
        memory.dbWriteBufferBytes,
        'memory.dbWriteBufferBytes',
        64 * 1024,
        2 ** 30,
      ),
      // LevelDB needs a few for its own files (log, manifest) besides tables.
      dbMaxOpenFiles: integer(memory.dbMaxOpenFiles, 'memory.dbMaxOpenFiles', 16, 100_000),
      heapGrowingPercent: integer(memory.heapGrowingPercent, 'memory.heapGrowingPercent', 0, 1000),
    },
    ...(candidate.clockOffsetMs === undefined
      ? {}
      : {
          clockOffsetMs: integer(
            candidate.clockOffsetMs,
            'clockOffsetMs',
            -MAX_CLOCK_OFFSET_MS,
            MAX_CLOCK_OFFSET_MS,
          ),
        }),
  };
  if (config.mempool.maxTxBytes > config.mempool.maxBytes) {
    throw invalid('mempool.maxTxBytes', 'cannot exceed mempool.maxBytes');
  }
  if (config.mempool.maxTxBytes > config.block.maxBytes) {
    throw invalid('mempool.maxTxBytes', 'cannot exceed block.maxBytes (the tx could never fit)');
  }
  return config;
}

function merge(
  base: Record<string, unknown>,
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? { ...current, ...value } : value;
  }
  return out;
}

/** Reads `<home>/config.json`; a missing file means "all defaults". */
export function readConfigFile(home: string): Record<string, unknown> {
  const path = join(home, CONFIG_FILE_NAME);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new NodeError('NODE_CONFIG_READ', `cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new NodeError('NODE_CONFIG_PARSE', `${path} is not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) {
    throw new NodeError('NODE_CONFIG_PARSE', `${path} must hold a JSON object`);
  }
  checkKnownKeys(parsed, path);
  return parsed;
}

/**
 * Builds the node's configuration: defaults, then `<home>/config.json`, then `overrides`
 * (command-line flags), then validation of every field.
 */
export function loadConfig(home: string, overrides: ConfigOverrides = {}): NodeConfig {
  const flags = overrides as Record<string, unknown>;
  checkKnownKeys(flags, 'command-line options');
  const fromFile = readConfigFile(home);
  const merged = merge(
    merge(DEFAULT_CONFIG as unknown as Record<string, unknown>, fromFile),
    flags,
  );
  return validateConfig({ ...merged, home });
}
