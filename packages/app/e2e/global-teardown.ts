import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../../cli/test/helpers.js';
import { DEVNET_ENV, OWNED_ENV } from './paths.js';

/** Stops the devnet global-setup started (never one given in $MEDCHAIN_E2E_DEVNET) and removes it. */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env[DEVNET_ENV];
  if (dir === undefined || process.env[OWNED_ENV] !== '1') return;
  await cli(['devnet', 'down', '--dir', dir], { timeoutMs: 60_000 });
  // Whatever survived `down` (it should be nothing) is killed by its recorded pid.
  try {
    const devnet = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as {
      nodes: { pid: number | null }[];
    };
    for (const { pid } of devnet.nodes) {
      if (pid === null) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // no devnet.json: up failed before writing it
  }
  rmSync(dir, { recursive: true, force: true });
}
