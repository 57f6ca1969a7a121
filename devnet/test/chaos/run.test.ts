import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, json, tempDir } from '../../../packages/cli/test/helpers.js';
import type { RunReport } from '../../src/run.js';

/**
 * devnet/manifests/crash-recovery.json, whole: the demo scenario, then a load of 3 clients while
 * the primary is killed, hospital-b paused and hospital-c killed with a torn WAL tail, one at a
 * time; the checker then finds every acknowledged transaction on every node's same chain.
 */
describe('medchain devnet run: the crash-recovery manifest', () => {
  const root = tempDir('run-crash');
  afterAll(async () => {
    await cli(['devnet', 'down', '--dir', join(root, 'devnet')]);
    rmSync(root, { recursive: true, force: true });
  });

  it('recovers from every perturbation and loses no acknowledged transaction', async () => {
    const run = await cli(
      [
        'devnet',
        'run',
        '--manifest',
        'devnet/manifests/crash-recovery.json',
        '--dir',
        join(root, 'devnet'),
        '--seed',
        '5',
        '--json',
      ],
      { timeoutMs: 600_000 },
    );
    const report = json<RunReport>(run);
    expect(report.scenarios.map((s) => s.name)).toEqual(['demo']);
    const chaos = report.chaos!;
    expect(chaos.faults.map((f) => [f.kind, f.walDamage])).toEqual([
      ['kill', 'none'],
      ['pause', 'none'],
      ['kill', 'torn-write'],
    ]);
    expect(chaos.faults[1]!.node).toBe('hospital-b');
    expect(chaos.faults[2]!.node).toBe('hospital-c');
    expect(chaos.check.violations).toEqual([]);
    expect(chaos.livenessFailures).toBe(0);
    expect(chaos.check.acknowledgedTxs).toBeGreaterThan(0);
    expect(report.ok).toBe(true);
    expect(run.code, run.stderr).toBe(0);
  }, 620_000);
});
