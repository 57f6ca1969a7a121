import { execFile, execFileSync, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliRun,
  cli,
  cliArgv,
  json,
  jsonError,
  tempDir,
} from '../../../packages/cli/test/helpers.js';
import {
  CLEAN_LINK,
  NetnsLab,
  netemArgs,
  parseDelay,
  parsePercent,
  parseRate,
} from '../../src/netns.js';
import { finishChecksum, VXLAN_PORT, WanSwitch } from '../../src/wan-switch.js';

/**
 * `devnet up --netns`: validators as separate hosts (one network namespace each) with WAN links.
 * The flag checks run anywhere; the devnet itself needs root and iproute2 and is skipped, with
 * the reason, where namespaces cannot be made.
 */

const probe = NetnsLab.available();
const why = probe.ok ? '' : ` (skipped: ${probe.reason})`;
const ok = (run: CliRun) => expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);

interface NetnsDevnetFile {
  nodes: { name: string; api: string; p2p: string; pid: number | null; namespace?: string }[];
  netns: {
    tag: number;
    emulator: 'netem' | 'switch';
    switchPid: number | null;
    link: { latencyMs: number; jitterMs: number; lossPercent: number; rate: string | null };
    made: { namespaces: string[]; links: string[] };
  };
}

const readDevnet = (dir: string): NetnsDevnetFile =>
  JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8'));
const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name !== '');
const linkExists = (name: string) => {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
/** Processes whose command line names `dir` (validators and the switch of that devnet). */
const processesOf = (dir: string) =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });

/** Asserts that nothing `up --netns` made for the devnet in `dir` is left on the machine. */
function expectNothingLeft(dir: string, made: { namespaces: string[]; links: string[] }): void {
  expect(made.namespaces.length).toBeGreaterThan(0);
  const present = namespaces();
  expect(made.namespaces.filter((name) => present.includes(name))).toEqual([]);
  expect(made.links.filter(linkExists)).toEqual([]);
  expect(processesOf(dir)).toEqual([]);
  expect(readDevnet(dir).netns).toMatchObject({
    made: { namespaces: [], links: [] },
    switchPid: null,
  });
}

