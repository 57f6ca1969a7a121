import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The purity of crypto, consensus and ledger (no I/O, no clock, no randomness in src/) is
 * enforced by biome.json's overrides. This lints probe files laid out like the repository
 * with the repository's own rules and checks which rule fires on each line, so a rule that
 * stops firing (a typo in a glob, an option renamed in a Biome upgrade) fails here.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PURITY_RULES = [
  'lint/style/noRestrictedImports',
  'lint/style/noRestrictedGlobals',
  'lint/nursery/noJsRestrictedProperties',
  'lint/correctness/noNodejsModules',
];
const IMPORTS = 'lint/style/noRestrictedImports';
const GLOBALS = 'lint/style/noRestrictedGlobals';
const PROPERTIES = 'lint/nursery/noJsRestrictedProperties';
const NODE_MODULES = 'lint/correctness/noNodejsModules';

/** path -> one statement per line, with the purity rules expected to fire on that line. */
const PROBES: Record<string, readonly (readonly [string, readonly string[]])[]> = {
  'packages/consensus/src/probe.ts': [
    ["import { readFileSync } from 'node:fs';", [IMPORTS, NODE_MODULES]],
    ["import { connect } from 'net';", [IMPORTS, NODE_MODULES]],
    ["import { spawn } from 'node:child_process';", [IMPORTS, NODE_MODULES]],
    ["import { request } from 'node:https';", [IMPORTS, NODE_MODULES]],
    ["import { setTimeout as sleep } from 'node:timers/promises';", [IMPORTS, NODE_MODULES]],
    ["import { createHash } from 'node:crypto';", [NODE_MODULES]],
    ['export const a = setTimeout(() => {}, 1);', [GLOBALS]],
    ['export const b = setInterval(() => {}, 1);', [GLOBALS]],
    ['export const c = performance.now();', [GLOBALS]],
    ['export const d = process.env.HOME;', [GLOBALS]],
    ["export const e = fetch('http://127.0.0.1');", [GLOBALS]],
    ['export const f = Math.max(1, 2);', []],
  ],
  'packages/ledger/src/probe.ts': [
    ['export const a = Date.now();', [GLOBALS, PROPERTIES]],
    ['export const b = new Date();', [GLOBALS]],
    ['export const c = Math.random();', [PROPERTIES]],
  ],
  'packages/crypto/src/probe.ts': [
    ['export const a = crypto.getRandomValues(new Uint8Array(8));', [GLOBALS]],
    ['export const b = Math.random();', [PROPERTIES]],
    ["import { randomBytes } from 'node:crypto';", [IMPORTS, NODE_MODULES]],
  ],
  // The Node side of the platform seam may compute with node:crypto, never draw from it.
  'packages/crypto/src/platform/node.ts': [
    ["import { createHash, scryptSync } from 'node:crypto';", []],
    ["import { randomBytes } from 'node:crypto';", [IMPORTS]],
    ["import { webcrypto } from 'node:crypto';", [IMPORTS]],
    ["import { readFileSync } from 'node:fs';", [IMPORTS]],
    ['export const a = Date.now();', [GLOBALS, PROPERTIES]],
  ],
  // FHIR dates are written from given instants; the clock stays out.
  'packages/ledger/src/fhir/codes.ts': [
    ['export const a = new Date(0).toISOString();', []],
    ["export const b = Date.parse('2026-01-01');", []],
    ['export const c = Date.now();', [PROPERTIES]],
  ],
  // Tests, and the packages that do I/O, are not restricted.
  'packages/consensus/test/probe.ts': [
    ["import { readFileSync } from 'node:fs';", []],
    ['export const a = [Date.now(), Math.random(), setTimeout(() => {}, 1)];', []],
  ],
  'packages/node/src/probe.ts': [
    ["import { readFileSync } from 'node:fs';", []],
    ['export const a = [Date.now(), Math.random(), performance.now()];', []],
  ],
};

interface Diagnostic {
  category: string;
  location: { path: string; start: { line: number } };
}

describe("biome.json's purity rules for crypto, consensus and ledger", () => {
  let dir: string;
  let diagnostics: Diagnostic[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medchain-purity-'));
    // The repository's configuration as is, minus git (the probe directory is no checkout).
    const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8'));
    delete config.$schema;
    config.vcs = { enabled: false };
    writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
    for (const [path, lines] of Object.entries(PROBES)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), `${lines.map(([code]) => code).join('\n')}\n`);
    }
    let output: string;
    try {
      output = execFileSync(
        join(ROOT, 'node_modules/.bin/biome'),
        ['lint', '--reporter=json', '--max-diagnostics=none', '.'],
        { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
    } catch (error) {
      // Exit status 1: diagnostics were found, which is the point.
      output = (error as { stdout: string }).stdout;
    }
    diagnostics = (JSON.parse(output) as { diagnostics: Diagnostic[] }).diagnostics;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [path, lines] of Object.entries(PROBES)) {
    it(`${path}: each ban fires where it applies, and only there`, () => {
      const fired = lines.map((_, index) =>
        diagnostics
          .filter(
            (d) =>
              d.location.path === path &&
              d.location.start.line === index + 1 &&
              PURITY_RULES.includes(d.category),
          )
          .map((d) => d.category)
          .sort(),
      );
      expect(fired).toEqual(lines.map(([, rules]) => [...rules].sort()));
    });
  }
});
