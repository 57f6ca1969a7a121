import {
  DEFAULT_RECEIPT_TIMEOUT_MS,
  type KeySigner,
  type MedchainClient,
  type RequestSigner,
  type SendOptions,
} from '@medchain/client';
import { type Command, Option } from 'commander';
import { duration, integer, url } from './args.js';
import { CA_ENV, connect, DEFAULT_NODE_URL, DEFAULT_TIMEOUT_MS, NODE_ENV } from './client.js';
import { CliError, EXIT } from './errors.js';
import { loadSigner } from './keys.js';
import { Output } from './output.js';
import { PASSPHRASE_ENV } from './passphrase.js';

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
    )
    .addOption(
      new Option(
        '--ca <file>',
        "PEM file of the CA the node's https certificate must chain to (a `devnet up --tls` devnet: DIR/tls/ca.pem)",
      ).env(CA_ENV),
    );
}

/** The node's client from --node, --timeout and --ca, acting for `signer` (its requests signed). */
export function clientOf(cmd: Command, signer?: RequestSigner): MedchainClient {
  const { node, timeout, ca } = cmd.opts<{ node: string; timeout: number; ca?: string }>();
  return connect({ url: node, timeoutMs: timeout, ca, signer });
}

export function withPassphrase(cmd: Command): Command {
  return cmd.option(
    '--passphrase-file <file>',
    `read the keystore passphrase from this file (else $${PASSPHRASE_ENV}, else a prompt)`,
  );
}

/**
 * Options of every `tx` command: the signing key, waiting, nonce. `noWait: false` for commands
 * that must see the receipt before their next step (`record put` stores only what is anchored).
 */
export function withSigner(cmd: Command, { noWait = true } = {}): Command {
  withPassphrase(withNode(cmd.requiredOption('--key <keystore>', 'keystore of the signing key')));
  if (noWait) cmd.option('--no-wait', 'return once the mempool admits the transaction');
  return cmd
    .addOption(
      new Option('--commit-timeout <duration>', 'how long to wait for the receipt')
        .default(DEFAULT_RECEIPT_TIMEOUT_MS, '30s')
        .argParser(duration),
    )
    .addOption(
      new Option('--nonce <n>', 'use this nonce (default: ask the node)').argParser(integer(1)),
    );
}

export interface SignerOptions {
  readonly key: string;
  readonly passphraseFile?: string;
  /** Absent on commands without --no-wait (they always wait). */
  readonly wait?: boolean;
  readonly commitTimeout: number;
  readonly nonce?: number;
}

export function sendOptionsOf(options: SignerOptions): SendOptions {
  return {
    wait: options.wait ?? true,
    timeoutMs: options.commitTimeout,
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
  };
}

export function signerOf(options: SignerOptions): Promise<KeySigner> {
  return loadSigner(options.key, { passphraseFile: options.passphraseFile });
}

export interface ReaderOptions {
  readonly key?: string;
  readonly passphraseFile?: string;
}

/**
 * Options of a read of party data: the key that signs it (`--key`, optional in the option
 * parser so that the command can say who may read), and the passphrase.
 */
export function withReader(cmd: Command, who: string): Command {
  return withPassphrase(
    withNode(cmd.option('--key <keystore>', `keystore of the key that signs the read (${who})`)),
  );
}

/** The reading key, or KEY_REQUIRED (exit 2) saying whose key the read takes. */
export function readerOf(options: ReaderOptions, who: string): Promise<KeySigner> {
  if (options.key === undefined) {
    throw new CliError('KEY_REQUIRED', `this read needs a key: ${who}`, {
      exitCode: EXIT.usage,
      hint: 'the node answers party data only to a signed request: pass --key KEYSTORE',
    });
  }
  return loadSigner(options.key, { passphraseFile: options.passphraseFile });
}