describe('devnet up --netns: the link options', () => {
  it('parses delays, percentages and bandwidths, and refuses anything else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (ms) => {
        expect(parseDelay(`${ms}ms`)).toBe(ms);
        expect(parseDelay(`${ms / 1000}s`)).toBeCloseTo(ms, 6);
        expect(parseDelay(String(ms))).toBe(ms);
      }),
    );
    expect(parseDelay('500us')).toBe(0.5);
    expect(parsePercent('1%')).toBe(1);
    expect(parsePercent('0.5%')).toBe(0.5);
    expect(parseRate('10MBit')).toBe('10mbit');
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (text) => {
        fc.pre(!/^\s*\d+(\.\d+)?(us|ms|s)?\s*$/.test(text));
        expect(() => parseDelay(text)).toThrow(/expected a delay/);
      }),
    );
    for (const bad of ['1', '-1%', '101%', '1 %', 'x%', '']) {
      expect(() => parsePercent(bad), bad).toThrow(/expected/);
    }
    for (const bad of ['10', '0mbit', '10mb', 'fast']) {
      expect(() => parseRate(bad), bad).toThrow(/expected a bandwidth/);
    }
    expect(() => parseDelay('11s')).toThrow(/at most 10s/);
  });

  it('refuses link options without --netns, bad values, and jitter without latency (exit 2)', async () => {
    const dir = tempDir('netns-flags');
    const runs = await Promise.all([
      cli(['devnet', 'up', '--latency', '50ms', '--dir', dir, '--json']),
      cli(['devnet', 'up', '--netns', '--jitter', '5ms', '--dir', dir, '--json']),
      cli(['devnet', 'up', '--netns', '--loss', '1', '--dir', dir]),
      cli(['devnet', 'up', '--netns', '--latency', '5xs', '--dir', dir]),
    ]);
    for (const run of runs) expect(run.code, run.stderr).toBe(2);
    expect(jsonError(runs[0]!).error).toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/--latency .*needs --netns/),
    });
    expect(jsonError(runs[1]!).error.message).toMatch(/--jitter .*--latency/);
    expect(runs[2]!.stderr).toMatch(/--loss.*expected a percentage like 1% or 0\.5%/);
    expect(runs[3]!.stderr).toMatch(/--latency.*expected a delay like 50ms/);
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('without iproute2, up --netns fails with NETNS_UNAVAILABLE and makes nothing', async () => {
    const dir = tempDir('netns-noip');
    const run = await cli(['devnet', 'up', '--netns', '--dir', dir, '--json'], {
      env: { PATH: '/nonexistent' },
    });
    expect(run.code, run.stderr).toBe(1);
    expect(jsonError(run).error).toMatchObject({
      code: 'NETNS_UNAVAILABLE',
      message: expect.stringMatching(/network namespaces are unavailable here: .*ip/),
      hint: expect.stringMatching(/root/),
    });
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('the WAN link emulation', () => {
  it('asks netem for exactly the link (one-way delay, jitter, loss, rate)', () => {
    expect(netemArgs({ latencyMs: 50, jitterMs: 5, lossPercent: 1, rate: '10mbit' })).toEqual([
      'netem',
      'limit',
      '100000',
      'delay',
      '50000us',
      '5000us',
      'loss',
      '1%',
      'rate',
      '10mbit',
    ]);
    expect(netemArgs({ ...CLEAN_LINK, lossPercent: 0.5 })).toEqual([
      'netem',
      'limit',
      '100000',
      'loss',
      '0.5%',
    ]);
  });

  /** The ones' complement sum over pseudo-header and segment: 0xffff when the checksum is right. */
  function checksumHolds(frame: Buffer): boolean {
    const ihl = (frame[14]! & 0x0f) * 4;
    const length = frame.readUInt16BE(16) - ihl;
    let sum = frame[23]! + length;
    for (let i = 26; i < 34; i += 2) sum += frame.readUInt16BE(i);
    for (let i = 0; i < length; i += 2) {
      sum += (frame[14 + ihl + i]! << 8) | (i + 1 < length ? frame[14 + ihl + i + 1]! : 0);
    }
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    return sum === 0xffff;
  }

  it('finishes the TCP/UDP checksum that offload left undone, for any segment', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 17),
        fc.uint8Array({ minLength: 20, maxLength: 1400 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.nat(0xffff),
        (protocol, segment, addresses, garbage) => {
          const frame = Buffer.alloc(14 + 20 + segment.length);
          frame.writeUInt16BE(0x0800, 12);
          frame[14] = 0x45;
          frame.writeUInt16BE(20 + segment.length, 16);
          frame[23] = protocol;
          frame.set(addresses, 26);
          frame.set(segment, 34);
          frame.writeUInt16BE(garbage | 1, 34 + (protocol === 6 ? 16 : 6)); // never "no checksum"
          finishChecksum(frame);
          expect(checksumHolds(frame)).toBe(true);
        },
      ),
    );
  });

  it('switches frames like a learning bridge, after the link delay, and drops at 100% loss', async () => {
    const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const received: { host: number; frame: Buffer; at: number }[] = [];
    const sockets: Socket[] = await Promise.all(
      hosts.map(
        (address, host) =>
          new Promise<Socket>((done) => {
            const socket = createSocket('udp4');
            socket.on('message', (message) =>
              received.push({ host, frame: message.subarray(8), at: performance.now() }),
            );
            socket.bind(VXLAN_PORT, address, () => done(socket));
          }),
      ),
    );
    const wan = new WanSwitch(hosts, { ...CLEAN_LINK, latencyMs: 30 });
    await wan.listen('127.0.0.1');
    const mac = (host: number) => Buffer.from([2, 0, 0, 0, 0, host + 1]);
    const send = (from: number, to: Buffer, payload: string) => {
      const datagram = Buffer.concat([
        Buffer.from([8, 0, 0, 0, 0, 0, 77, 0]),
        to,
        mac(from),
        Buffer.from([0x88, 0xb5]), // an experimental ethertype: no IPv4 checksum to finish
        Buffer.from(payload),
      ]);
      const at = performance.now();
      sockets[from]!.send(datagram, VXLAN_PORT, '127.0.0.1');
      return at;
    };
    const settle = async (count: number) => {
      while (received.length < count) await sleep(5);
      await sleep(60); // anything more would have come by now (30 ms links)
    };
    try {
      const broadcast = Buffer.alloc(6, 0xff);
      const sentAt = send(0, broadcast, 'hello all');
      await settle(2);
      expect(received.map((r) => r.host).sort()).toEqual([1, 2]);
      for (const r of received) expect(r.at - sentAt).toBeGreaterThanOrEqual(29);
      received.length = 0;
      send(1, broadcast, 'b is here'); // the switch learns b's address
      await settle(2);
      received.length = 0;
      send(0, mac(1), 'to b only');
      await settle(1);
      expect(received.map((r) => [r.host, r.frame.subarray(14).toString()])).toEqual([
        [1, 'to b only'],
      ]);
      received.length = 0;
      wan.reshape({ ...CLEAN_LINK, lossPercent: 100 });
      send(2, mac(1), 'lost');
      await sleep(100);
      expect(received).toEqual([]);
      expect(wan.report()).toMatchObject({ forwarded: [2, 1, 0], dropped: [0, 0, 1] });
    } finally {
      wan.close();
      for (const socket of sockets) socket.close();
    }
  });
});

