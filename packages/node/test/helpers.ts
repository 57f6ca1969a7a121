import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export async function tempDir(
  prefix: string,
): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `medchain-node-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Runs a TypeScript fixture in a child process (tsx, sibling packages resolved to src). */
export function spawnFixture(name: string, args: string[]): ChildProcess {
  const file = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  return spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: repoRoot,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.test.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Reads the child's stdout lines until `enough` lines arrived, then SIGKILLs it and waits for
 * its exit. Returns every complete line seen (the last acknowledged one included).
 */
export function killAfterLines(child: ChildProcess, enough: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      if (killed) return;
      lines.push(...parts);
      if (lines.length >= enough) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`fixture exited early (code ${code}): ${stderr}`));
    });
  });
}
