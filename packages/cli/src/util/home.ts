import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromHex, toHex } from '@medchain/crypto';
import { type GenesisDocument, genesisFromJson } from '@medchain/ledger';
import {
  CONFIG_FILE_NAME,
  type ConfigOverrides,
  DEFAULT_CONFIG,
  GENESIS_FILE,
  loadOrCreatePeerIdentity,
  type NodeConfig,
  VALIDATOR_KEYSTORE_FILE,
} from '@medchain/node';
import { CliError, usageError } from './errors.js';
import { createKeystore, readKeystoreFile } from './keys.js';

/**
 * A node home, as `medchain init` lays it out:
 *   config.json         node configuration (every field, defaults filled in)
 *   peer-key            libp2p identity (0600), written by the node package
 *   validator.keystore.json  the validator's consensus key, encrypted (0600)
 *   genesis.json        the chain's genesis (copied in by the operator or the devnet)
 * and at run time db/ and wal/ (the node's), node.log (devnet).
 */
export const LOG_FILE = 'node.log';

export interface HomeInfo {
  readonly home: string;
  readonly peerId: string;
  readonly validatorKey: string;
  readonly config: Omit<NodeConfig, 'home'>;
}

function mergeConfig(overrides: ConfigOverrides): Omit<NodeConfig, 'home'> {
  return {
    ...DEFAULT_CONFIG,
    ...overrides,
    api: { ...DEFAULT_CONFIG.api, ...overrides.api },
    mempool: { ...DEFAULT_CONFIG.mempool, ...overrides.mempool },
    block: { ...DEFAULT_CONFIG.block, ...overrides.block },
  } as Omit<NodeConfig, 'home'>;
}

/** Creates a node home; refuses a directory that already holds files. */
export async function initHome(
  home: string,
  passphrase: string,
  overrides: ConfigOverrides,
): Promise<HomeInfo> {
  const dir = resolve(home);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw usageError(`${dir} is not empty`, 'pick a new directory for --home');
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = mergeConfig(overrides);
  writeFileSync(join(dir, CONFIG_FILE_NAME), `${JSON.stringify(config, null, 2)}\n`);
  const identity = await loadOrCreatePeerIdentity(dir);
  const pair = createKeystore(join(dir, VALIDATOR_KEYSTORE_FILE), passphrase);
  return {
    home: dir,
    peerId: identity.peerId.toString(),
    validatorKey: toHex(pair.publicKey),
    config,
  };
}

/** Peer id and validator public key of an initialised home (no passphrase needed). */
export async function homeIdentity(
  home: string,
): Promise<{ peerId: string; validatorKey: Uint8Array }> {
  const dir = resolve(home);
  if (!existsSync(join(dir, VALIDATOR_KEYSTORE_FILE))) {
    throw usageError(
      `${dir} is not a node home (no ${VALIDATOR_KEYSTORE_FILE})`,
      'create one with `medchain init --home DIR`',
    );
  }
  const identity = await loadOrCreatePeerIdentity(dir);
  const keystore = readKeystoreFile(join(dir, VALIDATOR_KEYSTORE_FILE));
  return { peerId: identity.peerId.toString(), validatorKey: fromHex(keystore.publicKey) };
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

export { GENESIS_FILE, VALIDATOR_KEYSTORE_FILE };
