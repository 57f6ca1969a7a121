import { type ConsensusConfig, ConsensusCore } from './core.js';
import type {
  AppliedBlock,
  CheckpointCertificate,
  CommittedBlock,
  Equivocation,
  HardState,
  OutboundMessage,
  Ready,
  SignedMessage,
} from './types.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * What the node layer does with one `Ready`, stage by stage. Every stage may answer at once or
 * with a promise: the node's driver awaits its disk, the simulator and the test cluster run
 * synchronously, and the loop stays synchronous for them. A stage that throws stops the loop
 * with nothing after it done (the simulator crashes a node that way).
 */
export interface ReadyHandlers {
  /**
   * Makes `ready.hardState` (when not null) and `ready.ownVotes` durable. Nothing of this
   * ready is sent before it resolves.
   */
  persist(ready: Ready): MaybePromise<void>;
  /** Hands the messages to the network (after persist). */
  send(messages: readonly OutboundMessage[], ready: Ready): void;
  /** Keeps or reports the equivocations caught (after send). */
  evidence?(evidence: readonly Equivocation[]): MaybePromise<void>;
  /**
   * Executes and stores one committed block, in height order, and says what it produced:
   * the loop then reports it to the core (`applied`) before the next block.
   */
  apply(block: CommittedBlock): MaybePromise<AppliedBlock>;
  /** The core wants a block for (height, view): build it now or later and `propose()` it. */
  requestProposal(request: { readonly height: number; readonly view: number }): void;
  /** Blocks up to `height` are final elsewhere: fetch them (with certificates). */
  syncTo?(height: number): void;
  stableCheckpoint?(checkpoint: CheckpointCertificate): void;
}

function then<T>(
  value: MaybePromise<T>,
  next: (value: T) => MaybePromise<void>,
): MaybePromise<void> {
  return value instanceof Promise ? value.then(next) : next(value);
}

function applyFrom(
  core: ConsensusCore,
  blocks: readonly CommittedBlock[],
  from: number,
  handlers: ReadyHandlers,
): MaybePromise<void> {
  for (let index = from; index < blocks.length; index++) {
    const block = blocks[index]!;
    const result = handlers.apply(block);
    if (result instanceof Promise) {
      return result.then((applied) => {
        core.applied(block.height, applied);
        return applyFrom(core, blocks, index + 1, handlers);
      });
    }
    core.applied(block.height, result);
  }
}

/** One ready, in the order the core demands (see `Ready`), then `advance()`. */
function handleReady(
  core: ConsensusCore,
  ready: Ready,
  handlers: ReadyHandlers,
): MaybePromise<void> {
  return then(handlers.persist(ready), () => {
    handlers.send(ready.messages, ready);
    const evidence = ready.evidence.length > 0 ? handlers.evidence?.(ready.evidence) : undefined;
    return then(evidence, () =>
      then(applyFrom(core, ready.committed, 0, handlers), () => {
        if (ready.proposalRequest !== null) handlers.requestProposal(ready.proposalRequest);
        if (ready.syncTo !== null) handlers.syncTo?.(ready.syncTo);
        if (ready.stableCheckpoint !== null) handlers.stableCheckpoint?.(ready.stableCheckpoint);
        core.advance();
      }),
    );
  });
}

/**
 * The node layer's Ready loop, the one every caller shares (the node's driver, the consensus
 * simulator and the test cluster): while the core has work, take `ready()`, persist, send,
 * record evidence, apply each committed block and report it, hand on the proposal request,
 * sync target and stable checkpoint, `advance()`. Returns a promise only when some stage did.
 */
export function drainReady(core: ConsensusCore, handlers: ReadyHandlers): MaybePromise<void> {
  while (core.hasReady()) {
    const pending = handleReady(core, core.ready(), handlers);
    if (pending instanceof Promise) return pending.then(() => drainReady(core, handlers));
  }
}

/** What a restarting node found on its disk. */
export interface RestoreInput {
  /** The last hard state it persisted, if any. */
  readonly hardState: HardState | undefined;
  /** Height of the last block in its store (0 when none). */
  readonly storedHeight: number;
  /** What applying the stored block at `storedHeight` produced (read when it is needed). */
  readonly lastApplied: () => AppliedBlock;
  /** Its own signed votes persisted with the hard state (PREPARE/COMMIT at its height). */
  readonly ownVotes?: readonly SignedMessage[];
}

/**
 * Rebuilds a core after a start or a crash: from the hard state, reconciled with the block
 * store (a block stored after the hard state was saved, at the hard state's own height, is
 * reported applied again), then the node's own votes at that height are stepped back in so
 * they count again. The hard state's last votes keep the core from signing a different vote
 * for a height and view it already voted in. Returns how many votes were replayed.
 */
export function restoreCore(
  config: ConsensusConfig,
  input: RestoreInput,
): { core: ConsensusCore; replayedVotes: number } {
  const core = new ConsensusCore(config, input.hardState);
  const height = input.hardState?.height ?? 1;
  if (input.storedHeight >= height && input.storedHeight > 0) {
    core.applied(height, input.lastApplied());
  }
  let replayedVotes = 0;
  for (const vote of input.ownVotes ?? []) {
    if (vote.height !== core.currentHeight) continue;
    core.step(vote);
    replayedVotes++;
  }
  return { core, replayedVotes };
}
