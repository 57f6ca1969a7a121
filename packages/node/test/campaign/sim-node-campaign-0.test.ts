import { describe, expect, it } from 'vitest';
import { CI_RUNS, CI_SLICES, formatNodeSimFailure, runCiSlice } from '../sim/campaign.js';

const size = CI_RUNS / CI_SLICES;

describe('node-level simulation campaign', () => {
  it(`runs seeds ${1 + 0 * size}..${(0 + 1) * size} of the shipped shell, every checker passing`, async () => {
    const report = await runCiSlice(0);
    expect(report.runs).toBe(size);
    expect(report.failures.map(formatNodeSimFailure)).toEqual([]);
  }, 900_000);
});
