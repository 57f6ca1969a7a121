import { type Command, Option } from 'commander';
import { duration, integer, url } from './args.js';
import { ApiClient, DEFAULT_NODE_URL, DEFAULT_TIMEOUT_MS, NODE_ENV } from './client.js';
import { loadSigner } from './keys.js';
import { Output } from './output.js';
import { PASSPHRASE_ENV } from './passphrase.js';
import { DEFAULT_COMMIT_TIMEOUT_MS, type SendOptions } from './tx.js';

/** Options every command may use, merged from the root (`--json`) and the command. */
export interface GlobalOptions {
  readonly json?: boolean;
}

export function outputOf(cmd: Command): Output {
  return new Output(cmd.optsWithGlobals<GlobalOptions>().json === true);
}

/** Adds an "Example" section to a command's --help. */
export function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText(
    'after',
    `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`,
  );
}

export function withNode(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--node <url>', 'node HTTP API')
        .env(NODE_ENV)
        .default(DEFAULT_NODE_URL)
        .argParser(url),
    )
    .addOption(
      new Option('--timeout <duration>', 'per-request timeout (e.g. 5s)')
        .default(DEFAULT_TIMEOUT_MS, '10s')
        .argParser(duration),
    );
}

export function clientOf(cmd: Command): ApiClient {
  const { node, timeout } = cmd.opts<{ node: string; timeout: number }>();
  return new ApiClient(node, timeout);
}

export function withPassphrase(cmd: Command): Command {
  return cmd.option(
    '--passphrase-file <file>',
    `read the keystore passphrase from this file (else $${PASSPHRASE_ENV}, else a prompt)`,
  );
}

/** Options of every `tx` command: the signing key, waiting, nonce. */
export function withSigner(cmd: Command): Command {
  withPassphrase(withNode(cmd.requiredOption('--key <keystore>', 'keystore of the signing key')));
  return cmd
    .option('--no-wait', 'return once the mempool admits the transaction')
    .addOption(
      new Option('--commit-timeout <duration>', 'how long to wait for the receipt')
        .default(DEFAULT_COMMIT_TIMEOUT_MS, '30s')
        .argParser(duration),
    )
    .addOption(
      new Option('--nonce <n>', 'use this nonce (default: ask the node)').argParser(integer(1)),
    );
}

export interface SignerOptions {
  readonly key: string;
  readonly passphraseFile?: string;
  readonly wait: boolean;
  readonly commitTimeout: number;
  readonly nonce?: number;
}

export function sendOptionsOf(options: SignerOptions): SendOptions {
  return { wait: options.wait, commitTimeoutMs: options.commitTimeout, nonce: options.nonce };
}

export function signerOf(options: SignerOptions) {
  return loadSigner(options.key, { passphraseFile: options.passphraseFile });
}
