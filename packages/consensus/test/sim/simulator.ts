import { bytesEqual, SeededRandom, toHex } from '@medchain/crypto';
import {
  type CheckpointCertificate,
  type CommittedBlock,
  type ConsensusApplication,
  type ConsensusCore,
  type ConsensusMessage,
  decodeMessage,
  drainReady,
  type Equivocation,
  encodeMessage,
  faultTolerance,
  type HardState,
  type OutboundMessage,
  type Proposal,
  restoreCore,
  type SignedMessage,
  verifyEquivocation,
} from '../../src/index.js';
import { proposalOf, type SimBlock, SimState, simApplication } from './app.js';
import { Adversary } from './byzantine.js';
import { checkSafety, type RunRecord, type Violation } from './checkers.js';
import { type SimSigner, type SimVerifier, simKeys } from './keys.js';
import { describeParams, type SimParams } from './params.js';

export const CHAIN_ID = 'sim-chain';
/** A run is small (tens of heights); far more events than this means runaway amplification. */
const MAX_EVENTS = 2_000_000;
/** Time units per tick: message delays are finer than the protocol's timers. */
export const UNITS_PER_TICK = 10;

type CrashPoint = 'now' | 'afterPersist' | 'afterSend' | 'afterApply';

/** Thrown from a ready-loop stage at a scheduled crash point: the node dies there. */
class SimCrash extends Error {
  constructor(readonly point: string) {
    super(`sim crash ${point}`);
  }
}

/** What survives a crash: the hard state and the applied blocks (the node layer's WAL and store). */
interface Disk {
  hardState: HardState | null;
  readonly blocks: CommittedBlock[];
}

export interface SimNode {
  readonly index: number;
  readonly signer: SimSigner;
  readonly honest: boolean;
  readonly adversary: Adversary | null;
  core: ConsensusCore | null;
  readonly disk: Disk;
  state: SimState;
  /** The newest validator set this node's application knows (node indices). */
  latestSet: number[];
  stable: CheckpointCertificate | null;
  pendingCrash: CrashPoint | null;
  syncScheduled: boolean;
  /** Whether its application has work for a block (see SimParams.idleWork). */
  hasWork: boolean;
  /** A view-0 proposal request held until there is work, as the node's driver does. */
  heldProposal: { readonly height: number; readonly view: number } | null;
}

export interface SimResult {
  readonly params: SimParams;
  readonly violations: readonly Violation[];
  /** Lowest and highest applied height among honest nodes at the end. */
  readonly minHeight: number;
  readonly maxHeight: number;
  /** Ticks the liveness phase needed (null if it did not finish). */
  readonly livenessTicksUsed: number | null;
  readonly delivered: number;
  /** Verified equivocation evidence honest nodes caught (all of it against byzantine nodes). */
  readonly evidence: number;
  readonly ticks: number;
  readonly events: readonly string[];
}

interface SimEvent {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A binary min-heap on (time, seq): same seed, same order. */
class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seq = 0;

