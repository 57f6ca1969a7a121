import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLevel, NodeConfig } from '@medchain/node';
import { type Command, Option } from 'commander';
import { example, withPassphrase } from '../../util/common.js';
import { CliError, EXIT } from '../../util/errors.js';
import { nodePackage } from '../../util/node-package.js';
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
        .option(
          '--log-level <level>',
          'overrides config.json: fatal, error, warn, info, debug, trace, silent',
        )
        .addOption(
          new Option('--log-format <format>', 'default: pretty on a terminal, else json').choices([
            'pretty',
            'json',
          ]),
        ),
    ),
    'MEDCHAIN_PASSPHRASE=... medchain start --home ./hospital-a',
  ).action(async (options: StartOptions) => {
    const node = await nodePackage();
    const overrides = options.logLevel === undefined ? {} : { logLevel: options.logLevel };
    let config: NodeConfig;
    try {
      config = node.loadConfig(options.home, overrides);
    } catch (error) {
      throw new CliError((error as { code?: string }).code ?? 'CONFIG', (error as Error).message, {
        exitCode: EXIT.usage,
        hint: `fix ${join(options.home, node.CONFIG_FILE_NAME)}, or create the home with \`medchain init --home DIR\``,
      });
    }
    const pretty = (options.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
    const destination = pretty
      ? (await import('pino-pretty')).build({
          colorize: process.stdout.isTTY === true,
          sync: true,
        })
      : undefined;
    const logger = node.createLogger({
      level: config.logLevel,
      ...(destination === undefined ? {} : { destination }),
    });
    const passphrase = existsSync(join(options.home, node.VALIDATOR_KEYSTORE_FILE))
      ? await getPassphrase(options, `the validator key of ${options.home}`)
      : undefined;
    try {
      await node.runNode(options.home, overrides, {
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
