import { toDidKey } from '@medchain/client';
import { fromHex, shortPublicKey, toHex } from '@medchain/crypto';
import type { Command } from 'commander';
import { example, outputOf, withPassphrase } from '../../util/common.js';
import { createKeystore, openKeystore, readKeystoreFile } from '../../util/keys.js';
import { fields } from '../../util/output.js';
import { checkNewPassphrase, getPassphrase } from '../../util/passphrase.js';
import { registerRotate } from './rotate.js';

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('Ed25519 keys in passphrase-encrypted keystore files');

  example(
    withPassphrase(
      keys
        .command('generate')
        .description('generate a key pair and write it to an encrypted keystore (mode 0600)')
        .requiredOption('--out <file>', 'keystore file to write (must not exist)'),
    ),
    'medchain keys generate --out alice.json',
    'MEDCHAIN_PASSPHRASE=... medchain keys generate --out alice.json --json',
  ).action(async (options: { out: string; passphraseFile?: string }, cmd: Command) => {
    const passphrase = checkNewPassphrase(
      await getPassphrase(
        { passphraseFile: options.passphraseFile },
        `new keystore ${options.out}`,
        true,
      ),
    );
    const key = createKeystore(options.out, passphrase);
    const result = {
      file: options.out,
      publicKey: toHex(key.publicKey),
      did: toDidKey(key.publicKey),
    };
    outputOf(cmd).result(result, (r: typeof result) => fields(r));
  });

  example(
    withPassphrase(
      keys
        .command('show')
        .description("show a keystore's public key (hex and did:key) and encryption parameters")
        .argument('<keystore>', 'keystore file')
        .option('--check', 'also unlock it, to check the passphrase'),
    ),
    'medchain keys show alice.json --check',
  ).action(
    async (file: string, options: { check?: boolean; passphraseFile?: string }, cmd: Command) => {
      const keystore = readKeystoreFile(file);
      if (options.check) {
        openKeystore(file, await getPassphrase({ passphraseFile: options.passphraseFile }, file));
      }
      const result = {
        file,
        publicKey: keystore.publicKey,
        did: toDidKey(fromHex(keystore.publicKey)),
        short: shortPublicKey(fromHex(keystore.publicKey)),
        kdf: { name: keystore.kdf.name, N: keystore.kdf.N, r: keystore.kdf.r, p: keystore.kdf.p },
        cipher: keystore.cipher.name,
        ...(options.check ? { passphrase: 'ok' } : {}),
      };
      outputOf(cmd).result(result, (r: typeof result) =>
        fields({
          file: r.file,
          publicKey: r.publicKey,
          did: r.did,
          kdf: `scrypt N=${r.kdf.N} r=${r.kdf.r} p=${r.kdf.p}`,
          cipher: r.cipher,
          ...(r.passphrase ? { passphrase: r.passphrase } : {}),
        }),
      );
    },
  );

  example(
    keys
      .command('export-public')
      .description(
        'print only the public key (hex, or with --did its did:key), e.g. for genesis or a consent grantee',
      )
      .argument('<keystore>', 'keystore file')
      .option('--did', 'print the did:key form'),
    'medchain keys export-public alice.json',
    'medchain keys export-public alice.json --did',
  ).action((file: string, options: { did?: boolean }, cmd: Command) => {
    const { publicKey } = readKeystoreFile(file);
    const did = toDidKey(fromHex(publicKey));
    outputOf(cmd).result({ publicKey, did }, (r: { publicKey: string; did: string }) =>
      options.did ? r.did : r.publicKey,
    );
  });

  registerRotate(keys);
}
