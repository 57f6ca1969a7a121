import { SeededRandom, toHex } from '@medchain/crypto';
import {
  type CommittedBlock,
  type ConsensusCore,
  type ConsensusMessage,
  drainReady,
  type HardState,
  type OutboundMessage,
  type Proposal,
  restoreCore,
} from '../src/index.js';
import { proposalOf, SimState, simApplication } from './sim/app.js';
import { Adversary } from './sim/byzantine.js';
import { type SimSigner, simKeys } from './sim/keys.js';

export const CLUSTER_CHAIN = 'cluster';

export interface ClusterNode {
  readonly index: number;
  readonly signer: SimSigner;
  core: ConsensusCore | null;
  hardState: HardState | null;
  readonly blocks: CommittedBlock[];
  state: SimState;
  adversary: Adversary | null;
  /** Block the node's application builds next, when it is asked to propose. */
  nextProposal: ((height: number) => Proposal) | null;
  /** Whether its application has work for a block (a mempool with transactions). */
  hasWork: boolean;
  /** A view-0 proposal request it holds until it has work, as the node's driver does. */
  heldProposal: { readonly height: number; readonly view: number } | null;
}

interface InFlight {
  readonly from: number;
  readonly to: number;
  readonly message: ConsensusMessage;
}

export interface ClusterOptions {
  readonly n: number;
  readonly checkpointInterval?: number;
  readonly baseTimeoutTicks?: number;
  /** Extra nodes that start as non-validators. */
  readonly observers?: number;
  /** Nodes that are byzantine from the start. */
  readonly byzantine?: ReadonlyMap<number, 'equivocate' | 'silent' | 'conflictingVotes'>;
  /** Nodes start without work (see `setWork`); default false: everyone always has work. */
  readonly idle?: boolean;
}

/**
 * A hand-driven cluster for scenario tests: FIFO delivery on command, explicit ticks, crashes,
 * partitions and scripted byzantine nodes, with a trace a reader can follow line by line.
 */
export class Cluster {
  readonly nodes: ClusterNode[] = [];
  readonly trace: string[] = [];
  private queue: InFlight[] = [];
  private partition: readonly (readonly number[])[] | null = null;
  private readonly verifier;
  private readonly application;
  private readonly prng = new SeededRandom(1);
  private nonce = 0;

  constructor(private readonly options: ClusterOptions) {
    const total = options.n + (options.observers ?? 0);
    const { verifier, signers } = simKeys(total);
    this.verifier = verifier;
    this.application = simApplication(total);
    for (let index = 0; index < total; index++) {
      this.nodes.push({
        index,
        signer: signers[index]!,
        core: null,
        hardState: null,
        blocks: [],
        state: new SimState(),
        adversary: null,
        nextProposal: null,
        hasWork: options.idle !== true,
        heldProposal: null,
      });
    }
    for (const [index, strategy] of options.byzantine ?? []) this.byzantine(index, strategy);
    // Every core exists before any sends, so no early message is lost.
    for (const node of this.nodes) this.start(node);
    for (const node of this.nodes) this.drain(node);
  }

  key(index: number): Uint8Array {
    return this.nodes[index]!.signer.publicKey;
  }

  core(index: number): ConsensusCore {
    const core = this.nodes[index]!.core;
    if (core === null) throw new Error(`n${index} is down`);
    return core;
  }

  nameOf(key: Uint8Array): string {
    const index = this.nodes.findIndex((node) => toHex(node.signer.publicKey) === toHex(key));
    return index < 0 ? `?${toHex(key).slice(0, 4)}` : `n${index}`;
  }

  private start(node: ClusterNode): void {
    node.state = new SimState();
    node.heldProposal = null;
    let last: ReturnType<SimState['apply']> | null = null;
    for (const block of node.blocks) {
      last = node.state.apply(block.height, block.proposal.payload, (i) => this.key(i));
    }
    node.core = restoreCore(
      {
        chainId: CLUSTER_CHAIN,
        signer: node.signer,
        verifier: this.verifier,
        application: { ...this.application, hasPendingWork: () => node.hasWork },
        genesisValidators: this.nodes.slice(0, this.options.n).map((n) => n.signer.publicKey),
        checkpointInterval: this.options.checkpointInterval ?? 10,
        baseTimeoutTicks: this.options.baseTimeoutTicks ?? 10,
      },
      {
        hardState: node.hardState ?? undefined,
        storedHeight: node.blocks.length,
        lastApplied: () => last!,
      },
    ).core;
  }

