import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportKeystore, KeySigner, type MedchainClient, type SentTx } from '@medchain/client';
import { bytesEqual, fromHex, Signer, toHex } from '@medchain/crypto';
import type { Command } from 'commander';
import {
  clientOf,
  example,
  outputOf,
  type SignerOptions,
  sendOptionsOf,
  signerOf,
  withSigner,
} from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
import { createKeystore, publicKeyArg, writeSecretFile } from '../../util/keys.js';
import { nodePackage } from '../../util/node-package.js';
import { fields } from '../../util/output.js';
import { getPassphrase } from '../../util/passphrase.js';

/** The member organization `admin` is an admin key of, as the node reports it. */
async function organizationOfAdmin(client: MedchainClient, admin: Uint8Array) {
  const { items } = await client.organizations();
  const org = items.find((o) => o.adminKeys.some((k) => bytesEqual(fromHex(k), admin)));
  if (org === undefined) {
    throw new CliError(
      'NOT_ORG_ADMIN',
      `${toHex(admin)} is not an admin key of a member organization`,
      { hint: "sign with one of your organization's current admin keystores (--key)" },
    );
  }
  return org;
}

function notTheOrgs(what: string, orgId: string): CliError {
  return new CliError('KEY_NOT_OF_ORG', `${what} is not a key of organization ${orgId}`, {
    hint: 'check --home / --old and that --key is an admin key of the same organization; nothing was changed',
  });
}

/**
 * Submits the rotation; if it is refused or fails, the file written for the new key goes
 * (nothing is left changed on disk), and the error says why.
 */
async function rotate(
  cmd: Command,
  options: SignerOptions,
  signer: KeySigner,
  body: { oldKey: Uint8Array; newKey: Uint8Array },
  written: string | undefined,
): Promise<SentTx> {
  try {
    return await clientOf(cmd, signer).sendTransaction(
      'organization.rotate-key',
      body,
      sendOptionsOf({ ...options, wait: true }),
    );
  } catch (error) {
    if (written !== undefined) rmSync(written, { force: true });
    throw error;
  }
}

function lines(r: Record<string, string | number>): string[] {
  return fields(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)])));
}

interface ValidatorOptions extends SignerOptions {
  home: string;
  homePassphraseFile?: string;
}

interface AdminOptions extends SignerOptions {
  old: Uint8Array;
  out?: string;
  new?: Uint8Array;
}

