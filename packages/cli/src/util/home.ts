import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromHex, toHex } from '@medchain/crypto';
import { type GenesisDocument, genesisFromJson } from '@medchain/ledger';
import type { ConfigOverrides, NodeConfig } from '@medchain/node';
import { CliError, usageError } from './errors.js';
import { createKeystore, readKeystoreFile } from './keys.js';
import { nodePackage } from './node-package.js';

/**
 * A node home, as `medchain init` lays it out (file names are the node package's):
 *   config.json              node configuration (every field, defaults filled in)
 *   peer-key                 libp2p identity (0600)
 *   validator.keystore.json  the validator's consensus key, encrypted (0600)
 *   genesis.json             the chain's genesis (copied in by the operator or the devnet)
 *   home-format.json         the data format of the home (node/src/home/format.ts)
 * and at run time the node's db/ and wal/, and node.log under a devnet.
 */
export const LOG_FILE = 'node.log';

export interface HomeInfo {
  readonly home: string;
  readonly peerId: string;
  readonly validatorKey: string;
  readonly config: Omit<NodeConfig, 'home'>;
}

/** Creates a node home; refuses a directory that already holds files. */
export async function initHome(
  home: string,
  passphrase: string,
  overrides: ConfigOverrides,
): Promise<HomeInfo> {
  const node = await nodePackage();
  const dir = resolve(home);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw usageError(`${dir} is not empty`, 'pick a new directory for --home');
  }
  let config: Omit<NodeConfig, 'home'>;
  try {
    // Defaults, then the overrides, checked by the node's own validation.
    const { home: _, ...checked } = node.validateConfig({
      ...node.DEFAULT_CONFIG,
      ...overrides,
      api: { ...node.DEFAULT_CONFIG.api, ...overrides.api },
      mempool: { ...node.DEFAULT_CONFIG.mempool, ...overrides.mempool },
      block: { ...node.DEFAULT_CONFIG.block, ...overrides.block },
      home: dir,
    });
    config = checked;
  } catch (error) {
    throw usageError((error as Error).message);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, node.CONFIG_FILE_NAME), `${JSON.stringify(config, null, 2)}\n`);
  await node.writeHomeFormat(dir, node.HOME_FORMAT_VERSION);
  const identity = await node.loadOrCreatePeerIdentity(dir);
  const pair = createKeystore(join(dir, node.VALIDATOR_KEYSTORE_FILE), passphrase);
  return {
    home: dir,
    peerId: identity.peerId.toString(),
    validatorKey: toHex(pair.publicKey),
    config,
  };
}

/**
 * Refuses `dir` as a node home unless it holds `file` (what `medchain init` writes, or the
 * installed genesis), naming the missing file.
 */
export function requireHomeFile(dir: string, file: string, what = 'a node home'): void {
  if (!existsSync(join(dir, file))) {
    throw usageError(
      `${dir} is not ${what} (no ${file})`,
      'create one with `medchain init --home DIR`',
    );
  }
}

/** Peer id and validator public key of an initialised home (no passphrase needed). */
export async function homeIdentity(
  home: string,
): Promise<{ peerId: string; validatorKey: Uint8Array }> {
  const node = await nodePackage();
  const dir = resolve(home);
  requireHomeFile(dir, node.VALIDATOR_KEYSTORE_FILE);
  const keystorePath = join(dir, node.VALIDATOR_KEYSTORE_FILE);
  const identity = await node.loadOrCreatePeerIdentity(dir);
  return {
    peerId: identity.peerId.toString(),
    validatorKey: fromHex(readKeystoreFile(keystorePath).publicKey),
  };
}

export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError('BAD_JSON', `${path} is not JSON: ${(error as Error).message}`);
  }
}

export function readGenesis(path: string): GenesisDocument {
  const json = readJsonFile(path, 'genesis');
  try {
    return genesisFromJson(json);
  } catch (error) {
    throw new CliError('GENESIS_INVALID', `${path}: ${(error as Error).message}`, {
      hint: 'fix the file, or rebuild it with `medchain genesis create` and `genesis add-organization`',
    });
  }
}
