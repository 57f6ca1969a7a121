import { toHex } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConsensusCore,
  ConsensusError,
  decodeHardState,
  encodeHardState,
  type PrepareMessage,
  VALIDATOR_SET_CHANGE_DELAY,
  voteSigningHash,
} from '../src/index.js';
import { CLUSTER_CHAIN, Cluster } from './cluster.js';
import { proposalOf, simApplication } from './sim/app.js';
import { simKeys } from './sim/keys.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConsensusError);
    return (error as ConsensusError).code;
  }
}

function prepareFrom(
  cluster: Cluster,
  index: number,
  height: number,
  view: number,
): PrepareMessage {
  const digest = new Uint8Array(32).fill(9);
  const signer = cluster.nodes[index]!.signer;
  return {
    type: 'prepare',
    height,
    view,
    digest,
    from: signer.publicKey,
    signature: signer.sign(voteSigningHash(CLUSTER_CHAIN, 'prepare', height, view, digest)),
  };
}

describe('ConsensusCore input handling', () => {
  it('drops and counts garbage, never throws', () => {
    const cluster = new Cluster({ n: 4 });
    const core = cluster.core(0);
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        core.step(junk);
      }),
    );
    core.step(null);
    core.step({ type: 'prepare' });
    core.step({ ...prepareFrom(cluster, 1, 1, 0), height: 2 ** 60 });
    expect(core.stats().dropped.malformed).toBeGreaterThan(100);
  });

  it('drops non-validators, bad signatures, duplicates, conflicting votes, wrong views and old heights', () => {
    const cluster = new Cluster({ n: 4, observers: 1 });
    const core = cluster.core(0);
    core.step(prepareFrom(cluster, 4, 1, 0)); // n4 is not a validator
    core.step({ ...prepareFrom(cluster, 2, 1, 0), signature: new Uint8Array(32) });
    core.step({ ...prepareFrom(cluster, 2, 1, 0), from: cluster.key(3) }); // forged sender
    const vote = prepareFrom(cluster, 2, 1, 0);
    core.step(vote);
    core.step(vote);
    const other = { ...vote, digest: new Uint8Array(32).fill(1) };
    core.step(other);
    cluster.deliver();
    cluster.deliver();
    cluster.deliver(); // height 1 commits; now at height 2
    expect(core.currentHeight).toBe(2);
    core.step(prepareFrom(cluster, 3, 1, 0));
    cluster.tick([0], 10); // view 1 at height 2
    core.step(prepareFrom(cluster, 3, 2, 0));
    const dropped = core.stats().dropped;
    expect(dropped).toMatchObject({
      nonValidator: 1,
      // the vote for another digest under the first vote's signature is checked (a conflict may
      // be evidence) and fails
      badSignature: 3,
      duplicate: 1,
      conflicting: 1, // n2's real PREPARE: it contradicts the vote n2's key signed for digest 9
      wrongView: 1,
    });
    expect(dropped.oldHeight).toBeGreaterThanOrEqual(1);
  });

  it('persists hard state and own votes in the same ready() that first sends them', () => {
    const cluster = new Cluster({ n: 4 });
    const core = cluster.core(2);
    let checked = 0;
    for (let round = 0; round < 12; round++) {
      const persisted = { prepare: -1, commit: -1 };
      // intercept node 2's ready() to check every batch before the harness handles it
      const ready = core.ready.bind(core);
      core.ready = () => {
        const batch = ready();
        for (const vote of batch.ownVotes) {
          expect(batch.messages.some((m) => m.message === vote)).toBe(true);
          if (vote.type === 'prepare' || vote.type === 'commit') {
            const last =
              vote.type === 'prepare' ? batch.hardState?.lastPrepare : batch.hardState?.lastCommit;
            expect(last?.view).toBe(vote.view);
            expect(toHex(last!.digest)).toBe(toHex(vote.digest));
            persisted[vote.type] = vote.view;
            checked++;
          }
        }
        return batch;
      };
      cluster.deliver();
      core.ready = ready;
    }
    expect(checked).toBeGreaterThan(4);
  });

  it('treats an application hook that throws as a rejection', () => {
    const { verifier, signers } = simKeys(4);
    const core = new ConsensusCore({
      chainId: CLUSTER_CHAIN,
      signer: signers[0]!,
      verifier,
      application: {
        digestOf: () => {
          throw new Error('boom');
        },
        validateProposal: () => true,
      },
      genesisValidators: signers.map((s) => s.publicKey),
    });
    const { digest, payload } = proposalOf({ height: 1, proposer: 1, nonce: 0 });
    core.step({
      type: 'preprepare',
      height: 1,
      view: 0,
      digest,
      payload,
      from: signers[1]!.publicKey,
      signature: signers[1]!.sign(voteSigningHash(CLUSTER_CHAIN, 'preprepare', 1, 0, digest)),
    });
    expect(core.stats().dropped.badProposal).toBe(1);
  });

  it('requires advance() between ready() calls and applied() in height order', () => {
    const { verifier, signers } = simKeys(4);
    const core = new ConsensusCore({
      chainId: 'x',
      signer: signers[1]!,
      verifier,
      application: simApplication(4),
      genesisValidators: signers.map((s) => s.publicKey),
    });
    const ready = core.ready();
    expect(ready.proposalRequest).toEqual({ height: 1, view: 0 });
    expect(codeOf(() => core.ready())).toBe('CONSENSUS_READY_NOT_ADVANCED');
    core.advance();
    expect(codeOf(() => core.applied(2, { stateRoot: new Uint8Array(32) }))).toBe(
      'CONSENSUS_APPLIED_OUT_OF_ORDER',
    );
    expect(
      codeOf(() => core.propose({ digest: new Uint8Array(32), payload: new Uint8Array(1) })),
    ).toBe('CONSENSUS_BAD_PROPOSAL');
    expect(core.propose(proposalOf({ height: 1, proposer: 1, nonce: 0 }))).toBe(true);
    expect(core.propose(proposalOf({ height: 1, proposer: 1, nonce: 1 }))).toBe(false);
  });
});

