import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const packages = ['crypto', 'consensus', 'ledger', 'client', 'app', 'node', 'cli'];
const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests import sibling packages from source, so no build is needed before `vitest`.
const alias = {
  ...Object.fromEntries(
    packages.map((name) => [`@medchain/${name}`, source(`./packages/${name}/src/index.ts`)]),
  ),
  '@medchain/devnet': source('./devnet/src/index.ts'),
};

/**
 * A package's tests are in-process unit tests unless they sit in a tier's directory under
 * `packages/<name>/test/`. `pnpm test:fast` runs `unit` only; `pnpm test` runs every project.
 */
const PACKAGE_TIERS = ['cluster', 'process', 'browser', 'campaign', 'netns'] as const;
const inTier = (tier: string) => `packages/*/test/${tier}/**/*.test.ts`;

const project = (
  name: string,
  include: string[],
  exclude: string[] = [],
  options: { maxWorkers?: number; groupOrder?: number; isolate?: boolean } = {},
) => ({
  extends: true as const,
  test: {
    name,
    include,
    exclude: [...configDefaults.exclude, ...exclude],
    ...(options.maxWorkers === undefined ? {} : { maxWorkers: options.maxWorkers }),
    ...(options.isolate === undefined ? {} : { isolate: options.isolate }),
    // Projects with their own worker count run as a group of their own, in this order.
    sequence: { groupOrder: options.groupOrder ?? 1 },
  },
});

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      // In one process, no child processes, no multi-node network: seconds per file.
      // Unit files are CPU-bound and short: one worker per core (vitest's default leaves one
      // core to its main process, which halves a 2-core machine), and a worker keeps its
      // imported modules from file to file (isolate: false), which halves their CPU time. So a
      // unit test must leave no global state behind (timers, env, module mocks). They run first.
      project('unit', ['packages/*/test/**/*.test.ts'], PACKAGE_TIERS.map(inTier), {
        maxWorkers: availableParallelism(),
        groupOrder: 0,
        isolate: false,
      }),
      // Real nodes (LevelDB, libp2p, HTTP on 127.0.0.1) started inside the test's process.
      project('cluster', [inTier('cluster')]),
      // Spawns node, CLI or tool processes (crash tests with SIGKILL, the image, a fresh clone).
      project('process', [inTier('process')]),
      // Drives Debian's chromium.
      project('browser', [inTier('browser')]),
      // The long seeded simulation campaigns (a short one runs in `unit`).
      project('campaign', [inTier('campaign')]),
      // The lab: devnets of validator processes, then chaos on them, then network namespaces (root).
      project('devnet', ['devnet/test/**/*.test.ts'], ['devnet/test/{chaos,netns}/**']),
      project('chaos', ['devnet/test/chaos/**/*.test.ts']),
      project('netns', ['devnet/test/netns/**/*.test.ts', inTier('netns')]),
    ],
  },
});