export function registerRotate(keys: Command): void {
  const rotateCmd = keys
    .command('rotate')
    .description(
      "rotate one of your organization's keys by transaction (organization.rotate-key), signed by an admin key",
    );

  example(
    withSigner(
      rotateCmd
        .command('validator')
        .description(
          'a new validator key for the node of --home: written to its validator-keys/ (encrypted like its validator keystore), then the rotation is committed; the running node switches to it 2 blocks later, with no restart',
        )
        .requiredOption('--home <dir>', 'the node home whose validator key rotates')
        .option(
          '--home-passphrase-file <file>',
          "the home's validator keystore passphrase (default: the --key passphrase source)",
        ),
      { noWait: false },
    ),
    'medchain keys rotate validator --home /var/lib/medchain --key a-admin.json --node https://127.0.0.1:7701',
  ).action(async (options: ValidatorOptions, cmd: Command) => {
    const node = await nodePackage();
    const home = resolve(options.home);
    const keystorePath = join(home, node.VALIDATOR_KEYSTORE_FILE);
    const plainPath = join(home, node.VALIDATOR_KEY_FILE);
    const encrypted = existsSync(keystorePath);
    if (!encrypted && !existsSync(plainPath)) {
      throw usageError(`${home} holds no validator key (${node.VALIDATOR_KEYSTORE_FILE})`);
    }
    const admin = await signerOf(options);
    // The home's keys, unlocked: a wrong passphrase stops here, before anything is written.
    const passphrase = encrypted
      ? await getPassphrase(
          { passphraseFile: options.homePassphraseFile ?? options.passphraseFile },
          `the validator keystore of ${home}`,
        )
      : undefined;
    let held: Uint8Array[];
    try {
      const first = await node.loadValidatorSeed(home, passphrase);
      const rotated = await node.loadRotatedValidatorKeys(home, passphrase);
      held = [new Signer(first).publicKey, ...rotated.map((k) => k.signer.publicKey)];
    } catch (error) {
      const wrong = /passphrase|decrypt|authentic/i.test((error as Error).message);
      throw new CliError(
        wrong ? 'WRONG_PASSPHRASE' : 'KEYSTORE_INVALID',
        (error as Error).message,
        {
          hint: wrong ? 'give the passphrase of the home validator keystore' : undefined,
        },
      );
    }
    const org = await organizationOfAdmin(clientOf(cmd), admin.publicKey);
    const oldKey = fromHex(org.validatorKey);
    if (!held.some((key) => bytesEqual(key, oldKey))) {
      throw notTheOrgs(`the validator key of ${home}`, org.id);
    }
    const fresh = KeySigner.generate();
    const dir = join(home, node.VALIDATOR_KEYS_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(
      dir,
      `${toHex(fresh.publicKey)}${passphrase === undefined ? '.key' : '.keystore.json'}`,
    );
    // The same form as the home's first key: the node opens both with one passphrase.
    writeSecretFile(
      file,
      passphrase === undefined ? `${toHex(fresh.seed)}\n` : exportKeystore(fresh, passphrase),
    );
    const sent = await rotate(cmd, options, admin, { oldKey, newKey: fresh.publicKey }, file);
    const result = {
      organization: org.id,
      oldKey: org.validatorKey,
      newKey: toHex(fresh.publicKey),
      file,
      height: sent.height ?? 0,
      switchHeight: (sent.height ?? 0) + 2,
      hash: sent.hash,
    };
    outputOf(cmd).result(result, lines);
  });

  example(
    withSigner(
      rotateCmd
        .command('admin')
        .description(
          'replace an admin key of your organization (your own, or a lost or stolen one) with a new key: a new keystore at --out (same passphrase as --key), or a public key another admin holds (--new)',
        )
        .requiredOption(
          '--old <key>',
          'the admin public key to retire (hex, did:key or keystore)',
          (v) => publicKeyArg(v, '--old'),
        )
        .option('--out <file>', 'write the new admin key here (must not exist)')
        .option('--new <key>', 'instead: the new admin public key', (v) =>
          publicKeyArg(v, '--new'),
        ),
      { noWait: false },
    ),
    'medchain keys rotate admin --key a-admin-2.json --old a-admin.json --out a-admin-3.json',
  ).action(async (options: AdminOptions, cmd: Command) => {
    if ((options.out === undefined) === (options.new === undefined)) {
      throw usageError('give either --out FILE (a new keystore) or --new KEY');
    }
    if (options.out !== undefined && existsSync(options.out)) {
      throw usageError(`${options.out} already exists`, 'choose a new file for --out');
    }
    const admin = await signerOf(options);
    const org = await organizationOfAdmin(clientOf(cmd), admin.publicKey);
    if (!org.adminKeys.some((k) => bytesEqual(fromHex(k), options.old))) {
      throw notTheOrgs(`admin key ${toHex(options.old)}`, org.id);
    }
    let newKey = options.new;
    let file: string | undefined;
    if (options.out !== undefined) {
      file = resolve(options.out);
      const passphrase = await getPassphrase({ passphraseFile: options.passphraseFile }, file);
      newKey = createKeystore(file, passphrase).publicKey;
    }
    const sent = await rotate(cmd, options, admin, { oldKey: options.old, newKey: newKey! }, file);
    const result = {
      organization: org.id,
      oldKey: toHex(options.old),
      newKey: toHex(newKey!),
      ...(file === undefined ? {} : { file }),
      height: sent.height ?? 0,
      hash: sent.hash,
    };
    outputOf(cmd).result(result, lines);
  });
}
