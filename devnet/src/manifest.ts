import { CliError, DEFAULT_CONSENSUS_PARAMS, EXIT, readJsonFile } from '@medchain/cli';
import { LOG_LEVELS, type LogLevel } from '@medchain/node';
import type { Fault, WalDamage } from './chaos-plan.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';

/**
 * A devnet as data, in the spirit of CometBFT's e2e manifests: the network (validators, ports,
 * chain parameters), the load, the perturbations each node suffers, and the scenarios to run.
 * `devnet up --manifest` builds the network; `devnet run --manifest` runs all of it. The files
 * are in devnet/manifests/.
 */
export interface Manifest {
  chainId: string;
  validators: number;
  /** Node i listens for libp2p on basePort + 2i, its API on basePort + 2i + 1; 0: the OS picks. */
  basePort: number;
  logLevel: LogLevel;
  tickIntervalMs: number;
  block: { maxTxs: number; batchTimeMs: number };
  consensus: Record<string, number>;
  /** Closed-loop clients signing transactions while the perturbations run (`devnet run`). */
  load: { clients: number };
  /**
   * What each node suffers, in order (`devnet run`): by node name, or `primary` for whichever
   * validator leads when the perturbation fires. One at a time; each waits for recovery.
   */
  nodes: Record<string, { perturb: Perturbation[] }>;
  /** Stories run on the network before the load (`devnet run`); see scenarios.ts. */
  scenarios: ScenarioName[];
}

/** What a perturbation does to a node: the chaos runner's faults, spelled as data. */
const PERTURBATIONS = {
  /** SIGKILL, down for a second, restarted; it must catch up. */
  kill: { kind: 'kill', walDamage: 'none', downMs: 1_000 },
  /** Killed, and its WAL's last frame replaced by garbage (a torn write) before the restart. */
  'kill-torn-wal': { kind: 'kill', walDamage: 'torn-write', downMs: 1_000 },
  /** Killed, and its WAL's last frame cut short (the crash hit mid-append). */
  'kill-truncated-wal': { kind: 'kill', walDamage: 'truncated-tail', downMs: 1_000 },
  /** SIGSTOP for three seconds, then SIGCONT. */
  pause: { kind: 'pause', walDamage: 'none', downMs: 3_000 },
} as const satisfies Record<string, { kind: Fault['kind']; walDamage: WalDamage; downMs: number }>;
export type Perturbation = keyof typeof PERTURBATIONS;

/** Pause after a node recovered before the next perturbation. */
const GAP_MS = 1_000;

export const DEFAULT_MANIFEST: Manifest = {
  chainId: 'medchain-devnet',
  validators: 4,
  basePort: 26600,
  logLevel: 'info',
  tickIntervalMs: 100,
  block: { maxTxs: 2000, batchTimeMs: 50 },
  consensus: { ...DEFAULT_CONSENSUS_PARAMS },
  load: { clients: 0 },
  nodes: {},
  scenarios: [],
};

/** Hospital names: hospital-a, hospital-b, ... */
export function nodeName(index: number): string {
  return `hospital-${String.fromCharCode(97 + index)}`;
}

/** A manifest that is not one: where, what, and exit code 2. */
function invalid(source: string, field: string, message: string, hint?: string): CliError {
  return new CliError('MANIFEST_INVALID', `${source}: ${field}: ${message}`, {
    exitCode: EXIT.usage,
    ...(hint === undefined ? {} : { hint }),
  });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function object(
  source: string,
  field: string,
  value: unknown,
  known: readonly string[],
): Record<string, unknown> {
  if (!isObject(value)) throw invalid(source, field, 'expected an object');
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw invalid(
        source,
        field === '' ? key : `${field}.${key}`,
        `unknown manifest field "${key}"`,
        `known fields: ${known.join(', ')}`,
      );
    }
  }
  return value;
}