describe('ConsensusCore restarts', () => {
  it('round-trips its hard state through bytes for the WAL, and rejects damaged bytes', () => {
    const cluster = new Cluster({
      n: 4,
      checkpointInterval: 2,
      byzantine: new Map([[1, 'equivocate' as const]]),
    });
    for (let i = 0; i < 300 && cluster.core(0).lastStableCheckpoint === null; i++) {
      cluster.deliver();
      cluster.tick('all');
    }
    expect(cluster.core(0).lastStableCheckpoint).not.toBeNull();
    for (const node of cluster.nodes) {
      const state = node.hardState!;
      const bytes = encodeHardState(state);
      expect(toHex(encodeHardState(decodeHardState(bytes)))).toBe(toHex(bytes));
      expect(decodeHardState(bytes).lastPrepare?.view).toBe(state.lastPrepare?.view);
      const damaged = bytes.slice(0, -1);
      expect(codeOf(() => decodeHardState(damaged))).toBe('CONSENSUS_BAD_HARD_STATE');
    }
    expect(cluster.nodes.some((n) => n.hardState!.stableCheckpoint !== null)).toBe(true);
    expect(
      codeOf(() =>
        decodeHardState(encodeHardState({ ...cluster.nodes[0]!.hardState!, validatorSets: [] })),
      ),
    ).toBe('CONSENSUS_BAD_HARD_STATE');
  });

  it('never signs a different PREPARE for a (height, view) it voted in before crashing', () => {
    const cluster = new Cluster({ n: 4, byzantine: new Map([[1, 'equivocate' as const]]) });
    cluster.deliver();
    cluster.deliver(); // n0 and n2 prepared block B, n3 voted for A (see equivocating-primary.txt)
    const before = cluster.nodes[3]!.hardState!.lastPrepare!;
    cluster.crash(3);
    cluster.restart(3);
    const core = cluster.core(3);
    expect(core.hardState().lastPrepare).toEqual(before);
    // The byzantine primary now shows the restarted n3 the other block for the same (height, view).
    const blockB = cluster.nodes[0]!.hardState!;
    const digest = blockB.prepared!.digest;
    expect(toHex(digest)).not.toBe(toHex(before.digest));
    core.step({
      type: 'preprepare',
      height: 1,
      view: 0,
      digest,
      payload: blockB.preparedPayload!,
      from: cluster.key(1),
      signature: cluster.nodes[1]!.signer.sign(
        voteSigningHash(CLUSTER_CHAIN, 'preprepare', 1, 0, digest),
      ),
    });
    const ready = core.ready();
    core.advance();
    expect(ready.ownVotes.filter((v) => v.type === 'prepare')).toEqual([]);
    expect(core.stats().refusedDoubleVotes).toBe(1);
  });

  it('resumes a view change after a restart with the same VIEW-CHANGE', () => {
    const cluster = new Cluster({ n: 4 });
    cluster.crash(1);
    cluster.tick([0], 10);
    const sent = cluster.takeTrace().filter((line) => line.includes('VIEW-CHANGE'));
    cluster.crash(0);
    cluster.restart(0);
    const again = cluster.takeTrace().filter((line) => line.includes('VIEW-CHANGE'));
    expect(again).toEqual(sent);
    expect(cluster.core(0).currentView).toBe(1);
  });
});

