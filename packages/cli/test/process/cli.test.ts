import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toDidKey } from '@medchain/client';
import { fromHex } from '@medchain/crypto';
import { DEFAULT_CONFIG } from '@medchain/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, json, jsonError, tempDir } from '../helpers.js';

const PASS = { MEDCHAIN_PASSPHRASE: 'correct horse battery staple' };
const mode = (path: string) => statSync(path).mode & 0o777;

describe('medchain keys', () => {
  const dir = tempDir('keys');
  const keystore = join(dir, 'alice.json');
  let publicKey: string;

  beforeAll(async () => {
    const run = await cli(['keys', 'generate', '--out', keystore, '--json'], { env: PASS });
    expect(run.code, run.stderr).toBe(0);
    publicKey = json<{ publicKey: string }>(run).publicKey;
  });

  it('writes an encrypted keystore only its owner can read', () => {
    expect(publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(mode(keystore)).toBe(0o600);
    const file = JSON.parse(readFileSync(keystore, 'utf8'));
    expect(file.kind).toBe('medchain-keystore');
    expect(file.publicKey).toBe(publicKey);
    expect(JSON.stringify(file)).not.toContain(PASS.MEDCHAIN_PASSPHRASE);
  });

  it('shows and exports the public key (hex and did:key), and checks the passphrase from a file', async () => {
    const passFile = join(dir, 'pass');
    writeFileSync(passFile, `${PASS.MEDCHAIN_PASSPHRASE}\n`);
    const [show, exported, did] = await Promise.all([
      cli(['keys', 'show', keystore, '--check', '--passphrase-file', passFile, '--json']),
      cli(['keys', 'export-public', keystore]),
      cli(['keys', 'export-public', keystore, '--did']),
    ]);
    expect(show.code, show.stderr).toBe(0);
    const didKey = toDidKey(fromHex(publicKey));
    expect(json(show)).toMatchObject({
      publicKey,
      did: didKey,
      passphrase: 'ok',
      kdf: { name: 'scrypt' },
    });
    expect(exported.code).toBe(0);
    expect(exported.stdout.trim()).toBe(publicKey);
    expect(did.stdout.trim()).toBe(didKey);
  });

  it('refuses a wrong passphrase (exit 1), a short one, no passphrase source or an existing file (exit 2)', async () => {
    const [wrong, short, none, exists] = await Promise.all([
      cli(['keys', 'show', keystore, '--check', '--json'], {
        env: { MEDCHAIN_PASSPHRASE: 'not the passphrase' },
      }),
      cli(['keys', 'generate', '--out', join(dir, 'short.json')], {
        env: { MEDCHAIN_PASSPHRASE: 'abc' },
      }),
      cli(['keys', 'generate', '--out', join(dir, 'none.json')]),
      cli(['keys', 'generate', '--out', keystore], { env: PASS }),
    ]);
    expect(wrong.code).toBe(1);
    expect(jsonError(wrong)).toMatchObject({ error: { code: 'WRONG_PASSPHRASE' }, exitCode: 1 });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('too short');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('MEDCHAIN_PASSPHRASE');
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain('already exists');
  });
});

describe('medchain init and genesis', () => {
  const dir = tempDir('genesis');
  const home = join(dir, 'hospital-a');
  const genesis = join(dir, 'genesis.json');
  let init: { peerId: string; validatorKey: string; config: typeof DEFAULT_CONFIG };

  beforeAll(async () => {
    const [initRun, adminRun, createRun] = await Promise.all([
      cli(['init', '--home', home, '--api-port', '7801', '--p2p-port', '7800', '--json'], {
        env: PASS,
      }),
      cli(['keys', 'generate', '--out', join(dir, 'admin.json')], { env: PASS }),
      cli([
        'genesis',
        'create',
        '--chain-id',
        'test-net',
        '--out',
        genesis,
        '--checkpoint-interval',
        '20',
      ]),
    ]);
    for (const run of [initRun, adminRun, createRun]) expect(run.code, run.stderr).toBe(0);
    init = json(initRun);
  });

  it('init writes a config with every default, a node key and an encrypted validator key', () => {
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8'));
    expect(config).toEqual({
      ...DEFAULT_CONFIG,
      listen: ['/ip4/0.0.0.0/tcp/7800'],
      api: { ...DEFAULT_CONFIG.api, port: 7801 },
    });
    expect(init.peerId).toMatch(/^12D3Koo/);
    expect(mode(join(home, 'peer-key'))).toBe(0o600);
    const keystore = JSON.parse(readFileSync(join(home, 'validator.keystore.json'), 'utf8'));
    expect(keystore.publicKey).toBe(init.validatorKey);
    expect(mode(join(home, 'validator.keystore.json'))).toBe(0o600);
  });

  it('builds a genesis the ledger accepts, from the home and an admin keystore', async () => {
    const add = await cli([
      'genesis',
      'add-organization',
      genesis,
      '--home',
      home,
      '--admin-key',
      join(dir, 'admin.json'),
      '--json',
    ]);
    expect(add.code, add.stderr).toBe(0);
    const orgId = json<{ organization: { id: string } }>(add).organization.id;
    const validate = await cli(['genesis', 'validate', genesis, '--json']);
    expect(validate.code, validate.stderr).toBe(0);
    const summary = json<{
      valid: boolean;
      chainId: string;
      hash: string;
      organizations: unknown[];
      consensus: Record<string, number>;
    }>(validate);
    expect(summary).toMatchObject({ valid: true, chainId: 'test-net' });
    expect(summary.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(summary.organizations).toEqual([
      {
        id: orgId,
        validatorKey: init.validatorKey,
        peerId: init.peerId,
        adminKeys: [expect.stringMatching(/^[0-9a-f]{64}$/)],
      },
    ]);
    expect(summary.consensus.checkpointInterval).toBe(20);
  });

  it('rejects a genesis whose founders reuse a key (exit 1) and bad arguments (exit 2)', async () => {
    const doc = JSON.parse(readFileSync(genesis, 'utf8'));
    const twice = join(dir, 'twice.json');
    writeFileSync(
      twice,
      JSON.stringify({
        ...doc,
        organizations: [doc.organizations[0], { ...doc.organizations[0], id: 'ab'.repeat(32) }],
      }),
    );
    const [invalid, badChain, badPort, reinit, noAdmin] = await Promise.all([
      cli(['genesis', 'validate', twice, '--json']),
      cli(['genesis', 'create', '--chain-id', 'Not_A_Chain', '--out', join(dir, 'x.json')]),
      cli(['init', '--home', join(dir, 'other'), '--api-port', 'seventy']),
      cli(['init', '--home', home], { env: PASS }),
      cli(['genesis', 'add-organization', genesis, '--home', home]),
    ]);
    expect(invalid.code).toBe(1);
    expect(jsonError(invalid).error.code).toBe('GENESIS_INVALID');
    expect(jsonError(invalid).error.message).toContain('used twice');
    expect(badChain.code).toBe(2);
    expect(badChain.stderr).toContain('invalid chain id');
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain("option '--api-port <port>' argument 'seventy' is invalid");
    expect(reinit.code).toBe(2);
    expect(reinit.stderr).toContain('not empty');
    expect(noAdmin.code).toBe(2);
    expect(noAdmin.stderr).toContain('--admin-key');
  });
});

describe('medchain usage and errors', () => {
  it('documents exit codes, and every command has help with an example', async () => {
    const [root, grant, up, proof] = await Promise.all([
      cli(['--help']),
      cli(['tx', 'grant-consent', '--help']),
      cli(['devnet', 'up', '--help']),
      cli(['query', 'proof', '--help']),
    ]);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain('Exit codes:');
    for (const run of [grant, up, proof]) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/Examples?:\n {2}\$ medchain /);
    }
  });

  it('gives exit 2 for unknown commands, options and bad values, with a pointer to --help', async () => {
    const [command, option, value] = await Promise.all([
      cli(['frobnicate']),
      cli(['status', '--colour']),
      cli(['tx', 'revoke-consent', '--key', 'k.json', '--consent', 'xyz']),
    ]);
    for (const run of [command, option, value]) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('--help');
    }
    expect(value.stderr).toContain('expected a consent id');
  });

  it('gives exit 3 when the node is down, with a hint, as JSON with --json', async () => {
    const run = await cli(['status', '--node', 'http://127.0.0.1:9', '--timeout', '2s', '--json']);
    expect(run.code).toBe(3);
    expect(jsonError(run)).toMatchObject({
      error: { code: 'NODE_UNREACHABLE', hint: expect.stringContaining('--node') },
      exitCode: 3,
    });
  });

  it('names a missing or cut-short devnet.json instead of crashing on it', async () => {
    const dir = tempDir('devnet-corrupt');
    const missing = await cli(['devnet', 'status', '--dir', dir, '--json']);
    expect(missing.code).toBe(2);
    writeFileSync(join(dir, 'devnet.json'), '{"nodes": [');
    for (const command of ['status', 'down']) {
      const run = await cli(['devnet', command, '--dir', dir, '--json']);
      expect(run.code).toBe(1);
      expect(jsonError(run).error).toMatchObject({
        code: 'DEVNET_CORRUPT',
        message: expect.stringContaining('devnet.json is not valid JSON'),
      });
    }
  });

  it('refuses a consent without an end or a grantee before asking for a passphrase', async () => {
    const key = 'ab'.repeat(32);
    const [noEnd, noGrantee] = await Promise.all([
      cli(['tx', 'grant-consent', '--key', 'k.json', '--to-provider', key, '--records', key]),
      cli([
        'tx',
        'grant-consent',
        '--key',
        'k.json',
        '--types',
        'Observation',
        '--valid-for',
        '1h',
      ]),
    ]);
    expect(noEnd.code).toBe(2);
    expect(noEnd.stderr).toContain('--valid-for or --valid-until');
    expect(noGrantee.code).toBe(2);
    expect(noGrantee.stderr).toContain('--to-provider and --to-org');
  });

  it('a read of party data without --key says whose key it takes (exit 2); a did:key is a party', async () => {
    const did = toDidKey(fromHex('ab'.repeat(32)));
    const [audit, badDid] = await Promise.all([
      cli(['query', 'audit', did, '--node', 'http://127.0.0.1:9', '--json']),
      cli(['query', 'audit', `${did.slice(0, -2)}00`, '--node', 'http://127.0.0.1:9']),
    ]);
    expect(audit.code).toBe(2);
    expect(jsonError(audit).error).toMatchObject({
      code: 'KEY_REQUIRED',
      message: expect.stringContaining('the patient'),
      hint: expect.stringContaining('--key'),
    });
    expect(badDid.code).toBe(2);
    expect(badDid.stderr).toContain('did:key');
  });

  it('asks for a trusted genesis before checking a proof', async () => {
    const run = await cli([
      'query',
      'proof',
      '--patient',
      'ab'.repeat(32),
      '--node',
      'http://127.0.0.1:9',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--genesis');
  });
});

describe('defaults shared with the node', () => {
  it("the default --node URL is the node's default API address", async () => {
    const { DEFAULT_NODE_URL } = await import('../../src/util/client.js');
    expect(DEFAULT_NODE_URL).toBe(`http://${DEFAULT_CONFIG.api.host}:${DEFAULT_CONFIG.api.port}`);
  });
});
