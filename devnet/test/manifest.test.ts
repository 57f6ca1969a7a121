import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '@medchain/cli';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../packages/cli/test/helpers.js';
import {
  DEFAULT_MANIFEST,
  parseManifest,
  perturbationSchedule,
  readManifest,
} from '../src/manifest.js';

const MANIFESTS = new URL('../manifests/', import.meta.url).pathname;

/** The coded error parseManifest throws for `json`, or undefined when it accepts it. */
function refusal(json: unknown): CliError | undefined {
  try {
    parseManifest(json, 'm.json');
    return undefined;
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
}

describe('devnet manifests', () => {
  it('devnet/manifests/default.json is the manifest `devnet up` uses without --manifest', () => {
    const path = join(MANIFESTS, 'default.json');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(DEFAULT_MANIFEST);
    expect(readManifest(path)).toEqual(DEFAULT_MANIFEST);
    expect(readManifest(undefined)).toEqual(DEFAULT_MANIFEST);
    // A caller that adjusts what it got does not change the default.
    readManifest(undefined).validators = 7;
    expect(DEFAULT_MANIFEST.validators).toBe(4);
  });

  it('every shipped manifest is valid, and the demo is one of the scenarios', () => {
    const files = readdirSync(MANIFESTS).filter((name) => name.endsWith('.json'));
    expect(files).toEqual(expect.arrayContaining(['default.json', 'demo.json']));
    for (const file of files) expect(() => readManifest(join(MANIFESTS, file))).not.toThrow();
    expect(readManifest(join(MANIFESTS, 'demo.json')).scenarios).toEqual(['demo']);
  });

  it('turns perturbations into the chaos runner schedule, in manifest order', () => {
    const manifest = readManifest(join(MANIFESTS, 'crash-recovery.json'));
    expect(
      perturbationSchedule(manifest).map((f) => [f.index, f.kind, f.target, f.walDamage]),
    ).toEqual([
      [0, 'kill', 'primary', 'none'],
      [1, 'pause', 1, 'none'],
      [2, 'kill', 2, 'torn-write'],
    ]);
  });

  it('refuses bad manifests with MANIFEST_INVALID (exit 2) naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ validator: 4 }, /unknown manifest field "validator"/],
      [[], /expected an object/],
      [{ validators: 0 }, /validators: expected an integer from 1 to 26/],
      [{ basePort: 80 }, /basePort: expected an integer from 1024/],
      [{ logLevel: 'loud' }, /logLevel: expected one of fatal/],
      [{ chainId: 'a b' }, /chainId/],
      [{ block: { maxTx: 1 } }, /block.maxTx: unknown manifest field/],
      [{ consensus: { checkpointInterval: 1.5 } }, /consensus.checkpointInterval/],
      [{ nodes: { 'hospital-e': { perturb: ['kill'] } } }, /nodes.hospital-e: unknown/],
      [
        { load: { clients: 1 }, nodes: { 'hospital-a': { perturb: ['explode'] } } },
        /nodes.hospital-a.perturb\[0\]: expected one of kill/,
      ],
      [{ nodes: { primary: { perturb: ['kill'] } } }, /load.clients: perturbations need a load/],
      [
        { validators: 3, load: { clients: 1 }, nodes: { primary: { perturb: ['pause'] } } },
        /validators: perturbations need at least 4/,
      ],
      [{ scenarios: ['story'] }, /scenarios\[0\]: expected one of demo/],
    ];
    for (const [json, message] of cases) {
      const error = refusal(json);
      expect(error, JSON.stringify(json)).toBeInstanceOf(CliError);
      expect(error).toMatchObject({ code: 'MANIFEST_INVALID', exitCode: 2 });
      expect(error!.message).toMatch(message);
    }
  });

  it('reads a manifest file, naming it in the error', () => {
    const path = join(tempDir('manifest'), 'm.json');
    writeFileSync(path, JSON.stringify({ validators: 'four' }));
    expect(() => readManifest(path)).toThrow(`${path}: validators: expected an integer`);
  });

  it('any JSON value is a manifest or a MANIFEST_INVALID, never another error (fast-check)', () => {
    const field = fc.constantFrom(...Object.keys(DEFAULT_MANIFEST), 'other');
    const manifestLike = fc.dictionary(field, fc.jsonValue(), { maxKeys: 6 });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), manifestLike), (json) => {
        const error = refusal(json);
        if (error !== undefined) expect(error.code).toBe('MANIFEST_INVALID');
      }),
    );
  });
});
