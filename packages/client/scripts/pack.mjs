#!/usr/bin/env node
// Packs @medchain/client as a self-contained npm package: the workspace packages it builds on
// (@medchain/crypto, ledger, consensus) are private, so they are bundled in (esbuild), and only
// the real npm dependencies stay external. Declarations are tsc's, with the workspace packages'
// declarations shipped beside them. Usage: node scripts/pack.mjs [OUT_DIR (default: cwd)];
// prints the tarball's path.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const client = resolve(here, '..');
const packages = resolve(client, '..');
const root = resolve(packages, '..');
const out = resolve(process.argv[2] ?? process.cwd());
const stage = join(tmpdir(), `medchain-client-pack-${process.pid}`);
const WORKSPACE = ['crypto', 'consensus', 'ledger'];

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const own = readJson(join(client, 'package.json'));
const crypto = readJson(join(packages, 'crypto', 'package.json'));
// The npm dependencies of the bundled code, at the versions the workspace uses.
const dependencies = {
  ...crypto.dependencies,
  ...Object.fromEntries(
    Object.entries(own.dependencies).filter(([name]) => !name.startsWith('@medchain/')),
  ),
};

rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, 'dist'), { recursive: true });
const common = {
  entryPoints: [join(client, 'src', 'index.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  external: Object.keys(dependencies).flatMap((name) => [name, `${name}/*`]),
  alias: Object.fromEntries(
    WORKSPACE.map((name) => [`@medchain/${name}`, join(packages, name, 'src', 'index.ts')]),
  ),
  logLevel: 'warning',
};
await build({ ...common, platform: 'node', outfile: join(stage, 'dist', 'index.js') });
await build({ ...common, platform: 'browser', outfile: join(stage, 'dist', 'browser.js') });

// Declarations: tsc -b emits every package's .d.ts into its dist; copy them and point the
// client's '@medchain/x' imports at the copies.
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', client],
  {
    stdio: 'inherit',
  },
);
const copyDeclarations = (from, to) => {
  for (const entry of readdirSync(from)) {
    const path = join(from, entry);
    if (statSync(path).isDirectory()) copyDeclarations(path, join(to, entry));
    else if (entry.endsWith('.d.ts')) {
      mkdirSync(to, { recursive: true });
      cpSync(path, join(to, entry));
    }
  }
};
copyDeclarations(join(client, 'dist'), join(stage, 'dist'));
for (const name of WORKSPACE) {
  copyDeclarations(join(packages, name, 'dist'), join(stage, 'dist', 'workspace', name));
}
const rewrite = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) rewrite(path);
    else if (entry.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8').replace(
        /(['"])@medchain\/(crypto|consensus|ledger)\1/g,
        (_, quote, name) => {
          let target = relative(dirname(path), join(stage, 'dist', 'workspace', name, 'index.js'));
          if (!target.startsWith('.')) target = `./${target}`;
          return `${quote}${target}${quote}`;
        },
      );
      writeFileSync(path, text.replace(/\/\/# sourceMappingURL=.*$/m, ''));
    }
  }
};
rewrite(join(stage, 'dist'));

writeFileSync(
  join(stage, 'package.json'),
  `${JSON.stringify(
    {
      name: own.name,
      version: own.version,
      description: 'The medchain client for Node and browsers',
      type: 'module',
      exports: {
        '.': {
          types: './dist/index.d.ts',
          browser: './dist/browser.js',
          node: './dist/index.js',
          default: './dist/browser.js',
        },
      },
      files: ['dist', 'README.md'],
      engines: { node: '>=20.19' },
      dependencies,
    },
    null,
    2,
  )}\n`,
);
cpSync(join(client, 'README.md'), join(stage, 'README.md'));
mkdirSync(out, { recursive: true });
const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], {
  cwd: stage,
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .at(-1);
rmSync(stage, { recursive: true, force: true });
process.stdout.write(`${join(out, tarball)}\n`);
