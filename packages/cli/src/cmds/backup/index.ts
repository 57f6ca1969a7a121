import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { decryptKeystore, encryptKeystore, formatKeystore, toHex } from '@medchain/crypto';
import { genesisHash } from '@medchain/ledger';
import type { Command } from 'commander';
import { example, outputOf, withPassphrase } from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
import { readGenesis } from '../../util/home.js';
import { openKeystore } from '../../util/keys.js';
import { nodePackage } from '../../util/node-package.js';
import { fields } from '../../util/output.js';
import { getPassphrase, type PassphraseOptions } from '../../util/passphrase.js';
import {
  describeFiles,
  extractArchive,
  type Manifest,
  openArchive,
  verifyArchive,
  writeArchive,
} from './archive.js';
import { nodeRunning, snapshotHome } from './snapshot.js';

/** The libp2p key travels encrypted under the validator keystore's passphrase, in this file. */
const PEER_KEYSTORE = 'peer-key.keystore.json';
const DUMPS = { db: 'db.dump', vault: 'vault.dump' } as const;

const random = (length: number) => new Uint8Array(randomBytes(length));

function listFiles(dir: string, under = ''): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true })
    .flatMap((entry) => {
      const name = under === '' ? entry.name : `${under}/${entry.name}`;
      return entry.isDirectory() ? listFiles(dir, name) : [name];
    })
    .sort();
}

interface BackupOptions extends PassphraseOptions {
  home: string;
  out: string;
}

