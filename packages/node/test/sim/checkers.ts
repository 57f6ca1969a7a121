import { type ConsensusMessage, decodeMessage, type HardState } from '@medchain/consensus';
import { toHex } from '@medchain/crypto';
import { decodeWalRecord } from '../../src/index.js';

/** Which property a run broke. */
export type ViolationKind =
  /** Two nodes stored different blocks at one height, or a stored block lacks a valid certificate. */
  | 'safety'
  /** A transaction a node acknowledged (and kept its promise to keep) never committed. */
  | 'ackLost'
  /** Nodes at one height hold different state roots. */
  | 'convergence'
  /** Once faults stopped, the nodes did not all catch up, or a fresh transaction did not commit. */
  | 'liveness'
  /** An honest node signed two different statements where it may sign one. */
  | 'equivocation'
  /** A node sent a vote that its disk did not hold when it crashed. */
  | 'persistBeforeSend'
  /** The shell threw where it must not, or stopped itself (fatal). */
  | 'exception'
  /** Far more events than a run this size needs: a message or timer storm. */
  | 'storm';

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
}

/** A signed statement's identity and content, for the equivocation checker. */
function statement(message: ConsensusMessage): { slot: string; content: string } | null {
  switch (message.type) {
    case 'preprepare':
    case 'prepare':
    case 'commit':
    case 'newview':
      return {
        slot: `${message.type} h=${message.height} v=${message.view}`,
        content: toHex(message.digest),
      };
    case 'viewchange':
      return {
        slot: `viewchange h=${message.height} v=${message.view}`,
        content:
          message.prepared === null
            ? '-'
            : `${message.prepared.view}:${toHex(message.prepared.digest)}`,
      };
    case 'checkpoint':
      return { slot: `checkpoint h=${message.height}`, content: toHex(message.stateRoot) };
    case 'decision':
      return null;
  }
}

interface SentVote {
  readonly type: 'prepare' | 'commit';
  readonly height: number;
  readonly view: number;
  readonly digest: string;
}

/**
 * Watches every consensus message each node puts on the wire (before the network loses or
 * copies it): no honest node may sign two different statements for one slot, across all its
 * incarnations; and the votes an incarnation sent are kept until its crash, to check its
 * disk against them.
 */
export class WireWatch {
  /** node -> slot -> content of the first statement signed there. */
  private signed: Map<string, string>[] = [];
  /** node -> PREPARE and COMMIT votes its current incarnation sent. */
  private readonly sentVotes: SentVote[][] = [];
  readonly violations: Violation[] = [];

  constructor(
    private readonly keys: readonly Uint8Array[],
    private readonly consensusProtocol: string,
  ) {
    for (let i = 0; i < keys.length; i++) {
      this.signed.push(new Map());
      this.sentVotes.push([]);
    }
  }

  observe(from: number, protocol: string, bytes: Uint8Array): void {
    if (protocol !== this.consensusProtocol) return;
    let message: ConsensusMessage;
    try {
      message = decodeMessage(bytes);
    } catch {
      this.violations.push({
        kind: 'exception',
        detail: `n${from} sent a consensus frame that does not decode`,
      });
      return;
    }
    // Only what it signed itself (it may relay others' statements inside its own).
    if (message.type === 'decision' || toHex(message.from) !== toHex(this.keys[from]!)) return;
    const found = statement(message);
    if (found === null) return;
    const seen = this.signed[from]!;
    const first = seen.get(found.slot);
    if (first === undefined) seen.set(found.slot, found.content);
    else if (first !== found.content) {
      this.violations.push({
        kind: 'equivocation',
        detail: `n${from} signed two ${found.slot}: ${first.slice(0, 16)} and ${found.content.slice(0, 16)}`,
      });
    }
    if (message.type === 'prepare' || message.type === 'commit') {
      this.sentVotes[from]!.push({
        type: message.type,
        height: message.height,
        view: message.view,
        digest: toHex(message.digest),
      });
    }
  }

  /** The node lost its disk (an operator replaced it): its signing history starts over. */
  forget(node: number): void {
    this.signed[node] = new Map();
    this.sentVotes[node] = [];
  }

  /**
   * Node `node` crashed and `walRecords` is what its disk kept; `storedHeight` the height of
   * its stored chain. Every PREPARE or COMMIT the incarnation sent must be covered, so the
   * restarted core can never sign a different one for the same slot: the vote itself is in
   * the WAL, or the durable hard state is past it (a later height, or a later vote of that
   * phase at that height, or the same vote), or the stored chain is past its height.
   */
  crashed(node: number, walRecords: readonly Uint8Array[], storedHeight: number): void {
    const sent = this.sentVotes[node]!;
    this.sentVotes[node] = [];
    let hardState: HardState | undefined;
    const votes = new Set<string>();
    for (const bytes of walRecords) {
      const record = decodeWalRecord(bytes);
      if (record.kind === 'hardState') hardState = record.hardState;
      else if (
        record.vote !== null &&
        (record.vote.type === 'prepare' || record.vote.type === 'commit')
      ) {
        const vote = record.vote;
        votes.add(`${vote.type}:${vote.height}:${vote.view}:${toHex(vote.digest)}`);
      }
    }
    for (const vote of sent) {
      if (vote.height <= storedHeight) continue;
      if (votes.has(`${vote.type}:${vote.height}:${vote.view}:${vote.digest}`)) continue;
      if (hardState !== undefined && covers(hardState, vote)) continue;
      this.violations.push({
        kind: 'persistBeforeSend',
        detail: `n${node} sent ${vote.type} h=${vote.height} v=${vote.view} ${vote.digest.slice(0, 16)} but its disk did not hold it when it crashed (hard state ${hardState === undefined ? 'none' : `h=${hardState.height} v=${hardState.view}`})`,
      });
      return;
    }
  }
}

