import { describe, it } from 'vitest';
import { CAMPAIGN_SLICES, DEFAULT_RUNS, runSlice } from '../sim/campaign.js';

describe('seeded simulation campaign', () => {
  it(`slice 1 of ${CAMPAIGN_SLICES}: ${DEFAULT_RUNS / CAMPAIGN_SLICES} runs, 0 safety or liveness violations`, () => {
    runSlice(1);
  }, 600_000);
});
