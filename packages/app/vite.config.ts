import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const packages = fileURLToPath(new URL('..', import.meta.url));

/**
 * The app is served by the node under /app, same origin as the API, behind a strict CSP
 * (script-src 'self', style-src 'self'): no inline scripts or styles, no assets inlined as data:
 * URLs, nothing fetched from another origin. The workspace packages are bundled from source, so
 * a build never depends on a stale `tsc -b` output; crypto's browser platform (noble) replaces its
 * Node platform exactly as the package's `browser` field says.
 */
export default defineConfig({
  base: '/app/',
  plugins: [preact()],
  resolve: {
    alias: [
      ...['crypto', 'consensus', 'ledger', 'client'].map((name) => ({
        find: `@medchain/${name}`,
        replacement: `${packages}${name}/src/index.ts`,
      })),
      {
        find: /^\.\/platform\/node\.js$/,
        replacement: `${packages}crypto/src/platform/browser.ts`,
      },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: true,
  },
  worker: { format: 'es' },
});
