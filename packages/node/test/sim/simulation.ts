import { SeededRandom } from '@medchain/crypto';
import type { GenesisDocument } from '@medchain/ledger';
import { CONSENSUS_PROTOCOL, type ShellPorts, type Storage } from '../../src/index.js';
import {
  type Ack,
  type ChainView,
  checkAcks,
  checkConvergence,
  checkSafety,
  type Violation,
  WireWatch,
} from './checkers.js';
import { Incarnation, SimTimers, SkewedClock } from './clock.js';
import { SimNetwork } from './network.js';
import { describeNodeSimParams, type NodeSimParams } from './params.js';
import { Scheduler } from './scheduler.js';
import { SimDisk } from './storage.js';
import {
  type Client,
  SIM_GENESIS_TIME,
  type SimOrganization,
  simClients,
  simGenesis,
  simOrganizations,
  type WorkItem,
} from './workload.js';

/** What the simulation needs of one running node (built by a NodeFactory from the shell). */
export interface SimShell {
  /** The API's submit: admission to the mempool, then gossip. */
  submit(bytes: Uint8Array): { readonly accepted: boolean; readonly code?: string };
  /** The node's chain as the checkers read it. */
  view(): ChainView;
  /** A clean shutdown: the shell stops its reactors (the ports are closed after). */
  stop(): Promise<void>;
}

export interface NodeContext {
  readonly index: number;
  readonly genesis: GenesisDocument;
  readonly organization: SimOrganization;
  readonly params: NodeSimParams;
  /** The node hit an error it cannot go on after (it stopped consensus). */
  readonly onFatal: (error: unknown) => void;
}

/** Builds a node from the shipped shell over the given ports (the one place that knows how). */
export type NodeFactory = (ports: ShellPorts, context: NodeContext) => Promise<SimShell>;

/** A fault injected into the shell to prove the checkers can fail (see sim-injected-bug.test.ts). */
export interface Injection {
  /** Wraps a node's ports before the shell gets them. */
  readonly ports?: (ports: ShellPorts, node: number) => ShellPorts;
  /** Wraps a node's shell once built. */
  readonly shell?: (shell: SimShell, node: number) => SimShell;
}

export interface NodeSimResult {
  readonly params: NodeSimParams;
  readonly violations: readonly Violation[];
  readonly heights: readonly number[];
  /** Each node's state root at the end (a replay must end on the same ones). */
  readonly stateRoots: readonly string[];
  /** Messages the network delivered. */
  readonly delivered: number;
  readonly acks: number;
  /** Acknowledgements whose node kept its promise (did not crash): each had to commit. */
  readonly owedAcks: number;
  readonly crashes: number;
  readonly events: number;
  /** Virtual ms from the end of faults until everything owed was done (null: never). */
  readonly settledAfterMs: number | null;
  readonly trace: readonly string[];
}

/** The nodes' first start, on a quiet network, must be over by then. */
const BOOT_DEADLINE_MS = 30_000;
/** Far beyond what a run of this size needs: more is a storm. */
const MAX_EVENTS = 400_000;

interface SimNodeState {
  readonly index: number;
  readonly disk: SimDisk;
  readonly clock: SkewedClock;
  life: Incarnation;
  incarnations: number;
  shell: SimShell | null;
  /** A crash is due at this node's next disk write. */
  crashAtNextWrite: boolean;
  /** Down (a restart is scheduled, or faults end first). */
  down: boolean;
  /** The storage port of the running incarnation (closed on a clean stop). */
  storage: Storage | null;
}

/**
 * N nodes of the shipped shell in one process, on memory ports and virtual time, every choice
 * drawn from one seed: a workload of signed transactions, a fault phase (loss, duplication,
 * delay, partitions, crashes with torn disks, skewed clocks), then faults stop and every
 * checker runs.
 */
