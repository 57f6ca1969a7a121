import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cli, devnetUp, json, jsonError, tempDir } from '../helpers.js';

/**
 * Backup and restore on one 4-validator devnet, driven only through the CLI: a backup of a
 * running validator, corrupt, foreign and wrongly unlocked backups refused with nothing changed
 * on disk, then the validator's home replaced by its restored backup: it rejoins and converges
 * with the other three. Also `upgrade` and `start` on homes of other data formats.
 */

interface DevnetFile {
  chainId: string;
  nodes: { name: string; api: string; home: string }[];
}

const dir = tempDir('backup');
const work = tempDir('backup-work');
const readDevnet = (): DevnetFile => JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8'));
const ok = (run: CliRun) => expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
const withPassphrase = (passphrase?: string) => ({
  env: { MEDCHAIN_PASSPHRASE: passphrase ?? readFileSync(join(dir, 'passphrase'), 'utf8').trim() },
});
/** Every path under `path` with its bytes (or 'absent'): "nothing changed on disk" compares these. */
function contents(path: string): Record<string, string> | 'absent' {
  if (!existsSync(path)) return 'absent';
  const out: Record<string, string> = {};
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    const file = join(entry.parentPath, entry.name);
    out[file] = entry.isFile() ? readFileSync(file).toString('hex') : 'dir';
  }
  return out;
}
/** The parent of the restore target: no staging directory may be left behind there either. */
const leftovers = () => readdirSync(work).filter((name) => name.includes('.restore-'));
const refused = (run: CliRun, code: string) => {
  expect(run.code, run.stderr).toBe(1);
  expect(jsonError(run).error.code).toBe(code);
};

afterAll(() => {
  for (const path of [dir, work]) rmSync(path, { recursive: true, force: true });
});

let backupFile: string;
let manifest: { chainId: string; genesisHash: string; height: number; source: string };

