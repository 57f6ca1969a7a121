import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  DEFAULT_LEDGER_PARAMS,
  encodeTransaction,
  genesisToJson,
  parseGenesis,
  signTransaction,
  type Transaction,
  type TxKind,
} from '@medchain/ledger';
import { pino } from 'pino';
import {
  CONFIG_FILE_NAME,
  createLogger,
  createNode,
  GENESIS_FILE,
  loadConfig,
  loadOrCreatePeerIdentity,
  type MedchainNode,
  type PeerConfig,
  VALIDATOR_KEY_FILE,
} from '../src/index.js';

export const CHAIN_ID = 'medchain-cluster-test';

export interface NodeHome {
  readonly index: number;
  readonly home: string;
  readonly peerId: string;
  readonly validator: Signer;
}

export interface Network {
  readonly root: string;
  readonly homes: readonly NodeHome[];
  remove(): Promise<void>;
}

/** The organization of node `index` in every network makeNetwork builds (one per validator). */
export function orgIdOf(index: number): Uint8Array {
  return sha256(utf8(`cluster-test:org:${index}`));
}

/** The admin key of node `index`'s organization in `network`. */
export function orgAdminOf(network: Network, index: number): Signer {
  return adminSigner(network.root, index);
}

function adminSigner(root: string, index: number): Signer {
  return new Signer(sha256(utf8(`cluster-test:admin:${index}:${root}`)));
}

export interface NetworkOptions {
  readonly validators: number;
  readonly tickIntervalMs?: number;
  readonly baseTimeoutTicks?: number;
  readonly checkpointInterval?: number;
  readonly batchTimeMs?: number;
  readonly blockMaxTxs?: number;
  readonly logLevel?: string;
}

/**
 * Node homes for an n-validator network on 127.0.0.1: each with a peer key, a plain validator
 * key (0600), the shared genesis and a config.json naming the other nodes.
 */
export async function makeNetwork(options: NetworkOptions): Promise<Network> {
  const root = await mkdtemp(join(tmpdir(), 'medchain-cluster-'));
  const n = options.validators;
  const homes: NodeHome[] = [];
  for (let index = 0; index < n; index++) {
    const home = join(root, `node${index}`);
    await mkdir(home, { recursive: true });
    const identity = await loadOrCreatePeerIdentity(home);
    const seed = sha256(utf8(`cluster-test:validator:${index}:${root}`));
    const keyPath = join(home, VALIDATOR_KEY_FILE);
    await writeFile(keyPath, `${toHex(seed)}\n`, { mode: 0o600 });
    await chmod(keyPath, 0o600);
    homes.push({
      index,
      home,
      peerId: identity.peerId.toString(),
      validator: new Signer(seed),
    });
  }
  const genesis = parseGenesis({
    chainId: CHAIN_ID,
    genesisTime: Date.now() - 1_000,
    organizations: homes.map((node) => ({
      id: orgIdOf(node.index),
      adminKeys: [adminSigner(root, node.index).publicKey],
      validatorKey: node.validator.publicKey,
      peerId: node.peerId,
    })),
    params: { ...DEFAULT_LEDGER_PARAMS },
    consensus: {
      checkpointInterval: options.checkpointInterval ?? 10,
      baseTimeoutTicks: options.baseTimeoutTicks ?? 20,
    },
  });
  const genesisText = `${JSON.stringify(genesisToJson(genesis), null, 2)}\n`;
  for (const node of homes) {
    await writeFile(join(node.home, GENESIS_FILE), genesisText);
    // Port 0 everywhere: a node started by `startNode` gets the running ones' addresses as
    // config peers, and `introduce` tells them its own. Genesis members need no config peer
    // to be allowlisted.
    const config = {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      api: { host: '127.0.0.1', port: 0 },
      peers: [],
      logLevel: options.logLevel ?? 'warn',
      tickIntervalMs: options.tickIntervalMs ?? 50,
      block: {
        batchTimeMs: options.batchTimeMs ?? 20,
        maxTxs: options.blockMaxTxs ?? 2_000,
      },
    };
    await writeFile(join(node.home, CONFIG_FILE_NAME), `${JSON.stringify(config, null, 2)}\n`);
  }
  const remove = async () => {
    for (const home of homes) started.delete(home.home);
    await rm(root, { recursive: true, force: true });
  };
  return { root, homes, remove };
}

