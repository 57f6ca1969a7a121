import { encodeCanonical, fromHex } from '@medchain/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MedchainNode } from '../../src/index.js';
import {
  counterValue,
  makeNetwork,
  type Network,
  registration,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * Batch submission end to end on two in-process validators over real HTTP and libp2p: a
 * POST /v1/txs of 300 transactions to one node leaves it in one gossip frame (not one per
 * transaction), the other node admits every one from gossip, and all of them commit.
 */

const BATCH = 300;

/** Frames sent so far with at most `le` transactions (the histogram's cumulative bucket). */
async function framesUpTo(node: MedchainNode, le: number): Promise<number> {
  const { values } = await node.metrics.mempool.gossipFrameTxs.get();
  const bucket = values.find(
    (v) => v.metricName?.endsWith('_bucket') && (v.labels as { le?: number }).le === le,
  );
  return bucket?.value ?? 0;
}

describe('POST /v1/txs on a 2-validator cluster', () => {
  let network: Network;
  const nodes: MedchainNode[] = [];

  beforeAll(async () => {
    network = await makeNetwork({ validators: 2 });
    for (const home of network.homes) nodes.push(await startNode(home));
  });

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await network?.remove();
  });

  it('gossips a batch in one frame; the peer admits and both commit every transaction', async () => {
    const [a, b] = nodes as [MedchainNode, MedchainNode];
    const small = await framesUpTo(a, 256);
    const large = await framesUpTo(a, 512);
    const txs = Array.from({ length: BATCH }, (_, i) => registration(`batch-gossip-${i}`));
    const response = await fetch(`${a.parts.apiUrl}/v1/txs`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: encodeCanonical(txs),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { accepted: number; results: { hash: string }[] };
    expect(answer.accepted).toBe(BATCH);
    await waitUntil('the peer admits the batch from gossip', async () => {
      return (await counterValue(b.metrics.mempool.admitted, { source: 'gossip' })) >= BATCH;
    });
    // One frame of 257-512 transactions carried the batch; no smaller frame went out.
    expect(await framesUpTo(a, 512)).toBeGreaterThan(large);
    expect(await framesUpTo(a, 256)).toBe(small);
    for (const node of nodes) {
      await waitUntil('every transaction committed', () =>
        answer.results.every((result) => {
          const location = node.parts.chain.store.loadTxLocation(fromHex(result.hash));
          return location !== undefined && location.height <= node.parts.chain.height;
        }),
      );
    }
  });
});
