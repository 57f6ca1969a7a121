import {
  type ConsensusMessage,
  type Equivocation,
  encodeMessage,
  verifyEquivocation,
  voteSigningHash,
} from '@medchain/consensus';
import { fromHex, type Signer, toHex, verify } from '@medchain/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceLog } from '../../src/chain/driver.js';
import {
  Bucket,
  Database,
  EvidenceRepository,
  encodeFrame,
  type MedchainNode,
  protocolId,
} from '../../src/index.js';
import {
  CHAIN_ID,
  counterValue,
  makeNetwork,
  type Network,
  startNode,
  waitUntil,
} from '../cluster-harness.js';
import { tempDir } from '../helpers.js';

interface EvidenceJson {
  validator: string;
  phase: string;
  height: number;
  view: number | null;
  first: { digest: string; signature: string };
  second: { digest: string; signature: string };
  verified: boolean;
  recordedAt: number;
}

/** The API's evidence, parsed back into bytes as an outside checker would. */
function fromJson(item: EvidenceJson): Equivocation {
  return {
    validator: fromHex(item.validator),
    phase: item.phase as Equivocation['phase'],
    height: item.height,
    view: item.view,
    first: { digest: fromHex(item.first.digest), signature: fromHex(item.first.signature) },
    second: { digest: fromHex(item.second.digest), signature: fromHex(item.second.signature) },
  };
}

async function evidenceOf(node: MedchainNode): Promise<{ items: EvidenceJson[]; total: number }> {
  const response = await fetch(`${node.parts.apiUrl}/v1/consensus/evidence`);
  expect(response.status).toBe(200);
  return (await response.json()) as { items: EvidenceJson[]; total: number };
}

/**
 * Four validators over real libp2p: validator keys 2 and 3 sign conflicting votes, which a
 * peer relays to node 0 as ordinary consensus frames. Node 0 must keep the evidence, count it
 * and serve it; the other nodes, which saw nothing, serve an empty list.
 */
describe('equivocation evidence at the node', () => {
  let network: Network;
  const nodes: MedchainNode[] = [];

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    for (const home of network.homes) nodes.push(await startNode(home));
  });

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await network?.remove();
  });

  it('records conflicting signed votes relayed over libp2p and serves them verified', async () => {
    const [target, relay] = nodes as [MedchainNode, MedchainNode];
    for (const node of nodes) expect(await evidenceOf(node)).toEqual({ items: [], total: 0 });
    // An idle chain (no transactions) stays at its height and view while this runs.
    const height = target.parts.driver.height;
    const view = target.parts.driver.view;
    const vote = (
      type: 'prepare' | 'commit',
      signer: Signer,
      fill: number,
      from = signer.publicKey,
    ): ConsensusMessage => {
      const digest = new Uint8Array(32).fill(fill);
      return {
        type,
        height,
        view,
        digest,
        from,
        signature: signer.sign(voteSigningHash(CHAIN_ID, type, height, view, digest)),
      };
    };
    const [, one, two, three] = network.homes.map((home) => home.validator) as Signer[];
    const frames = [
      vote('commit', two!, 1),
      vote('commit', two!, 2), // validator 2 equivocates
      vote('prepare', three!, 1),
      vote('prepare', three!, 2), // validator 3 equivocates
      vote('prepare', three!, 3), // ...again: one piece of evidence per validator and height
      vote('commit', one!, 1),
      vote('commit', three!, 2, one!.publicKey), // a vote for validator 1 that 3 signed: forged
    ];
    const stream = await relay.parts.host.libp2p.dialProtocol(
      target.parts.host.libp2p.peerId,
      protocolId('consensus'),
    );
    for (const message of frames) stream.send(encodeFrame(encodeMessage(message)));
    const equivocations = (phase: string) =>
      counterValue(target.metrics.consensus.equivocations, { phase });
    await waitUntil('the evidence is counted', async () => {
      return (await equivocations('commit')) >= 1 && (await equivocations('prepare')) >= 1;
    });
    await stream.close();

    const { items, total } = await evidenceOf(target);
    expect(total).toBe(2);
    expect(
      items.map((item) => [item.validator, item.phase, item.height, item.view, item.verified]),
    ).toEqual([
      [toHex(two!.publicKey), 'commit', height, view, true],
      [toHex(three!.publicKey), 'prepare', height, view, true],
    ]);
    // What the chaos checker or a light client would do with the JSON alone.
    const validators = network.homes.map((home) => home.validator.publicKey);
    for (const item of items) {
      expect(verifyEquivocation(CHAIN_ID, fromJson(item), validators, { verify })).toBe(true);
      expect(item.first.digest).not.toBe(item.second.digest);
    }
    expect(
      await counterValue(target.metrics.consensus.messagesDropped, { reason: 'badSignature' }),
    ).toBeGreaterThanOrEqual(1);
    for (const node of nodes.slice(1)) {
      expect(await evidenceOf(node)).toEqual({ items: [], total: 0 });
    }
    const metricsText = await (await fetch(`${target.parts.apiUrl}/v1/metrics`)).text();
    expect(metricsText).toMatch(
      /medchain_consensus_equivocations_total\{[^}]*phase="commit"[^}]*\} 1\n/,
    );

    // The evidence is in the node's database: a restart serves the same list.
    await target.stop();
    nodes[0] = await startNode(network.homes[0]!);
    await waitUntil('the kept evidence is read back', async () => {
      return (await evidenceOf(nodes[0]!)).total === 2;
    });
    expect(await evidenceOf(nodes[0]!)).toEqual({ items, total });
  });
});

describe('EvidenceLog', () => {
  it('keeps the most recent entries in LevelDB, in order, across a reopen', async () => {
    const dir = await tempDir('evidence');
    const entry = (i: number) => ({
      evidence: {
        validator: new Uint8Array(32).fill(i),
        phase: 'commit' as const,
        height: i + 1,
        view: i % 2 === 0 ? 0 : null,
        first: { digest: new Uint8Array(32).fill(1), signature: new Uint8Array(64).fill(i) },
        second: { digest: new Uint8Array(32).fill(2), signature: new Uint8Array(64).fill(i + 1) },
      },
      verified: i % 3 === 0,
      recordedAt: 1_750_000_000_000 + i,
    });
    let db = await Database.open(dir.path);
    try {
      const log = new EvidenceLog(new EvidenceRepository(db), 3);
      await log.load();
      for (let i = 0; i < 5; i++) await log.add(entry(i));
      expect(log.list()).toEqual({ items: [2, 3, 4].map(entry), total: 5 });
      await db.close();
      db = await Database.open(dir.path);
      const reopened = new EvidenceLog(new EvidenceRepository(db), 3);
      await reopened.load();
      expect(reopened.list()).toEqual({ items: [2, 3, 4].map(entry), total: 5 });
      await reopened.add(entry(5));
      expect(reopened.list()).toEqual({ items: [3, 4, 5].map(entry), total: 6 });
      let stored = 0;
      for await (const _ of db.entries(Bucket.consensusEvidence)) stored++;
      expect(stored).toBe(3);
    } finally {
      await db.close();
      await dir.remove();
    }
  });
});