/** Starts the node of one home in this process, logging to `<home>/node.log`. */
export async function startNode(home: NodeHome): Promise<MedchainNode> {
  const config = loadConfig(home.home, { peers: runningPeers(home) });
  const logger = createLogger({
    level: config.logLevel,
    base: { node: home.index },
    destination: pino.destination({ dest: join(home.home, 'node.log'), sync: true }),
  });
  const node = createNode(config, { logger });
  await node.start();
  await introduce(home, node);
  return node;
}

/** The nodes started in this process, by home (`introduce` records them). */
const started = new Map<string, MedchainNode>();

/** Running nodes of `home`'s network other than its own. */
function siblings(home: NodeHome): MedchainNode[] {
  return [...started]
    .filter(
      ([path, node]) =>
        path !== home.home &&
        dirname(path) === dirname(home.home) &&
        node.parts.host.libp2p.status === 'started',
    )
    .map(([, node]) => node);
}

/**
 * Config peers for a node about to start from `home`: where the running nodes of its network
 * listen now (every node binds port 0), so it can reach them while it starts (state sync).
 */
export function runningPeers(home: NodeHome): PeerConfig[] {
  return siblings(home).map((node) => ({
    peerId: node.parts.peerId,
    addrs: node.parts.listenAddrs.map((addr) => addr.replace(`/p2p/${node.parts.peerId}`, '')),
  }));
}

/**
 * Tells the running nodes of `home`'s network and `node` (just started from `home`) where each
 * other listens: nodes bind port 0, so a restarted node's new address replaces its old one.
 * `startNode` calls it; call it (and start with `runningPeers`) when starting a node otherwise.
 */
export async function introduce(home: NodeHome, node: MedchainNode): Promise<void> {
  const self = node.parts.host.libp2p;
  for (const other of siblings(home)) {
    const peer = other.parts.host.libp2p;
    await self.peerStore.patch(peer.peerId, { multiaddrs: peer.getMultiaddrs() });
    await peer.peerStore.patch(self.peerId, { multiaddrs: self.getMultiaddrs() });
  }
  started.set(home.home, node);
}

/**
 * Signs transactions for `CHAIN_ID` with each signer's next nonce (1, 2, ...): for a test that
 * submits each signer's transactions in order.
 */
export function nextNonceSigner(): (from: Signer, kind: TxKind, body: Canonical) => Transaction {
  const nonces = new Map<string, number>();
  return (from, kind, body) => {
    const id = toHex(from.publicKey);
    const nonce = (nonces.get(id) ?? 0) + 1;
    nonces.set(id, nonce);
    return signTransaction({ chainId: CHAIN_ID, kind, body, signer: from.publicKey, nonce }, from);
  };
}

/** A `patient.register` transaction from a fresh key (nonce 1), as canonical bytes. */
export function registration(label: string): Uint8Array {
  const patient = new Signer(sha256(utf8(`cluster-test:patient:${label}`)));
  return encodeTransaction(
    signTransaction(
      {
        chainId: CHAIN_ID,
        kind: 'patient.register',
        body: {},
        signer: patient.publicKey,
        nonce: 1,
      },
      patient,
    ),
  );
}

/** Polls `condition` every `intervalMs` up to `tries` times; throws naming `what` if it never holds. */
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  options: { tries?: number; intervalMs?: number } = {},
): Promise<void> {
  const tries = options.tries ?? 600;
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await sleep(options.intervalMs ?? 100);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The state root a node holds after `height`: its head root, or the next header's root. */
export function stateRootAfter(node: MedchainNode, height: number): string | undefined {
  const chain = node.parts.chain;
  if (height === chain.height) return toHex(chain.stateRoot);
  const next = chain.loadBlock(height + 1);
  return next === undefined ? undefined : toHex(next.block.header.stateRoot);
}

/** Sum of a labelled counter's values matching `labels`. */
export async function counterValue(
  metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((entry) => Object.entries(labels).every(([key, value]) => entry.labels[key] === value))
    .reduce((sum, entry) => sum + entry.value, 0);
}
