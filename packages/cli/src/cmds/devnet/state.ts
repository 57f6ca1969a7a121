import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient, type ApiJson } from '../../util/client.js';
import { CliError, EXIT, usageError } from '../../util/errors.js';
import { LOG_FILE } from '../../util/home.js';
import { PASSPHRASE_ENV } from '../../util/passphrase.js';

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
}

export interface Devnet {
  chainId: string;
  genesis: string;
  nodes: DevnetNode[];
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
  return JSON.parse(readFileSync(path, 'utf8')) as Devnet;
}

export function writeDevnet(dir: string, devnet: Devnet): void {
  writeFileSync(devnetPath(dir), `${JSON.stringify(devnet, null, 2)}\n`);
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

/** The CLI's own entry file (src/main.ts under tsx, dist/main.js when built). */
function cliEntry(): string {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`../../main.${ext}`, import.meta.url));
}

/**
 * Starts `medchain start --home` detached, logs (JSON lines) appended to `<home>/node.log`.
 * The child runs this same CLI with the same Node flags (the tsx loader when run from source),
 * optionally under a wrapper command.
 */
export function spawnNode(dir: string, node: DevnetNode, wrapper: readonly string[] = []): number {
  const log = openSync(join(node.home, LOG_FILE), 'a');
  const passphraseFile = devnetPassphraseFile(dir);
  try {
    // `wrapper` (e.g. `ip netns exec NS`) execs the node in place, so the pid is still the node's.
    const child = spawn(
      wrapper[0] ?? process.execPath,
      [
        ...wrapper.slice(1),
        ...(wrapper.length > 0 ? [process.execPath] : []),
        ...process.execArgv,
        cliEntry(),
        'start',
        '--home',
        node.home,
        '--log-format',
        'json',
        ...(passphraseFile === undefined ? [] : ['--passphrase-file', passphraseFile]),
      ],
      { detached: true, stdio: ['ignore', log, log], env: process.env },
    );
    child.unref();
    if (child.pid === undefined) throw new CliError('SPAWN_FAILED', `could not start ${node.name}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
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

/** The node's status, or undefined when its API does not answer. */
export async function tryStatus(node: DevnetNode): Promise<ApiJson | undefined> {
  try {
    return await new ApiClient(node.api, 1_000).status();
  } catch {
    return undefined;
  }
}

/** Polls until every listed node answers with at least `height` (bounded by `timeoutMs`). */
export async function waitForHeight(
  nodes: readonly DevnetNode[],
  height: number,
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  const heights = new Map<string, number>();
  for (;;) {
    const answers = await Promise.all(nodes.map(tryStatus));
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
