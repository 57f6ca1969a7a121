/**
 * `pnpm bench:ledger [name...]`: runs every bench module in this folder (every `*.ts` but
 * this one), in name order, or only those whose file name matches a given name. A module
 * joins by existing: it exports `run(): void | Promise<void>` and prints its own numbers.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchModule {
  run(): void | Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const modules = readdirSync(here)
  .filter(
    (file) =>
      file.endsWith('.ts') &&
      !file.endsWith('.d.ts') &&
      file !== basename(fileURLToPath(import.meta.url)),
  )
  .filter((file) => wanted.length === 0 || wanted.includes(basename(file, '.ts')))
  .sort();

if (modules.length === 0) {
  console.error(`no bench module matches ${wanted.join(', ')}`);
  process.exitCode = 1;
}
for (const file of modules) {
  const bench = (await import(pathToFileURL(join(here, file)).href)) as Partial<BenchModule>;
  if (typeof bench.run !== 'function') throw new Error(`${file} does not export run()`);
  console.log(`\n## ${basename(file, '.ts')}\n`);
  await bench.run();
}
