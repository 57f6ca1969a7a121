import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type NodeSimOverrides, nodeSimParams } from './params.js';
import { shellFactory } from './shell.js';
import {
  formatNodeSimFailure,
  type Injection,
  type NodeSimResult,
  runNodeSimulation,
} from './simulation.js';

export interface CampaignReport {
  readonly runs: number;
  readonly failures: readonly NodeSimResult[];
  readonly seconds: number;
  /** CPU time this process spent (user + system): steadier than wall time on a busy machine. */
  readonly cpuSeconds: number;
  readonly crashes: number;
  readonly acks: number;
  readonly owedAcks: number;
  /** Highest height any run reached, and the slowest settling after faults (virtual ms). */
  readonly maxHeight: number;
  readonly maxSettleMs: number;
}

/** Runs seeds [start, start + count) of the node-level simulation on the shipped shell. */
export async function runNodeCampaign(
  start: number,
  count: number,
  options: {
    overrides?: NodeSimOverrides;
    injection?: Injection;
    onFailure?: (result: NodeSimResult) => void;
    onProgress?: (done: number, report: CampaignReport) => void;
  } = {},
): Promise<CampaignReport> {
  const began = performance.now();
  const cpuBefore = process.cpuUsage();
  const failures: NodeSimResult[] = [];
  let crashes = 0;
  let acks = 0;
  let owedAcks = 0;
  let maxHeight = 0;
  let maxSettleMs = 0;
  const report = (runs: number): CampaignReport => ({
    runs,
    failures,
    seconds: (performance.now() - began) / 1000,
    cpuSeconds: cpuSeconds(process.cpuUsage(cpuBefore)),
    crashes,
    acks,
    owedAcks,
    maxHeight,
    maxSettleMs,
  });
  for (let seed = start; seed < start + count; seed++) {
    const result = await runNodeSimulation(
      nodeSimParams(seed, options.overrides),
      shellFactory,
      options.injection === undefined ? {} : { injection: options.injection },
    );
    crashes += result.crashes;
    acks += result.acks;
    owedAcks += result.owedAcks;
    maxHeight = Math.max(maxHeight, ...result.heights);
    maxSettleMs = Math.max(maxSettleMs, result.settledAfterMs ?? 0);
    if (result.violations.length > 0) {
      failures.push(result);
      options.onFailure?.(result);
    }
    options.onProgress?.(seed - start + 1, report(seed - start + 1));
  }
  return report(count);
}

function cpuSeconds(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

export function describeCampaign(start: number, report: CampaignReport): string {
  const [one] = loadavg();
  return [
    `node-level simulation: ${report.runs} runs (seeds ${start}..${start + report.runs - 1}) in ${report.seconds.toFixed(1)} s`,
    `(${((report.seconds * 1000) / Math.max(1, report.runs)).toFixed(0)} ms/run; CPU ${report.cpuSeconds.toFixed(1)} s, ${((report.cpuSeconds * 1000) / Math.max(1, report.runs)).toFixed(0)} ms/run; load average ${one!.toFixed(2)}),`,
    `${report.failures.length} failing, ${report.crashes} crashes, ${report.acks} acknowledged transactions (${report.owedAcks} owed),`,
    `max height ${report.maxHeight}, slowest settle ${report.maxSettleMs.toFixed(0)} ms after faults`,
  ].join(' ');
}

export { formatNodeSimFailure };

/** Runs in every CI run (`pnpm test`), split in CI_SLICES test files so two cores share them. */
export const CI_RUNS = 1_000;
export const CI_SLICES = 2;

/** One CI slice: prints its count and time (not asserted) and returns the report. */
export async function runCiSlice(slice: number): Promise<CampaignReport> {
  const size = CI_RUNS / CI_SLICES;
  const start = 1 + slice * size;
  const report = await runNodeCampaign(start, size);
  console.log(describeCampaign(start, report));
  return report;
}
