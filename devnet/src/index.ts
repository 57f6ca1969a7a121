/**
 * The lab: local devnets of validator processes (loopback or one network namespace per
 * validator, behind netem or the user-space WAN switch), manifests and scenarios, the demo,
 * chaos and bench. `medchain devnet …` and `medchain bench` are its commands; the operator CLI
 * registers them through `registerLab`.
 */

import type { LabRegistration } from '@medchain/cli';
import type { Command } from 'commander';
import { registerBench } from './bench/command.js';
import { registerDevnet } from './commands.js';

/** What the CLI calls (packages/cli/src/lab.ts): `medchain devnet …` and `medchain bench`. */
export const registerLab: LabRegistration = (program: Command) => {
  registerDevnet(program);
  registerBench(program);
};

export { chartOfRun } from './bench/chart.js';
export type { BenchReport } from './bench/command.js';
export { NetnsLab } from './netns.js';
export {
  adminSigner,
  type Devnet,
  type DevnetNode,
  devnetClient,
  readDevnet,
} from './state.js';
