import type { NodeSimOverrides } from './params.js';

/**
 * Every seed the node-level simulation ever failed on, kept as a regression test
 * (sim-node.test.ts replays each). `open` says why a seed still fails: the bug is known and
 * not fixed yet (its test is expected to fail until it is).
 */
export interface RegressionSeed {
  readonly seed: number;
  readonly overrides?: NodeSimOverrides;
  /** What the seed found. */
  readonly found: string;
  /** Set while the bug is unfixed: the run is expected to fail with this violation kind. */
  readonly open?: { readonly kind: string; readonly why: string };
}

export const REGRESSION_SEEDS: readonly RegressionSeed[] = [
  {
    seed: 3,
    found:
      "createShell's default membership gate kept the node itself among its member peers, so " +
      'gossip, block sync and state sync addressed it (every seed; fixed in shell/shell.ts)',
  },
];
