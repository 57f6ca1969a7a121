import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

/*
 * The view timer is PBFT's request timer: it runs only while someone has work for the height.
 * An idle network must stay silent (no empty blocks, no view changes), and work anywhere,
 * even at one replica the primary never heard from, must still end in a block.
 */

const ALL = [0, 1, 2, 3];

function heights(cluster: Cluster): number[] {
  return ALL.map((i) => cluster.core(i).currentHeight);
}

describe('an idle network', () => {
  it('sends nothing and changes no view, however long it waits', () => {
    const cluster = new Cluster({ n: 4, idle: true });
    for (let round = 0; round < 50; round++) {
      cluster.tick('all', 20);
      cluster.deliver();
    }
    expect(cluster.inFlight).toBe(0);
    expect(heights(cluster)).toEqual([1, 1, 1, 1]);
    for (const i of ALL) {
      expect(cluster.core(i).currentView).toBe(0);
      expect(cluster.core(i).stats().viewChanges).toBe(0);
    }
    // The primary of height 1 (validators[(1 + 0) mod 4]) holds its request for work.
    expect(cluster.nodes[1]!.heldProposal).toEqual({ height: 1, view: 0 });
  });

  it('commits as soon as work arrives, then falls silent again', () => {
    const cluster = new Cluster({ n: 4, idle: true });
    // One transaction's worth of work: the held proposal goes out, then the pools are empty.
    cluster.setWork('all', true);
    cluster.setWork('all', false);
    cluster.deliverUntil(() => cluster.inFlight === 0);
    expect(heights(cluster)).toEqual([2, 2, 2, 2]);
    expect(cluster.nodes[2]!.heldProposal).toEqual({ height: 2, view: 0 });
    for (let round = 0; round < 50; round++) {
      cluster.tick('all', 20);
      cluster.deliver();
    }
    expect(cluster.inFlight).toBe(0);
    expect(heights(cluster)).toEqual([2, 2, 2, 2]);
    for (const i of ALL) expect(cluster.core(i).stats().viewChanges).toBe(0);
  });

  it('changes view when the replicas have work and the primary stays silent', () => {
    const cluster = new Cluster({ n: 4, idle: true });
    cluster.crash(1); // the primary of height 1, view 0
    cluster.setWork([0, 2, 3], true);
    for (let round = 0; round < 100 && cluster.core(0).currentHeight === 1; round++) {
      cluster.tick([0, 2, 3], 5);
      cluster.deliverUntil(() => cluster.inFlight === 0, 20);
    }
    for (const i of [0, 2, 3]) {
      expect(cluster.core(i).currentHeight).toBeGreaterThanOrEqual(2);
      expect(cluster.core(i).stats().viewChanges).toBeGreaterThan(0);
    }
  });

  it('work stranded at one replica still ends in a block: its view change wakes the others', () => {
    const cluster = new Cluster({ n: 4, idle: true });
    cluster.setWork([3], true);
    for (let round = 0; round < 200 && cluster.core(3).currentHeight === 1; round++) {
      cluster.tick('all', 5);
      cluster.deliverUntil(() => cluster.inFlight === 0, 20);
    }
    expect(heights(cluster)).toEqual([2, 2, 2, 2]);
  });

  it('two validators that missed the last commit catch up once the chain goes idle (chaos seed 20261125)', () => {
    const cluster = new Cluster({ n: 4 });
    let lost = 0;
    for (let round = 0; round < 20 && cluster.core(0).currentHeight === 1; round++) {
      lost += cluster.dropWhere((to, m) => m.type === 'commit' && m.height === 1 && to >= 2);
      cluster.deliver();
    }
    expect(lost).toBeGreaterThan(0);
    // The load stops: nobody has a transaction, and n0, n1 wait at height 2 for a quorum.
    cluster.setWork('all', false);
    expect(heights(cluster)).toEqual([2, 2, 1, 1]);
    for (let round = 0; round < 100 && heights(cluster).some((h) => h < 2); round++) {
      cluster.tick('all', 5);
      cluster.deliverUntil(() => cluster.inFlight === 0, 20);
    }
    expect(heights(cluster)).toEqual([2, 2, 2, 2]);
    const digests = ALL.map((i) => cluster.nodes[i]!.blocks[0]!.proposal.digest.join());
    expect(new Set(digests).size).toBe(1);
  });
});
