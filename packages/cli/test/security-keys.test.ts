import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptKeystore, toHex } from '@medchain/crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { initHome } from '../src/util/home.js';

/**
 * The keystores the CLI writes (`keys generate`, `init`'s validator key) never hold the key in
 * the clear: the seed, opened with the passphrase, appears in no encoding in any file written,
 * and the passphrase does not either. `init` leaves the API on loopback unless told otherwise.
 */

const PASSPHRASE = 'security test passphrase';
const dir = mkdtempSync(join(tmpdir(), 'medchain-security-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Every way a 32-byte seed could sit in a text or binary file. */
function encodings(seed: Uint8Array): string[] {
  const buffer = Buffer.from(seed);
  return [
    toHex(seed),
    toHex(seed).toUpperCase(),
    buffer.toString('base64'),
    buffer.toString('base64url'),
    buffer.toString('latin1'),
    JSON.stringify([...seed]),
    [...seed].join(','),
  ];
}

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile());
}

function expectNoPlaintext(files: readonly string[], seed: Uint8Array): void {
  for (const file of files) {
    const text = readFileSync(file).toString('latin1');
    for (const encoded of encodings(seed)) {
      expect(text.includes(encoded), `${file} holds the seed`).toBe(false);
    }
    expect(text.includes(PASSPHRASE), `${file} holds the passphrase`).toBe(false);
  }
}

describe('keystore files never contain a plaintext key', () => {
  it('keys generate: the keystore opens to a seed that appears nowhere in it', async () => {
    const passFile = join(dir, 'pass');
    writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const out = join(dir, 'generated.json');
    expect(
      await run([
        'node',
        'medchain',
        'keys',
        'generate',
        '--out',
        out,
        '--passphrase-file',
        passFile,
      ]),
    ).toBe(EXIT.ok);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const pair = decryptKeystore(readFileSync(out, 'utf8'), PASSPHRASE);
    expectNoPlaintext([out], pair.seed);
  });

  it('init: the validator keystore and every other file of the home hold no plaintext validator key; the API stays on loopback', async () => {
    const home = join(dir, 'home');
    const info = await initHome(home, PASSPHRASE, {});
    const files = filesUnder(home);
    const keystore = files.find((file) => readFileSync(file, 'utf8').includes('medchain-keystore'));
    expect(keystore).toBeDefined();
    const pair = decryptKeystore(readFileSync(keystore!, 'utf8'), PASSPHRASE);
    expect(toHex(pair.publicKey)).toBe(info.validatorKey);
    expectNoPlaintext(files, pair.seed);
    expect(info.config.api.host).toBe('127.0.0.1');
    const written = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8'));
    expect(written.api.host).toBe('127.0.0.1');
  });
});
