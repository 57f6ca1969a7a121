import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Output } from '@medchain/cli';
import { type ChaosReport, runChaos } from './chaos.js';
import { perturbationSchedule, readManifest } from './manifest.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';
import { readDevnet, stopNode, writeDevnet } from './state.js';
import { devnetUp } from './up.js';

export interface RunOptions {
  manifest: string;
  /** Devnet directory (replaced); a temporary one, removed on success, when absent. */
  dir?: string;
  /** Picks the load's keys and the bytes of torn WAL tails. */
  seed?: number;
  /** Longest recovery after a perturbation before it counts as a liveness failure (ms). */
  livenessBound: number;
}

export interface RunReport {
  readonly manifest: string;
  readonly scenarios: { name: ScenarioName; report: unknown }[];
  /** The load, the perturbations and the checker's verdict; null when the manifest has neither. */
  readonly chaos: ChaosReport | null;
  readonly ok: boolean;
}

/**
 * `devnet run`: everything a manifest describes, in CometBFT's e2e order: set the network up,
 * run its scenarios, then its load with the perturbations one at a time (each waits for the
 * network to recover), then check that every node holds the same chain with every acknowledged
 * transaction. The nodes are stopped at the end.
 */
export async function runManifest(options: RunOptions, out: Output): Promise<RunReport> {
  const manifest = readManifest(options.manifest);
  const scenarios: RunReport['scenarios'] = [];
  const runScenarios = async (dir: string) => {
    for (const name of manifest.scenarios) {
      out.progress(`scenario ${name}`);
      const report = await SCENARIOS[name](dir, (line) => out.progress(`  ${line}`));
      scenarios.push({ name, report });
    }
  };
  const schedule = perturbationSchedule(manifest);
  if (schedule.length > 0 || manifest.load.clients > 0) {
    const chaos = await runChaos(
      {
        ...(options.dir === undefined ? {} : { dir: options.dir }),
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        manifest: options.manifest,
        validators: manifest.validators,
        basePort: manifest.basePort,
        clients: manifest.load.clients,
        schedule,
        duration: 0,
        livenessBound: options.livenessBound,
        skew: false,
        beforeLoad: runScenarios,
      },
      out,
    );
    return { manifest: options.manifest, scenarios, chaos, ok: chaos.ok };
  }
  const temporary = options.dir === undefined;
  const dir = resolve(options.dir ?? mkdtempSync(join(tmpdir(), 'medchain-run-')));
  await devnetUp(
    { dir, manifest: options.manifest, reset: true, waitTimeout: options.livenessBound },
    out,
  );
  try {
    await runScenarios(dir);
  } finally {
    const net = readDevnet(dir);
    await Promise.all(net.nodes.map((node) => stopNode(node)));
    for (const node of net.nodes) node.pid = null;
    writeDevnet(dir, net);
  }
  if (temporary) rmSync(dir, { recursive: true, force: true });
  return { manifest: options.manifest, scenarios, chaos: null, ok: true };
}
