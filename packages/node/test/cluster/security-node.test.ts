import { readFile, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { signRequest } from '@medchain/client';
import { Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { encodeTransaction, signTransaction, transactionHash } from '@medchain/ledger';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONFIG_FILE_NAME,
  createApiServer,
  createHost,
  createLogger,
  createMetrics,
  type MedchainNode,
  protocolId,
} from '../../src/index.js';
import {
  CHAIN_ID,
  counterValue,
  makeNetwork,
  type Network,
  registration,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * A running validator seen from outside: its API listens on loopback when the config does not
 * say otherwise, a libp2p peer outside the allowlist gets no connection and no stream, and
 * transactions replayed or signed for another chain are refused over HTTP and never commit.
 */
describe('a running node, from outside', () => {
  let network: Network;
  let node: MedchainNode;
  let base: string;

  beforeAll(async () => {
    network = await makeNetwork({ validators: 1 });
    const home = network.homes[0]!;
    // Leave the API host out: the default must be loopback.
    const path = join(home.home, CONFIG_FILE_NAME);
    const config = JSON.parse(await readFile(path, 'utf8'));
    config.api = { port: 0 };
    await writeFile(path, JSON.stringify(config));
    node = await startNode(home);
    base = node.parts.apiUrl;
  });

  afterAll(async () => {
    await node?.stop();
    await network?.remove();
  });

  it('the API binds to loopback unless configured otherwise', async () => {
    expect(new URL(base).hostname).toBe('127.0.0.1');
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal);
    if (external === undefined) return; // no other interface on this machine to try
    const port = new URL(base).port;
    await expect(fetch(`http://${external.address}:${port}/v1/health`)).rejects.toThrow();
    // Control: the same address reaches a server configured for all interfaces.
    const open = createApiServer({
      backend: node.parts.backend,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      host: '0.0.0.0',
      port: 0,
      insecureHttp: true,
    });
    try {
      const openPort = new URL(await open.start()).port;
      expect((await fetch(`http://${external.address}:${openPort}/v1/health`)).status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('a peer outside the allowlist gets no connection and no stream on any protocol', async () => {
    const metrics = createMetrics({ node: 'stranger' });
    const stranger = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [],
      privateNetwork: false,
      logger: createLogger({ level: 'silent' }),
      metrics,
    });
    try {
      const denied = () => counterValue(node.metrics.net.connectionsDenied);
      const before = await denied();
      const address = multiaddr(
        `${node.parts.listenAddrs[0]!.split('/p2p/')[0]}/p2p/${node.parts.peerId}`,
      );
      for (const concern of ['consensus', 'mempool', 'blocks', 'snapshots', 'records'] as const) {
        await expect(stranger.libp2p.dialProtocol(address, protocolId(concern))).rejects.toThrow();
      }
      await waitUntil('the gater counts the refusals', async () => (await denied()) > before);
      expect(node.parts.host.libp2p.getConnections(stranger.libp2p.peerId)).toHaveLength(0);
    } finally {
      await stranger.stop();
    }
  });

  it('replayed and cross-chain transactions are refused and never commit', async () => {
    // Transaction status is for members: read it signed by the node's validator key.
    const memberGet = async (url: string) =>
      fetch(url, {
        headers: await signRequest({ method: 'GET', url }, network.homes[0]!.validator, {
          now: Date.now(),
          nonce: `security-node-${Date.now()}-${Math.random().toString(36).slice(2)}`,
        }),
      });
    const submit = async (bytes: Uint8Array) => {
      const response = await fetch(`${base}/v1/tx`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tx: toHex(bytes) }),
      });
      return {
        status: response.status,
        body: (await response.json()) as { hash?: string; error?: { code?: string } },
      };
    };
    const first = registration('security-replay');
    const admitted = await submit(first);
    expect(admitted.status).toBe(202);
    await waitUntil('the first transaction commits', async () => {
      const response = await memberGet(`${base}/v1/tx/${admitted.body.hash}`);
      return response.ok && ((await response.json()) as { status?: string }).status === 'committed';
    });
    // The same bytes again: a replay.
    const replay = await submit(first);
    expect(replay.status).toBeGreaterThanOrEqual(400);
    expect(replay.body.error?.code).toBe('DUPLICATE');
    // Same signer, same (used) nonce, different content: a replay under a new hash.
    const patient = new Signer(sha256(utf8('cluster-test:patient:security-replay')));
    const reusedTx = signTransaction(
      {
        chainId: CHAIN_ID,
        kind: 'patient.policy',
        body: { patient: patient.publicKey, breakGlassOptOut: false, researchOptOut: true },
        signer: patient.publicKey,
        nonce: 1,
      },
      patient,
    );
    const reused = await submit(encodeTransaction(reusedTx));
    expect(reused.body.error?.code).toBe('BAD_NONCE');
    // Correctly signed, right nonce, but for another chain.
    const other = new Signer(sha256(utf8('security:cross-chain')));
    const crossChainTx = signTransaction(
      {
        chainId: `${CHAIN_ID}-other`,
        kind: 'patient.register',
        body: {},
        signer: other.publicKey,
        nonce: 1,
      },
      other,
    );
    const refused = await submit(encodeTransaction(crossChainTx));
    expect(refused.body.error?.code).toBe('WRONG_CHAIN');
    // None of them reached a block: the refused hashes are unknown to the node.
    const height = node.parts.chain.height;
    const later = await submit(registration('security-after'));
    expect(later.status).toBe(202);
    await waitUntil('a later transaction commits', () => node.parts.chain.height > height);
    for (const tx of [crossChainTx, reusedTx]) {
      const hash = toHex(transactionHash(tx));
      const response = await memberGet(`${base}/v1/tx/${hash}`);
      const status = response.ok
        ? ((await response.json()) as { status?: string }).status
        : 'unknown';
      expect(status).not.toBe('committed');
    }
  });
});
