import { toHex } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CheckpointMessage,
  type CommitMessage,
  ConsensusCore,
  checkpointSigningHash,
  type Equivocation,
  type PrePrepareMessage,
  type PrepareMessage,
  primaryIndex,
  type SignatureVerifier,
  verifyEquivocation,
  voteSigningHash,
} from '../src/index.js';
import { Cluster } from './cluster.js';
import { proposalOf, simApplication } from './sim/app.js';
import { type SimSigner, simKeys } from './sim/keys.js';
import { paramsFromSeed } from './sim/params.js';
import { runSimulation } from './sim/simulator.js';

const CHAIN = 'evidence-chain';
const digestA = new Uint8Array(32).fill(0xa);
const digestB = new Uint8Array(32).fill(0xb);
const digestC = new Uint8Array(32).fill(0xc);

/** A core of node 0 among `n` sim validators, with a verifier that counts its checks. */
function setup(n = 4, checkpointInterval = 10) {
  const { verifier, signers } = simKeys(n);
  let verifications = 0;
  const counting: SignatureVerifier = {
    verify: (key, message, signature) => {
      verifications++;
      return verifier.verify(key, message, signature);
    },
  };
  const validators = signers.map((s) => s.publicKey);
  const core = new ConsensusCore({
    chainId: CHAIN,
    signer: signers[0]!,
    verifier: counting,
    application: simApplication(n),
    genesisValidators: validators,
    checkpointInterval,
  });
  /** Takes every piece of evidence the core hands out until it has nothing more. */
  const evidence = (): Equivocation[] => {
    const found: Equivocation[] = [];
    while (core.hasReady()) {
      found.push(...core.ready().evidence);
      core.advance();
    }
    return found;
  };
  evidence();
  return { core, signers, validators, verifier, evidence, verifications: () => verifications };
}

function vote<T extends 'prepare' | 'commit'>(
  type: T,
  signer: SimSigner,
  digest: Uint8Array,
  view = 0,
  height = 1,
): T extends 'prepare' ? PrepareMessage : CommitMessage {
  return {
    type,
    height,
    view,
    digest,
    from: signer.publicKey,
    signature: signer.sign(voteSigningHash(CHAIN, type, height, view, digest)),
  } as T extends 'prepare' ? PrepareMessage : CommitMessage;
}

