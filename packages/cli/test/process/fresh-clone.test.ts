import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshTree, ROOT, runIn, type ScriptRun } from '../fresh-tree.js';

/**
 * Every `pnpm` script the README lists, run briefly on a fresh copy of the working tree after
 * `pnpm install` and without `pnpm build`: none may need build output. `pnpm build` itself is
 * run on a fresh copy by artifact.test.ts; `pnpm test` is the run this test is part of.
 */

/** Root scripts the README names (`pnpm bench:crypto\|consensus\|ledger` counts as three). */
function readmeScripts(): string[] {
  const scripts = Object.keys(
    (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts,
  );
  const named = new Set<string>();
  for (const [, words] of readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(
    /pnpm ([a-z][\w:]*(?:\\?\|\w+)*)/g,
  )) {
    const [first, ...rest] = words!.split(/\\?\|/);
    const prefix = first!.includes(':') ? first!.slice(0, first!.indexOf(':') + 1) : '';
    named.add(first!);
    for (const word of rest) named.add(prefix + word);
  }
  return scripts.filter((script) => named.has(script)).sort();
}

// `test:fast` is a subset of `test`'s steps (typecheck, lint, the unit project).
const COVERED_ELSEWHERE = ['build', 'test', 'test:fast'];
const ok = (run: ScriptRun) => {
  expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
};
/** Stopped on purpose once it printed its first measurement: loaded and measuring. */
const measuring = (run: ScriptRun) => {
  expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  expect(run.reached, `${run.stdout}\n${run.stderr}`).toBe(true);
};

describe('a fresh clone: the README pnpm scripts after pnpm install, without pnpm build', () => {
  let dir: string;
  let devnet: string;
  const covered = new Set<string>();
  const pnpm = (
    script: string,
    args: readonly string[] = [],
    options: { env?: Record<string, string>; until?: RegExp } = {},
  ) => {
    covered.add(script);
    return runIn(dir, 'pnpm', [script, ...args], options);
  };

  beforeAll(() => {
    dir = freshTree('fresh-clone');
    devnet = join(dir, '.devnet');
  }, 180_000);
  afterAll(async () => {
    if (dir === undefined) return;
    if (existsSync(join(devnet, 'devnet.json'))) {
      await runIn(dir, 'pnpm', ['medchain', 'devnet', 'down', '--dir', devnet]);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('the copy holds no build output', () => {
    for (const name of ['crypto', 'consensus', 'ledger', 'client', 'node', 'cli']) {
      expect(existsSync(join(dir, 'packages', name, 'dist'))).toBe(false);
    }
  });

  it('pnpm medchain, bench and chaos load the CLI from source', async () => {
    const runs = await Promise.all([
      pnpm('medchain', ['--help']),
      pnpm('bench', ['--help']),
      pnpm('chaos', ['--help']),
    ]);
    for (const run of runs) ok(run);
    expect(runs[0]!.stdout).toContain('Usage: medchain');
    expect(runs[2]!.stdout).toContain('Usage: medchain devnet chaos');
  });

  it('pnpm sim replays a seeded run', async () => {
    const one = await pnpm('sim', ['--seed', '1', '--quiet']);
    ok(one);
    expect(one.stdout).toContain('OK: no violations');
  });

  it('pnpm bench:crypto, bench:consensus and bench:ledger load and start measuring', async () => {
    const runs = await Promise.all([
      pnpm('bench:crypto', [], { env: { BENCH_MS: '5' }, until: /ops\/cpu-s/ }),
      pnpm('bench:consensus', [], { until: /msgs stepped\/s/ }),
      pnpm('bench:ledger', ['admission'], {
        env: { LEDGER_BENCH_PATIENTS: '50' },
        until: /## admission/,
      }),
    ]);
    for (const run of runs) measuring(run);
  });

  it('pnpm format runs the formatter', async () => {
    ok(await pnpm('format'));
  });

  it('pnpm test:projects finds every test file in exactly one vitest project', async () => {
    const run = await pnpm('test:projects');
    ok(run);
    expect(run.stdout).toContain('test files per project: ');
  });

  it('pnpm devnet (its two commands, on port 0) runs the story', async () => {
    // `pnpm devnet` is `devnet up ... && devnet demo ...` on fixed ports: the same two
    // commands run here with every node on port 0, so a devnet already running on this
    // machine is no obstacle.
    covered.add('devnet');
    ok(
      await runIn(dir, 'pnpm', [
        'medchain',
        'devnet',
        'up',
        '--validators',
        '4',
        '--dir',
        devnet,
        '--reset',
        '--base-port',
        '0',
      ]),
    );
    const demo = await runIn(dir, 'pnpm', ['medchain', 'devnet', 'demo', '--dir', devnet]);
    ok(demo);
    expect(demo.stdout).toContain('BREAK-GLASS');
  }, 300_000);

  it('covered every pnpm script the README lists', () => {
    const listed = readmeScripts();
    expect(listed).toEqual(expect.arrayContaining(['bench:ledger', 'devnet', 'medchain', 'sim']));
    expect(
      listed.filter((script) => !covered.has(script) && !COVERED_ELSEWHERE.includes(script)),
    ).toEqual([]);
  });
});
