import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '@medchain/cli';
import type { LinkShape } from './netns.js';

/**
 * The WAN links in user space, for kernels built without netem (sch_netem): each validator
 * namespace's `wan0` is a VXLAN device whose every frame goes, as a UDP datagram over the
 * namespace's clean eth0, to this switch in the runner's namespace. The switch learns which
 * host owns which MAC address (like a bridge), floods broadcasts, and forwards each datagram
 * as netem on the sender's egress would: dropped with the loss probability, else released
 * after the one-way latency (± jitter; then frames may overtake each other, as with netem)
 * and after the sender's earlier frames have gone out at the rate.
 */

/** VXLAN's IANA port, on the runner's address of the devnet (so devnets never collide). */
export const VXLAN_PORT = 4789;
export const VXLAN_ID = 77;
/** Frames queued per sender beyond this are dropped (netem's own queue limit does the same). */
const QUEUE_LIMIT = 10_000;
const VXLAN_HEADER = 8;
const ETHERNET_HEADER = 14;

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

export function rateBitsPerSecond(rate: string): number {
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(rate);
  if (match === null) throw new Error(`bad rate ${rate}`);
  return Number(match[1]) * RATE_UNITS[match[2]!]!;
}

export interface SwitchReport {
  readonly pid: number;
  readonly link: LinkShape;
  readonly hosts: readonly string[];
  /** Per sending host: frames forwarded (counted once per frame, also when flooded)... */
  readonly forwarded: number[];
  /** ...and dropped (by the loss probability or a full queue). */
  readonly dropped: number[];
  readonly updatedAt: string;
}

export class WanSwitch {
  readonly #socket: Socket;
  readonly #hosts: readonly string[];
  readonly #index: Map<string, number>;
  readonly #macs = new Map<string, number>();
  /** When each sender's link is next free to serialize a frame (ms, performance clock). */
  readonly #nextFree: number[];
  readonly #queued: number[];
  readonly #forwarded: number[];
  readonly #dropped: number[];
  #link: LinkShape;

  /** `hosts[i]` is validator i's underlay (eth0) address, where its VXLAN device listens. */
  constructor(hosts: readonly string[], link: LinkShape) {
    this.#hosts = hosts;
    this.#index = new Map(hosts.map((address, i) => [address, i]));
    this.#nextFree = hosts.map(() => 0);
    this.#queued = hosts.map(() => 0);
    this.#forwarded = hosts.map(() => 0);
    this.#dropped = hosts.map(() => 0);
    this.#link = link;
    this.#socket = createSocket('udp4');
    this.#socket.on('message', (message, from) => this.#onFrame(message, from));
  }

