import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CliError,
  duration,
  example,
  fields,
  integer,
  LOG_FILE,
  outputOf,
  table,
  usageError,
} from '@medchain/cli';
import { type Command, Option } from 'commander';
import { assertVerdict } from './chaos.js';
import { registerChaos } from './chaos-command.js';
import { runDemo } from './demo.js';
import { CLEAN_LINK, NetnsLab, parseDelay, parsePercent, parseRate } from './netns.js';
import { type RunOptions, type RunReport, runManifest } from './run.js';
import {
  type Devnet,
  describeNetwork,
  findNode,
  processState,
  readDevnet,
  spawnNode,
  stopNode,
  tryStatus,
  waitForExit,
  waitForHeight,
  writeDevnet,
} from './state.js';
import {
  devnetUp,
  parseBasePort,
  readSwitchReport,
  removeNamespaces,
  SWITCH_REPORT,
  type UpOptions,
} from './up.js';
import { runWanSwitch } from './wan-switch.js';

const SIGNALS = ['KILL', 'STOP', 'CONT', 'TERM'] as const;

function withDir(cmd: Command): Command {
  return cmd.requiredOption('--dir <dir>', 'the devnet directory (holds devnet.json)');
}

async function nodeRows(devnet: Devnet) {
  return Promise.all(
    devnet.nodes.map(async (node) => {
      const state = processState(node.pid, node.home);
      const status = state === 'running' ? await tryStatus(devnet, node) : undefined;
      return {
        name: node.name,
        pid: node.pid,
        process: state,
        api: node.api,
        home: node.home,
        peerId: node.peerId,
        validator: node.validator,
        height: status?.height ?? null,
        view: status?.view ?? null,
        peers: status?.peers.length ?? null,
        syncing: status?.syncing ?? null,
      };
    }),
  );
}

/** Where the devnet runs; for namespaces, whether they exist and each link as tc reports it. */
function networkRows(dir: string, net: Devnet) {
  const description = describeNetwork(net);
  if (net.netns === undefined) return { kind: 'loopback' as const, description };
  const { netns } = net;
  const present = netns.made.namespaces.length > 0 && NetnsLab.present(netns.made);
  const switchRuns = processState(netns.switchPid, resolve(dir)) === 'running';
  const report = switchRuns ? readSwitchReport(resolve(dir)) : undefined;
  const hosts = Object.fromEntries(
    net.nodes.map((node, i) => [
      node.name,
      {
        namespace: node.namespace ?? null,
        api: new URL(node.api).hostname,
        wan: node.p2p.split('/')[2] ?? null,
        /** netem: what tc reports on the node's wan0; switch: its counters for this sender. */
        link:
          !present || node.namespace === undefined
            ? null
            : netns.emulator === 'netem'
              ? NetnsLab.qdisc(node.namespace)
              : report === undefined
                ? 'switch not running'
                : `switch: ${report.forwarded[i] ?? 0} frames forwarded, ${report.dropped[i] ?? 0} dropped`,
      },
    ]),
  );
  return {
    kind: 'netns' as const,
    description,
    subnet: netns.subnet,
    wanSubnet: netns.wanSubnet,
    link: netns.link,
    emulator: netns.emulator,
    present,
    switch:
      netns.emulator === 'switch'
        ? { pid: netns.switchPid, running: switchRuns, link: report?.link ?? null }
        : null,
    hosts,
  };
}

