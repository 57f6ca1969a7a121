import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { encodeTransaction, transactionHash } from '@medchain/ledger';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHost,
  createLogger,
  createMetrics,
  type Host,
  type MedchainNode,
  MembershipGate,
  PeerAllowlist,
  type PeerStanding,
} from '../../src/index.js';
import {
  makeNetwork,
  type Network,
  nextNonceSigner,
  orgAdminOf,
  orgIdOf,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * A removed member is cut off with no restart: when committed membership changes, the node
 * replaces its allowlist, hangs up on the peers left out, and its gater refuses them both ways.
 */

const logger = createLogger({ level: 'silent' });

/** The harness's polling, at the pace these local hosts need (10 s in all). */
const until = (condition: () => boolean, what: string) =>
  waitUntil(what, condition, { tries: 2_000, intervalMs: 5 });

describe('MembershipGate.allowed', () => {
  it('is the members plus configured peers, less removed members and the node itself', () => {
    const id = fc.stringMatching(/^p[0-9]{1,3}$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(id, { maxLength: 8 }),
        fc.uniqueArray(id, { maxLength: 8 }),
        fc.uniqueArray(id, { maxLength: 8 }),
        id,
        (members, configured, removed, self) => {
          const gate = new MembershipGate({
            libp2p: { getConnections: () => [], hangUp: async () => {} },
            allowlist: new PeerAllowlist(),
            self,
            configured,
            logger,
          });
          const standing = (peer: string): PeerStanding =>
            members.includes(peer) ? 'member' : removed.includes(peer) ? 'removed' : 'unknown';
          const allowed = gate.allowed(members, standing);
          for (const peer of members) expect(allowed.has(peer)).toBe(peer !== self);
          for (const peer of configured) {
            expect(allowed.has(peer)).toBe(peer !== self && standing(peer) !== 'removed');
          }
          for (const peer of allowed) {
            expect(members.includes(peer) || configured.includes(peer)).toBe(true);
          }
        },
      ),
    );
  });
});

describe('MembershipGate.apply on live libp2p hosts', () => {
  let a: Host;
  let b: Host;
  let c: Host;
  let gateOfA: MembershipGate;

  beforeAll(async () => {
    const keys = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));
    const ids = keys.map((key) => peerIdFromPrivateKey(key).toString());
    const start = (i: number) =>
      createHost({
        privateKey: keys[i]!,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        peers: [],
        privateNetwork: true,
        allowlist: new PeerAllowlist(ids.filter((_, j) => j !== i)),
        logger,
        metrics: createMetrics({ node: `n${i}` }),
      });
    [a, b, c] = await Promise.all([start(0), start(1), start(2)]);
    gateOfA = new MembershipGate({
      libp2p: a.libp2p,
      allowlist: a.allowlist,
      self: a.peerId,
      configured: [b.peerId, c.peerId],
      logger,
    });
  });

  afterAll(async () => {
    await Promise.all([a, b, c].map((host) => host?.stop()));
  });

  it('drops a removed member at once, refuses it both ways, and keeps the others', async () => {
    await b.libp2p.dial(a.libp2p.getMultiaddrs());
    await a.libp2p.dial(c.libp2p.getMultiaddrs());
    expect(a.libp2p.getPeers().map(String).sort()).toEqual([b.peerId, c.peerId].sort());

    // B's organization is removed: state says so, though config.json still lists B.
    const standing = (peer: string): PeerStanding => (peer === b.peerId ? 'removed' : 'member');
    const dropped = await gateOfA.apply(gateOfA.allowed([c.peerId], standing));
    expect(dropped).toEqual([b.peerId]);
    expect(a.libp2p.getConnections(b.libp2p.peerId).length).toBe(0);
    await until(
      () => b.libp2p.getConnections(a.libp2p.peerId).length === 0,
      'B to see the hang-up',
    );
    expect(a.libp2p.getPeers().map(String)).toEqual([c.peerId]);

    // From then on: B dialing A is refused after the handshake, A never dials B.
    // (B's own side of its dial may finish its handshake before A's refusal reaches it.)
    await b.libp2p.dial(a.libp2p.getMultiaddrs()).catch(() => undefined);
    await expect(a.libp2p.dial(b.libp2p.getMultiaddrs())).rejects.toThrow(/gater/);
    expect(a.libp2p.getPeers().map(String)).toEqual([c.peerId]);
    await until(() => b.libp2p.getConnections(a.libp2p.peerId).length === 0, 'B to be refused');

    // Put back on the allowlist, B connects again: the refusal was the allowlist's alone.
    await gateOfA.apply(gateOfA.allowed([b.peerId, c.peerId], () => 'member'));
    await a.libp2p.dial(b.libp2p.getMultiaddrs());
    expect(a.libp2p.getPeers().map(String).sort()).toEqual([b.peerId, c.peerId].sort());
  });
});

describe('a node applies a committed removal to its connections, with no restart', () => {
  let network: Network;
  let nodes: MedchainNode[];

  beforeAll(async () => {
    network = await makeNetwork({ validators: 3 });
    nodes = await Promise.all(network.homes.map(startNode));
  }, 60_000);

  afterAll(async () => {
    await Promise.all((nodes ?? []).map((node) => node.stop()));
    await network?.remove();
  });

  it('the others hang up on the removed member and refuse it; it is left with no peer', async () => {
    const [a, b, c] = nodes as [MedchainNode, MedchainNode, MedchainNode];
    const peersOf = (node: MedchainNode) => node.parts.host.libp2p.getPeers().map(String);
    const cId = c.parts.host.peerId;
    await waitUntil('a full mesh', () => nodes.every((node) => peersOf(node).length === 2));

    // The cluster's admins and org ids (cluster-harness.ts); 2 of 3 members carry a proposal.
    const admin = (i: number) => orgAdminOf(network, i);
    const sign = nextNonceSigner();
    const propose = sign(admin(0), 'governance.propose', {
      change: { type: 'remove', orgId: orgIdOf(2) },
    });
    expect(a.parts.backend.submitTransaction(encodeTransaction(propose)).accepted).toBe(true);
    const proposalId = transactionHash(propose);
    await waitUntil('the proposal', () => a.parts.chain.hasTransaction(proposalId));
    const vote = sign(admin(1), 'governance.vote', { proposalId, approve: true });
    expect(b.parts.backend.submitTransaction(encodeTransaction(vote)).accepted).toBe(true);

    await waitUntil(
      'C dropped by A and B',
      () => !peersOf(a).includes(cId) && !peersOf(b).includes(cId),
    );
    await waitUntil('C with no peer', () => peersOf(c).length === 0);
    expect(a.parts.chain.validators).toHaveLength(2);

    // C dials A again: refused after the handshake, A never lists it.
    const denied = async () =>
      (await a.metrics.net.connectionsDenied.get()).values.reduce((sum, v) => sum + v.value, 0);
    const before = await denied();
    await c.parts.host.libp2p.dial(a.parts.host.libp2p.getMultiaddrs()).catch(() => undefined);
    await waitUntil('A to refuse C', async () => (await denied()) > before);
    expect(peersOf(a)).not.toContain(cId);
  }, 90_000);
});
