import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CliError,
  cliMain,
  connect,
  EXIT,
  LOG_FILE,
  openKeystore,
  PASSPHRASE_ENV,
  usageError,
  writeFileAtomic,
} from '@medchain/cli';
import type { KeySigner, MedchainClient, RequestSigner, StatusJson } from '@medchain/client';
import { VALIDATOR_PROCESS } from '@medchain/node';
import {
  describeLink,
  type LinkEmulator,
  type LinkShape,
  type NetnsFootprint,
  netnsExec,
} from './netns.js';

/** `DIR/devnet.json`: how every other devnet command finds the network. */
export const DEVNET_FILE = 'devnet.json';
/** The devnet's keystore passphrase (0600), unless $MEDCHAIN_PASSPHRASE is set. */
export const PASSPHRASE_FILE = 'passphrase';

export interface DevnetNode {
  name: string;
  api: string;
  p2p: string;
  /** null when the devnet commands know it is not running. */
  pid: number | null;
  home: string;
  peerId: string;
  validator: true;
  orgId: string;
  /** The organization's admin keystore. */
  adminKey: string;
  /** The network namespace the node runs in (`devnet up --netns`); absent on loopback. */
  namespace?: string;
}

/** A devnet whose validators run as separate hosts, one network namespace each. */
export interface DevnetNetns {
  /** Names and addresses derive from it: namespaces mc<tag>n<i>, subnet 10.77.<tag>.0/24. */
  tag: number;
  subnet: string;
  wanSubnet: string;
  /** What each validator's outgoing WAN link does. */
  link: LinkShape;
  /** Who shapes the links: the kernel's netem, or the user-space switch (no sch_netem). */
  emulator: LinkEmulator;
  /** The switch process (`devnet wan-switch`), when the emulator is the switch and it runs. */
  switchPid: number | null;
  /**
   * What exists on this machine, written BEFORE it is made, so `devnet down` removes it even
   * after the CLI crashed halfway; empty once `down` removed it.
   */
  made: NetnsFootprint;
}

export interface Devnet {
  chainId: string;
  genesis: string;
  nodes: DevnetNode[];
  /** `up --tls`: every node's API is https, its certificate signed by this CA (PEM file). */
  tls?: { ca: string };
  /** Absent: every node on 127.0.0.1. */
  netns?: DevnetNetns;
  /** `up --built`: validators run the built CLI (`builtCliMain()`) with plain node, as installed. */
  built?: true;
  /**
   * `up --cpu-profile DIR`: each validator writes V8 CPU profiles of its run into DIR/<name>
   * when it exits (a file per thread, named by the time, pid and thread id: the main thread's 0).
   */
  cpuProfileDir?: string;
}

/** One line: where the nodes run and what their links do. */
export function describeNetwork(devnet: Devnet): string {
  if (devnet.netns === undefined) return 'loopback (every node on 127.0.0.1)';
  const { netns } = devnet;
  return `network namespaces (one host per validator; APIs on ${netns.subnet}, validator traffic on the WAN plane ${netns.wanSubnet}); each validator's WAN link: ${describeLink(netns.link)} (${netns.emulator === 'netem' ? 'tc netem' : 'user-space switch: this kernel has no netem'})`;
}

export function devnetPath(dir: string): string {
  return join(resolve(dir), DEVNET_FILE);
}

export function readDevnet(dir: string): Devnet {
  const path = devnetPath(dir);
  if (!existsSync(path)) {
    throw usageError(
      `no devnet in ${resolve(dir)} (${DEVNET_FILE} is missing)`,
      'create one with `medchain devnet up --validators 4 --dir DIR`',
    );
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Devnet;
  } catch (error) {
    throw new CliError('DEVNET_CORRUPT', `${path} is not valid JSON: ${(error as Error).message}`, {
      hint: 'it was edited by hand or cut short; restore it, or remove the directory and run `devnet up` again',
    });
  }
}

/** Atomic, so `devnet down` can always read what a killed `up` recorded. */
export function writeDevnet(dir: string, devnet: Devnet): void {
  writeFileAtomic(devnetPath(dir), `${JSON.stringify(devnet, null, 2)}\n`);
}