export class NodeSimulation {
  private readonly scheduler = new Scheduler();
  private readonly random: SeededRandom;
  private readonly network: SimNetwork;
  private readonly watch: WireWatch;
  private readonly nodes: SimNodeState[] = [];
  private readonly organizations: SimOrganization[];
  private readonly genesis: GenesisDocument;
  private readonly clients: Client[];
  private readonly acks: Ack[] = [];
  private readonly violations: Violation[] = [];
  private readonly trace: string[] = [];
  /** 'boot': nodes start on a quiet network; then faults; then 'liveness' until settled. */
  private phase: 'boot' | 'faults' | 'liveness' = 'boot';
  private faultEnd = Number.POSITIVE_INFINITY;
  private crashCount = 0;
  private probe: WorkItem | null = null;
  private nextSettleCheck = 0;

  constructor(
    readonly params: NodeSimParams,
    private readonly factory: NodeFactory,
    private readonly injection: Injection = {},
    private readonly verbose = false,
  ) {
    this.random = new SeededRandom(params.seed);
    this.organizations = simOrganizations(params.n);
    this.genesis = simGenesis(this.organizations, {
      checkpointInterval: params.checkpointInterval,
      baseTimeoutTicks: params.baseTimeoutTicks,
    });
    this.watch = new WireWatch(
      this.organizations.map((org) => org.validator.publicKey),
      CONSENSUS_PROTOCOL,
    );
    this.network = new SimNetwork(this.scheduler, this.random, (from, _to, protocol, bytes) =>
      this.watch.observe(from, protocol, bytes),
    );
    // One more client than the workload: its first transaction is the liveness probe.
    this.clients = simClients(
      this.organizations,
      params.patients + 1,
      params.txsPerClient,
      this.random,
    );
    for (let index = 0; index < params.n; index++) {
      this.network.addNode(this.organizations[index]!.peerId);
      const offset = (this.random.float() * 2 - 1) * params.clockSkewMs;
      const rate = 1 + (this.random.float() * 2 - 1) * params.clockDrift;
      const clock = new SkewedClock(this.scheduler, SIM_GENESIS_TIME + 1_000, offset, rate);
      const disk = new SimDisk(index, this.scheduler, this.random, {
        syncLatency: [0.1, 2],
        crashAtWrite: (node) => this.crashAtWrite(node),
        crash: (node, why) => this.crash(node, why),
      });
      this.nodes.push({
        index,
        disk,
        clock,
        life: new Incarnation(index, 0),
        incarnations: 0,
        shell: null,
        crashAtNextWrite: false,
        down: true,
        storage: null,
      });
    }
  }

  private log(line: string): void {
    if (this.verbose) this.trace.push(`t=${this.scheduler.now.toFixed(1)} ${line}`);
  }

  // --- nodes ----------------------------------------------------------------------------------

  private boot(node: SimNodeState): void {
    const life = new Incarnation(node.index, ++node.incarnations);
    node.life = life;
    node.down = false;
    node.shell = null;
    const timers = new SimTimers(this.scheduler, node.clock, life);
    node.storage = node.disk.open(life);
    let ports: ShellPorts = {
      clock: node.clock,
      timers,
      transport: this.network.attach(node.index, life, timers),
      storage: node.storage,
    };
    if (this.injection.ports !== undefined) ports = this.injection.ports(ports, node.index);
    this.log(`n${node.index} BOOT #${life.number}`);
    this.factory(ports, {
      index: node.index,
      genesis: this.genesis,
      organization: this.organizations[node.index]!,
      params: this.params,
      onFatal: (error) => {
        if (!life.alive) return;
        this.violations.push({
          kind: 'exception',
          detail: `n${node.index} stopped on a fatal error: ${String((error as Error)?.stack ?? error)}`,
        });
        this.crash(node.index, 'fatal error');
      },
    }).then(
      (shell) => {
        if (!life.alive) return;
        node.shell =
          this.injection.shell === undefined ? shell : this.injection.shell(shell, node.index);
        this.log(`n${node.index} UP at height ${shell.view().height}`);
      },
      (error) => {
        if (!life.alive) return;
        this.violations.push({
          kind: 'exception',
          detail: `n${node.index} failed to start: ${String((error as Error)?.stack ?? error)}`,
        });
        this.crash(node.index, 'start failed');
      },
    );
  }

  private crashAtWrite(index: number): boolean {
    const node = this.nodes[index]!;
    if (!node.crashAtNextWrite) return false;
    node.crashAtNextWrite = false;
    return true;
  }

