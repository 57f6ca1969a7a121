import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const client = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'medchain-client-pack-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const APP = `
import { KeySigner, exportKeystore, importKeystore, signTransaction, verifyTransactionSignature, toDidKey, parsePartyKey, toHex } from '@medchain/client';
const key = KeySigner.generate();
const again = importKeystore(exportKeystore(key, 'pw', { N: 1024, r: 8, p: 1 }), 'pw');
const tx = await signTransaction(again, { chainId: 'medchain-demo', kind: 'patient.register', body: {}, nonce: 1 });
const forged = { ...tx, nonce: 2 };
console.log(JSON.stringify({
  valid: verifyTransactionSignature(tx),
  forged: verifyTransactionSignature(forged),
  didKey: toHex(parsePartyKey(toDidKey(key.publicKey))) === toHex(key.publicKey),
}));
`;

describe('npm pack', () => {
  it('installs into an empty directory and signs and verifies a transaction there', () => {
    const tarball = execFileSync(process.execPath, [join(client, 'scripts', 'pack.mjs'), work], {
      encoding: 'utf8',
    }).trim();
    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), '{"name":"app","private":true,"type":"module"}');
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      cwd: app,
      stdio: 'pipe',
    });
    writeFileSync(join(app, 'app.mjs'), APP);
    const output = execFileSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual({ valid: true, forged: false, didKey: true });
    // The browser build carries no node: imports (crypto's browser platform is bundled in).
    const browser = readFileSync(
      join(app, 'node_modules/@medchain/client/dist/browser.js'),
      'utf8',
    );
    expect(browser).not.toMatch(/from\s*["']node:|require\(["']node:/);
  }, 90_000);
});
