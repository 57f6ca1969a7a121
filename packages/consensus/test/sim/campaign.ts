import { expect } from 'vitest';
import { type ParamOverrides, paramsFromSeed } from './params.js';
import { formatFailure, runSimulation, type SimResult } from './simulator.js';

/** The default test campaign: seeds 1..DEFAULT_RUNS, split across test files. */
export const DEFAULT_RUNS = 2_000;
export const CAMPAIGN_SLICES = 4;

/** Runs seeds [start, start + count) and fails with every failing seed's replay command. */
export function runSeeds(
  start: number,
  count: number,
  overrides: ParamOverrides = {},
): SimResult[] {
  const results: SimResult[] = [];
  const failures: string[] = [];
  for (let seed = start; seed < start + count; seed++) {
    const result = runSimulation(paramsFromSeed(seed, overrides));
    results.push(result);
    if (result.violations.length > 0) failures.push(formatFailure(result));
  }
  expect(failures, failures.join('\n\n')).toEqual([]);
  return results;
}

export function runSlice(slice: number): SimResult[] {
  const size = DEFAULT_RUNS / CAMPAIGN_SLICES;
  const results = runSeeds(1 + slice * size, size);
  // Every run made progress after the faults stopped (the liveness checker demands it too).
  for (const result of results) expect(result.livenessTicksUsed).not.toBeNull();
  return results;
}
