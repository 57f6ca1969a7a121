import { SeededRandom } from '@medchain/crypto';
import { faultTolerance } from '../../src/index.js';

export const BYZANTINE_STRATEGIES = [
  'silent',
  'equivocate',
  'conflictingVotes',
  'otherViews',
  'forge',
  'replay',
  'garbage',
  'mixed',
] as const;

export type ByzantineStrategy = (typeof BYZANTINE_STRATEGIES)[number];

/** Everything a run depends on; all of it derives from the seed unless overridden. */
export interface SimParams {
  readonly seed: number;
  /** Validators at genesis. */
  readonly n: number;
  /** Node indices that are byzantine (at most f). */
  readonly byzantine: readonly number[];
  readonly strategies: readonly ByzantineStrategy[];
  /** One extra honest non-validator node, swapped in and out of the set by governance blocks. */
  readonly membershipChanges: boolean;
  /** Per message, during the fault phase. */
  readonly lossRate: number;
  readonly duplicateRate: number;
  /** Message delay is uniform in [1, maxDelay] time units; a tick is 10 units. */
  readonly maxDelay: number;
  readonly partitions: boolean;
  readonly crashes: boolean;
  /** Length of the fault phase; then the network heals and crashed nodes restart. */
  readonly faultTicks: number;
  /** Once faults stop, every honest node must commit `livenessHeights` more within this many ticks. */
  readonly livenessTicks: number;
  readonly livenessHeights: number;
  readonly checkpointInterval: number;
  readonly baseTimeoutTicks: number;
  /** Fault injection into the core itself, to prove the checkers can fail. */
  readonly brokenQuorum: boolean;
  /**
   * Honest nodes' applications have work only now and then (a primary without work holds its
   * view-0 proposal, as the node does); when faults stop, only a random subset has work.
   */
  readonly idleWork: boolean;
  /**
   * Honest validators rotate their key by block (every 4th height from 4): each node holds a
   * second key its core switches to at the set change. Never drawn (seeds keep their runs).
   */
  readonly keyRotations: boolean;
}

export type ParamOverrides = Partial<Omit<SimParams, 'seed'>>;

export const SIM_VALIDATOR_COUNTS = [4, 5, 7, 10] as const;

export function paramsFromSeed(seed: number, overrides: ParamOverrides = {}): SimParams {
  const prng = new SeededRandom(seed ^ 0x5eed5eed);
  const n = overrides.n ?? prng.pick(SIM_VALIDATOR_COUNTS);
  const f = faultTolerance(n);
  const byzantineCount = prng.int(f + 1);
  const byzantine =
    overrides.byzantine ??
    prng
      .shuffle([...Array(n).keys()])
      .slice(0, byzantineCount)
      .sort((a, b) => a - b);
  const strategies = overrides.strategies ?? byzantine.map(() => prng.pick(BYZANTINE_STRATEGIES));
  return {
    seed,
    n,
    byzantine,
    strategies,
    membershipChanges: overrides.membershipChanges ?? prng.chance(0.25),
    lossRate: overrides.lossRate ?? prng.pick([0, 0.01, 0.05, 0.1, 0.2]),
    duplicateRate: overrides.duplicateRate ?? prng.pick([0, 0.02, 0.1]),
    maxDelay: overrides.maxDelay ?? prng.pick([4, 10, 30]),
    partitions: overrides.partitions ?? prng.chance(0.4),
    crashes: overrides.crashes ?? prng.chance(0.4),
    faultTicks: overrides.faultTicks ?? prng.range(30, 100),
    livenessTicks: overrides.livenessTicks ?? 2_000,
    livenessHeights: overrides.livenessHeights ?? 3,
    checkpointInterval: overrides.checkpointInterval ?? prng.pick([3, 5, 10]),
    baseTimeoutTicks: overrides.baseTimeoutTicks ?? prng.pick([6, 10]),
    brokenQuorum: overrides.brokenQuorum ?? false,
    // Drawn last so every other parameter of an existing seed stays what it was.
    idleWork: overrides.idleWork ?? prng.chance(0.3),
    keyRotations: overrides.keyRotations ?? false,
  };
}

export function describeParams(params: SimParams): string {
  const byz = params.byzantine.map((node, i) => `${node}:${params.strategies[i]}`).join(',');
  return [
    `seed=${params.seed}`,
    `n=${params.n}`,
    `byzantine=[${byz}]`,
    `loss=${params.lossRate}`,
    `dup=${params.duplicateRate}`,
    `maxDelay=${params.maxDelay}`,
    `partitions=${params.partitions}`,
    `crashes=${params.crashes}`,
    `membership=${params.membershipChanges}`,
    `faultTicks=${params.faultTicks}`,
    `K=${params.checkpointInterval}`,
    `timeout=${params.baseTimeoutTicks}`,
    params.idleWork ? 'idle-work' : '',
    params.keyRotations ? 'key-rotations' : '',
    params.brokenQuorum ? 'BROKEN-QUORUM' : '',
  ]
    .filter(Boolean)
    .join(' ');
}
