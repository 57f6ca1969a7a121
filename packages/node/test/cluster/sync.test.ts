import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeMessage } from '@medchain/consensus';
import { encodeCanonical, fromHex, toHex } from '@medchain/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeBlocksRequest,
  decodeBlocksResponse,
  decodeSnapshotOffer,
  decodeSnapshotPage,
  encodeBlocksRequest,
  type MedchainNode,
  SnapshotServer,
  SYNC_BATCH_BLOCKS,
  serveBlocks,
  verifySnapshotEntries,
} from '../../src/index.js';
import {
  counterValue,
  makeNetwork,
  type Network,
  registration,
  startNode,
  stateRootAfter,
  waitUntil,
} from '../cluster-harness.js';

describe('block sync', () => {
  let network: Network;
  const nodes: (MedchainNode | undefined)[] = [];
  const running = () => nodes.filter((node): node is MedchainNode => node !== undefined);

  beforeAll(async () => {
    // Short checkpoints prune the decisions peers keep for laggards, so a node that was away
    // for long can only come back through block sync. Short timeouts make empty blocks fast.
    network = await makeNetwork({ validators: 4, checkpointInterval: 5, baseTimeoutTicks: 8 });
    for (const home of network.homes) nodes.push(await startNode(home));
  });

  afterAll(async () => {
    for (const node of running()) await node.stop();
    await network?.remove();
  });

  /**
   * An idle chain makes no blocks: one transaction at a time, each committed on every running
   * node before the next, makes at least `count` blocks. Returns the transaction hashes.
   */
  const commitOneByOne = async (label: string, count: number): Promise<string[]> => {
    const hashes: string[] = [];
    for (let i = 0; i < count; i++) {
      const result = running()[i % running().length]!.parts.backend.submitTransaction(
        registration(`${label}-${i}`),
      );
      if (!result.accepted) throw new Error(`${label}-${i} refused: ${result.code}`);
      hashes.push(toHex(result.hash));
      await waitUntil(`${label}-${i} committed`, () =>
        running().every((node) => node.parts.chain.hasTransaction(result.hash)),
      );
    }
    return hashes;
  };

  it('refuses malformed requests and serves stored blocks with their certificates', async () => {
    const node = nodes[0]!;
    await commitOneByOne('warm-up', 3);
    expect(node.parts.chain.height).toBeGreaterThanOrEqual(3);
    for (const bad of [
      encodeCanonical({ from: 0, count: 1 }),
      encodeCanonical({ from: 1 }),
      encodeCanonical([1, 2]),
      Uint8Array.of(0xc1),
    ]) {
      expect(() => decodeBlocksRequest(bad)).toThrow();
    }
    expect(decodeBlocksRequest(encodeBlocksRequest({ from: 1, count: 10_000 })).count).toBe(
      SYNC_BATCH_BLOCKS,
    );
    const response = decodeBlocksResponse(serveBlocks(node.parts.chain, { from: 2, count: 2 }));
    expect(response.decisions).toHaveLength(2);
    expect(response.head).toBeGreaterThanOrEqual(3);
    const beyond = decodeBlocksResponse(
      serveBlocks(node.parts.chain, { from: node.parts.chain.height + 100, count: 5 }),
    );
    expect(beyond.decisions).toHaveLength(0);
  });

  it('drops a decision whose certificate does not verify', async () => {
    const node = nodes[0]!;
    const stored = node.parts.chain.height;
    const payload = node.parts.chain.loadPayload(stored)!;
    const certificate = node.parts.chain.loadCertificate(stored)!;
    const before = await counterValue(node.metrics.consensus.messagesDropped, {
      reason: 'badCertificate',
    });
    const height = node.parts.driver.height + 10;
    await node.parts.driver.feedDecisions([
      encodeMessage({
        type: 'decision',
        payload,
        certificate: {
          ...certificate,
          height,
          votes: certificate.votes.map((vote) => ({ ...vote, signature: new Uint8Array(64) })),
        },
      }),
    ]);
    expect(
      await counterValue(node.metrics.consensus.messagesDropped, { reason: 'badCertificate' }),
    ).toBe(before + 1);
  });

  it('a validator away for many heights catches up by block sync and converges', async () => {
    const away = nodes[3]!;
    await away.stop();
    nodes[3] = undefined;
    const heightAtStop = away.parts.chain.height;
    const hashes = await commitOneByOne('sync', 40);
    expect(running().every((node) => node.parts.chain.height >= heightAtStop + 40)).toBe(true);
    const back = await startNode(network.homes[3]!);
    nodes[3] = back;
    await waitUntil(
      'the returning validator reaches the others',
      () =>
        running().every((node) => back.parts.chain.height >= node.parts.chain.height - 1) &&
        back.parts.chain.height >= heightAtStop + 40,
    );
    expect(await counterValue(back.metrics.sync.blocksFetched)).toBeGreaterThanOrEqual(20);
    for (const hash of hashes) expect(back.parts.chain.hasTransaction(fromHex(hash))).toBe(true);
    const common = Math.min(...running().map((node) => node.parts.chain.height));
    const roots = new Set(running().map((node) => stateRootAfter(node, common)));
    expect(roots.size).toBe(1);
    // It votes again: the cluster keeps committing with it.
    const after = back.parts.chain.height;
    await commitOneByOne('after-return', 3);
    await waitUntil('commits continue', () => back.parts.chain.height >= after + 3);
  });

  it('checks a snapshot node by node against its root', async () => {
    const node = nodes[0]!;
    // A second server on the node's database: pins its head, serves it in 4 KiB pages.
    const server = new SnapshotServer({
      db: node.parts.chain.store.db,
      head: () => node.parts.chain,
      interval: 5,
      pageBytes: 4096,
    });
    const offer = decodeSnapshotOffer(await server.serve({ kind: 'offer' }));
    const entries: Array<readonly [Uint8Array, Uint8Array]> = [];
    let pages = 0;
    for (let after: Uint8Array | null = null; ; pages++) {
      const page = decodeSnapshotPage(
        await server.serve({ kind: 'page', height: offer.height, after }),
      );
      entries.push(...page.entries);
      if (page.done) break;
      after = page.entries.at(-1)![0];
    }
    await server.close();
    expect(pages).toBeGreaterThan(1);
    const snapshot = { stateRoot: offer.stateRoot, entries };
    const kept = verifySnapshotEntries(snapshot.stateRoot, snapshot.entries);
    expect(kept.length).toBe(snapshot.entries.length);
    const extra: [Uint8Array, Uint8Array] = [Uint8Array.of(0x6e, 1, 2), Uint8Array.of(3)];
    expect(verifySnapshotEntries(snapshot.stateRoot, [...snapshot.entries, extra])).toHaveLength(
      kept.length,
    );
    for (let i = 0; i < snapshot.entries.length; i += Math.ceil(snapshot.entries.length / 7)) {
      const [key, value] = snapshot.entries[i]!;
      const tampered = value.slice();
      tampered[tampered.length - 1]! ^= 1;
      const changed = snapshot.entries.map((entry, j) =>
        j === i ? ([key, tampered] as const) : entry,
      );
      expect(() => verifySnapshotEntries(snapshot.stateRoot, changed)).toThrow();
      const missing = snapshot.entries.filter((_, j) => j !== i);
      expect(() => verifySnapshotEntries(snapshot.stateRoot, missing)).toThrow();
    }
  });

  it('a fresh home takes a certified state snapshot instead of replaying every block', async () => {
    const wiped = nodes[2]!;
    await wiped.stop();
    nodes[2] = undefined;
    const home = network.homes[2]!;
    await rm(join(home.home, 'db'), { recursive: true, force: true });
    await rm(join(home.home, 'wal'), { recursive: true, force: true });
    await commitOneByOne('state', 10);
    // Blocks keep committing while it starts: the snapshot it takes is below a moving head
    // (and, with the head pinned lazily, its next block appears).
    let starting = true;
    const load = (async () => {
      for (let i = 0; starting; i++) {
        running()[i % running().length]!.parts.backend.submitTransaction(
          registration(`during-${i}`),
        );
        await sleep(150);
      }
    })();
    const fresh = await startNode(home);
    starting = false;
    await load;
    nodes[2] = fresh;
    // The head came from a snapshot: blocks up to it were never stored here, and block sync
    // fetched at most the blocks after it.
    const head = fresh.parts.chain.height;
    let firstStored = 1;
    while (firstStored <= head && fresh.parts.chain.loadPayload(firstStored) === undefined) {
      firstStored++;
    }
    const snapshotHeight = firstStored - 1;
    expect(snapshotHeight).toBeGreaterThan(20);
    expect(await counterValue(fresh.metrics.sync.blocksFetched)).toBeLessThanOrEqual(
      head - snapshotHeight,
    );
    await waitUntil('it joins the others', () =>
      running().every((node) => fresh.parts.chain.height >= node.parts.chain.height - 1),
    );
    const common = Math.min(...running().map((node) => node.parts.chain.height));
    expect(new Set(running().map((node) => stateRootAfter(node, common))).size).toBe(1);
    const after = fresh.parts.chain.height;
    await commitOneByOne('after-fresh', 3);
    await waitUntil('commits continue with it', () => fresh.parts.chain.height >= after + 3);
  });
});
