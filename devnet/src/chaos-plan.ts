import { SeededRandom, sha256, toHex, utf8 } from '@medchain/crypto';
import { DEFAULT_MAX_CLOCK_DRIFT_MS } from '@medchain/node';

/** What happens to the WAL of a killed validator before it restarts. */
export type WalDamage =
  /** Nothing: a plain crash. */
  | 'none'
  /** A frame cut short at the end (length says more than follows): the crash hit mid-append. */
  | 'truncated-tail'
  /** A whole last frame whose payload is garbage (bad checksum): a torn write. */
  | 'torn-write';

export type FaultKind = 'kill' | 'pause' | 'partition' | 'skew';

export interface Fault {
  /** Position in the schedule, from 0. */
  readonly index: number;
  readonly kind: FaultKind;
  /** Validator index, or 'primary': whichever validator the network says leads when it fires. */
  readonly target: number | 'primary';
  /** How long the validator stays down (killed), frozen (SIGSTOP), cut off or skewed before it is healed. */
  readonly downMs: number;
  readonly walDamage: WalDamage;
  /** Pause after the network recovered before the next fault. */
  readonly gapMs: number;
  /** Skews only: ms added to the validator's clock (`clockOffsetMs`), either sign, within the tolerance. */
  readonly clockOffsetMs?: number;
}

/** Every third fault kills the current primary, so view changes are always exercised. */
export const PRIMARY_EVERY = 3;

/**
 * The largest skew drawn: 80% of the tolerance, so a skewed primary's blocks and an honest
 * primary's blocks as a skewed replica sees them both stay inside it, with room for latency.
 */
export const MAX_SKEW_MS = 0.8 * DEFAULT_MAX_CLOCK_DRIFT_MS;
/** The share of faults that are clock skews when skew is on (the primary's slot included). */
export const SKEW_SHARE = 1 / 6;

/**
 * The fault schedule of `seed` for `validators` nodes: an endless deterministic stream (the
 * runner stops by duration or count). Faults are one at a time, so at most one validator is
 * ever down, paused or skewed; the runner waits for recovery between them. Without `skew` the
 * draws are exactly those of the schedules before skews existed, so their seeds still replay.
 */
export function* faultSchedule(
  seed: number,
  validators: number,
  partitions = false,
  skew = false,
): Generator<Fault> {
  const rng = new SeededRandom(seed);
  for (let index = 0; ; index++) {
    const primary = index % PRIMARY_EVERY === 0;
    const skewed = skew && rng.float() < SKEW_SHARE;
    let kind: FaultKind = skewed ? 'skew' : primary || rng.float() < 0.75 ? 'kill' : 'pause';
    // With real networks, a third of the kills become partitions (the primary's too).
    if (partitions && kind === 'kill' && rng.float() < 1 / 3) kind = 'partition';
    const target = primary ? 'primary' : rng.range(0, validators - 1);
    const downMs =
      kind === 'kill'
        ? rng.range(200, 3_000)
        : kind === 'pause'
          ? rng.range(500, 4_000)
          : kind === 'partition'
            ? rng.range(2_000, 8_000)
            : rng.range(3_000, 10_000);
    const walDamage: WalDamage =
      kind === 'kill'
        ? rng.pick(['none', 'none', 'truncated-tail', 'torn-write'] as const)
        : 'none';
    const gapMs = rng.range(200, 2_000);
    if (kind !== 'skew') {
      yield { index, kind, target, downMs, walDamage, gapMs };
      continue;
    }
    const sign = rng.float() < 0.5 ? -1 : 1;
    const clockOffsetMs = sign * rng.range(MAX_SKEW_MS / 4, MAX_SKEW_MS);
    yield { index, kind, target, downMs, walDamage, gapMs, clockOffsetMs };
  }
}

export function firstFaults(
  seed: number,
  validators: number,
  count: number,
  partitions = false,
  skew = false,
): Fault[] {
  const faults: Fault[] = [];
  for (const fault of faultSchedule(seed, validators, partitions, skew)) {
    if (faults.length === count) break;
    faults.push(fault);
  }
  return faults;
}

/** A short fingerprint of a schedule, printed so two runs can be compared at a glance. */
export function scheduleDigest(faults: readonly Fault[]): string {
  return toHex(sha256(utf8(JSON.stringify(faults)))).slice(0, 16);
}

export function describeFault(fault: Fault): string {
  const who = fault.target === 'primary' ? 'the primary' : `validator ${fault.target}`;
  const damage = fault.walDamage === 'none' ? '' : `, WAL ${fault.walDamage}`;
  if (fault.kind === 'kill') return `kill -9 ${who}, down ${fault.downMs} ms${damage}, restart`;
  if (fault.kind === 'pause') return `SIGSTOP ${who} for ${fault.downMs} ms, SIGCONT`;
  if (fault.kind === 'skew') {
    const offset = fault.clockOffsetMs ?? 0;
    return `kill -9 ${who}, restart with its clock ${offset >= 0 ? '+' : ''}${offset} ms for ${fault.downMs} ms, SIGTERM, restart with the true clock`;
  }
  return `partition ${who} from the others for ${fault.downMs} ms, heal`;
}