export function registerDevnet(program: Command): void {
  const devnet = program
    .command('devnet')
    .description(
      'a local network of validator processes: up, status, logs, kill, restart, demo, down',
    );

  example(
    withDir(
      devnet
        .command('up')
        .description(
          'create keys, genesis and homes, start the validators in the background (logs in each home) and wait until they are all connected; on an existing devnet, start its stopped nodes',
        )
        .option('--validators <n>', 'number of validators (default 4)', integer(1, 26))
        .option(
          '--base-port <port>',
          'first of 2n consecutive ports on 127.0.0.1 (default 26600); 0: each node listens on ports the OS picks, read back once it listens (nodes then start one after the other)',
          parseBasePort,
        )
        .option('--chain-id <id>', 'chain id (default medchain-devnet)')
        .option(
          '--manifest <file>',
          'devnet manifest: its network part (validators, ports, chain parameters; see devnet/manifests/, default devnet/manifests/default.json)',
        )
        .option('--reset', 'delete the devnet in --dir (stopped) and create a new one')
        .option(
          '--built',
          "run the validators from the build (packages/cli/dist, `pnpm build`), with plain node as an installed medchain runs, not from source under tsx; refused if a package's build is older than its sources (new devnets only)",
        )
        .option(
          '--cpu-profile <dir>',
          'each validator writes a V8 CPU profile of its run (for Chrome DevTools or speedscope) into DIR/<node> when it stops; a node killed with SIGKILL writes none (new devnets only; on an existing one, only the directory it was made with)',
        )
        .option(
          '--tls',
          'serve every API over https: a CA made for this run (DIR/tls/ca.pem) signs one certificate per node (SANs 127.0.0.1, localhost; keys 0600 in each home); the devnet commands trust that CA, other commands take --ca DIR/tls/ca.pem',
        )
        .option(
          '--netns',
          'run each validator as its own host: a network namespace with its own address, linked by veth pairs into a bridge (root, iproute2); on an existing namespaced devnet, reshape its links',
        )
        .addOption(
          new Option(
            '--latency <delay>',
            'with --netns: one-way delay each host adds to every packet it sends to the other validators (netem on its WAN interface, or a user-space switch where the kernel has no netem), e.g. 50ms or 0.05s; the round trip between two validators is about twice this',
          ).argParser(parseDelay),
        )
        .addOption(
          new Option(
            '--jitter <delay>',
            'with --netns --latency: random variation of that delay, e.g. 5ms (netem reorders packets then)',
          ).argParser(parseDelay),
        )
        .addOption(
          new Option(
            '--loss <percent>',
            "with --netns: share of each host's outgoing packets dropped, e.g. 1% or 0.5%",
          ).argParser(parsePercent),
        )
        .addOption(
          new Option(
            '--rate <bandwidth>',
            "with --netns: each host's outgoing bandwidth, e.g. 10mbit, 512kbit, 1gbit",
          ).argParser(parseRate),
        )
        .addOption(
          new Option(
            '--wait-timeout <duration>',
            'how long to wait until the validators are connected',
          )
            .default(90_000, '90s')
            .argParser(duration),
        ),
    ),
    'medchain devnet up --validators 4 --dir .devnet',
    'medchain devnet up --dir .devnet --reset --base-port 27000 --json',
    'medchain devnet up --tls --dir .devnet-tls',
    'pnpm build && medchain devnet up --built --dir .devnet-built',
    'medchain devnet up --cpu-profile profiles --dir .devnet-profiled',
    'sudo medchain devnet up --netns --latency 50ms --loss 1% --dir .wan',
  ).action(async (options: UpOptions, cmd: Command) => {
    const out = outputOf(cmd);
    const result = await devnetUp(options, out);
    out.result(result, (r: typeof result) => [
      `Devnet "${r.chainId}" is up: every validator answers and is connected to all the others.`,
      `network: ${r.network}`,
      ...(r.tls === undefined
        ? []
        : [`TLS: certificates signed by ${r.tls.ca} (pass --ca ${r.tls.ca} to other commands)`]),
      ...table(
        ['name', 'pid', 'api', 'height'],
        r.nodes.map((n) => [n.name, String(n.pid), n.api, String(r.heights[n.name])]),
      ),
      '',
      `Next: medchain devnet demo --dir ${options.dir}    (stop with: medchain devnet down --dir ${options.dir})`,
    ]);
  });

  example(
    withDir(
      devnet
        .command('status')
        .description(
          'each node: process state, height, view, peers; the network (loopback, or namespaces with each link as tc reports it)',
        ),
    ),
    'medchain devnet status --dir .devnet',
  ).action(async (options: { dir: string }, cmd: Command) => {
    const net = readDevnet(options.dir);
    const nodes = await nodeRows(net);
    const network = networkRows(options.dir, net);
    const show = (v: unknown) => (v === null ? '-' : String(v));
    const result = { chainId: net.chainId, network, nodes };
    outputOf(cmd).result(result, (r: typeof result) => [
      `chain ${r.chainId}`,
      `network: ${r.network.description}`,
      ...(r.network.kind === 'netns' && !r.network.present
        ? [`namespaces are down: start them with medchain devnet up --dir ${options.dir}`]
        : []),
      ...table(
        ['name', 'pid', 'process', 'api', 'height', 'view', 'peers', 'namespace', 'wan link'],
        r.nodes.map((n) => {
          const host = r.network.kind === 'netns' ? r.network.hosts[n.name] : undefined;
          return [
            n.name,
            show(n.pid),
            n.process,
            n.api,
            show(n.height),
            show(n.view),
            show(n.peers),
            host?.namespace ?? '-',
            host?.link ?? '-',
          ];
        }),
      ),
    ]);
  });

  example(
    withDir(
      devnet
        .command('down')
        .description(
          'stop every node (SIGTERM, then SIGKILL after 10 s) and remove the namespaces, veths and qdiscs `up --netns` made (also after a crash); keys and data stay',
        ),
    ),
    'medchain devnet down --dir .devnet',
  ).action(async (options: { dir: string }, cmd: Command) => {
    const net = readDevnet(options.dir);
    const results = await Promise.all(
      net.nodes.map(async (node) => ({ name: node.name, result: await stopNode(node) })),
    );
    for (const node of net.nodes) node.pid = null;
    writeDevnet(options.dir, net);
    const removed = await removeNamespaces(resolve(options.dir), net);
    outputOf(cmd).result(
      { nodes: results, removed },
      (r: { nodes: typeof results; removed: string[] }) => [
        ...r.nodes.map((n) => `${n.name}: ${n.result}`),
        ...(r.removed.length > 0 ? [`removed ${r.removed.join(', ')}`] : []),
      ],
    );
  });

  example(
    withDir(
      devnet
        .command('logs')
        .description("print the end of a node's log (JSON lines, from <home>/node.log)")
        .argument('<name>', 'node name, e.g. hospital-a')
        .option('--lines <n>', 'how many lines', integer(1), 50),
    ),
    'medchain devnet logs hospital-b --dir .devnet --lines 100 | npx pino-pretty',
  ).action((name: string, options: { dir: string; lines: number }, cmd: Command) => {
    const node = findNode(readDevnet(options.dir), name);
    const path = join(node.home, LOG_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new CliError('NO_LOG', `cannot read ${path}: ${(error as Error).message}`, {
        hint: 'has the node been started?',
      });
    }
    const lines = text
      .split('\n')
      .filter((l) => l !== '')
      .slice(-options.lines);
    outputOf(cmd).result({ name, file: path, lines }, () => lines.join('\n'));
  });

  example(
    withDir(
      devnet
        .command('kill')
        .description(
          'send a signal to a node: KILL (crash), STOP (freeze), CONT (resume), TERM (clean stop)',
        )
        .argument('<name>', 'node name')
        .addOption(new Option('--signal <signal>', 'the signal').choices(SIGNALS).default('KILL')),
    ),
    'medchain devnet kill hospital-c --dir .devnet',
    'medchain devnet kill hospital-c --signal STOP --dir .devnet',
  ).action(
    async (
      name: string,
      options: { dir: string; signal: (typeof SIGNALS)[number] },
      cmd: Command,
    ) => {
      const net = readDevnet(options.dir);
      const node = findNode(net, name);
      if (processState(node.pid, node.home) === 'exited') {
        throw new CliError('NOT_RUNNING', `${name} is not running`, {
          hint: `start it with \`medchain devnet restart ${name} --dir ${options.dir}\``,
        });
      }
      process.kill(node.pid!, `SIG${options.signal}`);
      if (options.signal === 'KILL' || options.signal === 'TERM') {
        if (!(await waitForExit(node.pid!, node.home, 15_000))) {
          throw new CliError(
            'STILL_RUNNING',
            `${name} (pid ${node.pid}) did not exit after SIG${options.signal}`,
          );
        }
        node.pid = null;
        writeDevnet(options.dir, net);
      } else {
        // Delivery is asynchronous: report the state once the kernel shows it (bounded).
        const expected = options.signal === 'STOP' ? 'stopped' : 'running';
        for (let i = 0; i < 50 && processState(node.pid, node.home) !== expected; i++) {
          await sleep(100);
        }
      }
      const state = processState(node.pid, node.home);
      outputOf(cmd).result(
        { name, signal: options.signal, process: state },
        () => `${name}: sent SIG${options.signal}, now ${state}`,
      );
    },
  );

  example(
    withDir(
      devnet
        .command('restart')
        .description(
          'stop a node if it runs, start it again from its home, and wait until it has caught up',
        )
        .argument('<name>', 'node name')
        .addOption(
          new Option('--wait-timeout <duration>', 'how long to wait to catch up')
            .default(60_000, '60s')
            .argParser(duration),
        ),
    ),
    'medchain devnet restart hospital-c --dir .devnet',
  ).action(async (name: string, options: { dir: string; waitTimeout: number }, cmd: Command) => {
    const out = outputOf(cmd);
    const net = readDevnet(options.dir);
    const node = findNode(net, name);
    if (net.netns !== undefined && !NetnsLab.present(net.netns.made)) {
      throw usageError(
        "the devnet's namespaces are down",
        `start the devnet again: medchain devnet up --dir ${options.dir}`,
      );
    }
    await stopNode(node);
    const others = await Promise.all(
      net.nodes.filter((n) => n !== node).map((n) => tryStatus(net, n)),
    );
    const target = Math.max(1, ...others.map((s) => s?.height ?? 0));
    node.pid = spawnNode(resolve(options.dir), node);
    writeDevnet(options.dir, net);
    out.progress(`${name}: started, pid ${node.pid}; waiting until it reaches height ${target}`);
    const heights = await waitForHeight(net, [node], target, options.waitTimeout);
    const result = { name, pid: node.pid, height: heights.get(name)!, caughtUpTo: target };
    out.result(result, (r: typeof result) =>
      fields({
        name: r.name,
        pid: String(r.pid),
        height: `${r.height} (the others were at ${r.caughtUpTo})`,
      }),
    );
  });

  example(
    withDir(
      devnet
        .command('demo')
        .description(
          'run the consent story on the running devnet and print it (keys under <dir>/demo/)',
        ),
    ),
    'medchain devnet demo --dir .devnet',
  ).action(async (options: { dir: string }, cmd: Command) => {
    const out = outputOf(cmd);
    const net = readDevnet(options.dir);
    const down = net.nodes.filter((n) => processState(n.pid, n.home) === 'exited');
    if (down.length === net.nodes.length) {
      throw usageError(
        'the devnet is not running',
        `start it: medchain devnet up --dir ${options.dir}`,
      );
    }
    const report = await runDemo(resolve(options.dir), (line) => {
      if (!out.json) process.stdout.write(`${line}\n`);
    });
    if (out.json) out.result(report, () => '');
  });

  example(
    devnet
      .command('run')
      .description(
        'run a manifest whole on a new devnet: its network, its scenarios (e.g. the demo), then its load with its perturbations one at a time (kill, pause, torn WAL tails), then the check that every node holds the same chain with every acknowledged transaction; the nodes are stopped at the end',
      )
      .requiredOption('--manifest <file>', 'the manifest (see devnet/manifests/)')
      .option(
        '--dir <dir>',
        'devnet directory (replaced; default: a temporary one, removed on success)',
      )
      .option(
        '--seed <n>',
        "the load's keys and torn WAL bytes (default: random, printed)",
        integer(0, 2 ** 31 - 1),
      )
      .addOption(
        new Option('--liveness-bound <duration>', 'longest allowed recovery after a perturbation')
          .default(60_000, '60s')
          .argParser(duration),
      ),
    'medchain devnet run --manifest devnet/manifests/demo.json',
    'medchain devnet run --manifest devnet/manifests/crash-recovery.json --dir .run --json',
  ).action(async (options: RunOptions, cmd: Command) => {
    const out = outputOf(cmd);
    const report = await runManifest(options, out);
    out.result(report, (r: RunReport) => [
      `manifest ${r.manifest}: scenarios ${r.scenarios.map((s) => s.name).join(', ') || 'none'}`,
      ...(r.chaos === null
        ? []
        : [
            `perturbations: ${r.chaos.faults.map((f) => `${f.description} -> ${f.node} (recovered in ${f.recoveryMs ?? '-'} ms)`).join('; ') || 'none'}`,
            `transactions acknowledged: ${r.chaos.check.acknowledgedTxs}; chain compared to height ${r.chaos.check.comparedHeight} on every node`,
          ]),
      r.ok ? 'verdict: OK' : 'verdict: FAILED',
    ]);
    if (report.chaos !== null) assertVerdict(report.chaos);
  });

  // Started by `up --netns` where the kernel has no netem; runs until `down` (see wan-switch.ts).
  withDir(
    devnet
      .command('wan-switch', { hidden: true })
      .description('the user-space WAN switch of a namespaced devnet (started by up --netns)'),
  ).action(async (options: { dir: string }) => {
    const dir = resolve(options.dir);
    const net = readDevnet(dir);
    if (net.netns === undefined) throw usageError(`the devnet in ${dir} has no namespaces`);
    const lab = new NetnsLab(net.nodes.length, net.netns.tag);
    await runWanSwitch({
      address: lab.runnerAddress,
      runnerLink: lab.runnerLink,
      load: () => ({
        hosts: net.nodes.map((_, i) => lab.address(i)),
        link: readDevnet(dir).netns?.link ?? CLEAN_LINK,
      }),
      reportPath: join(dir, SWITCH_REPORT),
    });
  });

  registerChaos(devnet);
}
