import { describe, expect, it } from 'vitest';
import {
  type CheckpointCertificate,
  type CheckpointMessage,
  type CommitMessage,
  type CommittedBlock,
  type ConsensusConfig,
  ConsensusCore,
  type ConsensusMessage,
  checkpointSigningHash,
  type DecisionMessage,
  type Equivocation,
  faultTolerance,
  type NewViewMessage,
  newViewSigningHash,
  type OutboundMessage,
  type PrePrepareMessage,
  type PreparedCertificate,
  type PrepareMessage,
  type Proposal,
  primaryIndex,
  quorumSize,
  type ViewChangeMessage,
  type ViewChangeProof,
  viewChangeSigningHash,
  voteSigningHash,
} from '../src/index.js';
import { proposalOf, simApplication } from './sim/app.js';
import { simKeys } from './sim/keys.js';

/**
 * One test per rule of Castro and Liskov, "Practical Byzantine Fault Tolerance" (OSDI '99;
 * the same protocol with public-key signatures is BFT-PK in the TOCS 2002 paper), in the
 * manner of etcd's raft_paper_test.go: each test drives one replica's core by hand with
 * signed messages from the others and checks what it sends, decides or refuses.
 *
 * The mapping: the paper's sequence number n is the height (one at a time), a request is a
 * block, 3f + 1 replicas are 4 validators (f = 1, quorum 3), and the primary of (height, view)
 * is validator (height + view) mod 4. Where the core differs from the paper, the test says so.
 */

const CHAIN = 'pbft-paper';
const N = 4;
const { verifier, signers } = simKeys(N);
const KEYS = signers.map((signer) => signer.publicKey);
const BASE_TIMEOUT = 10;

/** Validator 0, the replica under test in most tests: a backup at height 1, view 0. */
const BACKUP = 0;
/** The primary of height 1, view 0, and of view 1. */
const PRIMARY_V0 = primaryIndex(1, 0, N);
const PRIMARY_V1 = primaryIndex(1, 1, N);

function replica(
  index: number,
  checkpointInterval = 10,
  options: Partial<ConsensusConfig> = {},
): ConsensusCore {
  return new ConsensusCore({
    chainId: CHAIN,
    signer: signers[index]!,
    verifier,
    application: simApplication(N),
    genesisValidators: KEYS,
    checkpointInterval,
    baseTimeoutTicks: BASE_TIMEOUT,
    ...options,
  });
}

interface Drained {
  readonly sent: OutboundMessage[];
  readonly committed: CommittedBlock[];
  readonly stable: CheckpointCertificate[];
  readonly proposalRequests: { height: number; view: number }[];
  readonly evidence: Equivocation[];
}

/** Runs the core's Ready loop (without applying blocks) and gathers what came out. */
function drain(core: ConsensusCore): Drained {
  const out: Drained = { sent: [], committed: [], stable: [], proposalRequests: [], evidence: [] };
  while (core.hasReady()) {
    const ready = core.ready();
    out.sent.push(...ready.messages);
    out.committed.push(...ready.committed);
    if (ready.stableCheckpoint !== null) out.stable.push(ready.stableCheckpoint);
    if (ready.proposalRequest !== null) out.proposalRequests.push(ready.proposalRequest);
    out.evidence.push(...ready.evidence);
    core.advance();
  }
  return out;
}

function sentOf<T extends ConsensusMessage['type']>(
  drained: Drained,
  type: T,
): Extract<ConsensusMessage, { type: T }>[] {
  return drained.sent
    .map((outbound) => outbound.message)
    .filter((message): message is Extract<ConsensusMessage, { type: T }> => message.type === type);
}

function block(height: number, nonce = 0): Proposal {
  return proposalOf({ height, proposer: primaryIndex(height, 0, N), nonce });
}

function prePrepare(from: number, height: number, proposal: Proposal): PrePrepareMessage {
  return {
    type: 'preprepare',
    height,
    view: 0,
    digest: proposal.digest,
    payload: proposal.payload,
    from: KEYS[from]!,
    signature: signers[from]!.sign(
      voteSigningHash(CHAIN, 'preprepare', height, 0, proposal.digest),
    ),
  };
}

function vote<P extends 'prepare' | 'commit'>(
  phase: P,
  from: number,
  height: number,
  view: number,
  digest: Uint8Array,
): P extends 'prepare' ? PrepareMessage : CommitMessage {
  return {
    type: phase,
    height,
    view,
    digest,
    from: KEYS[from]!,
    signature: signers[from]!.sign(voteSigningHash(CHAIN, phase, height, view, digest)),
  } as P extends 'prepare' ? PrepareMessage : CommitMessage;
}

