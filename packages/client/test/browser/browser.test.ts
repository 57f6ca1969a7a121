import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { toHex } from '@medchain/crypto';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode } from '../node-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const packages = resolve(import.meta.dirname, '..', '..', '..');

/**
 * The client's browser path in headless Chromium: a page on one 127.0.0.1 origin calls a real
 * node API on another (CORS), signs and submits transactions, awaits receipts and verifies a
 * state proof with the light client. The bundle is esbuild's browser build of the client's
 * source (crypto's browser platform; a `node:` import would fail to bundle).
 */
describe.skipIf(!existsSync(CHROMIUM))('in a headless browser', () => {
  let browser: Browser;
  let page: Server;
  let pageUrl: string;
  let node: Awaited<ReturnType<typeof startNode>>;

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [join(import.meta.dirname, 'app.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      alias: Object.fromEntries(
        ['crypto', 'consensus', 'ledger'].map((name) => [
          `@medchain/${name}`,
          join(packages, name, 'src', 'index.ts'),
        ]),
      ),
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]!.text;
    page = createServer((request, response) => {
      if (request.url === '/app.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      } else {
        response
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script type="module" src="/app.js"></script>');
      }
    });
    await new Promise<void>((done) => page.listen(0, '127.0.0.1', done));
    pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}`;
    node = await startNode({ commitEveryMs: 20, corsOrigins: [pageUrl] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await node?.close();
    page?.close();
  });

  it('signs and submits transactions, awaits receipts and verifies a state proof', async () => {
    const tab = await browser.newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => 'runMedchain' in globalThis);
    const result = await tab.evaluate(
      ([url, hash]) =>
        (
          globalThis as unknown as {
            runMedchain: (url: string, hash: string) => Promise<Record<string, unknown>>;
          }
        ).runMedchain(url!, hash!),
      [node.url, toHex(node.backend.genesisHash)],
    );
    expect(result).toMatchObject({
      receipts: ['OK', 'OK'],
      committed: 'committed',
      signatureValid: true,
      proofVerified: true,
      forgedVerified: false,
    });
    expect(result.provenKey).toBe(result.patientKey);
    // Chromium with WebCrypto Ed25519 signs with a non-extractable key; otherwise noble.
    expect(result.signerKind).toBe(result.webCrypto ? 'WebCryptoSigner' : 'KeySigner');
  });
});