const canDropRoot = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');

describe.runIf(canDropRoot)('devnet up --netns as an unprivileged user', () => {
  it('fails with NETNS_UNAVAILABLE and the reason, and makes nothing', async () => {
    const dir = join(tempDir('netns-nobody'), 'devnet');
    const run = await new Promise<CliRun>((resolve) => {
      execFile(
        '/usr/bin/setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          ...cliArgv(['devnet', 'up', '--netns', '--dir', dir, '--json']),
        ],
        {
          env: {
            PATH: process.env.PATH,
            HOME: '/tmp',
            TSX_TSCONFIG_PATH: join(import.meta.dirname, '../../../tsconfig.test.json'),
          },
          timeout: 60_000,
        },
        (error, stdout, stderr) =>
          resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr }),
      );
    });
    expect(run.code, run.stderr).toBe(1);
    expect(jsonError(run).error).toMatchObject({
      code: 'NETNS_UNAVAILABLE',
      message: expect.stringMatching(/network namespaces are unavailable here: .+/),
    });
    expect(existsSync(dir)).toBe(false);
  }, 70_000);
});

/** The WAN devnet the tests below share: 4 validators over 50 ms, 1% loss links. */
const SHAPED_UP = ['devnet', 'up', '--netns', '--latency', '50ms', '--loss', '1%'];