describe('equivocation evidence', () => {
  for (const phase of ['prepare', 'commit'] as const) {
    it(`records two signed ${phase.toUpperCase()}s for one (height, view) as evidence that verifies`, () => {
      const { core, signers, validators, verifier, evidence } = setup();
      const first = vote(phase, signers[2]!, digestA);
      const second = vote(phase, signers[2]!, digestB);
      core.step(first);
      core.step(vote(phase, signers[2]!, digestA, 1)); // another view: no conflict
      expect(evidence()).toEqual([]);
      core.step(second);
      const found = evidence();
      expect(found).toEqual([
        {
          validator: signers[2]!.publicKey,
          phase,
          height: 1,
          view: 0,
          first: { digest: digestA, signature: first.signature },
          second: { digest: digestB, signature: second.signature },
        },
      ]);
      expect(verifyEquivocation(CHAIN, found[0]!, validators, verifier)).toBe(true);
      expect(core.stats().equivocations).toBe(1);
      expect(core.stats().dropped.conflicting).toBe(1);
    });
  }

  it('records nothing for a forged second vote (bad signature), and still catches a real one', () => {
    const { core, signers, evidence } = setup();
    core.step(vote('prepare', signers[2]!, digestA));
    // n3 signs a vote claiming to be n2's: the signature is not n2's
    core.step({ ...vote('prepare', signers[3]!, digestB), from: signers[2]!.publicKey });
    core.step({ ...vote('prepare', signers[2]!, digestB), signature: new Uint8Array(32) });
    expect(evidence()).toEqual([]);
    expect(core.stats().dropped.badSignature).toBe(2);
    expect(core.stats().equivocations).toBe(0);
    core.step(vote('prepare', signers[2]!, digestC));
    expect(evidence().map((e) => toHex(e.second.digest))).toEqual([toHex(digestC)]);
  });

  it('verifies and records at most one conflict per validator and height', () => {
    const { core, signers, evidence, verifications } = setup();
    core.step(vote('prepare', signers[2]!, digestA));
    core.step(vote('prepare', signers[2]!, digestB));
    expect(evidence()).toHaveLength(1);
    const checked = verifications();
    for (let i = 0; i < 50; i++) {
      core.step(vote('prepare', signers[2]!, new Uint8Array(32).fill(i + 20)));
      core.step(vote('commit', signers[2]!, digestA));
      core.step(vote('commit', signers[2]!, new Uint8Array(32).fill(i + 20)));
    }
    // one check for n2's first COMMIT; every conflict after the evidence goes unverified
    expect(verifications() - checked).toBe(1);
    expect(evidence()).toEqual([]);
    expect(core.stats().dropped.conflicting).toBe(1 + 50 + 50);
    // another validator at the same height is caught on its own
    core.step(vote('commit', signers[3]!, digestA));
    core.step(vote('commit', signers[3]!, digestB));
    expect(evidence().map((e) => toHex(e.validator))).toEqual([toHex(signers[3]!.publicKey)]);
  });

  it("records the primary's two PRE-PREPAREs for view 0", () => {
    const { core, signers, validators, verifier, evidence } = setup();
    const primary = signers[primaryIndex(1, 0, 4)]!;
    const prePrepare = (nonce: number): PrePrepareMessage => {
      const { digest, payload } = proposalOf({ height: 1, proposer: 1, nonce });
      return {
        type: 'preprepare',
        height: 1,
        view: 0,
        digest,
        payload,
        from: primary.publicKey,
        signature: primary.sign(voteSigningHash(CHAIN, 'preprepare', 1, 0, digest)),
      };
    };
    core.step(prePrepare(1));
    core.step(prePrepare(2));
    const found = evidence();
    expect(found.map((e) => [e.phase, e.view])).toEqual([['preprepare', 0]]);
    expect(verifyEquivocation(CHAIN, found[0]!, validators, verifier)).toBe(true);
  });

  it('records two CHECKPOINTs of one validator for one height with different roots', () => {
    const { core, signers, validators, verifier, evidence } = setup(4, 5);
    const checkpoint = (root: Uint8Array): CheckpointMessage => ({
      type: 'checkpoint',
      height: 5,
      stateRoot: root,
      from: signers[1]!.publicKey,
      signature: signers[1]!.sign(checkpointSigningHash(CHAIN, 5, root)),
    });
    core.step(checkpoint(digestA));
    core.step(checkpoint(digestA));
    expect(evidence()).toEqual([]);
    core.step(checkpoint(digestB));
    core.step(checkpoint(digestC));
    const found = evidence();
    expect(found.map((e) => [e.phase, e.height, e.view])).toEqual([['checkpoint', 5, null]]);
    expect(verifyEquivocation(CHAIN, found[0]!, validators, verifier)).toBe(true);
  });

  it('verifyEquivocation rejects evidence that proves nothing, and never throws', () => {
    const { core, signers, validators, verifier, evidence } = setup();
    core.step(vote('commit', signers[1]!, digestA));
    core.step(vote('commit', signers[1]!, digestB));
    const [real] = evidence();
    expect(verifyEquivocation(CHAIN, real!, validators, verifier)).toBe(true);
    const others = simKeys(5)
      .signers.slice(4)
      .map((s) => s.publicKey);
    const wrong: Record<string, Equivocation> = {
      'same statement twice': { ...real!, second: real!.first },
      'another chain': real!,
      'another validator set': real!,
      'another phase': { ...real!, phase: 'prepare' },
      'another view': { ...real!, view: 1 },
      'a view on a checkpoint': { ...real!, phase: 'checkpoint' },
      'a signature swapped': {
        ...real!,
        second: { digest: real!.second.digest, signature: real!.first.signature },
      },
    };
    for (const [why, item] of Object.entries(wrong)) {
      const chain = why === 'another chain' ? 'other' : CHAIN;
      const set = why === 'another validator set' ? others : validators;
      expect(verifyEquivocation(chain, item, set, verifier), why).toBe(false);
    }
    fc.assert(
      fc.property(
        fc.anything(),
        fc.constantFrom('validator', 'phase', 'height', 'view', 'first', 'second'),
        (junk, field) => {
          const mutated = { ...real!, [field]: junk } as unknown as Equivocation;
          expect(typeof verifyEquivocation(CHAIN, mutated, validators, verifier)).toBe('boolean');
        },
      ),
    );
    expect(verifyEquivocation(CHAIN, null as unknown as Equivocation, validators, verifier)).toBe(
      false,
    );
  });

  it('catches a validator whose vote inside a certificate contradicts the vote it sent us', () => {
    // n1 equivocates as primary and voter: each honest node sees one side, but the commit
    // certificates and prepared certificates that travel later carry n1's other votes.
    const cluster = new Cluster({ n: 4, byzantine: new Map([[1, 'equivocate' as const]]) });
    const caught: Equivocation[] = [];
    for (const index of [0, 2, 3]) {
      const core = cluster.core(index);
      const ready = core.ready.bind(core);
      core.ready = () => {
        const batch = ready();
        caught.push(...batch.evidence);
        return batch;
      };
    }
    for (let i = 0; i < 200 && caught.length === 0; i++) {
      cluster.deliver();
      cluster.tick('all');
    }
    expect(caught.length).toBeGreaterThan(0);
    const validators = [0, 1, 2, 3].map((i) => cluster.key(i));
    for (const item of caught) {
      expect(toHex(item.validator)).toBe(toHex(cluster.key(1)));
      expect(verifyEquivocation('cluster', item, validators, simKeys(4).verifier)).toBe(true);
    }
  });

  it('honest nodes of the simulator catch equivocating validators and never accuse an honest one', () => {
    // The simulator's evidence checker turns evidence against an honest node (or evidence that
    // does not verify) into a violation; here it must also find some against the byzantine.
    let caught = 0;
    for (const strategy of ['equivocate', 'conflictingVotes'] as const) {
      let runsWithEvidence = 0;
      for (let seed = 1; seed <= 6; seed++) {
        const result = runSimulation(
          paramsFromSeed(seed, { n: 4, byzantine: [2], strategies: [strategy] }),
        );
        expect(result.violations).toEqual([]);
        if (result.evidence > 0) runsWithEvidence++;
        caught += result.evidence;
      }
      expect(runsWithEvidence, strategy).toBeGreaterThan(0);
    }
    expect(caught).toBeGreaterThan(0);
  });
});
