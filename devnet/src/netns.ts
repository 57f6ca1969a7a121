import { execFileSync } from 'node:child_process';
import { InvalidArgumentError } from 'commander';
import { VXLAN_ID, VXLAN_PORT } from './wan-switch.js';

/**
 * Validators as separate hosts, with iproute2 only (root needed): one network namespace per
 * validator, each with a veth pair into a bridge that lives in a hub namespace, plus one veth
 * from the runner's namespace into the same bridge so the CLI, the bench and the chaos checker
 * reach the APIs. The subnet is private and nothing routes out of it: all traffic stays inside
 * the namespaces.
 *
 * Faults: a partition adds blackhole routes between the two sides (packets silently dropped,
 * like a cut cable); healing deletes them.
 *
 * WAN links (`setupWan`): a second interface per validator, `wan0` on its own subnet, carries
 * the validator-to-validator traffic, while eth0 stays a clean LAN for the APIs (a hospital's
 * clients reach their own node locally; the WAN is between hospitals). Where the kernel has
 * netem, `wan0` is a veth into a second bridge and a netem qdisc on it (egress, inside the
 * namespace) delays, drops and rate-limits every packet that host sends. Where it has not, `wan0`
 * is a VXLAN device and the user-space switch of wan-switch.ts does the same per frame.
 */

/** What netem does to every packet a validator sends (its eth0 egress). */
export interface LinkShape {
  /**
   * One-way delay each host adds to what it sends, in ms. A packet between two validators
   * crosses one such link, so the round trip between them is about twice this.
   */
  readonly latencyMs: number;
  /** Random variation of the delay (uniform, ± this many ms; netem then reorders packets). */
  readonly jitterMs: number;
  /** Share of the packets each host sends that are dropped, in percent. */
  readonly lossPercent: number;
  /** Bandwidth cap of each host's outgoing link, as tc writes it ("10mbit"), or null. */
  readonly rate: string | null;
}

/** How the links are emulated: the kernel's netem qdisc, or the user-space switch. */
export type LinkEmulator = 'netem' | 'switch';

export const CLEAN_LINK: LinkShape = { latencyMs: 0, jitterMs: 0, lossPercent: 0, rate: null };

export function isClean(link: LinkShape): boolean {
  return (
    link.latencyMs === 0 && link.jitterMs === 0 && link.lossPercent === 0 && link.rate === null
  );
}

const MAX_DELAY_MS = 10_000;
const DELAY_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

/** "50ms", "0.05s", "500us" or plain milliseconds; 0 allowed; µs precision. An argParser. */
export function parseDelay(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(us|ms|s)?$/.exec(value.trim());
  if (match === null) {
    throw new InvalidArgumentError('expected a delay like 50ms, 0.05s or 500us.');
  }
  const ms = Number(match[1]) * DELAY_UNITS[match[2] ?? 'ms']!;
  if (!(ms <= MAX_DELAY_MS)) {
    throw new InvalidArgumentError(`expected at most ${MAX_DELAY_MS / 1000}s.`);
  }
  return Math.round(ms * 1000) / 1000;
}

/** "1%", "0.5%": a percentage from 0 to 100, the % sign required. An argParser. */
export function parsePercent(value: string): number {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError('expected a percentage like 1% or 0.5%.');
  const percent = Number(match[1]);
  if (!(percent <= 100)) throw new InvalidArgumentError('expected at most 100%.');
  return percent;
}

/** "10mbit", "512kbit", "1gbit": a bandwidth in bits per second, as tc takes it. An argParser. */
export function parseRate(value: string): string {
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(value.trim());
  if (match === null || !(Number(match[1]) > 0)) {
    throw new InvalidArgumentError('expected a bandwidth above 0 like 10mbit, 512kbit or 1gbit.');
  }
  return `${Number(match[1])}${match[2]!.toLowerCase()}`;
}