  /** Gives node `index` work (or takes it away); with work, a held proposal goes out. */
  setWork(indices: readonly number[] | 'all', hasWork: boolean): void {
    const targets = indices === 'all' ? this.nodes.map((n) => n.index) : indices;
    for (const index of targets) {
      const node = this.nodes[index]!;
      node.hasWork = hasWork;
      const held = node.heldProposal;
      if (!hasWork || held === null || node.core === null) continue;
      node.heldProposal = null;
      if (node.core.currentHeight === held.height && node.core.currentView === held.view) {
        this.propose(node, held.height, held.view);
        this.drain(node);
      }
    }
  }

  private propose(node: ClusterNode, height: number, view: number): void {
    const proposal =
      node.nextProposal?.(height) ??
      proposalOf({ height, proposer: node.index, nonce: this.nonce++ });
    this.trace.push(`n${node.index} PROPOSES h=${height} v=${view} ${short(proposal.digest)}`);
    node.core!.propose(proposal);
  }

  /** Makes node `index` byzantine with one of the simulator's strategies. */
  byzantine(index: number, strategy: 'equivocate' | 'silent' | 'conflictingVotes'): void {
    const node = this.nodes[index]!;
    node.adversary = new Adversary(index, node.signer, strategy, {
      chainId: CLUSTER_CHAIN,
      nodeCount: this.nodes.length,
      honestKeys: [],
      prng: this.prng,
      transmit: (from, to, message) => this.enqueue(from, to, message as ConsensusMessage),
      registerProposal: () => {},
    });
  }

  crash(index: number): void {
    this.nodes[index]!.core = null;
    // What it had not yet handed to the network is lost with it.
    this.queue = this.queue.filter((m) => m.to !== index && m.from !== index);
    this.trace.push(`n${index} CRASHED`);
  }

  restart(index: number): void {
    const node = this.nodes[index]!;
    const hs = node.hardState;
    this.trace.push(`n${index} RESTARTS from h=${hs?.height ?? 1} v=${hs?.view ?? 0}`);
    this.start(node);
    this.drain(node);
  }

  setPartition(groups: readonly (readonly number[])[]): void {
    this.partition = groups;
    this.trace.push(
      `PARTITION ${groups.map((g) => `{${g.map((i) => `n${i}`).join(',')}}`).join(' | ')}`,
    );
  }

  heal(): void {
    this.partition = null;
    this.trace.push('HEAL');
  }

  private reachable(from: number, to: number): boolean {
    if (this.partition === null) return true;
    const group = (i: number) => this.partition!.findIndex((g) => g.includes(i));
    return group(from) === group(to);
  }

  private enqueue(from: number, to: number, message: ConsensusMessage): void {
    if (this.reachable(from, to) && this.nodes[to]!.core !== null) {
      this.queue.push({ from, to, message });
    }
  }

  /**
   * Delivers the messages in flight now, in send order; what they cause is queued for the
   * next call (a healthy cluster never goes quiet: each commit starts the next height).
   */
  deliver(): number {
    const batch = this.queue;
    this.queue = [];
    for (const { from, to, message } of batch) {
      const node = this.nodes[to]!;
      if (node.core === null || !this.reachable(from, to)) continue;
      node.adversary?.observe(message);
      node.core.step(message);
      this.drain(node);
    }
    return batch.length;
  }

  /** Messages in flight. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Delivers the in-flight message at `position` alone (any order: the network reorders). */
  deliverOne(position: number): void {
    const [entry] = this.queue.splice(position, 1);
    if (entry === undefined) return;
    const node = this.nodes[entry.to]!;
    if (node.core === null || !this.reachable(entry.from, entry.to)) return;
    node.adversary?.observe(entry.message);
    node.core.step(entry.message);
    this.drain(node);
  }

