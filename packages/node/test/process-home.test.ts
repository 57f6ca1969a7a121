import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encryptKeystore, formatKeystore, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GENESIS_FILE,
  KEYSTORE_PASSPHRASE_ENV,
  loadGenesis,
  loadValidatorKey,
  main,
  VALIDATOR_KEY_FILE,
  VALIDATOR_KEYSTORE_FILE,
} from '../src/index.js';
import { tempDir } from './helpers.js';

/** What a node process needs from its home before anything starts: genesis and the validator key. */
describe('node home', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  async function home(): Promise<string> {
    const dir = await tempDir('home');
    cleanups.push(dir.remove);
    return dir.path;
  }
  const seed = sha256(utf8('process-home-test'));
  const publicKey = toHex(new Signer(seed).publicKey);

  it('reads a plain validator key only when the file is private', async () => {
    const dir = await home();
    const path = join(dir, VALIDATOR_KEY_FILE);
    await expect(loadValidatorKey(dir)).rejects.toMatchObject({ code: 'NODE_VALIDATOR_KEY' });
    await writeFile(path, `${toHex(seed)}\n`);
    await chmod(path, 0o644);
    await expect(loadValidatorKey(dir)).rejects.toThrow(/chmod 600/);
    await chmod(path, 0o600);
    expect(toHex((await loadValidatorKey(dir)).publicKey)).toBe(publicKey);
    await writeFile(path, 'not hex');
    await expect(loadValidatorKey(dir)).rejects.toMatchObject({ code: 'NODE_VALIDATOR_KEY' });
  });

  it('prefers a keystore, which needs its passphrase (option or environment)', async () => {
    const dir = await home();
    const keystore = encryptKeystore(seed, 'correct horse', (n) => new Uint8Array(randomBytes(n)), {
      N: 2 ** 10,
      r: 8,
      p: 1,
    });
    const path = join(dir, VALIDATOR_KEYSTORE_FILE);
    await writeFile(path, formatKeystore(keystore), { mode: 0o600 });
    await chmod(path, 0o600);
    const saved = process.env[KEYSTORE_PASSPHRASE_ENV];
    delete process.env[KEYSTORE_PASSPHRASE_ENV];
    try {
      await expect(loadValidatorKey(dir)).rejects.toThrow(KEYSTORE_PASSPHRASE_ENV);
      await expect(loadValidatorKey(dir, 'wrong')).rejects.toMatchObject({
        code: 'NODE_VALIDATOR_KEY',
      });
      expect(toHex((await loadValidatorKey(dir, 'correct horse')).publicKey)).toBe(publicKey);
      process.env[KEYSTORE_PASSPHRASE_ENV] = 'correct horse';
      expect(toHex((await loadValidatorKey(dir)).publicKey)).toBe(publicKey);
    } finally {
      if (saved === undefined) delete process.env[KEYSTORE_PASSPHRASE_ENV];
      else process.env[KEYSTORE_PASSPHRASE_ENV] = saved;
    }
  });

  it('refuses a missing or malformed genesis with NODE_GENESIS_INVALID', async () => {
    const dir = await home();
    await expect(loadGenesis(dir)).rejects.toMatchObject({ code: 'NODE_GENESIS_INVALID' });
    await writeFile(join(dir, GENESIS_FILE), '{"chainId": "x"');
    await expect(loadGenesis(dir)).rejects.toMatchObject({ code: 'NODE_GENESIS_INVALID' });
    await writeFile(join(dir, GENESIS_FILE), '{"chainId": "medchain-x", "organizations": []}');
    // The ledger's own message names the field; the node adds the file.
    await expect(loadGenesis(dir)).rejects.toThrow(/genesis\.json: genesis: genesis\./);
  });

  it('the entry point refuses bad usage with exit code 2 before touching the home', async () => {
    expect(await main([])).toBe(2);
    expect(await main(['--home'])).toBe(2);
    expect(await main(['--home', '/nonexistent', '--log-level', 'loud'])).toBe(2);
    expect(await main(['--bogus'])).toBe(2);
  });
});