/** A line a person reads: what each host's link does. */
export function describeLink(link: LinkShape): string {
  if (isClean(link)) return 'no impairment (bridge speed)';
  const parts: string[] = [];
  if (link.latencyMs > 0 || link.jitterMs > 0) {
    parts.push(
      `latency ${link.latencyMs}ms one-way per host (about ${2 * link.latencyMs}ms round trip)${link.jitterMs > 0 ? ` ±${link.jitterMs}ms jitter` : ''}`,
    );
  }
  if (link.lossPercent > 0) parts.push(`loss ${link.lossPercent}% of each host's packets`);
  if (link.rate !== null) parts.push(`rate ${link.rate} per host`);
  return parts.join(', ');
}

/** The netem arguments for a link (after `tc qdisc replace dev wan0 root`). */
export function netemArgs(link: LinkShape): string[] {
  const us = (ms: number) => `${Math.round(ms * 1000)}us`;
  return [
    'netem',
    // The default queue (1,000 packets) would itself drop packets at high rates and delays.
    'limit',
    '100000',
    ...(link.latencyMs > 0 || link.jitterMs > 0
      ? ['delay', us(link.latencyMs), ...(link.jitterMs > 0 ? [us(link.jitterMs)] : [])]
      : []),
    ...(link.lossPercent > 0 ? ['loss', `${link.lossPercent}%`] : []),
    ...(link.rate === null ? [] : ['rate', link.rate]),
  ];
}

/** What a lab creates on this machine, by name: enough to remove it without the lab object. */
export interface NetnsFootprint {
  readonly namespaces: string[];
  /** Links in the runner's own namespace. */
  readonly links: string[];
}

/** Devnets made by `devnet up --netns` take tags from here; the chaos runner's are below 200. */
export const DEVNET_TAGS = { from: 200, to: 254 } as const;

/** The command prefix that runs a process inside namespace `ns` (it execs, keeping the pid). */
export function netnsExec(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}

export class NetnsLab {
  readonly #id: string;
  readonly #tag: number;
  readonly #subnet: string;
  readonly #size: number;
  /** Blackhole routes in place: [namespace, address]. */
  #cuts: [string, string][] = [];
  #created: string[] = [];

  constructor(size: number, tag = process.pid % 200) {
    this.#id = `mc${tag}`;
    this.#tag = tag;
    this.#subnet = `10.77.${tag}`;
    this.#size = size;
  }

