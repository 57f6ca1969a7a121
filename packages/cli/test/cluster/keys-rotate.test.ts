import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encryptKeystore, formatKeystore, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { loadRotatedValidatorKeys, type MedchainNode } from '@medchain/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  makeNetwork,
  type Network,
  orgAdminOf,
  registration,
  startNode,
  waitUntil,
} from '../../../node/test/cluster-harness.js';
import { run as runCli } from '../../src/index.js';
import { type CliRun, json, jsonError, tempDir } from '../helpers.js';

/**
 * `medchain keys rotate validator|admin` against a live 4-validator network, all in this
 * process. Bad input gets a coded error and exit 1, and changes nothing.
 */
const PASSPHRASE = 'rotation test passphrase';

describe('medchain keys rotate', () => {
  let network: Network;
  let nodes: MedchainNode[];
  const dir = tempDir('medchain-keys-rotate-');
  const passFile = join(dir, 'pass');
  const wrongFile = join(dir, 'wrong');
  let api: string;

  /** The cluster's admin key of organization `index`, as the keystore an operator holds. */
  function adminKeystore(index: number): string {
    const path = join(dir, `admin-${index}.json`);
    if (!existsSync(path)) {
      // cluster-harness.ts derives each admin seed from the network's root directory.
      const seed = sha256(utf8(`cluster-test:admin:${index}:${network.root}`));
      expect(new Signer(seed).publicKey).toEqual(orgAdminOf(network, index).publicKey);
      writeFileSync(
        path,
        formatKeystore(encryptKeystore(seed, PASSPHRASE, (n) => new Uint8Array(randomBytes(n)))),
        {
          mode: 0o600,
        },
      );
    }
    return path;
  }

  /** `medchain ...args --json` in this process (a spawned CLI costs seconds each); --node API unless local. */
  async function run(args: string[], local = false): Promise<CliRun> {
    let stdout = '';
    let stderr = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk);
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
    try {
      const node = local ? [] : ['--node', api];
      const code = await runCli(['node', 'medchain', ...args, ...node, '--json']);
      return { code, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  }

  beforeAll(async () => {
    writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    writeFileSync(wrongFile, 'not the passphrase\n', { mode: 0o600 });
    network = await makeNetwork({ validators: 4 });
    nodes = await Promise.all(network.homes.map(startNode));
    api = nodes[0]!.parts.apiUrl;
  }, 60_000);

  afterAll(async () => {
    await Promise.all((nodes ?? []).map((node) => node.stop()));
    await network?.remove();
  });

  const keysDir = (index: number) => join(network.homes[index]!.home, 'validator-keys');

  it('refuses a wrong passphrase and a key that is not the organization, writing nothing', async () => {
    const home = network.homes[3]!.home;
    const wrong = await run([
      'keys',
      'rotate',
      'validator',
      '--home',
      home,
      '--key',
      adminKeystore(3),
      '--passphrase-file',
      wrongFile,
    ]);
    expect(wrong.code).toBe(1);
    expect(jsonError(wrong).error.code).toBe('WRONG_PASSPHRASE');
    // Organization 0's admin cannot rotate node 3's validator key.
    const other = await run([
      'keys',
      'rotate',
      'validator',
      '--home',
      home,
      '--key',
      adminKeystore(0),
      '--passphrase-file',
      passFile,
    ]);
    expect(other.code).toBe(1);
    expect(jsonError(other).error.code).toBe('KEY_NOT_OF_ORG');
    expect(existsSync(keysDir(3))).toBe(false);
    const out = join(dir, 'never.json');
    const admin = await run([
      'keys',
      'rotate',
      'admin',
      '--key',
      adminKeystore(1),
      '--old',
      adminKeystore(2),
      '--out',
      out,
      '--passphrase-file',
      passFile,
    ]);
    expect(admin.code).toBe(1);
    expect(jsonError(admin).error.code).toBe('KEY_NOT_OF_ORG');
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('rotates the validator key of a running node, which keeps voting with the new key', async () => {
    const rotated = await run([
      'keys',
      'rotate',
      'validator',
      '--home',
      network.homes[3]!.home,
      '--key',
      adminKeystore(3),
      '--passphrase-file',
      passFile,
    ]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const result = json<{ newKey: string; switchHeight: number; file: string }>(rotated);
    expect(readdirSync(keysDir(3))).toEqual([`${result.newKey}.key`]);
    const chain = nodes[0]!.parts.chain;
    let i = 0;
    await waitUntil('a certificate signed by the new key', async () => {
      const head = chain.height;
      for (let h = result.switchHeight; h <= head; h++) {
        const votes = chain.loadBlock(h)!.certificate.votes.map((v) => toHex(v.from));
        if (votes.includes(result.newKey)) return true;
      }
      nodes[0]!.parts.backend.submitTransaction(registration(`cli-rotate-${i++}`));
      return false;
    });
  }, 90_000);

  it('a backup carries the rotated validator key, and restore puts it back', async () => {
    const out = join(dir, 'node3.mcbak');
    const backup = await run(
      ['backup', '--home', network.homes[3]!.home, '--out', out, '--passphrase-file', passFile],
      true,
    );
    expect(backup.code, backup.stderr).toBe(0);
    const [rotated] = readdirSync(keysDir(3));
    const publicKey = rotated!.replace(/\.key$/, '');
    const target = join(dir, 'restored');
    const restore = await run(
      ['restore', '--backup', out, '--home', target, '--passphrase-file', passFile],
      true,
    );
    expect(restore.code, restore.stderr).toBe(0);
    const keys = await loadRotatedValidatorKeys(target, PASSPHRASE);
    expect(keys.map((key) => toHex(key.signer.publicKey))).toEqual([publicKey]);
  }, 90_000);

  it('rotates an admin key; the old one is refused from then on', async () => {
    const out = join(dir, 'admin-1-new.json');
    const rotated = await run([
      'keys',
      'rotate',
      'admin',
      '--key',
      adminKeystore(1),
      '--old',
      adminKeystore(1),
      '--out',
      out,
      '--passphrase-file',
      passFile,
    ]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const provider = toHex(new Signer(sha256(utf8('cli-rotate:nurse'))).publicKey);
    const register = (key: string) =>
      run([
        'tx',
        'register-provider',
        '--key',
        key,
        '--provider',
        provider,
        '--role',
        'nurse',
        '--passphrase-file',
        passFile,
      ]);
    const refused = await register(adminKeystore(1));
    expect(refused.code).toBe(1);
    expect(jsonError(refused).error.code).toBe('NOT_ORG_ADMIN');
    expect((await register(out)).code).toBe(0);
  }, 90_000);
});
