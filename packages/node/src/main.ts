import './polyfill.js';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type ConfigOverrides, loadConfig } from './config.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { type CreateNodeOptions, createNode, type MedchainNode } from './node.js';

/**
 * Loads `<home>/config.json` (with `overrides`), starts the node, and stops it cleanly on
 * SIGINT or SIGTERM (a second signal exits at once). Resolves once the node is running.
 * A `clockOffsetMs` in the config shifts the node's clock (`options.now`, else the system's).
 * The CLI's `medchain start` calls this.
 */
export async function runNode(
  home: string,
  overrides: ConfigOverrides = {},
  options: CreateNodeOptions & { exitOnStop?: boolean } = {},
): Promise<MedchainNode> {
  const config = loadConfig(home, overrides);
  const exitOnStop = options.exitOnStop ?? true;
  let node: MedchainNode | undefined;
  let signalled = false;
  const shutdown = (code: number) => {
    if (signalled) {
      process.exit(code === 0 ? 1 : code);
    }
    signalled = true;
    void node
      ?.stop()
      .catch(() => undefined)
      .finally(() => {
        if (exitOnStop) process.exit(code);
      });
  };
  const offset = config.clockOffsetMs ?? 0;
  const clock = options.now ?? Date.now;
  node = createNode(config, {
    ...options,
    ...(offset === 0 ? {} : { now: () => clock() + offset }),
    onFatal: (error) => {
      options.onFatal?.(error);
      shutdown(1);
    },
  });
  process.once('SIGINT', () => shutdown(0));
  process.once('SIGTERM', () => shutdown(0));
  if (offset !== 0) {
    node.logger.warn(
      { clockOffsetMs: offset },
      'clockOffsetMs is set: this node skews its clock on purpose (fault injection; never in production)',
    );
  }
  await node.start();
  return node;
}

const USAGE = 'usage: node packages/node/dist/main.js --home DIR [--log-level LEVEL]';

/** The process entry: `--home DIR` (required) and `--log-level`. Returns the exit code on bad usage. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let values: { home?: string; 'log-level'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        home: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.home === undefined) {
    process.stderr.write(`--home is required\n${USAGE}\n`);
    return 2;
  }
  const overrides: ConfigOverrides = {};
  const level = values['log-level'];
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) {
      process.stderr.write(`--log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
      return 2;
    }
    overrides.logLevel = level as LogLevel;
  }
  try {
    await runNode(values.home, overrides);
  } catch (error) {
    const code = (error as { code?: string }).code;
    process.stderr.write(
      `medchain node failed to start${code ? ` (${code})` : ''}: ${(error as Error).message}\n`,
    );
    return 1;
  }
  return 0;
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
