import { encodeMessage } from '@medchain/consensus';
import { fromHex, toHex } from '@medchain/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, type MedchainNode, protocolId } from '../../src/index.js';
import {
  counterValue,
  makeNetwork,
  type Network,
  registration,
  startNode,
  stateRootAfter,
  waitUntil,
} from '../cluster-harness.js';

/**
 * Four validators in this process over real TCP libp2p, LevelDB and WALs in temp homes:
 * the whole node (driver, mempool, gossip, sync, API backend) with nothing mocked.
 */
describe('in-process 4-validator cluster', () => {
  let network: Network;
  const nodes: (MedchainNode | undefined)[] = [];
  const running = () => nodes.filter((node): node is MedchainNode => node !== undefined);

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    for (const home of network.homes) nodes.push(await startNode(home));
  });

  afterAll(async () => {
    for (const node of running()) await node.stop();
    await network?.remove();
  });

  /** Submits `count` registrations round-robin over the running nodes; returns their hashes. */
  function submit(label: string, count: number): string[] {
    const live = running();
    const hashes: string[] = [];
    for (let i = 0; i < count; i++) {
      const result = live[i % live.length]!.parts.backend.submitTransaction(
        registration(`${label}-${i}`),
      );
      if (!result.accepted) throw new Error(`refused: ${result.code} ${result.message}`);
      hashes.push(toHex(result.hash));
    }
    return hashes;
  }

  /**
   * Cheap test on the tx index (the API's transaction() decodes the block). The index entry
   * counts once the node's head covers it: LevelDB shows a batch a moment before the write
   * resolves and the node moves its head.
   */
  const committedEverywhere = (node: MedchainNode, hashes: readonly string[]) =>
    hashes.every((hash) => {
      const location = node.parts.chain.store.loadTxLocation(fromHex(hash));
      return location !== undefined && location.height <= node.parts.chain.height;
    });

  /** Every running node holds the same block hash and state root at the lowest common height. */
  function expectSameChain(): number {
    const live = running();
    const common = Math.min(...live.map((node) => node.parts.chain.height));
    const hashes = new Set(live.map((node) => toHex(node.parts.chain.loadBlock(common)!.hash)));
    const roots = new Set(live.map((node) => stateRootAfter(node, common)));
    expect(hashes.size).toBe(1);
    expect(roots.size).toBe(1);
    return common;
  }

  it('commits transactions and every validator reaches the same height and state root', async () => {
    const hashes = submit('first', 200);
    for (const node of running()) {
      await waitUntil(`node commits 200 txs`, () => committedEverywhere(node, hashes));
    }
    const common = expectSameChain();
    expect(common).toBeGreaterThan(0);
    for (const hash of hashes) {
      const status = running()[0]!.parts.backend.transaction(fromHex(hash));
      expect(
        status.status === 'committed' && status.receipt.code,
        JSON.stringify(status).slice(0, 300),
      ).toBe('OK');
    }
    // Each node admitted the others' submissions from gossip (verifying them itself).
    for (const node of running()) {
      expect(
        await counterValue(node.metrics.mempool.admitted, { source: 'gossip' }),
      ).toBeGreaterThan(0);
    }
    // The same transaction again is a duplicate everywhere.
    const again = running()[1]!.parts.backend.submitTransaction(registration('first-0'));
    expect(again).toMatchObject({ accepted: false, code: 'DUPLICATE' });
  });

  it('a validator restarted from its home catches up and converges', async () => {
    const stopped = nodes[3]!;
    await stopped.stop();
    nodes[3] = undefined;
    const heightAtStop = stopped.parts.chain.height;
    // An idle chain makes no blocks: waves of transactions move it 5 heights past the stop.
    const hashes: string[] = [];
    for (let wave = 0; running()[0]!.parts.chain.height < heightAtStop + 5; wave++) {
      if (wave >= 50) throw new Error('the chain did not move 5 heights in 50 waves');
      const batch = submit(`while-down-${wave}`, 30);
      hashes.push(...batch);
      for (const node of running()) {
        await waitUntil('three validators commit without the fourth', () =>
          committedEverywhere(node, batch),
        );
      }
    }
    const restarted = await startNode(network.homes[3]!);
    nodes[3] = restarted;
    expect(restarted.parts.chain.height).toBe(heightAtStop);
    await waitUntil('the restarted validator catches up', () =>
      committedEverywhere(restarted, hashes),
    );
    const more = submit('after-restart', 40);
    for (const node of running()) {
      await waitUntil('all four commit new txs', () => committedEverywhere(node, more));
    }
    expectSameChain();
  });

  it('an idle cluster makes no block and changes no view', async () => {
    // After the last transactions, one more block certifies the state they left; then quiet.
    await waitUntil('every node at one height, mempools empty, the head state certified', () => {
      const live = running();
      const heights = new Set(live.map((node) => node.parts.chain.height));
      return (
        heights.size === 1 &&
        live.every(
          (node) => node.parts.mempool.size === 0 && !node.parts.chain.headStateUncertified,
        )
      );
    });
    const last = running()[0]!.parts.chain;
    expect(last.loadBlock(last.height)!.block.txs).toHaveLength(0);
    const height = running()[0]!.parts.chain.height;
    const viewChanges = running().map((node) => node.parts.driver.core.stats().viewChanges);
    // Three base view timeouts (20 ticks of 50 ms here): a running view timer would have fired.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    for (const [i, node] of running().entries()) {
      expect(node.parts.chain.height).toBe(height);
      expect(node.parts.driver.core.stats().viewChanges).toBe(viewChanges[i]);
    }
  });

  it('drops and counts malformed and forged consensus frames and keeps committing', async () => {
    const [target, sender] = running() as [MedchainNode, MedchainNode];
    const dropped = (reason: string) =>
      counterValue(target.metrics.consensus.messagesDropped, { reason });
    const malformedBefore = await dropped('malformed');
    const forgedBefore = await dropped('badSignature');
    const stream = await sender.parts.host.libp2p.dialProtocol(
      target.parts.host.libp2p.peerId,
      protocolId('consensus'),
    );
    const height = target.parts.driver.height;
    // A PREPARE claiming to come from the third validator, signed by nobody.
    const forged = encodeMessage({
      type: 'prepare',
      height,
      view: target.parts.driver.view,
      digest: new Uint8Array(32).fill(7),
      from: running()[2]!.parts.validatorKey,
      signature: new Uint8Array(64).fill(1),
    });
    for (let i = 0; i < 20; i++) {
      stream.send(encodeFrame(Uint8Array.of(0xc1, i))); // 0xc1 is never valid msgpack
      stream.send(encodeFrame(Uint8Array.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x01])));
    }
    stream.send(encodeFrame(forged));
    await waitUntil('drops are counted', async () => {
      return (
        (await dropped('malformed')) >= malformedBefore + 40 &&
        (await dropped('badSignature')) >= forgedBefore + 1
      );
    });
    await stream.close();
    const hashes = submit('after-garbage', 30);
    for (const node of running()) {
      await waitUntil('commits resume after garbage', () => committedEverywhere(node, hashes));
    }
    expectSameChain();
  });
});
