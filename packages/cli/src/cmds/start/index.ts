import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, LOG_LEVELS, type LogLevel, loadConfig, runNode } from '@medchain/node';
import { type Command, Option } from 'commander';
import pinoPretty from 'pino-pretty';
import { oneOf } from '../../util/args.js';
import { example, withPassphrase } from '../../util/common.js';
import { CliError } from '../../util/errors.js';
import { VALIDATOR_KEYSTORE_FILE } from '../../util/home.js';
import { getPassphrase } from '../../util/passphrase.js';

interface StartOptions {
  home: string;
  logLevel?: LogLevel;
  logFormat?: 'pretty' | 'json';
  passphraseFile?: string;
}

export function registerStart(program: Command): void {
  example(
    withPassphrase(
      program
        .command('start')
        .description(
          'run a node in the foreground until SIGINT/SIGTERM (pino logs: pretty on a terminal, JSON lines otherwise)',
        )
        .requiredOption('--home <dir>', 'node home made by `medchain init`, with genesis.json')
        .option('--log-level <level>', 'overrides config.json', oneOf(LOG_LEVELS))
        .addOption(
          new Option('--log-format <format>', 'default: pretty on a terminal, else json').choices([
            'pretty',
            'json',
          ]),
        ),
    ),
    'MEDCHAIN_PASSPHRASE=... medchain start --home ./hospital-a',
  ).action(async (options: StartOptions) => {
    const overrides = options.logLevel === undefined ? {} : { logLevel: options.logLevel };
    let config: ReturnType<typeof loadConfig>;
    try {
      config = loadConfig(options.home, overrides);
    } catch (error) {
      throw new CliError((error as { code?: string }).code ?? 'CONFIG', (error as Error).message, {
        hint: `fix ${join(options.home, 'config.json')}, or create the home with \`medchain init --home DIR\``,
      });
    }
    const pretty = (options.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
    const logger = createLogger({
      level: config.logLevel,
      ...(pretty
        ? { destination: pinoPretty({ colorize: process.stdout.isTTY === true, sync: true }) }
        : {}),
    });
    const passphrase = existsSync(join(options.home, VALIDATOR_KEYSTORE_FILE))
      ? await getPassphrase(options, `the validator key of ${options.home}`)
      : undefined;
    try {
      await runNode(options.home, overrides, {
        logger,
        ...(passphrase === undefined ? {} : { passphrase }),
      });
    } catch (error) {
      throw new CliError(
        (error as { code?: string }).code ?? 'START_FAILED',
        `the node did not start: ${(error as Error).message}`,
      );
    }
    // The node runs until a signal; runNode exits the process once it has stopped.
    await new Promise<never>(() => undefined);
  });
}
