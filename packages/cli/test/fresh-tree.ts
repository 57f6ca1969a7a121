import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root of the working tree under test. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A copy of the working tree as a fresh clone has it: the files git tracks plus new files it
 * does not ignore (so work in progress is tested too), without any `dist/` or `node_modules/`,
 * then `pnpm install --offline --frozen-lockfile` from the store the tree's own install filled.
 * Returns the copy's root.
 */
export function freshTree(prefix: string): string {
  const listed = spawnSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), `medchain-${prefix}-`));
  for (const file of listed.stdout.split('\0')) {
    const from = join(ROOT, file);
    // Deleted but still tracked, or a directory (a nested repository): not in a clone's tree.
    if (file === '' || !existsSync(from) || !statSync(from).isFile()) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(from, join(dir, file));
  }
  const install = spawnSync('pnpm', ['install', '--offline', '--frozen-lockfile'], {
    cwd: dir,
    encoding: 'utf8',
    env: scriptEnv(),
  });
  if (install.status !== 0) {
    throw new Error(
      `pnpm install --offline failed in ${dir}:\n${install.stdout}\n${install.stderr}`,
    );
  }
  return dir;
}

/** The environment a user's shell would give: none of this test runner's tsx or pnpm settings. */
export function scriptEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('npm_') || key.startsWith('TSX_') || key === 'NODE_OPTIONS') continue;
    if (key.startsWith('MEDCHAIN_') || key === 'VITEST' || key.startsWith('VITEST_')) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether `until` appeared on stdout (the run was then stopped). */
  readonly reached: boolean;
}

/**
 * Runs a command in `cwd` in its own process group. With `until`, stops the group (SIGTERM)
 * once stdout matches it: long benchmarks are shown to load and run without running them out.
 */
export function runIn(
  cwd: string,
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; until?: RegExp; timeoutMs?: number } = {},
): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: scriptEnv(options.env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let reached = false;
    const stop = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(stop, options.timeoutMs ?? 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (!reached && options.until?.test(stdout)) {
        reached = true;
        stop();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, reached });
    });
  });
}
