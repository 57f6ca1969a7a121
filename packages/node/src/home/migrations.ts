import { NodeError } from '../errors.js';
import {
  HOME_FORMAT_FILE,
  HOME_FORMAT_VERSION,
  isFreshHome,
  readHomeFormat,
  refuseNewer,
  STATE_LAYOUT_FORMAT,
  stateLayoutRefusal,
  writeHomeFormat,
} from './format.js';

/**
 * One format change: `run` turns a home of format `from` into format `from + 1`. The version
 * file is written only after `run` resolves, so a step interrupted by a crash runs again from
 * the start: every step must be safe to repeat.
 */
export interface MigrationStep {
  readonly from: number;
  readonly description: string;
  run(home: string): Promise<void>;
}

/**
 * The steps of this release, one per format change, in order. There is none from format 2: the
 * state layout of format 3 cannot be derived from an existing chain (migrateHome refuses).
 */
export const MIGRATIONS: readonly MigrationStep[] = [
  {
    from: 1,
    // Format 2 changed nothing in db/, wal/ or vault/: it adds the format file itself, which
    // the runner writes after each step.
    description: 'record the data format in home-format.json',
    run: async () => {},
  },
];

export interface MigrationResult {
  readonly home: string;
  readonly from: number;
  readonly to: number;
  /** The steps run, in order (none when the home was current). */
  readonly applied: readonly string[];
}

/**
 * Brings a home to format `target` (default: this build's), one step after another, recording
 * the version after each. The node must be stopped. A newer home, or a missing step, is refused
 * before anything is changed.
 */
export async function migrateHome(
  home: string,
  options: { steps?: readonly MigrationStep[]; target?: number } = {},
): Promise<MigrationResult> {
  const steps = options.steps ?? MIGRATIONS;
  const target = options.target ?? HOME_FORMAT_VERSION;
  if (isFreshHome(home)) {
    throw new NodeError(
      'NODE_HOME_FORMAT_INVALID',
      `${home} holds no node data to migrate (no db/, wal/ or ${HOME_FORMAT_FILE})`,
    );
  }
  const from = await readHomeFormat(home);
  refuseNewer(home, from);
  // The default steps stop at the state layout change: nothing can carry a chain across it.
  if (options.steps === undefined && from < STATE_LAYOUT_FORMAT && target >= STATE_LAYOUT_FORMAT) {
    throw stateLayoutRefusal(home, from);
  }
  const plan: MigrationStep[] = [];
  for (let version = from; version < target; version++) {
    const step = steps.find((candidate) => candidate.from === version);
    if (step === undefined) {
      throw new NodeError(
        'NODE_HOME_FORMAT_INVALID',
        `no migration from data format ${version} to ${version + 1}`,
      );
    }
    plan.push(step);
  }
  for (const step of plan) {
    await step.run(home);
    await writeHomeFormat(home, step.from + 1);
  }
  return { home, from, to: Math.max(from, target), applied: plan.map((step) => step.description) };
}