function integerIn(
  source: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw invalid(
      source,
      field,
      `expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value as number;
}

function oneOf<T extends string>(
  source: string,
  field: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(value as T)) {
    throw invalid(
      source,
      field,
      `expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

function list(source: string, field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw invalid(source, field, 'expected an array');
  return value;
}

/**
 * Checks a manifest's JSON (from `source`, named in errors) field by field and fills in the
 * defaults; throws MANIFEST_INVALID (exit 2) naming the first bad field.
 */
export function parseManifest(json: unknown, source: string): Manifest {
  const manifest = parseFields(json, source);
  if (Object.values(manifest.nodes).some((node) => node.perturb.length > 0)) {
    // A node down at a time must leave a quorum, and recovery shows only as new blocks.
    if (manifest.validators < 4) {
      throw invalid(source, 'validators', 'perturbations need at least 4 validators (f = 1)');
    }
    if (manifest.load.clients === 0) {
      throw invalid(
        source,
        'load.clients',
        'perturbations need a load (an idle chain makes no block, so no recovery could be seen)',
        'set load.clients to 1 or more',
      );
    }
  }
  return manifest;
}

function parseFields(json: unknown, source: string): Manifest {
  const d = DEFAULT_MANIFEST;
  const top = object(source, '', json, Object.keys(d));
  const validators =
    top.validators === undefined
      ? d.validators
      : integerIn(source, 'validators', top.validators, 1, 26);
  const basePort =
    top.basePort === undefined
      ? d.basePort
      : top.basePort === 0
        ? 0
        : integerIn(source, 'basePort', top.basePort, 1024, 65_000);
  const chainId = top.chainId ?? d.chainId;
  if (typeof chainId !== 'string' || !/^[\w.-]{1,64}$/.test(chainId)) {
    throw invalid(source, 'chainId', 'expected 1 to 64 letters, digits, ".", "-" or "_"');
  }
  const block = object(source, 'block', top.block ?? {}, Object.keys(d.block));
  const consensus = object(source, 'consensus', top.consensus ?? {}, Object.keys(d.consensus));
  const load = object(source, 'load', top.load ?? {}, Object.keys(d.load));
  const names = Array.from({ length: validators }, (_, i) => nodeName(i));
  const nodes = object(source, 'nodes', top.nodes ?? {}, [...names, 'primary']);
  return {
    chainId,
    validators,
    basePort,
    logLevel: oneOf(source, 'logLevel', top.logLevel ?? d.logLevel, LOG_LEVELS),
    tickIntervalMs: integerIn(
      source,
      'tickIntervalMs',
      top.tickIntervalMs ?? d.tickIntervalMs,
      1,
      60_000,
    ),
    block: {
      maxTxs: integerIn(source, 'block.maxTxs', block.maxTxs ?? d.block.maxTxs, 1, 50_000),
      batchTimeMs: integerIn(
        source,
        'block.batchTimeMs',
        block.batchTimeMs ?? d.block.batchTimeMs,
        0,
        60_000,
      ),
    },
    consensus: Object.fromEntries(
      Object.entries(d.consensus).map(([key, fallback]) => [
        key,
        integerIn(source, `consensus.${key}`, consensus[key] ?? fallback, 1, 1_000_000),
      ]),
    ),
    load: { clients: integerIn(source, 'load.clients', load.clients ?? d.load.clients, 0, 256) },
    nodes: Object.fromEntries(
      Object.entries(nodes).map(([name, spec]) => {
        const field = `nodes.${name}`;
        const { perturb } = object(source, field, spec, ['perturb']);
        const perturbations = list(source, `${field}.perturb`, perturb ?? []).map((p, i) =>
          oneOf(source, `${field}.perturb[${i}]`, p, Object.keys(PERTURBATIONS) as Perturbation[]),
        );
        return [name, { perturb: perturbations }];
      }),
    ),
    scenarios: list(source, 'scenarios', top.scenarios ?? d.scenarios).map((s, i) =>
      oneOf(source, `scenarios[${i}]`, s, Object.keys(SCENARIOS) as ScenarioName[]),
    ),
  };
}

/** The manifest in `path` (checked, defaults filled in), or the default one. */
export function readManifest(path: string | undefined): Manifest {
  if (path === undefined) return structuredClone(DEFAULT_MANIFEST);
  return parseManifest(readJsonFile(path, 'manifest'), path);
}

/** The manifest's perturbations as the chaos runner's fault schedule, in manifest order. */
export function perturbationSchedule(manifest: Manifest): Fault[] {
  const names = Array.from({ length: manifest.validators }, (_, i) => nodeName(i));
  return Object.entries(manifest.nodes)
    .flatMap(([name, { perturb }]) => perturb.map((p) => ({ name, ...PERTURBATIONS[p] })))
    .map(({ name, kind, walDamage, downMs }, index) => ({
      index,
      kind,
      target: name === 'primary' ? ('primary' as const) : names.indexOf(name),
      downMs,
      walDamage,
      gapMs: GAP_MS,
    }));
}
