import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packages = ['crypto', 'consensus', 'ledger', 'client', 'app', 'node', 'cli'];

// Tests import sibling packages from source, so no build is needed before `vitest`.
const alias = Object.fromEntries(
  packages.map((name) => [
    `@medchain/${name}`,
    fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url)),
  ]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
