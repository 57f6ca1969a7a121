import { execFileSync } from 'node:child_process';

/**
 * Real network faults for the chaos runner, with iproute2 only (root needed): one network
 * namespace per validator, each with a veth pair into a bridge that lives in a hub namespace,
 * plus one veth from the runner's namespace into the same bridge so the checker reaches the
 * APIs. The subnet is private and nothing routes out of it: all traffic stays inside the
 * namespaces. A partition adds blackhole routes between the two sides (packets silently
 * dropped, like a cut cable); healing deletes them.
 */
export class NetnsLab {
  readonly #id: string;
  readonly #subnet: string;
  readonly #size: number;
  /** Blackhole routes in place: [namespace, address]. */
  #cuts: [string, string][] = [];
  #created: string[] = [];

  constructor(size: number, tag = process.pid % 200) {
    this.#id = `mc${tag}`;
    this.#subnet = `10.77.${tag}`;
    this.#size = size;
  }

  /** Whether namespaces can be made here (root, iproute2, a kernel that allows it). */
  static available(): { ok: true } | { ok: false; reason: string } {
    const name = `mcprobe${process.pid}`;
    try {
      ip(['netns', 'add', name]);
      ip(['netns', 'del', name]);
      return { ok: true };
    } catch (error) {
      return {
        ok: false,
        reason: (error as Error).message.split('\n')[0] ?? 'ip netns add failed',
      };
    }
  }

  namespace(i: number): string {
    return `${this.#id}n${i}`;
  }

  address(i: number): string {
    return `${this.#subnet}.${i + 2}`;
  }

  /** The command prefix that runs a process inside validator i's namespace. */
  wrapper(i: number): string[] {
    return ['ip', 'netns', 'exec', this.namespace(i)];
  }

  setup(): void {
    const hub = `${this.#id}hub`;
    this.#netns(hub);
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
    const runner = `${this.#id}r`;
    ip(['link', 'add', runner, 'type', 'veth', 'peer', 'name', `${this.#id}rh`, 'netns', hub]);
    inNs(hub, ['link', 'set', `${this.#id}rh`, 'master', 'br0', 'up']);
    ip(['addr', 'add', `${this.#subnet}.1/24`, 'dev', runner]);
    ip(['link', 'set', runner, 'up']);
  }

  #netns(name: string): void {
    ip(['netns', 'add', name]);
    this.#created.push(name);
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
      ip(['link', 'del', `${this.#id}r`]);
    } catch {
      // deleted with its peer's namespace
    }
  }
}

function ip(args: readonly string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(ns: string, args: readonly string[]): void {
  ip(['-n', ns, ...args]);
}
