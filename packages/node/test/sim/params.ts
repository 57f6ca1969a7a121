import { SeededRandom } from '@medchain/crypto';

/** Everything a node-level run depends on; all of it derives from the seed unless overridden. */
export interface NodeSimParams {
  readonly seed: number;
  /** Validators (one node each). */
  readonly n: number;
  /** Patients submitting besides the organizations' admins, and transactions per client. */
  readonly patients: number;
  readonly txsPerClient: number;
  /** Per message during the fault phase. */
  readonly lossRate: number;
  readonly duplicateRate: number;
  /** One-way delay range (ms) during the fault phase; 1-5 ms afterwards. */
  readonly delay: readonly [number, number];
  readonly partitions: boolean;
  readonly crashes: boolean;
  /** Of crashes: the share that strike at a node's next disk write (with it in flight). */
  readonly crashAtWriteShare: number;
  /** Largest clock offset (ms, either way) and rate error (e.g. 0.001 = 1 ms a second). */
  readonly clockSkewMs: number;
  readonly clockDrift: number;
  /** Clocks jump by up to 8 s either way now and then (set right when faults stop). */
  readonly clockJumps: boolean;
  /** Nodes are stopped cleanly and started again now and then. */
  readonly restarts: boolean;
  /** Now and then a node's disk is replaced by an empty one (it catches up from its peers). */
  readonly wipes: boolean;
  /** Length of the fault phase (virtual ms); then faults stop and crashed nodes restart. */
  readonly faultMs: number;
  /** After faults stop, everything owed must be done within this (virtual ms). */
  readonly livenessMs: number;
  readonly tickIntervalMs: number;
  readonly baseTimeoutTicks: number;
  readonly checkpointInterval: number;
  /** The driver rewrites its WAL once it passes this many bytes (small: the path runs often). */
  readonly walCheckpointBytes: number;
}

export type NodeSimOverrides = Partial<Omit<NodeSimParams, 'seed'>>;

/** The CI campaign's sizes: small networks, short runs. */
export const CI_VALIDATOR_COUNTS = [4, 4, 4, 5] as const;

export function nodeSimParams(seed: number, overrides: NodeSimOverrides = {}): NodeSimParams {
  const random = new SeededRandom(seed ^ 0x0de5eed5);
  const crashes = random.chance(0.6);
  return {
    seed,
    n: overrides.n ?? random.pick(CI_VALIDATOR_COUNTS),
    patients: overrides.patients ?? random.range(1, 3),
    txsPerClient: overrides.txsPerClient ?? random.range(1, 3),
    lossRate: overrides.lossRate ?? random.pick([0, 0, 0.01, 0.05, 0.15]),
    duplicateRate: overrides.duplicateRate ?? random.pick([0, 0.02, 0.1]),
    delay:
      overrides.delay ??
      random.pick<readonly [number, number]>([
        [1, 5],
        [1, 30],
        [5, 150],
      ]),
    partitions: overrides.partitions ?? random.chance(0.4),
    crashes: overrides.crashes ?? crashes,
    crashAtWriteShare: overrides.crashAtWriteShare ?? random.pick([0, 0.5, 0.9]),
    clockSkewMs: overrides.clockSkewMs ?? random.pick([0, 50, 500, 2_000]),
    clockDrift: overrides.clockDrift ?? random.pick([0, 0.0001, 0.001]),
    faultMs: overrides.faultMs ?? random.range(2_000, 8_000),
    livenessMs: overrides.livenessMs ?? 60_000,
    tickIntervalMs: overrides.tickIntervalMs ?? 100,
    baseTimeoutTicks: overrides.baseTimeoutTicks ?? random.pick([5, 10]),
    checkpointInterval: overrides.checkpointInterval ?? random.pick([3, 5, 10]),
    walCheckpointBytes: overrides.walCheckpointBytes ?? random.pick([4_096, 64 * 1024, 1 << 24]),
    // Drawn last, so the parameters above stay what they were for every seed.
    clockJumps: overrides.clockJumps ?? random.chance(0.3),
    restarts: overrides.restarts ?? random.chance(0.3),
    wipes: overrides.wipes ?? random.chance(0.2),
  };
}

export function describeNodeSimParams(p: NodeSimParams): string {
  return [
    `seed=${p.seed}`,
    `n=${p.n}`,
    `clients=${p.n}+${p.patients}x${p.txsPerClient}`,
    `loss=${p.lossRate}`,
    `dup=${p.duplicateRate}`,
    `delay=${p.delay[0]}-${p.delay[1]}ms`,
    `partitions=${p.partitions}`,
    `crashes=${p.crashes}${p.crashes ? `(atWrite ${p.crashAtWriteShare})` : ''}`,
    `skew=${p.clockSkewMs}ms drift=${p.clockDrift}${p.clockJumps ? ' jumps' : ''}`,
    `restarts=${p.restarts}`,
    `wipes=${p.wipes}`,
    `faults=${p.faultMs}ms`,
    `tick=${p.tickIntervalMs}ms timeout=${p.baseTimeoutTicks}`,
    `K=${p.checkpointInterval}`,
    `walCheckpoint=${p.walCheckpointBytes}`,
  ].join(' ');
}
