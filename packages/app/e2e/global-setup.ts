import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli, freePortRange, tempDir } from '../../cli/test/helpers.js';
import globalTeardown from './global-teardown.js';
import { APP_DIR, DEVNET_ENV, OWNED_ENV, REPO_ROOT } from './paths.js';

/** What the built app is made of: newer than dist/index.html means the build is stale. */
const SOURCES = [
  join(APP_DIR, 'web'),
  join(APP_DIR, 'index.html'),
  join(APP_DIR, 'vite.config.ts'),
  ...['client', 'crypto', 'ledger', 'consensus'].map((name) =>
    join(REPO_ROOT, 'packages', name, 'src'),
  ),
];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function buildAppIfStale(): void {
  const index = join(APP_DIR, 'dist', 'index.html');
  const builtAt = existsSync(index) ? statSync(index).mtimeMs : 0;
  if (SOURCES.every((source) => newestMtime(source) <= builtAt)) return;
  const vite = join(APP_DIR, 'node_modules', 'vite', 'bin', 'vite.js');
  const run = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], {
    cwd: APP_DIR,
    stdio: 'inherit',
  });
  if (run.status !== 0) throw new Error(`vite build failed (exit ${run.status})`);
}

/**
 * Builds the app when stale and starts one 4-validator devnet through the CLI (each node serves
 * the app, lists the others for the dashboard and accepts their origin). Its directory goes to
 * the workers in $MEDCHAIN_E2E_DEVNET. To iterate on a spec without waiting for a new devnet,
 * start one yourself and set that variable: `pnpm medchain devnet up --validators 4 --dir
 * /tmp/e2e-devnet --base-port 31000 && MEDCHAIN_E2E_DEVNET=/tmp/e2e-devnet npx playwright test
 * e2e/patient.spec.ts` (a devnet made before api.app existed has no dashboard nodes; recreate it).
 */
export default async function globalSetup(): Promise<void> {
  buildAppIfStale();
  const given = process.env[DEVNET_ENV];
  if (given !== undefined && given !== '') {
    if (!existsSync(join(given, 'devnet.json'))) {
      throw new Error(`${DEVNET_ENV}=${given} holds no devnet.json: start one with devnet up`);
    }
    return;
  }
  const dir = tempDir('e2e');
  const basePort = await freePortRange(8);
  const up = await cli(
    ['devnet', 'up', '--validators', '4', '--dir', dir, '--base-port', String(basePort), '--json'],
    { timeoutMs: 180_000 },
  );
  process.env[DEVNET_ENV] = dir;
  process.env[OWNED_ENV] = '1';
  if (up.code !== 0) {
    // What the nodes said last, then whatever started is stopped before the run fails.
    const logs = ['a', 'b', 'c', 'd'].map((x) => {
      const file = join(dir, `hospital-${x}`, 'node.log');
      const tail = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-5) : [];
      return `hospital-${x}: ${tail.join('\n  ')}`;
    });
    await globalTeardown();
    throw new Error(`devnet up failed (exit ${up.code}):\n${up.stderr}\n${logs.join('\n')}`);
  }
}
