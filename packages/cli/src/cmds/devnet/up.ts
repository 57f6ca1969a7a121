import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fromHex, toHex } from '@medchain/crypto';
import type { ConfigOverrides, LogLevel } from '@medchain/node';
import { CliError, usageError } from '../../util/errors.js';
import {
  addOrganization,
  DEFAULT_CONSENSUS_PARAMS,
  newGenesisDraft,
  writeGenesis,
} from '../../util/genesis.js';
import { initHome, readJsonFile } from '../../util/home.js';
import { createKeystore, entropy, writeSecretFile } from '../../util/keys.js';
import { nodePackage } from '../../util/node-package.js';
import type { Output } from '../../util/output.js';
import { PASSPHRASE_ENV } from '../../util/passphrase.js';
import {
  type Devnet,
  type DevnetNode,
  devnetPassphrase,
  devnetPath,
  PASSPHRASE_FILE,
  processState,
  readDevnet,
  spawnNode,
  waitForHeight,
  writeDevnet,
} from './state.js';

/** What a devnet looks like; `devnet/*.json` manifests hold the same fields. */
export interface Manifest {
  chainId: string;
  validators: number;
  /** Node i listens for libp2p on basePort + 2i and serves its API on basePort + 2i + 1. */
  basePort: number;
  logLevel: LogLevel;
  tickIntervalMs: number;
  block: { maxTxs: number; batchTimeMs: number };
  consensus: Record<string, number>;
}

export const DEFAULT_MANIFEST: Manifest = {
  chainId: 'medchain-devnet',
  validators: 4,
  basePort: 26600,
  logLevel: 'info',
  tickIntervalMs: 100,
  block: { maxTxs: 2000, batchTimeMs: 50 },
  consensus: { ...DEFAULT_CONSENSUS_PARAMS },
};

export function readManifest(path: string | undefined): Manifest {
  if (path === undefined) return DEFAULT_MANIFEST;
  const json = readJsonFile(path, 'manifest') as Partial<Manifest>;
  const known = new Set(Object.keys(DEFAULT_MANIFEST));
  for (const key of Object.keys(json ?? {})) {
    if (!known.has(key))
      throw usageError(
        `${path}: unknown manifest field "${key}"`,
        `known fields: ${[...known].join(', ')}`,
      );
  }
  return {
    ...DEFAULT_MANIFEST,
    ...json,
    block: { ...DEFAULT_MANIFEST.block, ...json.block },
    consensus: { ...DEFAULT_MANIFEST.consensus, ...json.consensus },
  };
}

/** Hospital names: hospital-a, hospital-b, ... */
export function nodeName(index: number): string {
  return `hospital-${String.fromCharCode(97 + index)}`;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () =>
      server.close(() => done(true)),
    );
  });
}

async function checkPorts(manifest: Manifest): Promise<void> {
  const ports = Array.from({ length: manifest.validators * 2 }, (_, i) => manifest.basePort + i);
  const busy: number[] = [];
  for (const port of ports) if (!(await portFree(port))) busy.push(port);
  if (busy.length > 0) {
    throw usageError(
      `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} on 127.0.0.1 ${busy.length > 1 ? 'are' : 'is'} in use`,
      `pick other ports with --base-port (the devnet needs ${ports.length} consecutive ports), or stop what uses them`,
    );
  }
}

