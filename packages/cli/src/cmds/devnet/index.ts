import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import { duration, integer } from '../../util/args.js';
import { example, outputOf } from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
import { LOG_FILE } from '../../util/home.js';
import { fields, table } from '../../util/output.js';
import { registerChaos } from './chaos-command.js';
import { runDemo } from './demo.js';
import {
  type Devnet,
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
import { devnetUp, type UpOptions } from './up.js';

const SIGNALS = ['KILL', 'STOP', 'CONT', 'TERM'] as const;

function withDir(cmd: Command): Command {
  return cmd.requiredOption('--dir <dir>', 'the devnet directory (holds devnet.json)');
}

async function nodeRows(devnet: Devnet) {
  return Promise.all(
    devnet.nodes.map(async (node) => {
      const state = processState(node.pid, node.home);
      const status = state === 'running' ? await tryStatus(node) : undefined;
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
          'create keys, genesis and homes, start the validators in the background (logs in each home) and wait until they commit; on an existing devnet, start its stopped nodes',
        )
        .option('--validators <n>', 'number of validators (default 4)', integer(1, 26))
        .option(
          '--base-port <port>',
          'first of 2n consecutive ports on 127.0.0.1 (default 26600)',
          integer(1024, 65_000),
        )
        .option('--chain-id <id>', 'chain id (default medchain-devnet)')
        .option('--manifest <file>', 'devnet manifest (see devnet/default.json)')
        .option('--reset', 'delete the devnet in --dir (stopped) and create a new one')
        .addOption(
          new Option('--wait-timeout <duration>', 'how long to wait for the first commit')
            .default(90_000, '90s')
            .argParser(duration),
        ),
    ),
    'medchain devnet up --validators 4 --dir .devnet',
    'medchain devnet up --dir .devnet --reset --base-port 27000 --json',
  ).action(async (options: UpOptions, cmd: Command) => {
    const out = outputOf(cmd);
    const result = await devnetUp(options, out);
    out.result(result, (r: typeof result) => [
      `Devnet "${r.chainId}" is up: every node committed block 1 or later.`,
      ...table(
        ['name', 'pid', 'api', 'height'],
        r.nodes.map((n) => [n.name, String(n.pid), n.api, String(r.heights[n.name])]),
      ),
      '',
      `Next: medchain devnet demo --dir ${options.dir}    (stop with: medchain devnet down --dir ${options.dir})`,
    ]);
  });

  example(
    withDir(devnet.command('status').description('each node: process state, height, view, peers')),
    'medchain devnet status --dir .devnet',
  ).action(async (options: { dir: string }, cmd: Command) => {
    const net = readDevnet(options.dir);
    const nodes = await nodeRows(net);
    const show = (v: unknown) => (v === null ? '-' : String(v));
    outputOf(cmd).result(
      { chainId: net.chainId, nodes },
      (r: { chainId: string; nodes: typeof nodes }) => [
        `chain ${r.chainId}`,
        ...table(
          ['name', 'pid', 'process', 'api', 'height', 'view', 'peers'],
          r.nodes.map((n) => [
            n.name,
            show(n.pid),
            n.process,
            n.api,
            show(n.height),
            show(n.view),
            show(n.peers),
          ]),
        ),
      ],
    );
  });

  example(
    withDir(
      devnet
        .command('down')
        .description('stop every node (SIGTERM, then SIGKILL after 10 s); keys and data stay'),
    ),
    'medchain devnet down --dir .devnet',
  ).action(async (options: { dir: string }, cmd: Command) => {
    const net = readDevnet(options.dir);
    const results = await Promise.all(
      net.nodes.map(async (node) => ({ name: node.name, result: await stopNode(node) })),
    );
    for (const node of net.nodes) node.pid = null;
    writeDevnet(options.dir, net);
    outputOf(cmd).result({ nodes: results }, (r: { nodes: typeof results }) =>
      r.nodes.map((n) => `${n.name}: ${n.result}`),
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
    await stopNode(node);
    const others = await Promise.all(net.nodes.filter((n) => n !== node).map(tryStatus));
    const target = Math.max(1, ...others.map((s) => s?.height ?? 0));
    node.pid = spawnNode(resolve(options.dir), node);
    writeDevnet(options.dir, net);
    out.progress(`${name}: started, pid ${node.pid}; waiting until it reaches height ${target}`);
    const heights = await waitForHeight([node], target, options.waitTimeout);
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

  registerChaos(devnet);
}