  /**
   * Whether namespaces can be made here (root, iproute2, a kernel that allows it), and, when
   * `tc` is asked for, whether the tc command is there to shape links.
   */
  static available(
    options: { tc?: boolean } = {},
  ): { ok: true; netem: boolean } | { ok: false; reason: string } {
    const name = `mcprobe${process.pid}`;
    try {
      ip(['netns', 'add', name]);
    } catch (error) {
      return { ok: false, reason: commandFailure(error) };
    }
    try {
      if (options.tc) run('tc', ['-V']);
      let netem = false;
      try {
        run('tc', ['-n', name, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
        netem = true;
      } catch {
        // no sch_netem in this kernel (or no tc): the user-space switch stands in
      }
      return { ok: true, netem };
    } catch (error) {
      return { ok: false, reason: commandFailure(error) };
    } finally {
      try {
        ip(['netns', 'del', name]);
      } catch {
        // nothing to clean
      }
    }
  }

  /** The first tag in [from, to] whose hub namespace and runner link do not exist. */
  static freeTag(range: { from: number; to: number } = DEVNET_TAGS): number | undefined {
    const namespaces = new Set(listNamespaces());
    for (let tag = range.from; tag <= range.to; tag++) {
      const probe = new NetnsLab(0, tag);
      if (!namespaces.has(probe.hub) && !linkExists(probe.runnerLink)) return tag;
    }
    return undefined;
  }

  /** Deletes what a lab made, found by name; kills what still runs inside first. */
  static remove(footprint: NetnsFootprint): { removed: string[]; left: string[] } {
    const existing = new Set(listNamespaces());
    const removed: string[] = [];
    // Validators before the hub: deleting a namespace with processes in it would only unname it.
    for (const name of footprint.namespaces) {
      if (!existing.has(name)) continue;
      for (const pid of namespacePids(name)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      try {
        ip(['netns', 'del', name]);
        removed.push(name);
      } catch {
        // reported in `left` below
      }
    }
    for (const link of footprint.links) {
      if (!linkExists(link)) continue;
      try {
        ip(['link', 'del', link]);
        removed.push(link);
      } catch {
        // reported in `left` below
      }
    }
    const still = new Set(listNamespaces());
    const left = [
      ...footprint.namespaces.filter((name) => still.has(name)),
      ...footprint.links.filter(linkExists),
    ];
    return { removed, left };
  }

  /** Whether every namespace and link of the footprint exists. */
  static present(footprint: NetnsFootprint): boolean {
    const existing = new Set(listNamespaces());
    return (
      footprint.namespaces.every((name) => existing.has(name)) && footprint.links.every(linkExists)
    );
  }

  /** The qdisc line(s) tc reports for validator namespace `ns`'s wan0, or null if unreadable. */
  static qdisc(ns: string): string | null {
    try {
      return run('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'wan0']).trim();
    } catch {
      return null;
    }
  }

  get hub(): string {
    return `${this.#id}hub`;
  }

  get runnerLink(): string {
    return `${this.#id}r`;
  }

  /** The /24 every address of this lab is in. */
  get subnet(): string {
    return `${this.#subnet}.0/24`;
  }

  /** Every name `setup` makes, known before it makes them (recorded first, so a crash leaks nothing). */
  get footprint(): NetnsFootprint {
    return {
      namespaces: [...Array.from({ length: this.#size }, (_, i) => this.namespace(i)), this.hub],
      links: [this.runnerLink],
    };
  }

  namespace(i: number): string {
    return `${this.#id}n${i}`;
  }

  address(i: number): string {
    return `${this.#subnet}.${i + 2}`;
  }

  /** The runner's address on the LAN (where the switch listens). */
  get runnerAddress(): string {
    return `${this.#subnet}.1`;
  }

  /** Validator i's address on the WAN plane (`setupWan`). */
  wanAddress(i: number): string {
    return `10.88.${this.#tag}.${i + 2}`;
  }

  get wanSubnet(): string {
    return `10.88.${this.#tag}.0/24`;
  }

  /** The command prefix that runs a process inside validator i's namespace. */
  wrapper(i: number): string[] {
    return netnsExec(this.namespace(i));
  }

  /** Creates the hub namespace, which owns the tag: throws if another lab holds it. */
  claim(): void {
    this.#netns(this.hub);
  }

  setup(): void {
    const hub = this.hub;
    if (!this.#created.includes(hub)) this.#netns(hub);
    inNs(hub, ['link', 'add', 'br0', 'type', 'bridge']);
    inNs(hub, ['link', 'set', 'br0', 'up']);
    for (let i = 0; i < this.#size; i++) {
      const ns = this.namespace(i);
      this.#netns(ns);
      const outer = `${this.#id}h${i}`;
      ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['link', 'set', outer, 'netns', hub]);
      inNs(hub, ['link', 'set', outer, 'master', 'br0', 'up']);
      inNs(ns, ['addr', 'add', `${this.address(i)}/24`, 'dev', 'eth0']);
      inNs(ns, ['link', 'set', 'eth0', 'up']);
      inNs(ns, ['link', 'set', 'lo', 'up']);
    }
    // The runner's own leg into the bridge (the checker and the load talk to the APIs).
    const runner = this.runnerLink;
    ip(['link', 'add', runner, 'type', 'veth', 'peer', 'name', `${this.#id}rh`, 'netns', hub]);
    inNs(hub, ['link', 'set', `${this.#id}rh`, 'master', 'br0', 'up']);
    ip(['addr', 'add', `${this.#subnet}.1/24`, 'dev', runner]);
    ip(['link', 'set', runner, 'up']);
  }

  /** Adds each validator's `wan0` (after `setup`): a veth into a second bridge, or VXLAN to the switch. */
  setupWan(emulator: LinkEmulator): void {
    if (emulator === 'netem') {
      inNs(this.hub, ['link', 'add', 'br1', 'type', 'bridge']);
      inNs(this.hub, ['link', 'set', 'br1', 'up']);
    }
    for (let i = 0; i < this.#size; i++) {
      const ns = this.namespace(i);
      if (emulator === 'netem') {
        const outer = `${this.#id}w${i}`;
        ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', ns]);
        ip(['link', 'set', outer, 'netns', this.hub]);
        inNs(this.hub, ['link', 'set', outer, 'master', 'br1', 'up']);
      } else {
        inNs(ns, [
          'link',
          'add',
          'wan0',
          'type',
          'vxlan',
          'id',
          String(VXLAN_ID),
          'remote',
          this.runnerAddress,
          'local',
          this.address(i),
          'dstport',
          String(VXLAN_PORT),
          'dev',
          'eth0',
        ]);
      }
      inNs(ns, ['addr', 'add', `${this.wanAddress(i)}/24`, 'dev', 'wan0']);
      inNs(ns, ['link', 'set', 'wan0', 'up']);
    }
  }

  #netns(name: string): void {
    ip(['netns', 'add', name]);
    this.#created.push(name);
  }

  /** Gives every validator's wan0 the netem shape (replacing any earlier one); clean removes it. */
  shape(link: LinkShape): void {
    for (let i = 0; i < this.#size; i++) {
      const ns = this.namespace(i);
      if (isClean(link)) {
        try {
          run('tc', ['-n', ns, 'qdisc', 'del', 'dev', 'wan0', 'root']);
        } catch {
          // no qdisc of ours there
        }
      } else {
        run('tc', ['-n', ns, 'qdisc', 'replace', 'dev', 'wan0', 'root', ...netemArgs(link)]);
      }
    }
  }

  /** Cuts every path between the two groups of validators (both directions). */
  partition(side: readonly number[], rest: readonly number[]): void {
    for (const a of side) {
      for (const b of rest) {
        this.#cut(this.namespace(a), this.address(b));
        this.#cut(this.namespace(b), this.address(a));
      }
    }
  }

  #cut(ns: string, address: string): void {
    inNs(ns, ['route', 'add', 'blackhole', `${address}/32`]);
    this.#cuts.push([ns, address]);
  }

  heal(): void {
    for (const [ns, address] of this.#cuts)
      inNs(ns, ['route', 'del', 'blackhole', `${address}/32`]);
    this.#cuts = [];
  }

  /** Deletes every namespace (their veths go with them) and the runner's veth. Never throws. */
  cleanup(): void {
    for (const name of this.#created.reverse()) {
      try {
        ip(['netns', 'del', name]);
      } catch {
        // already gone
      }
    }
    this.#created = [];
    try {
      ip(['link', 'del', this.runnerLink]);
    } catch {
      // deleted with its peer's namespace
    }
  }
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

function ip(args: readonly string[]): void {
  run('ip', args);
}

function inNs(ns: string, args: readonly string[]): void {
  ip(['-n', ns, ...args]);
}

/** The first line of what a failed command said, or what was missing. */
export function commandFailure(error: unknown): string {
  const err = error as { code?: string; path?: string; stderr?: string; message?: string };
  if (err.code === 'ENOENT') {
    return `the \`${err.path ?? 'ip'}\` command is not installed (iproute2)`;
  }
  const said =
    typeof err.stderr === 'string' && err.stderr.trim() !== '' ? err.stderr : err.message;
  return (said ?? 'unknown failure').trim().split('\n')[0]!;
}

function listNamespaces(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name !== '');
}

function linkExists(name: string): boolean {
  try {
    ip(['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

function namespacePids(ns: string): number[] {
  try {
    return run('ip', ['netns', 'pids', ns])
      .split('\n')
      .filter((line) => /^\d+$/.test(line.trim()))
      .map(Number);
  } catch {
    return [];
  }
}