describe('medchain backup and restore', () => {
  beforeAll(async () => {
    await devnetUp(dir);
    ok(await cli(['devnet', 'demo', '--dir', dir, '--json'], { timeoutMs: 120_000 }));
  }, 280_000);

  afterAll(async () => {
    await cli(['devnet', 'down', '--dir', dir, '--json'], { timeoutMs: 60_000 });
    rmSync(dir, { recursive: true, force: true });
  }, 70_000);

  it('backs up a running validator: consistent snapshot, keys encrypted, a checksum per file', async () => {
    const d = readDevnet().nodes[3]!;
    backupFile = join(work, 'hospital-d.mcbak');
    const run = await cli(
      ['backup', '--home', d.home, '--out', backupFile, '--json'],
      withPassphrase(),
    );
    ok(run);
    manifest = json(run);
    expect(manifest).toMatchObject({
      chainId: readDevnet().chainId,
      source: 'running node',
      homeFormat: 3,
      genesisHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(manifest.height).toBeGreaterThan(0);
    const bytes = readFileSync(backupFile);
    const text = bytes.toString('latin1');
    expect(text.startsWith('MEDCHAIN-BACKUP 1\n')).toBe(true);
    // The keys are in keystores: neither seed appears in the clear.
    const peerKey = readFileSync(join(d.home, 'peer-key'));
    expect(bytes.includes(peerKey.subarray(peerKey.length - 32))).toBe(false);
    expect(text).toContain('"name":"peer-key.keystore.json"');
    expect(text).toContain('"name":"validator.keystore.json"');
    expect(text).toMatch(/"name":"wal\/[^"]+","size":\d+,"sha256":"[0-9a-f]{64}"/);
    // The node's snapshot directory in its home was collected.
    expect(readdirSync(d.home).filter((name) => name.startsWith('.backup-'))).toEqual([]);
  }, 60_000);

  it('refuses a wrong passphrase at backup, writing nothing', async () => {
    const d = readDevnet().nodes[3]!;
    const out = join(work, 'wrong.mcbak');
    const run = await cli(
      ['backup', '--home', d.home, '--out', out, '--json'],
      withPassphrase('not the passphrase'),
    );
    refused(run, 'WRONG_PASSPHRASE');
    expect(readdirSync(work).filter((name) => name.includes('wrong'))).toEqual([]);
  }, 30_000);

  it('refuses a corrupt backup (a flipped byte, a cut, a tail) with nothing changed on disk', async () => {
    const target = join(work, 'corrupt-home');
    const bytes = readFileSync(backupFile);
    const flippedData = Buffer.from(bytes);
    flippedData[bytes.length - 100]! ^= 0x01;
    const flippedManifest = Buffer.from(bytes);
    flippedManifest[200]! ^= 0x01;
    for (const [name, damaged] of [
      ['flipped-data', flippedData],
      ['flipped-manifest', flippedManifest],
      ['truncated', bytes.subarray(0, bytes.length - 1)],
      ['tail', Buffer.concat([bytes, Buffer.from('x')])],
      ['header-only', bytes.subarray(0, 30)],
    ] as const) {
      const file = join(work, `${name}.mcbak`);
      writeFileSync(file, damaged);
      const run = await cli(
        ['restore', '--backup', file, '--home', target, '--json'],
        withPassphrase(),
      );
      refused(run, 'BACKUP_CORRUPT');
      expect(jsonError(run).error.message, name).toContain('not an intact medchain backup');
      expect(existsSync(target)).toBe(false);
      expect(leftovers()).toEqual([]);
    }
  }, 60_000);

  it('refuses a backup of another chain, and a wrong passphrase, with nothing changed on disk', async () => {
    const target = join(work, 'other-chain-home');
    const expectOther = await cli(
      [
        'restore',
        '--backup',
        backupFile,
        '--home',
        target,
        '--expect-chain',
        'another-chain',
        '--json',
      ],
      withPassphrase(),
    );
    refused(expectOther, 'BACKUP_WRONG_CHAIN');
    expect(existsSync(target)).toBe(false);

    // A home that already names another genesis: refused even with --force.
    mkdirSync(target);
    const genesis = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8'));
    writeFileSync(
      join(target, 'genesis.json'),
      JSON.stringify({ ...genesis, chainId: 'another-chain' }),
    );
    writeFileSync(join(target, 'config.json'), '{}');
    const before = contents(target);
    const foreign = await cli(
      ['restore', '--backup', backupFile, '--home', target, '--force', '--json'],
      withPassphrase(),
    );
    refused(foreign, 'BACKUP_WRONG_CHAIN');
    expect(jsonError(foreign).error.message).toContain(manifest.genesisHash);
    const notEmpty = await cli(
      ['restore', '--backup', backupFile, '--home', target, '--json'],
      withPassphrase(),
    );
    refused(notEmpty, 'HOME_NOT_EMPTY');
    expect(contents(target)).toEqual(before);

    const fresh = join(work, 'wrong-passphrase-home');
    const wrong = await cli(
      ['restore', '--backup', backupFile, '--home', fresh, '--json'],
      withPassphrase('not the passphrase'),
    );
    refused(wrong, 'WRONG_PASSPHRASE');
    expect(existsSync(fresh)).toBe(false);
    expect(leftovers()).toEqual([]);
  }, 60_000);

  it('restores the validator on a fresh home: it rejoins and converges with the others', async () => {
    const net = readDevnet();
    const d = net.nodes[3]!;
    // The chain moves on after the backup: the restored node has blocks to catch up.
    const patient = readdirSync(join(dir, 'demo'))
      .map((run) => join(dir, 'demo', run, 'patient.json'))
      .find(existsSync)!;
    const moved = await cli(
      [
        'tx',
        'policy',
        '--key',
        patient,
        '--break-glass',
        'deny',
        '--research',
        'deny',
        '--node',
        net.nodes[0]!.api,
        '--json',
      ],
      withPassphrase(),
    );
    ok(moved);
    const after = json<{ height: number }>(moved).height;
    expect(after).toBeGreaterThan(manifest.height);

    ok(await cli(['devnet', 'kill', 'hospital-d', '--dir', dir, '--json']));
    const old = `${d.home}.lost`;
    renameSync(d.home, old); // the host's disk is gone; a fresh one gets the backup
    const restored = await cli(
      [
        'restore',
        '--backup',
        backupFile,
        '--home',
        d.home,
        '--expect-chain',
        net.chainId,
        '--json',
      ],
      withPassphrase(),
    );
    ok(restored);
    expect(json(restored)).toMatchObject({
      home: d.home,
      height: manifest.height,
      chainId: net.chainId,
    });
    expect(readFileSync(join(d.home, 'peer-key'))).toEqual(readFileSync(join(old, 'peer-key')));
    expect(readFileSync(join(d.home, 'validator.keystore.json'), 'utf8')).toBe(
      readFileSync(join(old, 'validator.keystore.json'), 'utf8'),
    );

    const restart = await cli(['devnet', 'restart', 'hospital-d', '--dir', dir, '--json'], {
      timeoutMs: 90_000,
    });
    ok(restart);
    // Converged: all four report the same head (height, block hash and state root).
    let heads: string[] = [];
    for (let attempt = 0; attempt < 60; attempt++) {
      const statuses = await Promise.all(
        net.nodes.map((node) => cli(['status', '--node', node.api, '--json'])),
      );
      heads = statuses.map((s) => {
        if (s.code !== 0) return `down ${s.stderr}`;
        const st = json<{ height: number; lastBlockHash: string; stateRoot: string }>(s);
        return `${st.height} ${st.lastBlockHash} ${st.stateRoot}`;
      });
      if (new Set(heads).size === 1 && Number(heads[0]!.split(' ')[0]) >= after) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(new Set(heads).size, heads.join('\n')).toBe(1);
    expect(Number(heads[0]!.split(' ')[0])).toBeGreaterThanOrEqual(after);
    // And it votes again: a new transaction commits with hospital-d in the network.
    const again = await cli(
      [
        'tx',
        'policy',
        '--key',
        patient,
        '--break-glass',
        'allow',
        '--research',
        'deny',
        '--node',
        d.api,
        '--json',
      ],
      withPassphrase(),
    );
    ok(again);
  }, 180_000);

  it('backs up a stopped format-1 home and restores it; upgrade refuses its older state layout', async () => {
    const lost = `${readDevnet().nodes[3]!.home}.lost`; // stopped since the last test
    rmSync(join(lost, 'home-format.json')); // as releases before the format file left it
    const file = join(work, 'format-1.mcbak');
    const run = await cli(['backup', '--home', lost, '--out', file, '--json'], withPassphrase());
    ok(run);
    expect(json(run)).toMatchObject({ source: 'stopped node', homeFormat: 1 });
    expect(json<{ height: number }>(run).height).toBeGreaterThan(manifest.height);
    const home = join(work, 'format-1-home');
    ok(await cli(['restore', '--backup', file, '--home', home, '--json'], withPassphrase()));
    expect(JSON.parse(readFileSync(join(home, 'home-format.json'), 'utf8'))).toEqual({
      version: 1,
    });
    const upgraded = await cli(['upgrade', '--home', home, '--json']);
    refused(upgraded, 'NODE_HOME_FORMAT_OLD');
    expect(jsonError(upgraded).error.message).toContain('cannot migrate it');
  }, 60_000);
});

describe('medchain upgrade, and start on a home of another format', () => {
  const passphrase = 'correct horse battery staple';
  const env = { env: { MEDCHAIN_PASSPHRASE: passphrase } };

  it('refuses a home of an older state layout and a newer one, nothing changed, saying why', async () => {
    const home = join(work, 'upgrade-home');
    ok(await cli(['init', '--home', home, '--api-port', '0', '--p2p-port', '0', '--json'], env));
    expect(JSON.parse(readFileSync(join(home, 'home-format.json'), 'utf8'))).toEqual({
      version: 3,
    });

    // A home as releases before the format file left it: its chain has the old state layout.
    const old = join(work, 'old-home');
    cpSync(home, old, { recursive: true });
    rmSync(join(old, 'home-format.json'));
    mkdirSync(join(old, 'db'));
    const unchanged = contents(old);
    for (const args of [['start'], ['upgrade']]) {
      const run = await cli([...args, '--home', old, '--json'], env);
      refused(run, 'NODE_HOME_FORMAT_OLD');
      expect(jsonError(run).error.message).toMatch(
        /data format 1; this medchain reads format 3 and cannot migrate it/,
      );
      expect(jsonError(run).error.message).toContain('start a new chain');
    }
    expect(contents(old)).toEqual(unchanged);

    const newer = join(work, 'newer-home');
    cpSync(home, newer, { recursive: true });
    writeFileSync(join(newer, 'home-format.json'), '{"version":4}\n');
    const before = contents(newer);
    for (const args of [['upgrade'], ['start']]) {
      const run = await cli([...args, '--home', newer, '--json'], env);
      refused(run, 'NODE_HOME_FORMAT_NEWER');
      expect(jsonError(run).error.message).toContain('data format 4, newer than format 3');
    }
    expect(contents(newer)).toEqual(before);
  }, 60_000);
});
