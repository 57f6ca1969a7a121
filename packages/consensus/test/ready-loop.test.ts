import { describe, expect, it } from 'vitest';
import {
  type AppliedBlock,
  ConsensusCore,
  drainReady,
  type ReadyHandlers,
  restoreCore,
} from '../src/index.js';
import { proposalOf, SimState, simApplication } from './sim/app.js';
import { simKeys } from './sim/keys.js';

/** A single validator: its own vote is a quorum, so one proposal commits at once. */
function soloConfig() {
  const { verifier, signers } = simKeys(1);
  return {
    chainId: 'ready-loop',
    signer: signers[0]!,
    verifier,
    application: simApplication(1),
    genesisValidators: [signers[0]!.publicKey],
  };
}

/** Handlers that record each stage and commit `heights` blocks, proposing when asked. */
function recorder(core: ConsensusCore, heights: number, slow: boolean) {
  const stages: string[] = [];
  const state = new SimState();
  const later = <T>(value: T): T | Promise<T> =>
    slow ? new Promise((resolve) => setImmediate(() => resolve(value))) : value;
  const handlers: ReadyHandlers = {
    persist: (ready) => {
      stages.push(`persist${ready.hardState === null ? '' : ` h=${ready.hardState.height}`}`);
      return later(undefined);
    },
    send: (messages) => {
      stages.push(`send ${messages.map((m) => m.message.type).join(',')}`);
    },
    apply: (block) => {
      stages.push(`apply h=${block.height}`);
      return later<AppliedBlock>(
        state.apply(block.height, block.proposal.payload, () => undefined as never),
      );
    },
    requestProposal: ({ height }) => {
      stages.push(`propose h=${height}`);
      if (height <= heights) core.propose(proposalOf({ height, proposer: 0, nonce: height }));
    },
  };
  return { stages, handlers };
}

describe('drainReady, the shared Ready loop', () => {
  it('persists before it sends, applies in height order, and stays synchronous with synchronous stages', () => {
    const core = new ConsensusCore(soloConfig());
    const { stages, handlers } = recorder(core, 2, false);
    expect(drainReady(core, handlers)).toBeUndefined();
    expect(core.hasReady()).toBe(false);
    expect(core.currentHeight).toBe(3);
    const applied = stages.filter((s) => s.startsWith('apply'));
    expect(applied).toEqual(['apply h=1', 'apply h=2']);
    // Every send comes after a persist of the same ready, never first.
    stages.forEach((stage, i) => {
      if (stage.startsWith('send')) expect(stages[i - 1]).toMatch(/^persist/);
    });
  });

  it('awaits asynchronous stages and reaches the same state in the same order', async () => {
    const sync = new ConsensusCore(soloConfig());
    const syncRun = recorder(sync, 2, false);
    drainReady(sync, syncRun.handlers);
    const async = new ConsensusCore(soloConfig());
    const asyncRun = recorder(async, 2, true);
    const pending = drainReady(async, asyncRun.handlers);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(asyncRun.stages).toEqual(syncRun.stages);
    expect(async.hardState()).toEqual(sync.hardState());
  });

  it('a stage that throws stops the loop there: nothing after it runs', () => {
    const core = new ConsensusCore(soloConfig());
    const { stages, handlers } = recorder(core, 1, false);
    const crash = new Error('crash after persist');
    expect(() =>
      drainReady(core, {
        ...handlers,
        apply: () => {
          throw crash;
        },
      }),
    ).toThrow(crash);
    expect(stages.some((s) => s.startsWith('apply'))).toBe(false);
    expect(core.currentHeight).toBe(1);
  });

  it('restoreCore reports the stored block at the hard state height applied again', () => {
    const core = new ConsensusCore(soloConfig());
    const { handlers } = recorder(core, 1, false);
    let hardState = core.hardState();
    let applied: AppliedBlock | undefined;
    // Crash after the block is stored but before the next hard state is persisted.
    expect(() =>
      drainReady(core, {
        ...handlers,
        persist: (ready) => {
          if (ready.hardState !== null) hardState = ready.hardState;
        },
        apply: (block) => {
          applied = new SimState().apply(
            block.height,
            block.proposal.payload,
            () => undefined as never,
          );
          throw new Error('crash after apply');
        },
      }),
    ).toThrow('crash after apply');
    expect(hardState.height).toBe(1);
    const { core: restored } = restoreCore(soloConfig(), {
      hardState,
      storedHeight: 1,
      lastApplied: () => applied!,
    });
    expect(restored.currentHeight).toBe(2);
  });
});
