/**
 * The browser build of @medchain/crypto (platform/browser.ts: noble, no Buffer, no `node:`)
 * against the Node build (platform/node.ts: OpenSSL): same bytes for every operation, and
 * values written by one are read by the other. The browser build runs as a consumer bundles
 * it, in a realm without Node's globals (./browser-bundle.ts). The verification rule's edge
 * cases run on the browser build in ed25519.test.ts, the known-answer vectors in kat.test.ts.
 */

import type { Canonical, CryptoErrorCode } from '@medchain/crypto';
import * as node from '@medchain/crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bundleForBrowsers, loadBrowserCrypto, sourceEntry } from './browser-bundle.js';

const browser = await loadBrowserCrypto();

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytesArb = fc.uint8Array({ maxLength: 300 });
const hex = node.toHex;

function errorCode(action: () => unknown): CryptoErrorCode | 'none' {
  try {
    action();
  } catch (error) {
    return (error as { code?: CryptoErrorCode }).code ?? 'none';
  }
  return 'none';
}

/** Deterministic "randomness" for both sides: counts up from a start byte. */
function counter(start: number): (length: number) => Uint8Array {
  let next = start;
  return (length) => new Uint8Array(length).map(() => next++ & 0xff);
}

describe('the browser bundle', () => {
  const entryPoints = ['crypto', 'ledger', 'consensus'].map(sourceEntry);

  it('builds crypto, ledger and consensus for browsers with no node: import and no Buffer in our code', async () => {
    const { outputFiles, metafile } = await bundleForBrowsers({
      entryPoints,
      format: 'esm',
      outdir: 'browser-bundle',
    });
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.some((path) => path.endsWith('crypto/src/platform/browser.ts'))).toBe(true);
    expect(inputs.filter((path) => path.includes('platform/node'))).toEqual([]);
    expect(outputFiles).toHaveLength(3);
    for (const output of outputFiles) {
      expect(output.text, output.path).not.toMatch(/["']node:/);
      // esbuild marks each module's code with a `// path` line. Our packages may not name
      // Buffer at all; msgpackr's browser build names it only behind `typeof Buffer` checks,
      // which the realm test below shows hold when there is no Buffer.
      const modules = output.text.split(/^\/\/ (?=\S+\.[jt]s$)/m);
      for (const module of modules) {
        if (!/(?<![\w$.])Buffer\b/.test(module)) continue;
        const path = module.slice(0, module.indexOf('\n'));
        expect(path, `${output.path}: Buffer in ${path}`).toMatch(/node_modules\/msgpackr\//);
        expect(module).toMatch(/typeof Buffer/);
      }
    }
  });

  it('loads crypto, ledger and consensus in a realm without Buffer, process or require', async () => {
    const { outputFiles } = await bundleForBrowsers({
      entryPoints,
      format: 'iife',
      globalName: 'bundle',
      outdir: 'browser-bundle',
    });
    const { createContext, runInContext } = await import('node:vm');
    for (const output of outputFiles) {
      const context = createContext({ TextEncoder, TextDecoder });
      expect(runInContext('typeof Buffer + typeof process + typeof require', context)).toBe(
        'undefinedundefinedundefined',
      );
      runInContext(output.text, context);
      expect(Object.keys(runInContext('bundle', context)).length, output.path).toBeGreaterThan(10);
    }
  });
});

describe('same bytes on both platforms', () => {
  it('hex, latin1 and byte order', () => {
    fc.assert(
      fc.property(bytesArb, bytesArb, (a, b) => {
        expect(browser.toHex(a)).toBe(hex(a));
        expect(browser.binaryString(a)).toBe(node.binaryString(a));
        for (const platform of [node, browser]) {
          const back = platform.fromBinaryString(node.binaryString(a));
          expect(back).toEqual(a);
          expect(back.byteLength).toBe(back.buffer.byteLength);
        }
        expect(hex(browser.fromHex(hex(a)))).toBe(hex(a));
        expect(Math.sign(browser.compareBytes(a, b))).toBe(Math.sign(node.compareBytes(a, b)));
        expect(browser.bytesEqual(a, b)).toBe(node.bytesEqual(a, b));
        expect(browser.bytesEqual(a, a.slice())).toBe(true);
      }),
      { numRuns: 300 },
    );
    const big = new Uint8Array(70_000).map((_, i) => (i * 131) & 0xff);
    expect(browser.binaryString(big)).toBe(node.binaryString(big));
  });

  it('fromHex refuses the same strings with the same codes', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 12 }), fc.stringMatching(/^[0-9a-fA-F]{0,12}$/)),
        fc.option(fc.nat({ max: 6 }), { nil: undefined }),
        (text, length) => {
          const code = errorCode(() => node.fromHex(text, length));
          expect(errorCode(() => browser.fromHex(text, length))).toBe(code);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sha256 and taggedHash in every domain, one part or many, short or above 64 KiB', () => {
    const domains = Object.keys(node.HashDomain) as node.HashDomainName[];
    fc.assert(
      fc.property(fc.constantFrom(...domains), fc.array(bytesArb, { maxLength: 4 }), (d, parts) => {
        expect(hex(browser.taggedHash(d, ...parts))).toBe(hex(node.taggedHash(d, ...parts)));
        const joined = node.concatBytes(...parts);
        expect(hex(browser.sha256(joined))).toBe(hex(node.sha256(joined)));
      }),
      { numRuns: 200 },
    );
    const large = new Uint8Array(70_000).map((_, i) => i & 0xff);
    expect(hex(browser.taggedHash('RecordContent', large, large))).toBe(
      hex(node.taggedHash('RecordContent', large, large)),
    );
  });

  it('taggedHashBinary and sha256Binary are taggedHash and sha256 as binary strings', () => {
    const domains = Object.keys(node.HashDomain) as node.HashDomainName[];
    const large = new Uint8Array(70_000).map((_, i) => i & 0xff);
    fc.assert(
      fc.property(
        fc.constantFrom(...domains),
        fc.oneof(bytesArb, fc.constant(large)),
        fc.option(bytesArb, { nil: undefined }),
        fc.boolean(),
        (d, first, second, asStrings) => {
          const parts = second === undefined ? [first] : [first, second];
          const expected = node.binaryString(node.taggedHash(d, ...parts));
          const given = asStrings ? parts.map(node.binaryString) : parts;
          for (const platform of [node, browser]) {
            expect(platform.taggedHashBinary(d, given[0]!, given[1])).toBe(expected);
            expect(platform.sha256Binary(first)).toBe(node.binaryString(node.sha256(first)));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('Ed25519 keys and signatures, each verified by the other platform', () => {
    fc.assert(
      fc.property(seedArb, bytesArb, (seed, message) => {
        const pair = browser.keyPairFromSeed(seed);
        expect(hex(pair.publicKey)).toBe(hex(node.keyPairFromSeed(seed).publicKey));
        const signature = browser.sign(seed, message);
        expect(hex(signature)).toBe(hex(node.sign(seed, message)));
        expect(hex(new browser.Signer(seed).sign(message))).toBe(hex(signature));
        expect(node.verify(pair.publicKey, message, signature)).toBe(true);
        expect(browser.verify(pair.publicKey, message, signature)).toBe(true);
        expect(browser.isAcceptablePublicKeyCached(pair.publicKey)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('X25519, including the small-order u-coordinates both refuse', () => {
    fc.assert(
      fc.property(seedArb, seedArb, (scalar, u) => {
        const expected = errorCode(() => node.x25519(scalar, u));
        expect(errorCode(() => browser.x25519(scalar, u))).toBe(expected);
        if (expected === 'none')
          expect(hex(browser.x25519(scalar, u))).toBe(hex(node.x25519(scalar, u)));
        expect(hex(browser.x25519PublicKey(scalar))).toBe(hex(node.x25519PublicKey(scalar)));
        expect(hex(browser.x25519SecretFromEd25519Seed(scalar))).toBe(
          hex(node.x25519SecretFromEd25519Seed(scalar)),
        );
        const edPublic = node.keyPairFromSeed(scalar).publicKey;
        expect(hex(browser.x25519PublicKeyFromEd25519(edPublic))).toBe(
          hex(node.x25519PublicKeyFromEd25519(edPublic)),
        );
      }),
      { numRuns: 60 },
    );
    // u = 0, 1, p - 1, the two points of order 8, and the non-canonical p and p + 1 (which
    // reduce to 0 and 1), each also with the ignored top bit set.
    const p = ed25519.Point.Fp.ORDER;
    const smallOrder = [
      0n,
      1n,
      p - 1n,
      325606250916557431795983626356110631294008115727848805560023387167927233504n,
      39382357235489614581723060781553021112529911719440698176882885853963445705823n,
      p,
      p + 1n,
    ].flatMap((u) => [u, u | (1n << 255n)]);
    const scalar = new Uint8Array(32).fill(0x42);
    for (const u of smallOrder) {
      const bytes = new Uint8Array(32).map((_, i) => Number((u >> BigInt(8 * i)) & 0xffn));
      expect(
        errorCode(() => node.x25519(scalar, bytes)),
        `u = ${u}`,
      ).toBe('CRYPTO_BAD_PUBLIC_KEY');
      expect(
        errorCode(() => browser.x25519(scalar, bytes)),
        `u = ${u}`,
      ).toBe('CRYPTO_BAD_PUBLIC_KEY');
    }
  });

  it('canonical encoding and Merkle roots', () => {
    const canonicalArb: fc.Arbitrary<Canonical> = fc.letrec<{ value: Canonical }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.maxSafeInteger(),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
        fc.string({ unit: 'grapheme', maxLength: 12 }),
        bytesArb,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(canonicalArb, (value) => {
        const encoded = node.encodeCanonical(value);
        expect(hex(browser.encodeCanonical(value))).toBe(hex(encoded));
        expect(hex(node.encodeCanonical(browser.decodeCanonical(encoded)))).toBe(hex(encoded));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(bytesArb, { maxLength: 20 }), (leaves) => {
        expect(hex(browser.merkleRoot(leaves))).toBe(hex(node.merkleRoot(leaves)));
      }),
      { numRuns: 50 },
    );
  });
});

describe('keystores written on one platform open on the other', () => {
  const FAST = { N: 2 ** 10, r: 8, p: 1 };

  it('identical files from the same randomness; each opens the other, with the same errors', () => {
    fc.assert(
      fc.property(
        seedArb,
        fc.string({ unit: 'binary', maxLength: 16 }),
        fc.nat({ max: 255 }),
        (seed, passphrase, start) => {
          const fromNode = node.encryptKeystore(seed, passphrase, counter(start), FAST);
          const fromBrowser = browser.encryptKeystore(seed, passphrase, counter(start), FAST);
          expect(browser.formatKeystore(fromBrowser)).toBe(node.formatKeystore(fromNode));
          const text = node.formatKeystore(fromNode);
          expect(hex(browser.decryptKeystore(text, passphrase).seed)).toBe(hex(seed));
          expect(hex(node.decryptKeystore(fromBrowser, passphrase).seed)).toBe(hex(seed));
          const wrong = `${passphrase}!`;
          expect(errorCode(() => browser.decryptKeystore(text, wrong))).toBe(
            'CRYPTO_KEYSTORE_PASSPHRASE',
          );
          const tampered = text.replace(/"ciphertext": "(.)/, (_, c: string) => {
            return `"ciphertext": "${c === '0' ? '1' : '0'}`;
          });
          expect(errorCode(() => browser.decryptKeystore(tampered, passphrase))).toBe(
            errorCode(() => node.decryptKeystore(tampered, passphrase)),
          );
        },
      ),
      { numRuns: 8 },
    );
  });

  it("the CLI's default-strength keystore opens in the browser build", () => {
    const seed = new Uint8Array(32).map((_, i) => 255 - i);
    const text = node.formatKeystore(node.encryptKeystore(seed, 'correct horse', counter(3)));
    expect(JSON.parse(text).kdf.N).toBe(node.DEFAULT_SCRYPT_PARAMS.N);
    const pair = browser.decryptKeystore(text, 'correct horse');
    expect(hex(pair.seed)).toBe(hex(seed));
    expect(hex(pair.publicKey)).toBe(hex(node.keyPairFromSeed(seed).publicKey));
  });
});

describe('envelopes sealed on one platform open on the other', () => {
  const contextArb: fc.Arbitrary<Canonical> = fc.record({
    recordId: fc.string({ maxLength: 12 }),
    request: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  });

  it('identical envelopes from the same randomness; each opens the other; a wrong context fails on both', () => {
    fc.assert(
      fc.property(
        seedArb,
        seedArb,
        contextArb,
        bytesArb,
        fc.nat({ max: 255 }),
        (senderSeed, recipientSeed, context, payload, start) => {
          const recipient = node.keyPairFromSeed(recipientSeed).publicKey;
          const args = { senderSeed, recipient, context, payload };
          const fromNode = node.sealEnvelope({ ...args, randomBytes: counter(start) });
          const fromBrowser = browser.sealEnvelope({ ...args, randomBytes: counter(start) });
          const wire = node.encodeEnvelope(fromNode);
          expect(hex(browser.encodeEnvelope(fromBrowser))).toBe(hex(wire));
          const open = { recipientSeed, context };
          expect(hex(browser.openEnvelope(browser.decodeEnvelope(wire), open).payload)).toBe(
            hex(payload),
          );
          expect(hex(node.openEnvelope(fromBrowser, open).payload)).toBe(hex(payload));
          const otherContext = { ...open, context: 'another' };
          expect(errorCode(() => browser.openEnvelope(fromNode, otherContext))).toBe(
            'CRYPTO_ENVELOPE_AUTH',
          );
          expect(errorCode(() => node.openEnvelope(fromBrowser, otherContext))).toBe(
            'CRYPTO_ENVELOPE_AUTH',
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});

it('the browser build exports the same names', () => {
  expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
});
