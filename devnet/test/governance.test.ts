import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cli, devnetUp, json, tempDir } from '../../packages/cli/test/helpers.js';

/**
 * A validator set change by governance on a devnet of its own (a removal cannot be undone, so
 * it would change what every other test of a shared devnet sees): hospital-d is voted out, and
 * a state proof certified by the remaining three still verifies from genesis.
 */

const dir = tempDir('devnet-governance');
const ok = (run: CliRun) => expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
const env = () => ({ MEDCHAIN_PASSPHRASE: readFileSync(join(dir, 'passphrase'), 'utf8').trim() });
const admin = (name: string) => join(dir, 'keys', `${name}-admin.json`);
const devnet = () =>
  JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as {
    nodes: { name: string; api: string; orgId: string }[];
  };

describe('medchain devnet: a membership change by governance', () => {
  beforeAll(async () => {
    await devnetUp(dir);
  }, 300_000);

  afterAll(async () => {
    await cli(['devnet', 'down', '--dir', dir]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('after hospital-d is voted out, a proof still verifies from genesis', async () => {
    const [a, b, c, d] = devnet().nodes;
    const patient = join(dir, 'patient.json');
    ok(await cli(['keys', 'generate', '--out', patient], { env: env() }));
    const policy = (research: 'allow' | 'deny') =>
      cli(
        ['tx', 'policy', '--key', patient, '--break-glass', 'deny', '--research', research].concat([
          '--node',
          a!.api,
          '--json',
        ]),
        { env: env() },
      );
    ok(
      await cli(['tx', 'register-patient', '--key', patient, '--node', a!.api, '--json'], {
        env: env(),
      }),
    );
    const proposal = await cli(
      [
        'tx',
        'propose-removal',
        '--key',
        admin('hospital-a'),
        '--org-id',
        d!.orgId,
        '--node',
        a!.api,
        '--json',
      ],
      { env: env() },
    );
    ok(proposal);
    for (const [voter, node] of [
      ['hospital-b', b!],
      ['hospital-c', c!],
    ] as const) {
      const vote = await cli(
        [
          'tx',
          'vote',
          '--key',
          admin(voter),
          '--proposal',
          json<{ hash: string }>(proposal).hash,
          '--approve',
          'yes',
          '--node',
          node.api,
          '--json',
        ],
        { env: env() },
      );
      ok(vote);
      expect(json(vote)).toMatchObject({ kind: 'governance.vote', receipt: { code: 'OK' } });
    }
    // Blocks decided by the three remaining validators, so the proof's header is certified
    // by the new set, which the light client must follow from genesis to accept it.
    for (const research of ['deny', 'allow'] as const) ok(await policy(research));
    const proof = await cli(
      [
        'query',
        'proof',
        '--patient',
        patient,
        '--genesis',
        join(dir, 'genesis.json'),
        '--key',
        patient,
        '--node',
        c!.api,
        '--json',
      ],
      { env: env() },
    );
    ok(proof);
    expect(json(proof)).toMatchObject({
      verified: true,
      anchoredBy: 'commit certificate',
      validatorSetChanges: 1,
      decoded: { researchOptOut: false },
    });
  }, 240_000);
});