  private crash(index: number, why: string): void {
    const node = this.nodes[index]!;
    if (!node.life.alive) return;
    node.life.alive = false;
    node.shell = null;
    node.down = true;
    node.crashAtNextWrite = false;
    this.crashCount++;
    this.network.detach(index);
    node.disk.crash();
    this.watch.crashed(index, node.disk.walRecords(), node.disk.storedHeight());
    this.log(`n${index} CRASH (${why})`);
  }

  private restartLater(node: SimNodeState): void {
    const downtime = this.random.range(50, 3_000);
    this.scheduler.after(downtime, () => {
      if (node.down) this.boot(node);
    });
  }

  // --- workload -------------------------------------------------------------------------------

  private liveShells(): { index: number; shell: SimShell }[] {
    return this.nodes
      .filter((node) => node.shell !== null && node.life.alive)
      .map((node) => ({ index: node.index, shell: node.shell! }));
  }

  private submit(item: WorkItem, onAck: () => void, onGiveUp?: () => void): void {
    const live = this.liveShells();
    if (live.length === 0) {
      this.scheduler.after(this.random.range(50, 300), () => this.submit(item, onAck, onGiveUp));
      return;
    }
    const { index, shell } = this.random.pick(live);
    const node = this.nodes[index]!;
    const result = shell.submit(item.bytes);
    if (result.accepted) {
      const client = this.clients[item.client]!;
      this.acks.push({
        hash: item.hash,
        client: item.client,
        nonce: item.nonce,
        previous: item.nonce > 1 ? client.items[item.nonce - 2]!.hash : null,
        node: index,
        incarnation: node.life.number,
        time: this.scheduler.now,
      });
      this.log(`n${index} ACK c${item.client}/${item.nonce}`);
      onAck();
      return;
    }
    this.log(`n${index} REFUSED c${item.client}/${item.nonce}: ${result.code}`);
    // Known already (pending or committed), or its nonce is used: nothing more to do for it.
    if (result.code === 'DUPLICATE' || result.code === 'BAD_NONCE') {
      onGiveUp?.();
      return;
    }
    this.scheduler.after(this.random.range(50, 500), () => this.submit(item, onAck, onGiveUp));
  }

  private startClient(client: Client): void {
    const step = () => {
      if (client.done || this.phase !== 'faults') return;
      const item = client.items[client.next++]!;
      const next = () => this.scheduler.after(this.random.range(10, 400), step);
      this.submit(item, next, next);
    };
    this.scheduler.after(this.random.range(0, 1_000), step);
  }

  // --- faults ---------------------------------------------------------------------------------

  /** Every node is up (first boot): the workload and the faults start. */
  private startFaults(): void {
    const { params } = this;
    this.phase = 'faults';
    this.faultEnd = this.scheduler.now + params.faultMs;
    this.network.faults.lossRate = params.lossRate;
    this.network.faults.duplicateRate = params.duplicateRate;
    this.network.faults.delay = params.delay;
    this.log('FAULTS START');
    for (const client of this.clients.slice(0, -1)) this.startClient(client);
    this.scheduler.after(100, () => this.injectFaults());
    this.scheduler.at(this.faultEnd, () => this.endFaults());
  }

