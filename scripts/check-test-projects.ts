/**
 * Fails unless every `*.test.ts` file in the repository belongs to exactly one vitest project
 * (vitest.config.ts): a test in no project would never run, one in two would run twice.
 * Prints the number of test files per project.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVitest } from 'vitest/node';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', 'coverage', 'test-results', 'playwright-report']);

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || SKIP.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(ROOT, path)] : [];
  });
}

const vitest = await createVitest('test', { root: ROOT, watch: false });
const projectsOf = new Map<string, string[]>();
try {
  for (const spec of await vitest.globTestSpecifications()) {
    const file = relative(ROOT, spec.moduleId);
    projectsOf.set(file, [...(projectsOf.get(file) ?? []), spec.project.name]);
  }
} finally {
  await vitest.close();
}

const problems = testFiles(ROOT).flatMap((file) => {
  const projects = projectsOf.get(file) ?? [];
  if (projects.length === 1) return [];
  return [
    projects.length === 0 ? `${file}: in no project` : `${file}: in ${projects.join(' and ')}`,
  ];
});
const counts = new Map<string, number>();
for (const [, projects] of projectsOf)
  for (const name of projects) counts.set(name, (counts.get(name) ?? 0) + 1);
process.stdout.write(
  `test files per project: ${[...counts].map(([name, count]) => `${name} ${count}`).join(', ')}\n`,
);
if (problems.length > 0) {
  process.stderr.write(
    `each *.test.ts file must be in exactly one vitest project (vitest.config.ts):\n${problems.join('\n')}\n`,
  );
  process.exit(1);
}