  push(time: number, run: () => void): void {
    const heap = this.heap;
    heap.push({ time, seq: this.seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * N cores in one process over a simulated network, all randomness from one seed. A fault phase
 * (loss, duplication, delay, partitions, crashes, byzantine validators), then a liveness phase
 * (network healed, crashed nodes back; byzantine validators keep going), then the checkers.
 */
export class Simulation {
  readonly nodes: SimNode[] = [];
  /** Every block anyone built, by digest. */
  readonly proposals = new Map<string, Proposal>();
  /** node:type:height:view -> digest, for every vote an honest node sent: no two may differ. */
  readonly honestVotes = new Map<string, string>();
  readonly violations: Violation[] = [];
  readonly events: string[] = [];
  private readonly prng: SeededRandom;
  private readonly queue = new EventQueue();
  private readonly application: ConsensusApplication;
  private readonly keys: Uint8Array[];
  /** Per honest node, its height and the ticks it stayed there (probeStalls). */
  private readonly stalls = new Map<number, { height: number; ticks: number }>();
  /** With key rotations on: node i's second key, keys[nodeCount + i]. */
  private readonly rotatedSigners: SimSigner[];
  private readonly verifier: SimVerifier;
  private time = 0;
  private faultPhase = true;
  private partition: Set<number> | null = null;
  private delivered = 0;
  private evidence = 0;
  private nonce = 0;

  constructor(
    readonly params: SimParams,
    private readonly verbose = false,
  ) {
    this.prng = new SeededRandom(params.seed);
    const nodeCount = params.n + (params.membershipChanges ? 1 : 0);
    const { verifier, signers } = simKeys(params.keyRotations ? 2 * nodeCount : nodeCount);
    this.verifier = verifier;
    this.keys = signers.map((signer) => signer.publicKey);
    this.rotatedSigners = signers.slice(nodeCount);
    this.application = simApplication(this.keys.length);
    const honestKeys = this.keys.filter((_, i) => !params.byzantine.includes(i));
    const world = {
      chainId: CHAIN_ID,
      nodeCount,
      honestKeys,
      prng: this.prng,
      transmit: (from: number, to: number, message: ConsensusMessage | Uint8Array | object) =>
        this.transmit(from, to, message),
      registerProposal: (proposal: Proposal) => this.registerProposal(proposal),
    };
    for (let index = 0; index < nodeCount; index++) {
      const byzantineAt = params.byzantine.indexOf(index);
      const signer = signers[index]!;
      const node: SimNode = {
        index,
        signer,
        honest: byzantineAt < 0,
        adversary:
          byzantineAt < 0
            ? null
            : new Adversary(index, signer, params.strategies[byzantineAt]!, world),
        core: null,
        disk: { hardState: null, blocks: [] },
        state: new SimState(),
        latestSet: [...Array(params.n).keys()],
        stable: null,
        pendingCrash: null,
        syncScheduled: false,
        hasWork: true,
        heldProposal: null,
      };
      this.nodes.push(node);
    }
    for (const node of this.nodes) this.start(node);
  }

  get genesisValidators(): Uint8Array[] {
    return this.keys.slice(0, this.params.n);
  }

  keyOf(index: number): Uint8Array {
    return this.keys[index]!;
  }

  /** The node holding key `index` (a rotated key is node index + node count); -1 stays -1. */
  private nodeOfKey(index: number): number {
    return index < 0 ? index : index % this.nodes.length;
  }

  private log(line: string): void {
    if (this.verbose) this.events.push(`t=${(this.time / UNITS_PER_TICK).toFixed(1)} ${line}`);
  }

  private registerProposal(proposal: Proposal): void {
    this.proposals.set(toHex(proposal.digest), proposal);
  }

  // --- Node lifecycle -----------------------------------------------------------------------

  private start(node: SimNode): void {
    const params = this.params;
    // Rebuild the application from the block store, as a restarted node would.
    node.state = new SimState();
    node.heldProposal = null;
    node.latestSet = [...Array(params.n).keys()];
    let last: ReturnType<SimState['apply']> | null = null;
    for (const block of node.disk.blocks) last = this.applyToState(node, block);
    node.core = restoreCore(
      {
        chainId: CHAIN_ID,
        signer: node.signer,
        ...(node.honest && params.keyRotations
          ? { rotatedSigners: [this.rotatedSigners[node.index]!] }
          : {}),
        verifier: this.verifier,
        application: { ...this.application, hasPendingWork: () => node.hasWork },
        genesisValidators: this.genesisValidators,
        checkpointInterval: params.checkpointInterval,
        baseTimeoutTicks: params.baseTimeoutTicks,
        ...(params.brokenQuorum
          ? { unsafeQuorumForTesting: (n: number) => faultTolerance(n) + 1 }
          : {}),
      },
      {
        hardState: node.disk.hardState ?? undefined,
        storedHeight: node.disk.blocks.length,
        lastApplied: () => last!,
      },
    ).core;
    this.processReady(node);
  }

  private crash(node: SimNode, why: string): void {
    node.core = null;
    node.pendingCrash = null;
    node.syncScheduled = false;
    this.log(`n${node.index} CRASH (${why}) at height ${node.disk.blocks.length + 1}`);
  }

  private applyToState(node: SimNode, block: CommittedBlock): ReturnType<SimState['apply']> {
    const result = node.state.apply(block.height, block.proposal.payload, (i) => this.keyOf(i));
    if (result.block?.validators !== undefined) node.latestSet = [...result.block.validators];
    return result;
  }

  /**
   * The node layer's loop, the shipped one (`drainReady`): persist, send, apply, propose,
   * sync, advance. A scheduled crash point throws SimCrash from its stage, which stops the
   * loop with nothing after it done.
   */
  private processReady(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    let readies = 0;
    try {
      drainReady(core, {
        persist: (ready) => {
          if (++readies > 10_000) throw new Error('sim: ready loop does not settle');
          if (ready.hardState !== null) node.disk.hardState = ready.hardState;
          this.recordOwnVotes(node, ready.ownVotes);
          this.checkEvidence(node, core, ready.evidence);
          if (node.pendingCrash === 'afterPersist') throw new SimCrash('after persist');
        },
        send: (messages, ready) => {
          for (const out of messages) this.send(node, out);
          if (node.pendingCrash === 'afterSend' && ready.committed.length > 0) {
            throw new SimCrash('after send');
          }
        },
        apply: (block) => {
          node.disk.blocks.push(block);
          const result = this.applyToState(node, block);
          this.log(
            `n${node.index} COMMIT h=${block.height} v=${block.certificate.view} ${short(block.proposal.digest)}`,
          );
          if (node.pendingCrash === 'afterApply') throw new SimCrash('after apply');
          return result;
        },
        requestProposal: ({ height, view }) => {
          if (!node.hasWork && view === 0) node.heldProposal = { height, view };
          else core.propose(this.buildProposal(node, height));
        },
        syncTo: (height) => this.scheduleSync(node, height),
        stableCheckpoint: (checkpoint) => {
          node.stable = checkpoint;
        },
      });
    } catch (error) {
      if (!(error instanceof SimCrash)) throw error;
      this.crash(node, error.point);
    }
  }

  private recordOwnVotes(node: SimNode, votes: readonly SignedMessage[]): void {
    if (!node.honest) return;
    for (const vote of votes) {
      if (vote.type === 'checkpoint') continue;
      const key = `${node.index}:${vote.type}:${vote.height}:${vote.view}`;
      const digest =
        vote.type === 'viewchange'
          ? `vc:${vote.prepared === null ? '-' : `${vote.prepared.view}:${toHex(vote.prepared.digest)}`}`
          : toHex(vote.digest);
      const prior = this.honestVotes.get(key);
      if (prior !== undefined && prior !== digest) {
        this.violations.push({
          kind: 'doubleVote',
          detail: `honest n${node.index} signed two different ${vote.type} at h=${vote.height} v=${vote.view}`,
        });
      }
      this.honestVotes.set(key, digest);
    }
  }

  /**
   * Evidence checker: what an honest node reports must verify on its own, and must never accuse
   * an honest node (honest nodes never sign two different votes; the doubleVote checker says so).
   */
  private checkEvidence(
    node: SimNode,
    core: ConsensusCore,
    evidence: readonly Equivocation[],
  ): void {
    if (!node.honest) return;
    for (const item of evidence) {
      const accused = this.nodeOfKey(this.keys.findIndex((key) => bytesEqual(key, item.validator)));
      const where = `n${node.index} holds ${item.phase} evidence against n${accused} at h=${item.height}`;
      if (!verifyEquivocation(CHAIN_ID, item, core.validatorsAt(item.height), this.verifier)) {
        this.violations.push({ kind: 'evidence', detail: `${where} that does not verify` });
      } else if (this.nodes[accused]?.honest !== false) {
        this.violations.push({ kind: 'evidence', detail: `${where}, an honest node` });
      } else {
        this.evidence++;
        this.log(`${where}`);
      }
    }
  }

  /** Honest blocks; every few heights (with membership changes on) one swaps a validator for the spare. */
  private buildProposal(node: SimNode, height: number): Proposal {
    const block: SimBlock = { height, proposer: node.index, nonce: this.nonce++ };
    let proposal: Proposal;
    const rotating = this.params.keyRotations && height % 4 === 0;
    const set = node.latestSet;
    if (rotating && set.some((k) => k < this.nodes.length && this.nodes[k]!.honest)) {
      // One honest member still on its first key rotates to its second.
      const first = set.filter((k) => k < this.nodes.length && this.nodes[k]!.honest);
      const rotated = first[height % first.length]!;
      proposal = proposalOf({
        ...block,
        validators: set.map((k) => (k === rotated ? k + this.nodes.length : k)),
      });
    } else if (this.params.membershipChanges && height % 4 === 2) {
      const members = set.map((k) => this.nodeOfKey(k));
      const outside = [...Array(this.nodes.length).keys()].filter(
        (i) => !members.includes(i) && this.nodes[i]!.honest,
      );
      const honestMembers = set.filter((k) => this.nodes[this.nodeOfKey(k)]!.honest);
      const leaving = honestMembers[height % honestMembers.length];
      const joining = outside[0];
      if (leaving !== undefined && joining !== undefined) {
        proposal = proposalOf({
          ...block,
          validators: set.map((i) => (i === leaving ? joining : i)),
        });
      } else {
        proposal = proposalOf(block);
      }
    } else {
      proposal = proposalOf(block);
    }
    this.registerProposal(proposal);
    return proposal;
  }

  // --- Network ------------------------------------------------------------------------------

  private send(node: SimNode, out: OutboundMessage): void {
    const recipients =
      out.to === 'all'
        ? this.nodes.filter((other) => other !== node).map((other) => other.index)
        : [
            this.nodeOfKey(this.keys.findIndex((key) => bytesEqual(key, out.to as Uint8Array))),
          ].filter((index) => index >= 0);
    if (node.adversary !== null) {
      node.adversary.send(out, recipients);
      return;
    }
    for (const to of recipients) this.transmit(node.index, to, out.message);
  }

  private reachable(from: number, to: number): boolean {
    return this.partition === null || this.partition.has(from) === this.partition.has(to);
  }

  private transmit(
    from: number,
    to: number,
    message: ConsensusMessage | Uint8Array | object,
  ): void {
    if (!this.reachable(from, to)) return;
    const prng = this.prng;
    if (this.faultPhase && prng.chance(this.params.lossRate)) return;
    const copies = this.faultPhase && prng.chance(this.params.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = prng.range(1, this.params.maxDelay);
      this.queue.push(this.time + delay, () => this.deliver(from, to, message));
    }
  }

  private deliver(from: number, to: number, message: ConsensusMessage | Uint8Array | object): void {
    const node = this.nodes[to]!;
    if (node.core === null || !this.reachable(from, to)) return;
    this.delivered++;
    let input: unknown = message;
    if (message instanceof Uint8Array) {
      // Raw bytes come off the wire: the node decodes them and drops what does not decode.
      try {
        input = decodeMessage(message);
      } catch {
        return;
      }
    } else if (this.prng.chance(0.02) && 'type' in message) {
      // Now and then, a real message takes the wire path too: encode and decode must round-trip.
      try {
        input = decodeMessage(encodeMessage(message as ConsensusMessage));
      } catch {
        input = message;
      }
    }
    if (node.adversary !== null && typeof input === 'object' && input !== null && 'type' in input) {
      node.adversary.observe(input as ConsensusMessage);
    }
    node.core.step(input);
    this.processReady(node);
  }

  /** The node layer's block sync: certified blocks from a reachable honest peer's store. */
  private scheduleSync(node: SimNode, upTo: number): void {
    if (node.syncScheduled) return;
    node.syncScheduled = true;
    const delay = this.prng.range(UNITS_PER_TICK, 3 * UNITS_PER_TICK);
    this.queue.push(this.time + delay, () => {
      node.syncScheduled = false;
      const core = node.core;
      if (core === null) return;
      const sources = this.nodes.filter(
        (other) =>
          other !== node &&
          other.honest &&
          other.core !== null &&
          this.reachable(other.index, node.index) &&
          other.disk.blocks.length >= core.currentHeight,
      );
      if (sources.length === 0) return;
      const source = this.prng.pick(sources);
      const last = Math.min(upTo, source.disk.blocks.length, core.currentHeight + 32);
      this.log(`n${node.index} SYNC ${core.currentHeight}..${last} from n${source.index}`);
      for (let height = core.currentHeight; height <= last; height++) {
        const block = source.disk.blocks[height - 1]!;
        node.core?.step({
          type: 'decision',
          payload: block.proposal.payload,
          certificate: block.certificate,
        });
        this.processReady(node);
      }
    });
  }

  // --- Faults -------------------------------------------------------------------------------

  private injectFaults(): void {
    const prng = this.prng;
    const params = this.params;
    if (params.partitions && this.partition === null && prng.chance(0.04)) {
      const size = prng.range(1, Math.floor(this.nodes.length / 2));
      this.partition = new Set(prng.shuffle([...this.nodes.keys()]).slice(0, size));
      this.log(`PARTITION {${[...this.partition].sort((a, b) => a - b).join(',')}} | rest`);
      const heal = prng.range(10, 80) * UNITS_PER_TICK;
      this.queue.push(this.time + heal, () => {
        if (this.partition !== null) this.log('HEAL');
        this.partition = null;
      });
    }
    if (params.idleWork && prng.chance(0.1)) {
      const honest = this.nodes.filter((node) => node.honest);
      const node = prng.pick(honest);
      this.log(`n${node.index} ${node.hasWork ? 'IDLE' : 'GETS WORK'}`);
      this.setWork(node, !node.hasWork);
    }
    if (params.crashes && prng.chance(0.04)) {
      const victims = this.nodes.filter((node) => node.honest && node.core !== null);
      if (victims.length > 0) {
        const node = prng.pick(victims);
        const point = prng.pick<CrashPoint>(['now', 'afterPersist', 'afterSend', 'afterApply']);
        if (point === 'now') this.crash(node, 'now');
        else node.pendingCrash = point;
        const downtime = prng.range(5, 60) * UNITS_PER_TICK;
        this.queue.push(this.time + downtime, () => this.restart(node));
      }
    }
  }

  /** Gives a node work or takes it away; with work, a held proposal goes out. */
  private setWork(node: SimNode, hasWork: boolean): void {
    node.hasWork = hasWork;
    const held = node.heldProposal;
    const core = node.core;
    if (!hasWork || held === null || core === null) return;
    node.heldProposal = null;
    if (core.currentHeight === held.height && core.currentView === held.view) {
      core.propose(this.buildProposal(node, held.height));
      this.processReady(node);
    }
  }

  private restart(node: SimNode): void {
    node.pendingCrash = null;
    if (node.core !== null) return;
    this.log(
      `n${node.index} RESTART from hard state h=${node.disk.hardState?.height ?? 1} v=${node.disk.hardState?.view ?? 0}`,
    );
    this.start(node);
  }

  private tickAll(): void {
    if (this.faultPhase) this.injectFaults();
    for (const node of this.nodes) {
      if (node.core === null) continue;
      node.core.tick();
      this.processReady(node);
    }
    if (this.params.keyRotations) this.probeStalls();
  }

  /**
   * The node layer's stall probe (BlockSync.watchForStalls): an honest node whose height has
   * not moved for 2 view timeouts asks a peer for blocks. Modelled only with key rotations: a
   * node that missed every rotation knows none of the current keys, so no consensus message can
   * tell it that it is behind, and only the probe brings it back (seed 1103 found it); other
   * runs keep their seeds' event order.
   */
  private probeStalls(): void {
    const ahead = Math.max(...this.honestHeights());
    for (const node of this.nodes) {
      if (!node.honest || node.core === null) continue;
      const height = node.disk.blocks.length;
      const seen = this.stalls.get(node.index);
      if (seen === undefined || seen.height !== height) {
        this.stalls.set(node.index, { height, ticks: 0 });
      } else if (++seen.ticks >= 2 * this.params.baseTimeoutTicks && ahead > height) {
        seen.ticks = 0;
        this.scheduleSync(node, ahead);
      }
    }
  }

  private honestHeights(): number[] {
    return this.nodes.filter((node) => node.honest).map((node) => node.disk.blocks.length);
  }

  record(): RunRecord {
    return {
      chainId: CHAIN_ID,
      application: this.application,
      verifier: this.verifier,
      genesisValidators: this.genesisValidators,
      keyOf: (index) => this.keyOf(index),
      honestLogs: this.nodes
        .filter((node) => node.honest)
        .map((node) => ({ node: node.index, blocks: node.disk.blocks, stable: node.stable })),
      proposals: this.proposals,
    };
  }

  // --- Run ----------------------------------------------------------------------------------

  run(): SimResult {
    const params = this.params;
    const faultEnd = params.faultTicks * UNITS_PER_TICK;
    const deadline = faultEnd + params.livenessTicks * UNITS_PER_TICK;
    for (let t = UNITS_PER_TICK; t <= deadline; t += UNITS_PER_TICK) {
      this.queue.push(t, () => this.tickAll());
    }
    let target = Number.POSITIVE_INFINITY;
    let livenessTicksUsed: number | null = null;
    this.queue.push(faultEnd, () => {
      this.faultPhase = false;
      this.partition = null;
      for (const node of this.nodes) {
        node.pendingCrash = null;
        if (node.core === null) this.restart(node);
      }
      if (params.idleWork) {
        // Work somewhere, maybe at one replica only, until the node's re-gossip spreads it to
        // everyone (work held by non-validators alone could never make a block).
        const honest = this.nodes.filter((node) => node.honest);
        const busy = new Set(this.prng.shuffle(honest).slice(0, this.prng.range(1, honest.length)));
        for (const node of honest) this.setWork(node, busy.has(node));
        this.log(`WORK AT ${[...busy].map((node) => `n${node.index}`).join(',')}`);
        const spread = this.prng.range(5, 60) * UNITS_PER_TICK;
        this.queue.push(this.time + spread, () => {
          this.log('WORK EVERYWHERE (re-gossip)');
          for (const node of honest) this.setWork(node, true);
        });
      }
      target = Math.max(...this.honestHeights()) + params.livenessHeights;
      this.log(`FAULTS END: every honest node must reach height ${target}`);
    });
    let events = 0;
    for (let event = this.queue.pop(); event !== undefined; event = this.queue.pop()) {
      this.time = event.time;
      if (++events > MAX_EVENTS) {
        // A message storm (amplification) would otherwise hang the run: report it instead.
        this.violations.push({
          kind: 'liveness',
          detail: `message storm: more than ${MAX_EVENTS} events by t=${(this.time / UNITS_PER_TICK).toFixed(1)} ticks`,
        });
        break;
      }
      try {
        event.run();
      } catch (error) {
        this.violations.push({
          kind: 'exception',
          detail: String((error as Error).stack ?? error),
        });
        break;
      }
      if (this.time >= faultEnd && Math.min(...this.honestHeights()) >= target) {
        livenessTicksUsed = Math.ceil((this.time - faultEnd) / UNITS_PER_TICK);
        break;
      }
    }
    if (livenessTicksUsed === null && this.violations.every((v) => v.kind !== 'exception')) {
      this.violations.push({
        kind: 'liveness',
        detail: `honest heights ${this.honestHeights().join(',')} did not all reach ${target} within ${params.livenessTicks} ticks after faults stopped`,
      });
    }
    this.violations.push(...checkSafety(this.record()));
    const heights = this.honestHeights();
    return {
      params,
      violations: this.violations,
      minHeight: Math.min(...heights),
      maxHeight: Math.max(...heights),
      livenessTicksUsed,
      delivered: this.delivered,
      evidence: this.evidence,
      ticks: Math.ceil(this.time / UNITS_PER_TICK),
      events: this.events,
    };
  }
}

function short(digest: Uint8Array): string {
  return toHex(digest).slice(0, 8);
}

export function runSimulation(params: SimParams, verbose = false): SimResult {
  return new Simulation(params, verbose).run();
}

export function formatFailure(result: SimResult): string {
  return [
    `SIMULATION FAILED: ${describeParams(result.params)}`,
    `replay: pnpm sim --seed ${result.params.seed}${result.params.brokenQuorum ? ' --broken-quorum' : ''}${result.params.keyRotations ? ' --key-rotations' : ''}`,
    ...result.violations.slice(0, 10).map((v) => `  ${v.kind}: ${v.detail}`),
  ].join('\n');
}