function preparedCertificate(
  view: number,
  digest: Uint8Array,
  voters: readonly number[],
): PreparedCertificate {
  return {
    view,
    digest,
    votes: voters.map((from) => ({
      from: KEYS[from]!,
      signature: signers[from]!.sign(voteSigningHash(CHAIN, 'prepare', 1, view, digest)),
    })),
  };
}

function viewChange(
  from: number,
  view: number,
  prepared: PreparedCertificate | null = null,
  payload: Uint8Array | null = null,
): ViewChangeMessage {
  return {
    type: 'viewchange',
    height: 1,
    view,
    prepared,
    payload,
    from: KEYS[from]!,
    signature: signers[from]!.sign(viewChangeSigningHash(CHAIN, 1, view, prepared)),
  };
}

function proofOf(message: ViewChangeMessage): ViewChangeProof {
  return { from: message.from, signature: message.signature, prepared: message.prepared };
}

function newView(
  from: number,
  view: number,
  proofs: readonly ViewChangeProof[],
  proposal: Proposal,
): NewViewMessage {
  return {
    type: 'newview',
    height: 1,
    view,
    viewChanges: proofs,
    digest: proposal.digest,
    payload: proposal.payload,
    from: KEYS[from]!,
    signature: signers[from]!.sign(newViewSigningHash(CHAIN, 1, view, proposal.digest, proofs)),
  };
}

function checkpoint(from: number, height: number, stateRoot: Uint8Array): CheckpointMessage {
  return {
    type: 'checkpoint',
    height,
    stateRoot,
    from: KEYS[from]!,
    signature: signers[from]!.sign(checkpointSigningHash(CHAIN, height, stateRoot)),
  };
}

function rootOf(height: number): Uint8Array {
  return new Uint8Array(32).fill(height);
}

/** Height `height` decided elsewhere (a commit certificate from 1, 2, 3), then applied. */
function decideAndApply(core: ConsensusCore, height: number): Drained {
  const proposal = block(height);
  const decision: DecisionMessage = {
    type: 'decision',
    payload: proposal.payload,
    certificate: {
      height,
      view: 0,
      digest: proposal.digest,
      votes: [1, 2, 3].map((from) => ({
        from: KEYS[from]!,
        signature: signers[from]!.sign(
          voteSigningHash(CHAIN, 'commit', height, 0, proposal.digest),
        ),
      })),
    },
  };
  core.step(decision);
  const drained = drain(core);
  expect(drained.committed.map((b) => b.height)).toEqual([height]);
  core.applied(height, { stateRoot: rootOf(height) });
  const after = drain(core);
  return { ...after, committed: drained.committed };
}

/** Backup 0 with block A accepted and prepared at height 1, view 0 (it has sent COMMIT). */
function preparedBackup(proposal: Proposal): ConsensusCore {
  const core = replica(BACKUP);
  core.step(prePrepare(PRIMARY_V0, 1, proposal));
  core.step(vote('prepare', PRIMARY_V0, 1, 0, proposal.digest));
  core.step(vote('prepare', 2, 1, 0, proposal.digest));
  expect(sentOf(drain(core), 'commit')).toHaveLength(1);
  return core;
}