function covers(hardState: HardState, vote: SentVote): boolean {
  if (hardState.height > vote.height) return true;
  if (hardState.height < vote.height) return false;
  const last = vote.type === 'prepare' ? hardState.lastPrepare : hardState.lastCommit;
  if (last === null) return false;
  return last.view > vote.view || (last.view === vote.view && toHex(last.digest) === vote.digest);
}

/** One node's chain at the end of a run, as the checkers read it. */
export interface ChainView {
  readonly node: number;
  readonly height: number;
  readonly stateRoot: string;
  /** Block digest (header hash) stored at `height` (undefined below a state-synced head). */
  blockDigest(height: number): string | undefined;
  /** The state root after each height (the next header's root, or the head's own). */
  stateRootAfter(height: number): string | undefined;
  /** Whether its commit certificate at `height` verifies against the validators of the height. */
  certificateValid(height: number): boolean;
  hasTransaction(hash: string): boolean;
}

/** Safety: at every height, every node that stored a block stored the same one, certified. */
export function checkSafety(chains: readonly ChainView[]): Violation[] {
  const violations: Violation[] = [];
  const byHeight = new Map<number, { node: number; digest: string }>();
  for (const chain of chains) {
    for (let height = 1; height <= chain.height; height++) {
      const digest = chain.blockDigest(height);
      if (digest === undefined) continue;
      const first = byHeight.get(height);
      if (first === undefined) byHeight.set(height, { node: chain.node, digest });
      else if (first.digest !== digest) {
        violations.push({
          kind: 'safety',
          detail: `h=${height}: n${first.node} stored ${first.digest.slice(0, 16)}, n${chain.node} stored ${digest.slice(0, 16)}`,
        });
      }
      if (!chain.certificateValid(height)) {
        violations.push({
          kind: 'safety',
          detail: `n${chain.node} h=${height}: stored without a valid commit certificate`,
        });
      }
    }
  }
  return violations;
}

/** Convergence: nodes agree on the state after every height they both have. */
export function checkConvergence(chains: readonly ChainView[]): Violation[] {
  const violations: Violation[] = [];
  const top = Math.max(...chains.map((chain) => chain.height));
  for (let height = 1; height <= top; height++) {
    let first: { node: number; root: string } | undefined;
    for (const chain of chains) {
      const root = chain.stateRootAfter(height);
      if (root === undefined) continue;
      if (first === undefined) first = { node: chain.node, root };
      else if (first.root !== root) {
        violations.push({
          kind: 'convergence',
          detail: `after h=${height}: n${first.node} has state root ${first.root.slice(0, 16)}, n${chain.node} has ${root.slice(0, 16)}`,
        });
        return violations;
      }
    }
  }
  return violations;
}

/** A submission a node acknowledged (202: admitted to its mempool). */
export interface Ack {
  readonly hash: string;
  readonly client: number;
  readonly nonce: number;
  /** The signer's transaction at nonce - 1 (null for nonce 1). */
  readonly previous: string | null;
  readonly node: number;
  readonly incarnation: number;
  readonly time: number;
}

/**
 * No acknowledged transaction lost. An acknowledgement means "admitted to this node's
 * mempool", which is memory: it promises the transaction commits as long as that node does
 * not crash before it did. So a transaction is owed when its acknowledging incarnation lived
 * to the end of the run, and its signer's previous nonce committed (a transaction behind a
 * lost nonce waits for it, and expires after mempool.futureNonceTtlMs, by design). Every
 * owed transaction must be in every node's chain at the end.
 */
export function checkAcks(
  acks: readonly Ack[],
  survived: (ack: Ack) => boolean,
  chains: readonly ChainView[],
): Violation[] {
  const violations: Violation[] = [];
  const committedEverywhere = (hash: string) => chains.every((c) => c.hasTransaction(hash));
  const committedSomewhere = (hash: string) => chains.some((c) => c.hasTransaction(hash));
  for (const ack of acks) {
    if (!survived(ack)) continue;
    if (ack.previous !== null && !committedSomewhere(ack.previous)) continue;
    if (committedEverywhere(ack.hash)) continue;
    const where = chains.filter((c) => c.hasTransaction(ack.hash)).map((c) => `n${c.node}`);
    violations.push({
      kind: 'ackLost',
      detail: `client ${ack.client} nonce ${ack.nonce} (${ack.hash.slice(0, 16)}) acknowledged by n${ack.node} at t=${ack.time} ms is committed at [${where.join(',')}] only`,
    });
  }
  return violations;
}