  listen(address: string): Promise<void> {
    return new Promise((done, fail) => {
      this.#socket.once('error', fail);
      this.#socket.bind(VXLAN_PORT, address, () => {
        this.#socket.off('error', fail);
        done();
      });
    });
  }

  reshape(link: LinkShape): void {
    this.#link = link;
  }

  report(): SwitchReport {
    return {
      pid: process.pid,
      link: this.#link,
      hosts: this.#hosts,
      forwarded: [...this.#forwarded],
      dropped: [...this.#dropped],
      updatedAt: new Date().toISOString(),
    };
  }

  close(): void {
    this.#socket.close();
  }

  #onFrame(datagram: Buffer, from: RemoteInfo): void {
    const sender = this.#index.get(from.address);
    if (sender === undefined || datagram.length < VXLAN_HEADER + ETHERNET_HEADER) return;
    const frame = datagram.subarray(VXLAN_HEADER);
    finishChecksum(frame);
    this.#macs.set(frame.subarray(6, 12).toString('hex'), sender);
    const multicast = (frame[0]! & 1) === 1;
    const owner = multicast ? undefined : this.#macs.get(frame.subarray(0, 6).toString('hex'));
    const targets =
      owner === undefined ? this.#hosts.map((_, i) => i).filter((i) => i !== sender) : [owner];
    const link = this.#link;
    if (
      (link.lossPercent > 0 && Math.random() * 100 < link.lossPercent) ||
      this.#queued[sender]! >= QUEUE_LIMIT
    ) {
      this.#dropped[sender]!++;
      return;
    }
    const now = performance.now();
    let departure = now;
    if (link.rate !== null) {
      departure =
        Math.max(now, this.#nextFree[sender]!) +
        (frame.length * 8 * 1000) / rateBitsPerSecond(link.rate);
      this.#nextFree[sender] = departure;
    }
    const jitter = link.jitterMs > 0 ? (Math.random() * 2 - 1) * link.jitterMs : 0;
    const wait = Math.max(0, departure + link.latencyMs + jitter - now);
    this.#forwarded[sender]!++;
    const send = () => {
      for (const target of targets) this.#socket.send(datagram, VXLAN_PORT, this.#hosts[target]);
    };
    if (wait < 0.5) {
      send();
      return;
    }
    this.#queued[sender]!++;
    setTimeout(() => {
      this.#queued[sender]!--;
      send();
    }, wait);
  }
}

/**
 * The sending kernel leaves a TCP or UDP checksum for the NIC to finish (checksum offload), and
 * a VXLAN frame that reaches a user-space socket over veth still carries the unfinished one; the
 * receiving kernel would drop the segment. So the switch computes it (IPv4; in place).
 */
export function finishChecksum(frame: Buffer): void {
  if (frame.length < ETHERNET_HEADER + 20 || frame.readUInt16BE(12) !== 0x0800) return;
  const ip = ETHERNET_HEADER;
  const headerLength = (frame[ip]! & 0x0f) * 4;
  const protocol = frame[ip + 9]!;
  const totalLength = frame.readUInt16BE(ip + 2);
  const fragmented = (frame.readUInt16BE(ip + 6) & 0x3fff) !== 0;
  const offset = protocol === 6 ? 16 : protocol === 17 ? 6 : -1;
  const l4 = ip + headerLength;
  const l4Length = totalLength - headerLength;
  if (offset < 0 || fragmented || ip + totalLength > frame.length || l4Length < offset + 2) return;
  if (protocol === 17 && frame.readUInt16BE(l4 + offset) === 0) return; // UDP without checksum
  frame.writeUInt16BE(0, l4 + offset);
  let sum = protocol + l4Length;
  for (let i = ip + 12; i < ip + 20; i += 2) sum += frame.readUInt16BE(i);
  const end = l4 + l4Length;
  for (let i = l4; i + 1 < end; i += 2) sum += frame.readUInt16BE(i);
  if ((l4Length & 1) === 1) sum += frame[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const checksum = ~sum & 0xffff;
  frame.writeUInt16BE(protocol === 17 && checksum === 0 ? 0xffff : checksum, l4 + offset);
}

/**
 * Runs a switch until SIGTERM or until the runner's link it listens on is gone (its devnet was
 * taken down, even by hand): `load` gives the hosts and link, again on SIGHUP (reshape), and
 * `reportPath` gets the counters every second.
 */
export async function runWanSwitch(options: {
  address: string;
  runnerLink: string;
  load: () => { hosts: string[]; link: LinkShape };
  reportPath: string;
}): Promise<void> {
  const { hosts, link } = options.load();
  const wan = new WanSwitch(hosts, link);
  await wan.listen(options.address);
  const write = () => writeFileAtomic(options.reportPath, `${JSON.stringify(wan.report())}\n`);
  write();
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      if (!existsSync(`/sys/class/net/${options.runnerLink}`)) stop();
      else write();
    }, 1000);
    const reload = () => {
      wan.reshape(options.load().link);
      write();
    };
    const stop = () => {
      clearInterval(timer);
      process.off('SIGHUP', reload);
      wan.close();
      done();
    };
    process.on('SIGHUP', reload);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
