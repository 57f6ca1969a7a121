import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../packages/cli/test/helpers.js';
import { builtCliMain } from '../src/state.js';

/** A workspace's packages/ with one package `name`: its source and its build, at given times. */
function workspace(files: Record<string, number>): string {
  const packages = tempDir('built');
  for (const [path, seconds] of Object.entries(files)) {
    const file = join(packages, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, '');
    utimesSync(file, seconds, seconds);
  }
  return packages;
}

const code = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return 'returned';
};

describe('devnet up --built: the build the validators run', () => {
  const built = {
    'cli/tsconfig.json': 1,
    'cli/src/main.ts': 100,
    'cli/dist/main.js': 200,
    'node/tsconfig.json': 1,
    'node/src/node.ts': 100,
    'node/dist/node.js': 200,
  };

  it('is packages/cli/dist/main.js when every package is built after its sources', () => {
    const packages = workspace(built);
    expect(builtCliMain(packages)).toBe(join(packages, 'cli', 'dist', 'main.js'));
  });

  it('is refused when a package has a source newer than its build, or no build', () => {
    expect(code(() => builtCliMain(workspace({ ...built, 'node/src/new.ts': 300 })))).toBe(
      'DEVNET_BUILD_STALE',
    );
    const { 'node/dist/node.js': _, ...unbuilt } = built;
    expect(code(() => builtCliMain(workspace(unbuilt)))).toBe('DEVNET_BUILD_STALE');
    // A source touched after the build (a checkout, a stash) that `tsc -b` rechecked without
    // emitting anything: its build info is newer, so the build is fresh.
    const rechecked = workspace({
      ...built,
      'node/src/node.ts': 300,
      'node/dist/.tsbuildinfo': 400,
    });
    expect(builtCliMain(rechecked)).toBe(join(rechecked, 'cli', 'dist', 'main.js'));
    const { 'cli/dist/main.js': __, ...noEntry } = built;
    expect(code(() => builtCliMain(workspace(noEntry)))).toBe('DEVNET_NOT_BUILT');
  });
});
