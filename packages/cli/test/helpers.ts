import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'packages/cli/src/main.ts');
const TSX_LOADER = import.meta.resolve('tsx');

/** The command line that runs `medchain ...args` from source (for processes a test spawns itself). */
export function cliArgv(args: readonly string[]): string[] {
  return [process.execPath, '--import', TSX_LOADER, MAIN, ...args];
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `medchain ...args` as a user would: a separate Node process on the CLI's source, through
 * tsx with the workspace's source paths (no build needed). Never throws on a non-zero exit.
 */
export function cli(
  args: readonly string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd?: string;
    timeoutMs?: number;
    /** A command that runs the CLI, e.g. `ip netns exec NS` (another host). */
    prefix?: readonly string[];
  } = {},
): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.test.json'),
    MEDCHAIN_PASSPHRASE: undefined,
    MEDCHAIN_NODE: undefined,
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return new Promise((resolve) => {
    const [file, ...argv] = [...(options.prefix ?? []), ...cliArgv(args)];
    execFile(
      file!,
      argv,
      {
        cwd: options.cwd ?? ROOT,
        env,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export function json<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(
      `stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`,
    );
  }
}

/** The JSON error document a failing `--json` command writes on stderr. */
export function jsonError(run: CliRun): {
  error: { code: string; message: string; hint?: string };
  exitCode: number;
} {
  const last = run.stderr.trim().split('\n').pop() ?? '';
  return JSON.parse(last);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `medchain-cli-${prefix}-`));
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () =>
      server.close(() => done(true)),
    );
  });
}

/**
 * The first of `count` consecutive free ports on 127.0.0.1, probed from a spread start
 * (bounded). Racy (another process may take them before they are bound): only the web app's
 * Playwright setup still uses it; tests bind port 0 (`devnetUp` does).
 */
export async function freePortRange(count: number): Promise<number> {
  const start = 30_000 + (process.pid % 200) * 50;
  for (let base = start; base < start + 20 * 50; base += 50) {
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await portFree(port);
    if (free) return base;
  }
  throw new Error('no free port range found');
}

/**
 * `medchain devnet up --validators 4 --json` in `dir` (`extra` flags added, e.g. `--tls`),
 * expected to succeed. Every node binds port 0: `devnet.json` holds the addresses they got.
 */
export async function devnetUp(
  dir: string,
  { extra = [] }: { extra?: readonly string[] } = {},
): Promise<void> {
  const run = await cli(
    ['devnet', 'up', '--validators', '4', '--dir', dir, '--base-port', '0'].concat(extra, '--json'),
    { timeoutMs: 150_000 },
  );
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
}