describe('ConsensusCore catching up', () => {
  it('says it is behind when f+1 validators work on later heights', () => {
    // n0 is cut off while heights 1..3 (primaries n1..n3) commit; n0 would propose height 4.
    const cluster = new Cluster({ n: 4 });
    cluster.setPartition([[1, 2, 3], [0]]);
    cluster.deliverUntil(() => cluster.core(1).currentHeight >= 4);
    cluster.heal();
    cluster.tick([1, 2, 3], 10); // their view change at height 4 reaches n0
    cluster.takeTrace();
    cluster.deliver();
    const behind = cluster.takeTrace().filter((line) => line.startsWith('n0 BEHIND'));
    expect(behind).toEqual(['n0 BEHIND: sync up to h=3']);
  });

  it('catches up from decisions fed in by the node layer (sync)', () => {
    const cluster = new Cluster({ n: 4 });
    cluster.setPartition([[1, 2, 3], [0]]);
    cluster.deliverUntil(() => cluster.core(1).currentHeight >= 4);
    const core = cluster.core(0);
    expect(cluster.nodes[1]!.blocks.length).toBe(3);
    for (const block of cluster.nodes[1]!.blocks.toReversed()) {
      // out of order on purpose: future decisions are buffered until their height comes
      core.step({
        type: 'decision',
        payload: block.proposal.payload,
        certificate: block.certificate,
      });
    }
    cluster.flush(0);
    expect(cluster.nodes[0]!.blocks.map((b) => toHex(b.proposal.digest))).toEqual(
      cluster.nodes[1]!.blocks.map((b) => toHex(b.proposal.digest)),
    );
    // a decision whose certificate lost a vote is refused
    const block = cluster.nodes[1]!.blocks[0]!;
    const fresh = new Cluster({ n: 4 });
    const lagging = fresh.core(3);
    lagging.step({
      type: 'decision',
      payload: block.proposal.payload,
      certificate: { ...block.certificate, votes: block.certificate.votes.slice(1) },
    });
    expect(lagging.stats().dropped.badCertificate).toBe(1);
  });
});

describe('ConsensusCore validator set changes', () => {
  it(`applies a new set at the block height + ${VALIDATOR_SET_CHANGE_DELAY} on every node`, () => {
    const cluster = new Cluster({ n: 4, observers: 1 });
    // n2 proposes height 2 with a set that swaps n3 out and n4 in.
    cluster.nodes[2]!.nextProposal = (height) =>
      proposalOf({ height, proposer: 2, nonce: 0, validators: [0, 1, 2, 4] });
    cluster.deliverUntil(() => cluster.nodes.every((n) => n.blocks.length >= 8), 200);
    const newSet = [0, 1, 2, 4].map((i) => toHex(cluster.key(i)));
    for (const node of cluster.nodes) {
      const core = cluster.core(node.index);
      expect(core.validatorsAt(3).map(toHex)).toEqual(
        cluster.nodes.slice(0, 4).map((n) => toHex(n.signer.publicKey)),
      );
      expect(core.validatorsAt(4).map(toHex)).toEqual(newSet);
      for (const block of node.blocks) {
        const signers = block.certificate.votes.map((v) => cluster.nameOf(v.from));
        if (block.height >= 4) expect(signers).not.toContain('n3');
        else expect(signers).not.toContain('n4');
      }
    }
    // n4 took part from height 4; n3, no longer a validator, still follows the chain
    expect(
      cluster.nodes[4]!.blocks.some((b) =>
        b.certificate.votes.some((v) => cluster.nameOf(v.from) === 'n4'),
      ),
    ).toBe(true);
    expect(cluster.nodes[3]!.blocks.length).toBe(cluster.nodes[0]!.blocks.length);
  });
});

describe('ConsensusCore checkpoints', () => {
  it('makes a checkpoint stable at a quorum and prunes decisions below it', () => {
    const cluster = new Cluster({ n: 4, checkpointInterval: 3 });
    cluster.deliverUntil(() =>
      cluster.nodes.every((n) => (cluster.core(n.index).lastStableCheckpoint?.height ?? 0) >= 6),
    );
    for (const node of cluster.nodes) {
      const core = cluster.core(node.index);
      const stable = core.lastStableCheckpoint!;
      expect(stable.votes.length).toBe(3);
      expect(core.retainedDecisions).toBeLessThanOrEqual(core.currentHeight - stable.height + 1);
    }
  });
});