describe.runIf(probe.ok)(`devnet up --netns: 4 validators over 50 ms / 1% links${why}`, () => {
  const dir = tempDir('netns');
  let made: { namespaces: string[]; links: string[] } | undefined;

  beforeAll(async () => {
    const up = await cli(SHAPED_UP.concat(['--dir', dir, '--json']), { timeoutMs: 120_000 });
    ok(up);
    made = readDevnet(dir).netns.made;
  }, 130_000);

  afterAll(async () => {
    await cli(['devnet', 'down', '--dir', dir]);
    // Whatever survived `down` (it should be nothing) goes by name, then the files.
    if (made !== undefined) NetnsLab.remove(made);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('runs every validator in its own namespace, APIs on the LAN, consensus on the WAN plane', async () => {
    const devnet = readDevnet(dir);
    expect(devnet.netns.link).toEqual({ latencyMs: 50, jitterMs: 0, lossPercent: 1, rate: null });
    const present = namespaces();
    devnet.nodes.forEach((node, i) => {
      expect(node.namespace).toBe(`mc${devnet.netns.tag}n${i}`);
      expect(present).toContain(node.namespace);
      // Off loopback the node serves its API only over TLS: up --netns makes the certificates.
      expect(node.api).toMatch(new RegExp(`^https://10\\.77\\.${devnet.netns.tag}\\.${i + 2}:`));
      expect(node.p2p).toMatch(new RegExp(`^/ip4/10\\.88\\.${devnet.netns.tag}\\.${i + 2}/tcp/`));
    });
    const status = await cli(['devnet', 'status', '--dir', dir, '--json']);
    ok(status);
    const shown = json<{
      network: {
        kind: string;
        description: string;
        present: boolean;
        hosts: Record<string, { namespace: string; link: string }>;
      };
      nodes: { process: string; peers: number }[];
    }>(status);
    expect(shown.network).toMatchObject({ kind: 'netns', present: true });
    expect(shown.network.description).toMatch(/latency 50ms one-way per host.*loss 1%/);
    for (const node of shown.nodes) expect(node).toMatchObject({ process: 'running', peers: 3 });
    expect(Object.values(shown.network.hosts).map((h) => h.namespace)).toEqual(
      devnet.nodes.map((n) => n.namespace),
    );
  });

  it('shapes each link: netem on wan0 (tc qdisc show), or the switch where the kernel has none', () => {
    const devnet = readDevnet(dir);
    for (const node of devnet.nodes) {
      const qdisc = execFileSync('tc', ['-n', node.namespace!, 'qdisc', 'show', 'dev', 'wan0'], {
        encoding: 'utf8',
      });
      if (devnet.netns.emulator === 'netem') {
        expect(qdisc).toMatch(/netem .*delay 50ms.*loss 1%/);
      } else {
        // No netem in this kernel: wan0 is VXLAN to the user-space switch, which reports its link.
        expect(qdisc).not.toMatch(/netem/);
        const report = JSON.parse(readFileSync(join(dir, 'wan-switch.json'), 'utf8'));
        expect(report).toMatchObject({ pid: devnet.netns.switchPid, link: devnet.netns.link });
      }
    }
  });

  it('a TCP handshake between two validators takes at least the round trip of 2 x 50 ms', () => {
    const [a, b] = readDevnet(dir).nodes;
    const [, , host, , port] = b!.p2p.split('/');
    const script = `const t=performance.now();const s=require('node:net').connect(${port},'${host}',()=>{console.log(performance.now()-t);s.destroy()});s.on('error',e=>{console.error(e.message);process.exit(1)})`;
    const handshakes = [0, 1, 2].map((): number =>
      Number(
        execFileSync('ip', ['netns', 'exec', a!.namespace!, process.execPath, '-e', script], {
          encoding: 'utf8',
        }),
      ),
    );
    // A lower bound only: the emulated delay can make it slower, never faster.
    for (const ms of handshakes) expect(ms).toBeGreaterThanOrEqual(99);
  });

  it('commits transactions: the bench reports throughput and latency over the WAN', async () => {
    const out = join(dir, 'bench');
    const run = await cli(
      [
        'bench',
        '--dir',
        dir,
        '--rate',
        '20',
        '--duration',
        '3s',
        '--warmup',
        '1s',
        '--clients',
        '20',
        '--out',
        out,
        '--json',
      ],
      { timeoutMs: 90_000 },
    );
    ok(run);
    const [point] = json<{
      runs: {
        network: string;
        submittedInWindow: number;
        committedOfWindow: number;
        receipts: Record<string, number>;
        latencyMs: { p50: number };
      }[];
    }>(run).runs;
    expect(point!.network).toMatch(/namespaces.*latency 50ms/);
    expect(point!.submittedInWindow).toBeGreaterThan(0);
    expect(point!.committedOfWindow).toBe(point!.submittedInWindow);
    expect(Object.keys(point!.receipts)).toEqual(['OK']);
    // PRE-PREPARE, PREPARE and COMMIT each cross a 50 ms link before any node commits.
    expect(point!.latencyMs.p50).toBeGreaterThanOrEqual(150);
    const heights = json<{ nodes: { height: number }[] }>(
      await cli(['devnet', 'status', '--dir', dir, '--json']),
    ).nodes.map((n) => n.height);
    expect(Math.min(...heights)).toBeGreaterThan(0);
  }, 100_000);

  it('up --netns on the running devnet reshapes its links in place', async () => {
    const pids = readDevnet(dir).nodes.map((n) => n.pid);
    const up = await cli(
      ['devnet', 'up', '--netns', '--latency', '10ms', '--rate', '100mbit', '--dir', dir, '--json'],
      { timeoutMs: 60_000 },
    );
    ok(up);
    const devnet = readDevnet(dir);
    expect(devnet.nodes.map((n) => n.pid)).toEqual(pids);
    expect(devnet.netns.link).toEqual({
      latencyMs: 10,
      jitterMs: 0,
      lossPercent: 0,
      rate: '100mbit',
    });
    const shown = execFileSync(
      'tc',
      ['-n', devnet.nodes[0]!.namespace!, 'qdisc', 'show', 'dev', 'wan0'],
      { encoding: 'utf8' },
    );
    if (devnet.netns.emulator === 'netem') expect(shown).toMatch(/delay 10ms.*rate 100Mbit/);
    else {
      const report = JSON.parse(readFileSync(join(dir, 'wan-switch.json'), 'utf8'));
      expect(report.link).toEqual(devnet.netns.link);
    }
    // The links the other tests expect, back in place.
    ok(await cli(SHAPED_UP.concat(['--dir', dir, '--json']), { timeoutMs: 60_000 }));
  }, 130_000);

  it('down stops the nodes and removes every namespace, veth, qdisc and the switch; up brings them back', async () => {
    const down = await cli(['devnet', 'down', '--dir', dir, '--json']);
    ok(down);
    expect(json<{ removed: string[] }>(down).removed).toEqual(
      expect.arrayContaining(made!.namespaces),
    );
    expectNothingLeft(dir, made!);
    // The devnet the other tests use, back: namespaces, the recorded link, the same nodes.
    ok(await cli(['devnet', 'up', '--dir', dir, '--json'], { timeoutMs: 120_000 }));
    made = readDevnet(dir).netns.made;
    expect(readDevnet(dir).netns.link).toMatchObject({ latencyMs: 50, lossPercent: 1 });
  }, 200_000);
});

describe.runIf(probe.ok)(`devnet down after the CLI crashed during up --netns${why}`, () => {
  it('removes what the killed `up` had made, nodes and switch included', async () => {
    const dir = tempDir('netns-crash');
    const [node, ...argv] = cliArgv(['devnet', 'up', '--netns', '--dir', dir]);
    const child = spawn(node!, argv, {
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: join(import.meta.dirname, '../../../tsconfig.test.json'),
      },
      stdio: 'ignore',
    });
    let downed = false;
    try {
      // Killed once it has started the validators in their namespaces.
      let made: { namespaces: string[]; links: string[] } | undefined;
      for (let i = 0; i < 600 && made === undefined; i++) {
        await sleep(100);
        if (!existsSync(join(dir, 'devnet.json'))) continue;
        const devnet = readDevnet(dir);
        if (devnet.nodes.every((n) => n.pid !== null)) made = devnet.netns.made;
      }
      child.kill('SIGKILL');
      expect(made, 'up never started the validators').toBeDefined();
      expect(processesOf(dir).length).toBeGreaterThan(0);
      const down = await cli(['devnet', 'down', '--dir', dir]);
      downed = true;
      ok(down);
      expectNothingLeft(dir, made!);
    } finally {
      // A failure above must not leave validators and namespaces running for later tests.
      child.kill('SIGKILL');
      if (!downed) await cli(['devnet', 'down', '--dir', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
