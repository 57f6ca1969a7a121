import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, json, jsonError, tempDir } from '../../packages/cli/test/helpers.js';
import type { RunReport } from '../src/run.js';

/** `devnet run` drives a real devnet from a manifest: the demo manifest, whole. */
describe('medchain devnet run --manifest', () => {
  it('runs devnet/manifests/demo.json: a new devnet, the demo scenario, nodes stopped', async () => {
    const dir = join(tempDir('run'), 'devnet');
    const run = await cli(
      ['devnet', 'run', '--manifest', 'devnet/manifests/demo.json', '--dir', dir, '--json'],
      { timeoutMs: 400_000 },
    );
    expect(run.code, run.stderr).toBe(0);
    const report = json<RunReport>(run);
    expect(report).toMatchObject({ chaos: null, ok: true });
    expect(report.scenarios.map((s) => s.name)).toEqual(['demo']);
    const demo = report.scenarios[0]!.report as { audit: { decision: string }[] };
    expect(demo.audit.map((e) => e.decision)).toEqual(['permit', 'deny', 'permit']);
    const status = await cli(['devnet', 'status', '--dir', dir, '--json']);
    const shown = json<{ chainId: string; nodes: { process: string }[] }>(status);
    expect(shown.chainId).toBe('medchain-demo');
    expect(shown.nodes.map((n) => n.process)).toEqual(['exited', 'exited', 'exited', 'exited']);
  }, 420_000);

  it('refuses a bad manifest with MANIFEST_INVALID (exit 2) before making anything', async () => {
    const dir = tempDir('run-bad');
    const manifest = join(dir, 'bad.json');
    writeFileSync(manifest, JSON.stringify({ nodes: { 'hospital-a': { perturb: ['melt'] } } }));
    const run = await cli([
      'devnet',
      'run',
      '--manifest',
      manifest,
      '--dir',
      join(dir, 'devnet'),
      '--json',
    ]);
    expect(run.code).toBe(2);
    expect(jsonError(run).error).toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringContaining('nodes.hospital-a.perturb[0]'),
    });
    expect(existsSync(join(dir, 'devnet'))).toBe(false);
  });
});