  private injectFaults(): void {
    if (this.phase !== 'faults') return;
    const { params, random } = this;
    if (params.partitions && this.network.faults.partition === null && random.chance(0.03)) {
      const size = random.range(1, Math.floor(params.n / 2));
      const side = new Set(random.shuffle([...Array(params.n).keys()]).slice(0, size));
      this.network.setPartition(side);
      this.log(`PARTITION {${[...side].sort().join(',')}} | rest`);
      this.scheduler.after(random.range(200, 3_000), () => {
        if (this.network.faults.partition === side) {
          this.network.setPartition(null);
          this.log('HEAL');
        }
      });
    }
    if (params.crashes && random.chance(0.05)) {
      const up = this.nodes.filter((node) => !node.down && !node.crashAtNextWrite);
      if (up.length > 0) {
        const node = random.pick(up);
        if (random.chance(params.crashAtWriteShare)) {
          node.crashAtNextWrite = true;
          this.log(`n${node.index} will crash at its next write`);
        } else {
          this.crash(node.index, 'now');
        }
        this.restartLater(node);
      }
    }
    if (params.wipes && random.chance(0.005)) {
      // A validator's machine replaced: a new empty disk, back after a long while (it syncs
      // blocks, or a snapshot when the others are far enough ahead).
      const up = this.nodes.filter((node) => !node.down);
      if (up.length > 0) {
        const node = random.pick(up);
        this.crash(node.index, 'disk replaced');
        node.disk.wipe();
        // Its old votes went with the disk: what it signs from now on is checked afresh.
        this.watch.forget(node.index);
        this.log(`n${node.index} DISK WIPED`);
        this.scheduler.after(random.range(2_000, 6_000), () => {
          if (node.down) this.boot(node);
        });
      }
    }
    if (params.clockJumps && random.chance(0.02)) {
      const node = random.pick(this.nodes);
      node.clock.jumpMs = random.pick([-1, 1]) * random.range(500, 8_000);
      this.log(`n${node.index} CLOCK JUMPS to ${node.clock.jumpMs} ms`);
    }
    if (params.restarts && random.chance(0.01)) {
      const up = this.nodes.filter((node) => node.shell !== null && !node.crashAtNextWrite);
      if (up.length > 0) void this.restart(random.pick(up));
    }
    this.scheduler.after(100, () => this.injectFaults());
  }

  /** A clean restart: the shell stops, its ports close, and a new process starts on the disk. */
  private async restart(node: SimNodeState): Promise<void> {
    const shell = node.shell!;
    const life = node.life;
    node.shell = null;
    this.log(`n${node.index} STOP`);
    try {
      await shell.stop();
      await node.storage?.wal.close();
      await node.storage?.kv.close();
    } catch (error) {
      this.violations.push({
        kind: 'exception',
        detail: `n${node.index} failed to stop cleanly: ${String((error as Error)?.stack ?? error)}`,
      });
    }
    if (!life.alive) return; // it crashed while stopping
    life.alive = false;
    node.down = true;
    this.network.detach(node.index);
    node.disk.shutdown();
    this.log(`n${node.index} STOPPED`);
    this.restartLater(node);
  }

  private endFaults(): void {
    this.phase = 'liveness';
    this.network.setPartition(null);
    this.network.faults.lossRate = 0;
    this.network.faults.duplicateRate = 0;
    this.network.faults.delay = [1, 5];
    for (const node of this.nodes) {
      node.crashAtNextWrite = false;
      node.clock.jumpMs = 0;
      if (node.down) this.boot(node);
    }
    this.log(
      `FAULTS END at heights ${this.nodes.map((n) => n.shell?.view().height ?? '-').join(',')}`,
    );
    // The probe: one fresh transaction, submitted once the nodes are back.
    const probeClient = this.clients.at(-1)!;
    const probe = probeClient.items[0]!;
    const send = () => {
      if (this.liveShells().length < this.params.n) {
        this.scheduler.after(100, send);
        return;
      }
      this.submit(probe, () => {
        this.probe = probe;
      });
    };
    this.scheduler.after(0, send);
  }

  // --- run ------------------------------------------------------------------------------------

  private views(): ChainView[] {
    return this.nodes.filter((node) => node.shell !== null).map((node) => node.shell!.view());
  }

  /** Everything owed is done: every node up, at one height, holding the probe and every owed ack. */
  private settled(): boolean {
    // Checked at most every 50 virtual ms: it reads every node's chain.
    if (this.scheduler.now < this.nextSettleCheck) return false;
    this.nextSettleCheck = this.scheduler.now + 50;
    if (this.probe === null || this.nodes.some((node) => node.shell === null)) return false;
    const views = this.views();
    const height = views[0]!.height;
    if (views.some((view) => view.height !== height)) return false;
    if (!views.every((view) => view.hasTransaction(this.probe!.hash))) return false;
    return checkAcks(this.acks, (ack) => this.survived(ack), views).length === 0;
  }

