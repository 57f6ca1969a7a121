import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decryptKeystore, fromHex, Signer, toHex } from '@medchain/crypto';
import type { KeyValueReader } from '@medchain/ledger';
import { organizationOfValidator } from '../api/auth.js';
import { NodeError } from '../errors.js';

/**
 * Validator keys an organization rotated its node to (`organization.rotate-key`), one file
 * each: `<public key hex>.keystore.json` (a passphrase keystore, the validator keystore's
 * passphrase) or `<public key hex>.key` (hex seed, devnets and tests). The home's first key
 * (`validator.keystore.json` or `validator-key`) stays where it is: the vault's data keys are
 * wrapped under it for good.
 */
export const VALIDATOR_KEYS_DIR = 'validator-keys';
/** Environment variable holding the keystore passphrase when none is passed in code. */
export const KEYSTORE_PASSPHRASE_ENV = 'MEDCHAIN_KEYSTORE_PASSPHRASE';

export interface ValidatorKey {
  readonly seed: Uint8Array;
  readonly signer: Signer;
}

/**
 * Reads one validator key file: a passphrase keystore when its name ends in `.json`, else a
 * 32-byte seed as 64 hex characters. It must be readable by its owner only.
 */
export async function readValidatorKeyFile(path: string, passphrase?: string): Promise<Uint8Array> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new NodeError(
      'NODE_VALIDATOR_KEY',
      `${path} is accessible by group or others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
  }
  const text = await readFile(path, 'utf8');
  if (path.endsWith('.json')) {
    const secret = passphrase ?? process.env[KEYSTORE_PASSPHRASE_ENV];
    if (secret === undefined) {
      throw new NodeError(
        'NODE_VALIDATOR_KEY',
        `${path} is encrypted: give its passphrase (${KEYSTORE_PASSPHRASE_ENV})`,
      );
    }
    try {
      return decryptKeystore(text, secret).seed;
    } catch (error) {
      throw new NodeError('NODE_VALIDATOR_KEY', `${path}: ${(error as Error).message}`);
    }
  }
  try {
    return fromHex(text.trim(), 32);
  } catch {
    throw new NodeError(
      'NODE_VALIDATOR_KEY',
      `${path} must hold a 32-byte seed as 64 hex characters`,
    );
  }
}

/**
 * The rotated-to keys in `<home>/validator-keys/` (none when the directory is absent), but for
 * files named for a public key in `skip` (hex): a keystore costs a scrypt to open.
 */
export async function loadRotatedValidatorKeys(
  home: string,
  passphrase?: string,
  skip: ReadonlySet<string> = new Set(),
): Promise<ValidatorKey[]> {
  const dir = join(home, VALIDATOR_KEYS_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.keystore.json') || n.endsWith('.key'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const keys: ValidatorKey[] = [];
  for (const name of names.sort()) {
    if (skip.has(name.slice(0, 64))) continue;
    const seed = await readValidatorKeyFile(join(dir, name), passphrase);
    const signer = new Signer(seed);
    // The name says which key the file holds: a file copied under another name is refused.
    if (!name.startsWith(toHex(signer.publicKey))) {
      throw new NodeError(
        'NODE_VALIDATOR_KEY',
        `${join(dir, name)} holds key ${toHex(signer.publicKey)}, not the one its name says`,
      );
    }
    keys.push({ seed, signer });
  }
  return keys;
}

/**
 * Every validator key this node holds: the home's first one and the ones it rotated to. The
 * consensus core gets `rotated` (an array this keyring adds to as keys appear) and signs each
 * height with whichever key the height's set holds; whatever signs ledger transactions and
 * seals records uses `current(state)`, the key committed state names as its organization's.
 */
export class ValidatorKeyring {
  /** The rotated-to signers; grows in place on reload (the core reads it at every height). */
  readonly rotated: Signer[] = [];
  readonly #seeds = new Map<string, Uint8Array>();

  private constructor(
    readonly first: ValidatorKey,
    private readonly home: string,
    private readonly passphrase: string | undefined,
  ) {
    this.#seeds.set(toHex(first.signer.publicKey), first.seed);
  }

  static async open(home: string, first: Uint8Array, passphrase?: string) {
    const keyring = new ValidatorKeyring(
      { seed: first, signer: new Signer(first) },
      home,
      passphrase,
    );
    await keyring.reload();
    return keyring;
  }

  /** Picks up keys written to `validator-keys/` since (the CLI writes one before a rotation). */
  async reload(): Promise<void> {
    const known = new Set(this.#seeds.keys());
    for (const key of await loadRotatedValidatorKeys(this.home, this.passphrase, known)) {
      const hex = toHex(key.signer.publicKey);
      if (this.#seeds.has(hex)) continue;
      this.#seeds.set(hex, key.seed);
      this.rotated.push(key.signer);
    }
  }

  /**
   * The key `state` names as a member organization's validator key (the first such of the
   * keys held), else the first key: after a rotation commits, the new one.
   */
  current(state: KeyValueReader): ValidatorKey {
    for (const signer of [this.first.signer, ...this.rotated]) {
      if (organizationOfValidator(state, signer.publicKey) !== undefined) {
        return { signer, seed: this.#seeds.get(toHex(signer.publicKey))! };
      }
    }
    return this.first;
  }
}