describe('the PBFT paper (Castro and Liskov, OSDI 1999), rule by rule', () => {
  it('uses 3f + 1 replicas and quorums of 2f + 1 (section 4.2)', () => {
    expect(faultTolerance(N)).toBe(1);
    expect(quorumSize(N)).toBe(3);
    expect(quorumSize(3 * 3 + 1)).toBe(2 * 3 + 1);
  });

  describe('4.2 normal-case operation: pre-prepare, prepare, commit', () => {
    it('the primary multicasts PRE-PREPARE for the block, and its own PREPARE', () => {
      const core = replica(PRIMARY_V0);
      expect(drain(core).proposalRequests).toEqual([{ height: 1, view: 0 }]);
      const a = block(1);
      expect(core.propose(a)).toBe(true);
      const out = drain(core);
      const [pp] = sentOf(out, 'preprepare');
      expect(pp).toMatchObject({ height: 1, view: 0, digest: a.digest, from: KEYS[PRIMARY_V0] });
      expect(out.sent.find((o) => o.message === pp)?.to).toBe('all');
      expect(sentOf(out, 'prepare')).toMatchObject([{ height: 1, view: 0, digest: a.digest }]);
    });

    it('a backup accepts a signed PRE-PREPARE from the primary and multicasts a matching PREPARE', () => {
      const core = replica(BACKUP);
      const a = block(1);
      core.step(prePrepare(PRIMARY_V0, 1, a));
      const out = drain(core);
      expect(sentOf(out, 'prepare')).toMatchObject([
        { height: 1, view: 0, digest: a.digest, from: KEYS[BACKUP] },
      ]);
    });

    it('a backup does not accept a PRE-PREPARE from a replica that is not the primary', () => {
      const core = replica(BACKUP);
      core.step(prePrepare(2, 1, block(1)));
      expect(sentOf(drain(core), 'prepare')).toEqual([]);
      expect(core.stats().dropped.notPrimary).toBe(1);
    });

    it('a backup does not accept a PRE-PREPARE with a bad signature or a digest not of its block', () => {
      const core = replica(BACKUP);
      const a = block(1);
      core.step({ ...prePrepare(PRIMARY_V0, 1, a), signature: new Uint8Array(32) });
      core.step({ ...prePrepare(PRIMARY_V0, 1, a), payload: block(1, 7).payload });
      expect(sentOf(drain(core), 'prepare')).toEqual([]);
      expect(core.stats().dropped).toMatchObject({ badSignature: 1, badProposal: 1 });
    });

    it('a backup accepts one PRE-PREPARE per view and sequence number; a second is evidence', () => {
      const core = replica(BACKUP);
      const a = block(1);
      const b = block(1, 1);
      core.step(prePrepare(PRIMARY_V0, 1, a));
      core.step(prePrepare(PRIMARY_V0, 1, b));
      const out = drain(core);
      expect(sentOf(out, 'prepare').map((p) => p.digest)).toEqual([a.digest]);
      expect(out.evidence).toHaveLength(1);
      expect(out.evidence[0]).toMatchObject({ phase: 'preprepare', height: 1, view: 0 });
    });

    it('prepared takes a quorum of PREPAREs matching the accepted block; then it multicasts COMMIT', () => {
      const core = replica(BACKUP);
      const a = block(1);
      core.step(prePrepare(PRIMARY_V0, 1, a));
      core.step(vote('prepare', PRIMARY_V0, 1, 0, a.digest));
      // Its own PREPARE and the primary's: 2 of 3.
      expect(sentOf(drain(core), 'commit')).toEqual([]);
      core.step(vote('prepare', 2, 1, 0, a.digest));
      expect(sentOf(drain(core), 'commit')).toMatchObject([
        { height: 1, view: 0, digest: a.digest, from: KEYS[BACKUP] },
      ]);
    });

    it('PREPAREs for another digest, or of another view, do not prepare the accepted block', () => {
      const core = replica(BACKUP);
      const a = block(1);
      const b = block(1, 1);
      core.step(prePrepare(PRIMARY_V0, 1, a));
      for (const from of [1, 2, 3]) core.step(vote('prepare', from, 1, 0, b.digest));
      for (const from of [1, 2, 3]) core.step(vote('prepare', from, 1, 1, a.digest));
      expect(sentOf(drain(core), 'commit')).toEqual([]);
    });

    it('committed-local takes a quorum of matching COMMITs; the block is handed out once', () => {
      const a = block(1);
      const core = preparedBackup(a);
      core.step(vote('commit', PRIMARY_V0, 1, 0, a.digest));
      expect(drain(core).committed).toEqual([]); // its own COMMIT and one more: 2 of 3
      core.step(vote('commit', 2, 1, 0, a.digest));
      core.step(vote('commit', 3, 1, 0, a.digest));
      const [decided, ...rest] = drain(core).committed;
      expect(rest).toEqual([]);
      expect(decided).toMatchObject({ height: 1, proposal: a });
      expect(decided!.certificate).toMatchObject({ height: 1, view: 0, digest: a.digest });
      expect(decided!.certificate.votes).toHaveLength(3);
    });

    it('blocks execute in sequence order: height 2 is taken up only once height 1 is applied', () => {
      const a = block(1);
      const core = preparedBackup(a);
      for (const from of [1, 2]) core.step(vote('commit', from, 1, 0, a.digest));
      expect(drain(core).committed).toHaveLength(1);
      const next = block(2);
      core.step(prePrepare(primaryIndex(2, 0, N), 2, next));
      expect(sentOf(drain(core), 'prepare')).toEqual([]); // committed, not yet executed
      core.applied(1, { stateRoot: rootOf(1) });
      expect(sentOf(drain(core), 'prepare')).toMatchObject([{ height: 2, digest: next.digest }]);
    });
  });

  describe('4.3 garbage collection: checkpoints', () => {
    it('after executing every K-th sequence number a replica multicasts CHECKPOINT with its state digest', () => {
      const core = replica(BACKUP, 2);
      expect(sentOf(decideAndApply(core, 1), 'checkpoint')).toEqual([]);
      expect(sentOf(decideAndApply(core, 2), 'checkpoint')).toMatchObject([
        { height: 2, stateRoot: rootOf(2), from: KEYS[BACKUP] },
      ]);
    });

    it('a quorum of CHECKPOINTs with the same digest is the proof that makes it stable', () => {
      const core = replica(BACKUP, 2);
      decideAndApply(core, 1);
      decideAndApply(core, 2);
      core.step(checkpoint(1, 2, rootOf(2)));
      core.step(checkpoint(2, 2, rootOf(9))); // a different digest does not count
      expect(drain(core).stable).toEqual([]);
      expect(core.lastStableCheckpoint).toBeNull();
      core.step(checkpoint(3, 2, rootOf(2)));
      const [stable] = drain(core).stable;
      expect(stable).toMatchObject({ height: 2, stateRoot: rootOf(2) });
      expect(stable!.votes).toHaveLength(3);
      expect(core.lastStableCheckpoint).toBe(stable);
    });

    it('a stable checkpoint discards the log below it and older checkpoint messages', () => {
      const core = replica(BACKUP, 2);
      for (const height of [1, 2, 3, 4]) decideAndApply(core, height);
      expect(core.retainedDecisions).toBe(4);
      for (const from of [1, 2]) core.step(checkpoint(from, 4, rootOf(4)));
      expect(drain(core).stable).toHaveLength(1);
      expect(core.retainedDecisions).toBe(1); // height 4 itself, for laggards
      core.step(checkpoint(3, 2, rootOf(2)));
      core.step(checkpoint(3, 4, rootOf(4)));
      expect(core.stats().dropped.oldCheckpoint).toBe(2);
    });

    it('(not in the paper) keeps decisions for laggards within a byte bound, oldest first', () => {
      const sizes = [1, 2, 3, 4].map((height) => block(height).payload.length);
      // Room for the last two: with no stable checkpoint, heights 1 and 2 go.
      const core = replica(BACKUP, 10, { maxRetainedDecisionBytes: sizes[2]! + sizes[3]! });
      for (const height of [1, 2, 3, 4]) decideAndApply(core, height);
      expect(core.retainedDecisions).toBe(2);
      // A laggard's view change at an evicted height gets nothing; at a kept one, the decisions.
      // (Two peers asking: each gets at most one reply per few ticks.)
      const sent = (from: number, height: number) => {
        const stuck: ViewChangeMessage = {
          type: 'viewchange',
          height,
          view: 1,
          prepared: null,
          payload: null,
          from: KEYS[from]!,
          signature: signers[from]!.sign(viewChangeSigningHash(CHAIN, height, 1, null)),
        };
        core.step(stuck);
        return sentOf(drain(core), 'decision').map((d) => d.certificate.height);
      };
      expect(sent(2, 2)).toEqual([]);
      expect(sent(3, 3)).toEqual([3, 4]);
      // One decision larger than the bound is still kept: the newest always is.
      const tight = replica(BACKUP, 10, { maxRetainedDecisionBytes: 1 });
      for (const height of [1, 2]) decideAndApply(tight, height);
      expect(tight.retainedDecisions).toBe(1);
    });
  });

  describe('4.4 view changes (and 4.5.2 liveness)', () => {
    it('a backup whose timer expires in view v multicasts VIEW-CHANGE for v + 1 and leaves view v', () => {
      const core = replica(BACKUP);
      for (let i = 1; i < BASE_TIMEOUT; i++) core.tick();
      expect(sentOf(drain(core), 'viewchange')).toEqual([]);
      core.tick();
      expect(sentOf(drain(core), 'viewchange')).toMatchObject([
        { height: 1, view: 1, prepared: null, payload: null },
      ]);
      // It no longer takes part in view 0: a PRE-PREPARE for it gets no PREPARE.
      core.step(prePrepare(PRIMARY_V0, 1, block(1)));
      expect(sentOf(drain(core), 'prepare')).toEqual([]);
    });

    it('VIEW-CHANGE carries the prepared certificate (the P set) and the prepared block', () => {
      const a = block(1);
      const core = preparedBackup(a);
      for (let i = 0; i < BASE_TIMEOUT; i++) core.tick();
      const [vc] = sentOf(drain(core), 'viewchange');
      expect(vc).toMatchObject({ view: 1, payload: a.payload });
      expect(vc!.prepared).toMatchObject({ view: 0, digest: a.digest });
      expect(vc!.prepared!.votes).toHaveLength(3);
    });

    it('each view waits twice as long as the one before (4.5.2, first means)', () => {
      const core = replica(BACKUP);
      const ticksToViewChange = (): number => {
        for (let ticks = 1; ; ticks++) {
          core.tick();
          if (sentOf(drain(core), 'viewchange').length > 0) return ticks;
        }
      };
      expect(ticksToViewChange()).toBe(BASE_TIMEOUT);
      expect(ticksToViewChange()).toBe(2 * BASE_TIMEOUT);
      expect(ticksToViewChange()).toBe(4 * BASE_TIMEOUT);
    });

    it('f + 1 VIEW-CHANGEs for higher views make a replica join before its timer expires (4.5.2)', () => {
      const core = replica(BACKUP);
      core.step(viewChange(2, 1));
      expect(sentOf(drain(core), 'viewchange')).toEqual([]); // one could be faulty
      core.step(viewChange(3, 1));
      expect(sentOf(drain(core), 'viewchange')).toMatchObject([{ view: 1 }]);
      expect(core.currentView).toBe(1);
    });

    it('the new primary, given a quorum of VIEW-CHANGEs, re-proposes the highest prepared block in NEW-VIEW', () => {
      const a = block(1);
      const core = replica(PRIMARY_V1);
      for (let i = 0; i < BASE_TIMEOUT; i++) core.tick(); // its own VIEW-CHANGE for view 1
      drain(core);
      const older = preparedCertificate(0, a.digest, [0, 1, 3]);
      core.step(viewChange(0, 1, older, a.payload));
      core.step(viewChange(3, 1));
      const out = drain(core);
      const [nv] = sentOf(out, 'newview');
      expect(nv).toMatchObject({ height: 1, view: 1, digest: a.digest, from: KEYS[PRIMARY_V1] });
      expect(nv!.viewChanges).toHaveLength(3);
      expect(sentOf(out, 'prepare')).toMatchObject([{ view: 1, digest: a.digest }]);
      expect(out.proposalRequests).toEqual([]);
    });

    it('with no prepared block among the VIEW-CHANGEs, the new primary proposes a fresh block', () => {
      // The paper orders a null request here; a chain simply proposes the next block.
      const core = replica(PRIMARY_V1);
      for (let i = 0; i < BASE_TIMEOUT; i++) core.tick();
      drain(core);
      core.step(viewChange(0, 1));
      core.step(viewChange(3, 1));
      expect(drain(core).proposalRequests).toEqual([{ height: 1, view: 1 }]);
      const fresh = block(1, 5);
      expect(core.propose(fresh)).toBe(true);
      expect(sentOf(drain(core), 'newview')).toMatchObject([{ view: 1, digest: fresh.digest }]);
    });

    it('a backup accepts a valid NEW-VIEW, enters the view and multicasts PREPARE for its block', () => {
      const core = replica(BACKUP);
      const proofs = [1, 2, 3].map((from) => proofOf(viewChange(from, 1)));
      const fresh = block(1, 5);
      core.step(newView(PRIMARY_V1, 1, proofs, fresh));
      expect(core.currentView).toBe(1);
      expect(sentOf(drain(core), 'prepare')).toMatchObject([{ view: 1, digest: fresh.digest }]);
    });

    it('a backup refuses a NEW-VIEW whose block is not the highest prepared one in its proofs', () => {
      const core = replica(BACKUP);
      const a = block(1);
      const prepared = preparedCertificate(0, a.digest, [1, 2, 3]);
      const proofs = [
        proofOf(viewChange(1, 1, prepared, a.payload)),
        proofOf(viewChange(2, 1)),
        proofOf(viewChange(3, 1)),
      ];
      core.step(newView(PRIMARY_V1, 1, proofs, block(1, 5)));
      expect(core.stats().dropped.badProposal).toBe(1);
      expect(core.currentView).toBe(0);
      expect(sentOf(drain(core), 'prepare')).toEqual([]);
    });

    it('a backup refuses a NEW-VIEW without a quorum of VIEW-CHANGEs, or not from the view primary', () => {
      const core = replica(BACKUP);
      const fresh = block(1, 5);
      const proofs = [1, 2, 3].map((from) => proofOf(viewChange(from, 1)));
      core.step(newView(PRIMARY_V1, 1, proofs.slice(0, 2), fresh));
      core.step(newView(3, 1, proofs, fresh));
      expect(core.stats().dropped).toMatchObject({ badCertificate: 1, notPrimary: 1 });
      expect(core.currentView).toBe(0);
      expect(sentOf(drain(core), 'prepare')).toEqual([]);
    });
  });
});