  /** Loses every in-flight message `lost` picks; returns how many. */
  dropWhere(lost: (to: number, message: ConsensusMessage) => boolean): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((m) => !lost(m.to, m.message));
    return before - this.queue.length;
  }

  /** Loses the in-flight message at `position`. */
  dropOne(position: number): void {
    this.queue.splice(position, 1);
  }

  /** Delivers rounds until `done()` holds (or `rounds` run out). */
  deliverUntil(done: () => boolean, rounds = 100): void {
    for (let i = 0; i < rounds && !done(); i++) this.deliver();
  }

  tick(indices: readonly number[] | 'all', count = 1): void {
    const targets = indices === 'all' ? this.nodes.map((n) => n.index) : indices;
    for (let i = 0; i < count; i++) {
      for (const index of targets) {
        const node = this.nodes[index]!;
        if (node.core === null) continue;
        node.core.tick();
        this.drain(node);
      }
    }
  }

  /** Runs node `index`'s ready loop (after inputs fed to its core directly). */
  flush(index: number): void {
    this.drain(this.nodes[index]!);
  }

  /** The node layer, the shipped Ready loop (`drainReady`), with each stage traced. */
  private drain(node: ClusterNode): void {
    const core = node.core;
    if (core === null) return;
    drainReady(core, {
      persist: (ready) => {
        if (ready.hardState !== null) node.hardState = ready.hardState;
      },
      send: (messages) => {
        for (const out of messages) this.send(node, out);
      },
      apply: (block) => {
        node.blocks.push(block);
        const result = node.state.apply(block.height, block.proposal.payload, (i) => this.key(i));
        this.trace.push(
          `n${node.index} COMMIT h=${block.height} v=${block.certificate.view} ${short(block.proposal.digest)} (certificate: ${block.certificate.votes.map((v) => this.nameOf(v.from)).join(',')})`,
        );
        return result;
      },
      requestProposal: ({ height, view }) => {
        // After a view change the new primary must propose, work or not: others are waiting.
        if (!node.hasWork && view === 0) {
          node.heldProposal = { height, view };
          this.trace.push(`n${node.index} HOLDS h=${height} v=${view} until there is work`);
        } else {
          this.propose(node, height, view);
        }
      },
      syncTo: (height) => {
        this.trace.push(`n${node.index} BEHIND: sync up to h=${height}`);
      },
      stableCheckpoint: (cp) => {
        this.trace.push(
          `n${node.index} STABLE CHECKPOINT h=${cp.height} root=${short(cp.stateRoot)} (pruned: ${core.retainedDecisions} decisions kept)`,
        );
      },
    });
  }

  private send(node: ClusterNode, out: OutboundMessage): void {
    this.trace.push(
      `n${node.index} -> ${out.to === 'all' ? 'all' : this.nameOf(out.to)} ${this.describe(out.message)}`,
    );
    const recipients =
      out.to === 'all'
        ? this.nodes.filter((n) => n !== node).map((n) => n.index)
        : [this.nodes.findIndex((n) => toHex(n.signer.publicKey) === toHex(out.to as Uint8Array))];
    if (node.adversary !== null) {
      node.adversary.send(out, recipients);
      return;
    }
    for (const to of recipients) this.enqueue(node.index, to, out.message);
  }

  describe(message: ConsensusMessage): string {
    switch (message.type) {
      case 'preprepare':
      case 'prepare':
      case 'commit':
        return `${message.type.toUpperCase()} h=${message.height} v=${message.view} ${short(message.digest)}`;
      case 'viewchange':
        return `VIEW-CHANGE h=${message.height} v=${message.view} prepared=${message.prepared === null ? 'none' : `v${message.prepared.view}:${short(message.prepared.digest)}`}`;
      case 'newview':
        return `NEW-VIEW h=${message.height} v=${message.view} ${short(message.digest)} (from ${message.viewChanges.map((p) => this.nameOf(p.from)).join(',')})`;
      case 'checkpoint':
        return `CHECKPOINT h=${message.height} root=${short(message.stateRoot)}`;
      case 'decision':
        return `DECISION h=${message.certificate.height} ${short(message.certificate.digest)}`;
    }
  }

  status(): string[] {
    return this.nodes.map((node) => {
      if (node.core === null) return `n${node.index}: down (applied ${node.blocks.length})`;
      const core = node.core;
      const stable = core.lastStableCheckpoint;
      const chain = node.blocks.map((b) => short(b.proposal.digest).slice(0, 4)).join(' ');
      return `n${node.index}: height=${core.currentHeight} view=${core.currentView} stable=${stable?.height ?? '-'} chain=[${chain}]`;
    });
  }

  /** Drains the trace (what happened since the last call). */
  takeTrace(): string[] {
    return this.trace.splice(0, this.trace.length);
  }
}

function short(bytes: Uint8Array): string {
  return toHex(bytes).slice(0, 8);
}
