import { type DemoReport, runDemo } from './demo.js';

/**
 * Stories a manifest can run on a devnet (`scenarios` in devnet/manifests/*.json), by name.
 * Each takes the devnet directory and a printer for its narration, and resolves with its report
 * (or throws a coded error when the story does not hold).
 */
export const SCENARIOS = {
  /** The consent story (`devnet demo`): permit by consent, deny after revocation, break-glass. */
  demo: (dir: string, print: (line: string) => void): Promise<DemoReport> => runDemo(dir, print),
} as const;
export type ScenarioName = keyof typeof SCENARIOS;