export function findNode(devnet: Devnet, name: string): DevnetNode {
  const node = devnet.nodes.find((n) => n.name === name);
  if (node === undefined) {
    throw usageError(
      `no node named ${JSON.stringify(name)} in this devnet`,
      `the nodes are ${devnet.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  return node;
}

/** The passphrase file a devnet's nodes and demo keys use, or undefined when the env var is set. */
export function devnetPassphraseFile(dir: string): string | undefined {
  const file = join(resolve(dir), PASSPHRASE_FILE);
  return existsSync(file) ? file : undefined;
}

export function devnetPassphrase(dir: string): string {
  const file = devnetPassphraseFile(dir);
  if (file !== undefined) return readFileSync(file, 'utf8').split('\n')[0]!;
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv === undefined || fromEnv === '') {
    throw usageError(
      `no ${PASSPHRASE_FILE} in ${dir} and ${PASSPHRASE_ENV} is not set`,
      `set ${PASSPHRASE_ENV} to the passphrase the devnet was created with`,
    );
  }
  return fromEnv;
}

/** Process state from /proc (Linux): running, stopped (SIGSTOP), or gone. */
export type ProcessState = 'running' | 'stopped' | 'exited';

/**
 * Whether `pid` is still this node's process: the pid must exist and, where /proc is there, its
 * command line must name the node's home, so a recycled pid is never signalled.
 */
export function processState(pid: number | null, home: string): ProcessState {
  if (pid === null) return 'exited';
  try {
    process.kill(pid, 0);
  } catch {
    return 'exited';
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(home)) return 'exited';
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z') return 'exited';
    return state === 'T' ? 'stopped' : 'running';
  } catch {
    return 'running'; // no /proc: trust kill(pid, 0)
  }
}

/** The command prefix that runs `node` where it lives: inside its namespace, if it has one. */
export function nodeWrapper(node: DevnetNode): string[] {
  return node.namespace === undefined ? [] : netnsExec(node.namespace);
}

/** The workspace's packages/ directory, from the CLI's entry (packages/cli/{src,dist}/main.*). */
const packagesDir = () => dirname(dirname(dirname(cliMain())));

/** Newest modification time of the files under `dir` whose names end in one of `suffixes` (0 if none). */
function newest(dir: string, ...suffixes: string[]): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && suffixes.some((suffix) => entry.name.endsWith(suffix))) {
      latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return latest;
}

/** Build trees found fresh by `builtCliMain`, by packages/ directory: their CLI entry. */
const checkedBuilds = new Map<string, string>();

/**
 * The built CLI's entry (packages/cli/dist/main.js), checked to be a build of the sources as
 * they are: a package whose newest source is newer than its newest output is stale, and a
 * benchmark of stale code measures something else. Its build info counts as output: `tsc -b`
 * rewrites it after checking a touched source, even when the emitted files stay as they were.
 */
export function builtCliMain(packages = packagesDir()): string {
  // Checked once per process: every validator spawn asks, and the check walks every package.
  const checked = checkedBuilds.get(packages);
  if (checked !== undefined) return checked;
  const entry = join(packages, 'cli', 'dist', 'main.js');
  const rebuild = 'build it first: pnpm build';
  if (!existsSync(entry))
    throw new CliError('DEVNET_NOT_BUILT', `${entry} is missing`, { hint: rebuild });
  const stale = readdirSync(packages).filter(
    (name) =>
      existsSync(join(packages, name, 'tsconfig.json')) &&
      newest(join(packages, name, 'src'), '.ts') >
        newest(join(packages, name, 'dist'), '.js', '.tsbuildinfo'),
  );
  if (stale.length > 0) {
    throw new CliError(
      'DEVNET_BUILD_STALE',
      `the build of ${stale.join(', ')} is older than its sources`,
      { hint: rebuild },
    );
  }
  checkedBuilds.set(packages, entry);
  return entry;
}

/** Node flags and environment a spawned CLI gets on top of its own. */
interface ProcessSettings {
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Starts `medchain ...args` detached, stdout and stderr appended to `logPath`. The child runs
 * this same CLI with the same Node flags (the tsx loader when run from source), or with
 * `entry` the built CLI with none, plus `settings`, under a wrapper command (e.g. `ip netns
 * exec NS`, which execs in place, so the pid is still the child's).
 */
export function spawnCli(
  what: string,
  args: readonly string[],
  logPath: string,
  wrapper: readonly string[] = [],
  entry?: string,
  settings: ProcessSettings = { nodeFlags: [], env: {} },
): number {
  const log = openSync(logPath, 'a');
  try {
    const child = spawn(
      wrapper[0] ?? process.execPath,
      [
        ...wrapper.slice(1),
        ...(wrapper.length > 0 ? [process.execPath] : []),
        ...(entry === undefined ? process.execArgv : []),
        ...settings.nodeFlags,
        entry ?? cliMain(),
        ...args,
      ],
      { detached: true, stdio: ['ignore', log, log], env: { ...settings.env, ...process.env } },
    );
    child.unref();
    if (child.pid === undefined) throw new CliError('SPAWN_FAILED', `could not start ${what}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/**
 * Starts `medchain start --home` detached, logs (JSON lines) appended to `<home>/node.log`,
 * under a wrapper command (by default the node's own namespace, if any); the built CLI if the
 * devnet was made with `up --built`. The process is started as deploy/ starts a validator
 * (`VALIDATOR_PROCESS`), profiling its CPU if the devnet was made with `up --cpu-profile`.
 */
export function spawnNode(
  dir: string,
  node: DevnetNode,
  wrapper: readonly string[] = nodeWrapper(node),
): number {
  const passphraseFile = devnetPassphraseFile(dir);
  const devnet = existsSync(devnetPath(dir)) ? readDevnet(dir) : undefined;
  const profileDir = devnet?.cpuProfileDir;
  return spawnCli(
    node.name,
    [
      'start',
      '--home',
      node.home,
      '--log-format',
      'json',
      ...(passphraseFile === undefined ? [] : ['--passphrase-file', passphraseFile]),
    ],
    join(node.home, LOG_FILE),
    wrapper,
    devnet?.built === true ? builtCliMain() : undefined,
    profileDir === undefined
      ? VALIDATOR_PROCESS
      : {
          ...VALIDATOR_PROCESS,
          nodeFlags: [
            ...VALIDATOR_PROCESS.nodeFlags,
            '--cpu-prof',
            `--cpu-prof-dir=${join(profileDir, node.name)}`,
          ],
        },
  );
}

export async function waitForExit(pid: number, home: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (processState(pid, home) === 'exited') return true;
    await sleep(100);
  }
  return processState(pid, home) === 'exited';
}

/** SIGTERM (the node closes its parts in order), then SIGKILL after `graceMs`. */
export async function stopNode(
  node: DevnetNode,
  graceMs = 10_000,
): Promise<'stopped' | 'killed' | 'not running'> {
  const state = processState(node.pid, node.home);
  if (state === 'exited' || node.pid === null) return 'not running';
  const pid = node.pid;
  if (state === 'stopped') process.kill(pid, 'SIGCONT'); // a paused process cannot handle TERM
  process.kill(pid, 'SIGTERM');
  if (await waitForExit(pid, node.home, graceMs)) return 'stopped';
  process.kill(pid, 'SIGKILL');
  await waitForExit(pid, node.home, 5_000);
  return 'killed';
}

/**
 * The client of one devnet node, trusting the devnet's CA when it runs TLS, acting for `signer`
 * (its requests signed) or for nobody.
 */
export function devnetClient(
  devnet: Devnet,
  node: DevnetNode,
  options: { timeoutMs?: number; signer?: RequestSigner } = {},
): MedchainClient {
  return connect({ url: node.api, ca: devnet.tls?.ca, ...options });
}

/** The organization admin's key of `node` (a member admin: it may read blocks and events). */
export function adminSigner(dir: string, node: DevnetNode): KeySigner {
  return openKeystore(node.adminKey, devnetPassphrase(dir));
}

/** The node's status, or undefined when its API does not answer. */
export async function tryStatus(devnet: Devnet, node: DevnetNode): Promise<StatusJson | undefined> {
  try {
    // A frozen node must not hold a poll up; over TLS the first request also loads undici and
    // makes a handshake, which takes a while on a loaded machine.
    const timeoutMs = devnet.tls === undefined ? 1_000 : 3_000;
    return await devnetClient(devnet, node, { timeoutMs }).status();
  } catch {
    return undefined;
  }
}

/** Polls until every listed node answers with at least `height` (bounded by `timeoutMs`). */
export async function waitForHeight(
  devnet: Devnet,
  nodes: readonly DevnetNode[],
  height: number,
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  const heights = new Map<string, number>();
  for (;;) {
    const answers = await Promise.all(nodes.map((node) => tryStatus(devnet, node)));
    answers.forEach((s, i) => {
      if (s !== undefined) heights.set(nodes[i]!.name, s.height);
    });
    const behind = nodes.filter((n) => (heights.get(n.name) ?? -1) < height);
    if (behind.length === 0) return heights;
    if (Date.now() > deadline) {
      const detail = behind.map(
        (n) =>
          `${n.name} at ${heights.has(n.name) ? `height ${heights.get(n.name)}` : 'no answer'}`,
      );
      throw new CliError(
        'DEVNET_NOT_COMMITTING',
        `not every node reached height ${height} within ${timeoutMs} ms: ${detail.join(', ')}`,
        {
          exitCode: EXIT.failed,
          hint: `read the logs with \`medchain devnet logs ${behind[0]!.name} --dir DIR\``,
        },
      );
    }
    await sleep(250);
  }
}

/**
 * Polls until every node answers and is connected to all the others (bounded by `timeoutMs`).
 * An idle chain commits nothing (the primary proposes only with transactions), so a fresh
 * devnet is ready when its validators have met, not when it has a block.
 */
export async function waitForMesh(devnet: Devnet, timeoutMs: number): Promise<Map<string, number>> {
  const { nodes } = devnet;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await Promise.all(nodes.map((node) => tryStatus(devnet, node)));
    const lonely = nodes.filter((_, i) => {
      const status = answers[i];
      return status === undefined || status.peers.length < nodes.length - 1;
    });
    if (lonely.length === 0) {
      return new Map(nodes.map((node, i) => [node.name, answers[i]!.height]));
    }
    if (Date.now() > deadline) {
      const detail = lonely.map((node) => {
        const status = answers[nodes.indexOf(node)];
        return `${node.name} ${status === undefined ? 'does not answer' : `sees ${status.peers.length} of ${nodes.length - 1} peers`}`;
      });
      throw new CliError(
        'DEVNET_NOT_CONNECTED',
        `the validators did not all connect within ${timeoutMs} ms: ${detail.join(', ')}`,
        {
          exitCode: EXIT.failed,
          hint: `read the logs with \`medchain devnet logs ${lonely[0]!.name} --dir DIR\``,
        },
      );
    }
    await sleep(250);
  }
}