/** Creates keys, homes and genesis for a new devnet in `dir`. */
async function createDevnet(dir: string, manifest: Manifest, out: Output): Promise<Devnet> {
  const { CONFIG_FILE_NAME, GENESIS_FILE } = await nodePackage();
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  if (process.env[PASSPHRASE_ENV] === undefined || process.env[PASSPHRASE_ENV] === '') {
    writeSecretFile(join(dir, PASSPHRASE_FILE), `${toHex(entropy(24))}\n`);
  }
  const passphrase = devnetPassphrase(dir);
  let draft = newGenesisDraft(manifest.chainId, Date.now(), {}, manifest.consensus);
  const nodes: DevnetNode[] = [];
  for (let i = 0; i < manifest.validators; i++) {
    const name = nodeName(i);
    const p2pPort = manifest.basePort + 2 * i;
    const apiPort = p2pPort + 1;
    out.progress(`  ${name}: keys and home (p2p ${p2pPort}, api ${apiPort})`);
    const home = join(dir, name);
    const info = await initHome(home, passphrase, {
      listen: [`/ip4/127.0.0.1/tcp/${p2pPort}`],
      api: { host: '127.0.0.1', port: apiPort },
      logLevel: manifest.logLevel,
      tickIntervalMs: manifest.tickIntervalMs,
      block: manifest.block,
    });
    const adminKey = join(dir, 'keys', `${name}-admin.json`);
    const admin = createKeystore(adminKey, passphrase);
    const orgId = entropy(32);
    draft = addOrganization(draft, {
      id: orgId,
      adminKeys: [admin.publicKey],
      validatorKey: fromHex(info.validatorKey),
      peerId: info.peerId,
    });
    nodes.push({
      name,
      api: `http://127.0.0.1:${apiPort}`,
      p2p: `/ip4/127.0.0.1/tcp/${p2pPort}`,
      pid: null,
      home,
      peerId: info.peerId,
      validator: true,
      orgId: toHex(orgId),
      adminKey,
    });
  }
  const genesisPath = join(dir, GENESIS_FILE);
  writeGenesis(genesisPath, draft);
  for (const node of nodes) {
    copyFileSync(genesisPath, join(node.home, GENESIS_FILE));
    const configPath = join(node.home, CONFIG_FILE_NAME);
    const config = readJsonFile(configPath, 'config') as ConfigOverrides;
    config.peers = nodes
      .filter((peer) => peer !== node)
      .map((peer) => ({ peerId: peer.peerId, addrs: [peer.p2p] }));
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  }
  const devnet: Devnet = { chainId: manifest.chainId, genesis: genesisPath, nodes };
  writeDevnet(dir, devnet);
  return devnet;
}

export interface UpOptions {
  dir: string;
  validators?: number;
  basePort?: number;
  chainId?: string;
  manifest?: string;
  reset?: boolean;
  waitTimeout: number;
}

/**
 * `devnet up`: a new devnet (keys, genesis, homes), or the existing one in `dir` with its
 * stopped nodes started again; then waits until every node has committed a block.
 */
export async function devnetUp(
  options: UpOptions,
  out: Output,
): Promise<Devnet & { heights: Record<string, number> }> {
  const dir = resolve(options.dir);
  const exists = existsSync(devnetPath(dir));
  if (options.reset && exists) {
    const running = readDevnet(dir).nodes.filter((n) => processState(n.pid, n.home) !== 'exited');
    if (running.length > 0) {
      throw new CliError(
        'DEVNET_RUNNING',
        `${running.map((n) => n.name).join(', ')} still running in ${dir}`,
        {
          hint: `stop it first: medchain devnet down --dir ${options.dir}`,
        },
      );
    }
    rmSync(dir, { recursive: true, force: true });
  } else if (!exists && existsSync(dir) && readdirSync(dir).length > 0) {
    throw usageError(`${dir} is not empty and holds no devnet`, 'pick a new or empty --dir');
  }
  let devnet: Devnet;
  if (options.reset || !exists) {
    const manifest = readManifest(options.manifest);
    if (options.validators !== undefined) manifest.validators = options.validators;
    if (options.basePort !== undefined) manifest.basePort = options.basePort;
    if (options.chainId !== undefined) manifest.chainId = options.chainId;
    await checkPorts(manifest);
    out.progress(
      `Creating a ${manifest.validators}-validator devnet "${manifest.chainId}" in ${dir}`,
    );
    devnet = await createDevnet(dir, manifest, out);
  } else {
    devnet = readDevnet(dir);
    out.progress(`Starting the stopped nodes of the devnet in ${dir}`);
  }
  for (const node of devnet.nodes) {
    if (processState(node.pid, node.home) !== 'exited') continue;
    node.pid = spawnNode(dir, node);
    out.progress(`  ${node.name}: started, pid ${node.pid}, api ${node.api}`);
  }
  writeDevnet(dir, devnet);
  out.progress(
    `Waiting until every node commits a block (up to ${options.waitTimeout / 1000} s)...`,
  );
  const heights = await waitForHeight(devnet.nodes, 1, options.waitTimeout);
  return { ...devnet, heights: Object.fromEntries(heights) };
}