async function backup(options: BackupOptions) {
  const node = await nodePackage();
  const home = resolve(options.home);
  const out = resolve(options.out);
  if (existsSync(out)) throw usageError(`${out} already exists`, 'choose a new file for --out');
  if (!existsSync(join(home, node.GENESIS_FILE))) {
    throw usageError(`${home} is not a node home with a genesis (no ${node.GENESIS_FILE})`);
  }
  const homeFormat = await node.readHomeFormat(home);
  node.refuseNewer(home, homeFormat);
  const passphrase = await getPassphrase(options, `the validator key of ${home}`);
  // The keys, encrypted, before any snapshot is taken: a wrong passphrase stops here.
  const keystorePath = join(home, node.VALIDATOR_KEYSTORE_FILE);
  let validatorKeystore: string;
  if (existsSync(keystorePath)) {
    openKeystore(keystorePath, passphrase);
    validatorKeystore = readFileSync(keystorePath, 'utf8');
  } else {
    const seed = await node.loadValidatorSeed(home);
    validatorKeystore = formatKeystore(encryptKeystore(seed, passphrase, random));
  }
  const peerKeystore = formatKeystore(
    encryptKeystore(await node.peerKeySeed(home), passphrase, random),
  );
  // Validator keys the node rotated to (validator-keys/): without them a restored node that
  // rotated would hold only retired keys.
  const rotatedKeystores = (await node.loadRotatedValidatorKeys(home, passphrase)).map((key) => ({
    name: `${node.VALIDATOR_KEYS_DIR}/${toHex(key.signer.publicKey)}.keystore.json`,
    text: formatKeystore(encryptKeystore(key.seed, passphrase, random)),
  }));
  const genesisPath = join(home, node.GENESIS_FILE);
  const genesis = readGenesis(genesisPath);

  // The CLI's own files (the keystores, a stopped node's snapshot) go beside --out.
  const staging = mkdtempSync(join(dirname(out), `.${basename(out)}.`));
  let snapshotDir: string | undefined;
  try {
    const snapshot = await snapshotHome(home, join(staging, 'snapshot'));
    snapshotDir = snapshot.dir;
    writeFileSync(join(staging, node.VALIDATOR_KEYSTORE_FILE), validatorKeystore, { mode: 0o600 });
    writeFileSync(join(staging, PEER_KEYSTORE), peerKeystore, { mode: 0o600 });
    const paths = new Map<string, string>([
      [node.CONFIG_FILE_NAME, join(home, node.CONFIG_FILE_NAME)],
      [node.GENESIS_FILE, genesisPath],
      [node.VALIDATOR_KEYSTORE_FILE, join(staging, node.VALIDATOR_KEYSTORE_FILE)],
      [PEER_KEYSTORE, join(staging, PEER_KEYSTORE)],
    ]);
    for (const { name, text } of rotatedKeystores) {
      mkdirSync(join(staging, node.VALIDATOR_KEYS_DIR), { recursive: true, mode: 0o700 });
      writeFileSync(join(staging, name), text, { mode: 0o600 });
      paths.set(name, join(staging, name));
    }
    for (const name of listFiles(snapshot.dir)) paths.set(name, join(snapshot.dir, name));
    const manifest: Manifest = {
      backupFormat: 1,
      homeFormat,
      chainId: genesis.chainId,
      genesisHash: toHex(genesisHash(genesis)),
      height: snapshot.height,
      stateRoot: snapshot.stateRoot,
      createdAt: new Date().toISOString(),
      source: snapshot.source,
      files: await describeFiles(paths),
    };
    await writeArchive(out, manifest, paths);
    return { out, ...manifest, files: manifest.files.length };
  } finally {
    if (snapshotDir !== undefined) rmSync(snapshotDir, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
}

interface RestoreOptions extends PassphraseOptions {
  backup: string;
  home: string;
  force?: boolean;
  expectChain?: string;
}

const wrongChain = (message: string) =>
  new CliError('BACKUP_WRONG_CHAIN', message, {
    hint: 'restore a backup of this chain; nothing was changed',
  });

async function restore(options: RestoreOptions) {
  const node = await nodePackage();
  const path = resolve(options.backup);
  const home = resolve(options.home);
  // 1. The archive: its header, its length, every file's checksum.
  const archive = await openArchive(path);
  await verifyArchive(path, archive);
  const { manifest } = archive;
  node.refuseNewer(path, manifest.homeFormat);
  // 2. The chain: what the operator expects, and what the target home already names.
  const expect = options.expectChain;
  if (
    expect !== undefined &&
    expect !== manifest.chainId &&
    expect.toLowerCase() !== manifest.genesisHash
  ) {
    throw wrongChain(
      `the backup is of chain ${manifest.chainId} (genesis ${manifest.genesisHash}), not ${expect}`,
    );
  }
  const occupied = existsSync(home) && readdirSync(home).length > 0;
  if (occupied && options.force !== true) {
    throw new CliError('HOME_NOT_EMPTY', `${home} is not empty`, {
      hint: 'restore into a new directory, or add --force to set the present home aside (it is moved, not deleted)',
    });
  }
  const homeGenesis = join(home, node.GENESIS_FILE);
  if (existsSync(homeGenesis)) {
    const present = toHex(genesisHash(readGenesis(homeGenesis)));
    if (present !== manifest.genesisHash) {
      throw wrongChain(
        `the backup is of genesis ${manifest.genesisHash}, ${home} holds genesis ${present}`,
      );
    }
  }
  if (occupied && (await nodeRunning(home))) {
    throw new CliError('NODE_RUNNING', `a node is running on ${home}`, { hint: 'stop it first' });
  }
  // 3. The keys: both must open with the passphrase before anything is written.
  const passphrase = await getPassphrase(options, 'the keys in the backup');
  mkdirSync(dirname(home), { recursive: true, mode: 0o700 });
  const staging = mkdtempSync(join(dirname(home), `.${basename(home)}.restore-`));
  let placed = false;
  try {
    await extractArchive(path, archive, staging);
    const genesis = readGenesis(join(staging, node.GENESIS_FILE));
    if (toHex(genesisHash(genesis)) !== manifest.genesisHash) {
      throw wrongChain('the genesis in the backup does not hash to the one its manifest names');
    }
    openKeystore(join(staging, node.VALIDATOR_KEYSTORE_FILE), passphrase);
    await node.loadRotatedValidatorKeys(staging, passphrase);
    let peerSeed: Uint8Array;
    try {
      peerSeed = decryptKeystore(
        readFileSync(join(staging, PEER_KEYSTORE), 'utf8'),
        passphrase,
      ).seed;
    } catch (error) {
      throw new CliError(
        'WRONG_PASSPHRASE',
        `the peer key in the backup: ${(error as Error).message}`,
      );
    }
    // 4. The home, built in the staging directory, then moved into place whole.
    await node.writePeerKeyFromSeed(staging, peerSeed);
    rmSync(join(staging, PEER_KEYSTORE));
    await node.loadDump(join(staging, DUMPS.db), join(staging, 'db'));
    await node.loadDump(join(staging, DUMPS.vault), join(staging, 'vault'));
    rmSync(join(staging, DUMPS.db));
    rmSync(join(staging, DUMPS.vault));
    mkdirSync(join(staging, 'wal'), { recursive: true, mode: 0o700 });
    await node.writeHomeFormat(staging, manifest.homeFormat);
    let setAside: string | undefined;
    if (occupied) {
      setAside = `${home}.before-restore-${Date.now()}`;
      renameSync(home, setAside);
    } else if (existsSync(home)) {
      rmdirSync(home);
    }
    renameSync(staging, home);
    placed = true;
    return {
      home,
      chainId: manifest.chainId,
      genesisHash: manifest.genesisHash,
      height: manifest.height,
      stateRoot: manifest.stateRoot,
      homeFormat: manifest.homeFormat,
      ...(setAside === undefined ? {} : { setAside }),
    };
  } finally {
    if (!placed) rmSync(staging, { recursive: true, force: true });
  }
}

export function registerBackup(program: Command): void {
  example(
    withPassphrase(
      program
        .command('backup')
        .description(
          'write a backup of a node home, the node running or not: a consistent snapshot of its database and vault, its WAL, config, genesis and keys (encrypted), each file with a sha256',
        )
        .requiredOption('--home <dir>', 'the node home')
        .requiredOption('--out <file>', 'the backup file to write (must not exist)'),
    ),
    'medchain backup --home ./hospital-a --out /backups/hospital-a-2026-12-06.mcbak',
  ).action(async (options: BackupOptions, cmd: Command) => {
    const result = await backup(options);
    outputOf(cmd).result(result, (r: typeof result) =>
      fields({
        out: r.out,
        chainId: r.chainId,
        genesisHash: r.genesisHash,
        height: r.height,
        stateRoot: r.stateRoot,
        homeFormat: r.homeFormat,
        source: r.source,
        files: r.files,
      }),
    );
  });

  example(
    withPassphrase(
      program
        .command('restore')
        .description(
          'put a backup back into a node home: checks every checksum, the chain and the keys first, then builds the home beside it and moves it into place',
        )
        .requiredOption('--backup <file>', 'the backup file')
        .requiredOption('--home <dir>', 'the home to restore into (new or empty)')
        .option(
          '--expect-chain <id>',
          'refuse a backup of another chain (chain id or genesis hash)',
        )
        .option('--force', 'restore over a home that is not empty; the present one is moved aside'),
    ),
    'medchain restore --backup /backups/hospital-a.mcbak --home ./hospital-a --expect-chain medchain-prod',
  ).action(async (options: RestoreOptions, cmd: Command) => {
    const result = await restore(options);
    outputOf(cmd).result(result, (r: typeof result) => [
      ...fields(r),
      '',
      `Start it with \`medchain start --home ${relative(process.cwd(), r.home) || '.'}\`: it catches up from its peers.`,
    ]);
  });
}
