import { toHex } from '@medchain/crypto';
import { describe, expect, it } from 'vitest';
import { type PrepareMessage, voteSigningHash } from '../src/index.js';
import { decodeBlock } from './sim/app.js';
import { runSeeds } from './sim/campaign.js';
import { simKeys } from './sim/keys.js';
import { paramsFromSeed } from './sim/params.js';
import { CHAIN_ID, Simulation } from './sim/simulator.js';

/**
 * Validator key rotation under the simulator's faults (loss, duplication, delay, partitions,
 * crashes and restarts, byzantine validators): every 4th height a block moves one honest
 * member to its second key; the core switches keys itself at the set change (rotatedSigners).
 */
describe('simulator: validator key rotation under faults', () => {
  it('keeps the seeds it found as regressions', () => {
    // 1103: a validator partitioned while every key rotated knew none of the current keys, so
    // no message told it it was behind; the node layer's stall probe (modelled) brings it back.
    runSeeds(1103, 1, { keyRotations: true });
  });

  it('keeps every checker green with rotations mixed with membership changes', () => {
    runSeeds(1, 8, { keyRotations: true, membershipChanges: true });
  });

  it('after the switch height the old key signs nothing and its votes are dropped; the new key decides', () => {
    let rotationsSeen = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const sim = new Simulation(
        paramsFromSeed(seed, { keyRotations: true, membershipChanges: false }),
      );
      const result = sim.run();
      expect(result.violations, `seed ${seed}`).toEqual([]);
      const nodes = sim.nodes.length;
      for (const log of sim.record().honestLogs) {
        // When each node's second key entered a committed set: it decides from that height + 2.
        const switchAt = new Map<number, number>();
        for (const block of log.blocks) {
          for (const k of decodeBlock(block.proposal.payload)?.validators ?? []) {
            if (k >= nodes && !switchAt.has(k - nodes)) switchAt.set(k - nodes, block.height + 2);
          }
        }
        for (const block of log.blocks) {
          const signers = new Set(block.certificate.votes.map((v) => toHex(v.from)));
          for (const [node, from] of switchAt) {
            if (block.height < from) continue;
            expect(signers.has(toHex(sim.keyOf(node))), `seed ${seed} h=${block.height}`).toBe(
              false,
            );
            if (signers.has(toHex(sim.keyOf(node + nodes)))) rotationsSeen++;
          }
        }
      }
      // An honest node at its current height refuses a vote signed with a retired key.
      const { signers } = simKeys(2 * nodes);
      const observer = sim.nodes.find((n) => n.honest && n.core !== null)!;
      const core = observer.core!;
      const height = core.currentHeight;
      const retired = [...Array(nodes).keys()].find(
        (i) =>
          !core.validatorsAt(height).some((key) => toHex(key) === toHex(sim.keyOf(i))) &&
          core.validatorsAt(height).some((key) => toHex(key) === toHex(sim.keyOf(i + nodes))),
      );
      if (retired === undefined) continue;
      const digest = new Uint8Array(32).fill(7);
      const vote = (index: number): PrepareMessage => ({
        type: 'prepare',
        height,
        view: core.currentView,
        digest,
        from: signers[index]!.publicKey,
        signature: signers[index]!.sign(
          voteSigningHash(CHAIN_ID, 'prepare', height, core.currentView, digest),
        ),
      });
      const before = core.stats().dropped.nonValidator;
      core.step(vote(retired));
      expect(core.stats().dropped.nonValidator).toBe(before + 1);
      core.step(vote(retired + nodes));
      expect(core.stats().dropped.nonValidator).toBe(before + 1);
    }
    expect(rotationsSeen).toBeGreaterThan(20);
  });
});