  private survived(ack: Ack): boolean {
    const node = this.nodes[ack.node]!;
    return node.life.number === ack.incarnation && node.life.alive;
  }

  async run(): Promise<NodeSimResult> {
    const { params } = this;
    for (const node of this.nodes) {
      this.scheduler.after(this.random.range(0, 50), () => this.boot(node));
    }
    const waitForBoot = () => {
      if (this.nodes.every((node) => node.shell !== null)) this.startFaults();
      else this.scheduler.after(10, waitForBoot);
    };
    this.scheduler.after(10, waitForBoot);
    let ended: Awaited<ReturnType<Scheduler['run']>>;
    try {
      ended = await this.scheduler.run({
        until: BOOT_DEADLINE_MS + params.faultMs + params.livenessMs,
        maxEvents: MAX_EVENTS,
        done: () =>
          this.phase === 'liveness' &&
          (this.scheduler.now > this.faultEnd + params.livenessMs || this.settled()),
      });
    } catch (error) {
      this.violations.push({ kind: 'exception', detail: String((error as Error)?.stack ?? error) });
      ended = 'idle';
    }
    const settled = ended === 'done' && this.scheduler.now <= this.faultEnd + params.livenessMs;
    const settledAfterMs = settled ? this.scheduler.now - this.faultEnd : null;
    if (ended === 'storm') {
      this.violations.push({
        kind: 'storm',
        detail: `more than ${MAX_EVENTS} events by t=${this.scheduler.now.toFixed(0)} ms`,
      });
    }
    if (this.phase === 'boot') {
      this.violations.push({
        kind: 'liveness',
        detail: `the nodes were not all up ${BOOT_DEADLINE_MS} ms after they started`,
      });
    }
    const views = this.views();
    if (this.network.toSelf > 0) {
      this.violations.push({
        kind: 'exception',
        detail: `nodes addressed ${this.network.toSelf} messages or requests to themselves (a peer list holds the node itself)`,
      });
    }
    this.violations.push(...this.watch.violations);
    this.violations.push(...checkSafety(views));
    this.violations.push(...checkConvergence(views));
    if (!settled && this.phase === 'liveness') {
      this.violations.push(...checkAcks(this.acks, (ack) => this.survived(ack), views));
      this.violations.push({ kind: 'liveness', detail: this.livenessReport(views) });
    }
    return {
      params,
      violations: this.violations,
      heights: this.nodes.map((node) => node.shell?.view().height ?? -1),
      stateRoots: this.nodes.map((node) => node.shell?.view().stateRoot ?? '-'),
      delivered: this.network.delivered,
      acks: this.acks.length,
      owedAcks: this.acks.filter((ack) => this.survived(ack)).length,
      crashes: this.crashCount,
      events: this.scheduler.executed,
      settledAfterMs,
      trace: this.trace,
    };
  }

  private livenessReport(views: readonly ChainView[]): string {
    const down = this.nodes.filter((node) => node.shell === null).map((node) => `n${node.index}`);
    const heights = this.nodes.map((node) => node.shell?.view().height ?? '-').join(',');
    const probe =
      this.probe === null
        ? 'the probe was never acknowledged'
        : `probe committed at [${views
            .filter((view) => view.hasTransaction(this.probe!.hash))
            .map((view) => `n${view.node}`)
            .join(',')}]`;
    return `not settled ${this.params.livenessMs} ms after faults stopped: heights ${heights}${down.length > 0 ? `, not up: ${down.join(',')}` : ''}, ${probe}`;
  }
}

export function runNodeSimulation(
  params: NodeSimParams,
  factory: NodeFactory,
  options: { injection?: Injection; verbose?: boolean } = {},
): Promise<NodeSimResult> {
  return new NodeSimulation(params, factory, options.injection, options.verbose).run();
}

export function formatNodeSimFailure(result: NodeSimResult): string {
  return [
    `NODE SIMULATION FAILED: ${describeNodeSimParams(result.params)}`,
    `replay: pnpm sim:node --seed ${result.params.seed}`,
    ...result.violations.slice(0, 10).map((v) => `  ${v.kind}: ${v.detail}`),
  ].join('\n');
}
