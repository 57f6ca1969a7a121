import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../packages/cli/test/helpers.js';
import { DEFAULT_MANIFEST, readManifest } from '../src/up.js';

describe('devnet manifests', () => {
  it('devnet/default.json is the manifest `devnet up` uses without --manifest', () => {
    const path = new URL('../default.json', import.meta.url).pathname;
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(DEFAULT_MANIFEST);
    expect(readManifest(path)).toEqual(DEFAULT_MANIFEST);
  });

  it('refuses a manifest field it does not know', () => {
    const path = join(tempDir('manifest'), 'm.json');
    writeFileSync(path, JSON.stringify({ validator: 4 }));
    expect(() => readManifest(path)).toThrow(/unknown manifest field "validator"/);
  });
});
