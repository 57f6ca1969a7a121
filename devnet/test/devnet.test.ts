import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VALIDATOR_PROCESS } from '@medchain/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliRun,
  cli,
  devnetUp,
  json,
  jsonError,
  tempDir,
} from '../../packages/cli/test/helpers.js';

/**
 * One devnet of 4 validator processes with TLS and request authentication on, on ports the OS
 * picks, driven only through the CLI: up --tls and the demo (set up once, before the tests),
 * status, signed tx and query (with a locally verified proof), a client without the devnet's CA
 * refused, logs, kill a node (the other 3 keep committing) and restart it (it catches up),
 * STOP/CONT, down and up again. Every step checks the exit code and the --json output. Each
 * test leaves the devnet as it found it (every node running and connected), so any one of them
 * runs alone, in any order. (A membership change cannot be undone: governance.test.ts has its
 * own devnet.)
 */

interface DevnetFile {
  chainId: string;
  nodes: {
    name: string;
    api: string;
    pid: number | null;
    home: string;
    peerId: string;
    validator: boolean;
  }[];
}

const dir = tempDir('devnet');
const readDevnet = (): DevnetFile => JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8'));
const ok = (run: CliRun) => expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
/** Demo keys are in keystores under the devnet's passphrase file. */
const passphrase = () => ({
  MEDCHAIN_PASSPHRASE: readFileSync(join(dir, 'passphrase'), 'utf8').trim(),
  MEDCHAIN_CA: join(dir, 'tls', 'ca.pem'),
});
/** Commands outside `devnet` trust the devnet's CA through $MEDCHAIN_CA. */
const trusted = () => ({ env: passphrase() });
/** The demo patient opts out of break-glass, and sets its research choice, through `api`. */
const optOut = (research: 'allow' | 'deny', api: string) =>
  cli(
    ['tx', 'policy', '--key', join(demo.keys, 'patient.json'), '--break-glass', 'deny'].concat([
      '--research',
      research,
      '--node',
      api,
      '--json',
    ]),
    trusted(),
  );

let demo: {
  keys: string;
  consentId: string;
  recordId: string;
  audit: { decision: string; emergency: boolean; denyReason: string | null }[];
  steps: unknown[];
};

/** Polls `devnet status` until every node runs and sees the other three (bounded). */
async function connectedStatus() {
  for (let tries = 0; ; tries++) {
    const status = await cli(['devnet', 'status', '--dir', dir, '--json']);
    ok(status);
    const shown = json<{
      network: { kind: string; description: string };
      nodes: { process: string; height: number; peers: number }[];
    }>(status);
    const connected = shown.nodes.every((n) => n.process === 'running' && n.peers === 3);
    if (connected || tries === 60) return shown;
    await sleep(1000);
  }
}

describe('medchain devnet (4 validator processes)', () => {
  beforeAll(async () => {
    await devnetUp(dir, { extra: ['--tls'] });
    const run = await cli(['devnet', 'demo', '--dir', dir, '--json'], { timeoutMs: 180_000 });
    ok(run);
    demo = json(run);
  }, 480_000);

  afterAll(async () => {
    await cli(['devnet', 'down', '--dir', dir]);
    // Whatever survived `down` (it should be nothing) is killed by pid, then the files go.
    for (const node of readDevnet().nodes) {
      if (node.pid === null) continue;
      try {
        process.kill(node.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('up --tls wrote devnet.json and every node is a running validator connected to the other three', async () => {
    const devnet = readDevnet();
    expect(devnet.chainId).toBe('medchain-devnet');
    expect(devnet.nodes.map((n) => n.name)).toEqual([
      'hospital-a',
      'hospital-b',
      'hospital-c',
      'hospital-d',
    ]);
    for (const node of devnet.nodes) {
      expect(node).toMatchObject({
        validator: true,
        api: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/),
        peerId: expect.stringMatching(/^12D3Koo/),
      });
      expect(node.pid).toBeGreaterThan(0);
      // Started as deploy/ starts a validator.
      const args = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8').split('\0');
      for (const flag of VALIDATOR_PROCESS.nodeFlags) expect(args).toContain(flag);
      const env = readFileSync(`/proc/${node.pid}/environ`, 'utf8').split('\0');
      for (const [name, value] of Object.entries(VALIDATOR_PROCESS.env)) {
        expect(env).toContain(`${name}=${process.env[name] ?? value}`);
      }
    }
    const shown = await connectedStatus();
    expect(shown.network).toMatchObject({
      kind: 'loopback',
      description: expect.stringMatching(/127\.0\.0\.1/),
    });
    const nodes = shown.nodes;
    expect(nodes.map((n) => n.process)).toEqual(['running', 'running', 'running', 'running']);
    for (const node of nodes) {
      expect(node.height).toBeGreaterThanOrEqual(0);
      expect(node.peers).toBe(3);
    }
    // The keys of the run's certificates are the owner's only.
    expect(statSync(join(devnet.nodes[0]!.home, 'tls', 'key.pem')).mode & 0o777).toBe(0o600);
  });

  it("verifies the node's certificate: trusted with --ca, refused without it (exit 3)", async () => {
    const { api } = readDevnet().nodes[0]!;
    const [withCa, without] = await Promise.all([
      cli(['status', '--node', api, '--ca', join(dir, 'tls', 'ca.pem'), '--json']),
      cli(['status', '--node', api, '--json']),
    ]);
    ok(withCa);
    expect(json(withCa)).toMatchObject({ chainId: 'medchain-devnet' });
    expect(without.code).toBe(3);
    expect(jsonError(without).error).toMatchObject({
      code: 'NODE_CERTIFICATE_UNTRUSTED',
      hint: expect.stringContaining('--ca'),
    });
  });

  it('demo tells the consent story: permit by consent, deny after revocation, break-glass', () => {
    expect(demo.steps).toHaveLength(9);
    expect(demo.audit.map((e) => [e.decision, e.emergency, e.denyReason])).toEqual([
      ['permit', false, null],
      ['deny', false, 'NO_CONSENT'],
      ['permit', true, null],
    ]);
  });

  it('queries the trail signed by the patient, and verifies a state proof against a certified header', async () => {
    const [a, b] = readDevnet().nodes;
    const patient = join(demo.keys, 'patient.json');
    const asPatient = ['--key', patient];
    const [audit, unsigned, proof, fhir] = await Promise.all([
      cli(['query', 'audit', patient, ...asPatient, '--node', a!.api, '--json'], trusted()),
      cli(['query', 'audit', patient, '--node', a!.api, '--json'], trusted()),
      cli(
        [
          'query',
          'proof',
          '--consent',
          demo.consentId,
          '--genesis',
          join(dir, 'genesis.json'),
          ...asPatient,
          '--node',
          b!.api,
          '--json',
        ],
        trusted(),
      ),
      cli(
        ['export', 'fhir', 'audit', '--patient', patient, ...asPatient, '--node', b!.api],
        trusted(),
      ),
    ]);
    ok(audit);
    // The demo's three entries come first (another test may have added more since).
    const trail = json<{
      total: number;
      items: { decision: string; emergency: boolean; denyReason: string | null }[];
    }>(audit);
    expect(trail.total).toBeGreaterThanOrEqual(3);
    const entry = (e: { decision: string; emergency: boolean; denyReason: string | null }) => [
      e.decision,
      e.emergency,
      e.denyReason,
    ];
    expect(trail.items.slice(0, 3).map(entry)).toEqual(demo.audit.map(entry));
    expect(unsigned.code).toBe(2);
    expect(jsonError(unsigned).error.code).toBe('KEY_REQUIRED');
    ok(proof);
    const checked = json<{ verified: boolean; anchoredBy: string; decoded: { status: string } }>(
      proof,
    );
    expect(checked).toMatchObject({ verified: true, anchoredBy: 'commit certificate' });
    expect(checked.decoded.status).toBe('revoked');
    ok(fhir);
    const bundle = json<{
      resourceType: string;
      entry: { resource: { resourceType: string; outcome: string } }[];
    }>(fhir);
    expect(bundle.resourceType).toBe('Bundle');
    expect(
      bundle.entry.slice(0, 3).map((e) => [e.resource.resourceType, e.resource.outcome]),
    ).toEqual([
      ['AuditEvent', '0'],
      // The ledger's BALP mapping: a denial is outcome 8 (serious failure).
      ['AuditEvent', '8'],
      ['AuditEvent', '0'],
    ]);
  }, 60_000);

  it('policy opt-out, then break-glass denied and logged; a key that may not read is refused', async () => {
    const [a, , c] = readDevnet().nodes;
    const env = passphrase();
    const patient = join(demo.keys, 'patient.json');
    // The patient's did:key names the same patient as the keystore.
    const did = json<{ did: string }>(await cli(['keys', 'show', patient, '--json'])).did;
    const asPatient = ['--key', patient, '--node', a!.api, '--json'];
    const latest = () =>
      cli(['query', 'audit', did, '--reverse', '--limit', '1', ...asPatient], { env });
    const before = await latest();
    ok(before);
    const policy = await optOut('allow', a!.api);
    ok(policy);
    expect(json(policy)).toMatchObject({ kind: 'patient.policy', receipt: { code: 'OK' } });

    const out = join(demo.keys, 'emergency-read.json');
    const breakGlass = await cli(
      [
        'record',
        'get',
        demo.recordId,
        '--key',
        join(demo.keys, 'dr-eve.json'),
        '--purpose',
        'ETREAT',
        '--emergency',
        'life-threatening',
        '--out',
        out,
        '--node',
        c!.api,
        '--json',
      ],
      { env },
    );
    expect(breakGlass.code).toBe(1);
    expect(jsonError(breakGlass).error).toMatchObject({
      code: 'RECORD_ACCESS_DENIED',
      details: { reason: 'BREAK_GLASS_OPT_OUT' },
    });
    expect(existsSync(out)).toBe(false);
    const [trail, stranger] = await Promise.all([
      latest(),
      cli(
        [
          'query',
          'audit',
          did,
          '--key',
          join(demo.keys, 'dr-bob.json'),
          '--node',
          a!.api,
          '--json',
        ],
        { env },
      ),
    ]);
    ok(trail);
    expect(
      json<{ total: number; items: { denyReason: string; emergency: boolean }[] }>(trail),
    ).toMatchObject({
      total: json<{ total: number }>(before).total + 1,
      items: [{ denyReason: 'BREAK_GLASS_OPT_OUT', emergency: true }],
    });
    expect(stranger.code).toBe(1);
    expect(jsonError(stranger).error.code).toBe('FORBIDDEN');
  }, 120_000);

  it('a killed node stops answering while the other three keep committing; restart catches it up', async () => {
    const nodes = readDevnet().nodes;
    const killed = await cli(['devnet', 'kill', 'hospital-d', '--dir', dir, '--json']);
    ok(killed);
    expect(json(killed)).toMatchObject({ name: 'hospital-d', signal: 'KILL', process: 'exited' });

    const key = join(dir, 'late-patient.json');
    ok(await cli(['keys', 'generate', '--out', key], { env: passphrase() }));
    const [down, tx] = await Promise.all([
      cli(['status', '--node', nodes[3]!.api, '--timeout', '2s', '--json'], trusted()),
      cli(['tx', 'register-patient', '--key', key, '--node', nodes[0]!.api, '--json'], {
        env: passphrase(),
      }),
    ]);
    expect(down.code).toBe(3);
    expect(jsonError(down).error.code).toBe('NODE_UNREACHABLE');
    ok(tx);
    const committed = json<{ status: string; height: number; receipt: { code: string } }>(tx);
    expect(committed).toMatchObject({ status: 'committed', receipt: { code: 'OK' } });

    const again = await cli(
      ['tx', 'register-patient', '--key', key, '--node', nodes[1]!.api, '--json'],
      { env: passphrase() },
    );
    expect(again.code).toBe(1);
    // The CLI takes the nonce from a proof of the state one block behind the head. On an idle
    // chain (no block after the registration) that is the registration's own nonce, so the CLI
    // builds the very same transaction and the node answers DUPLICATE; after another block it
    // builds a new one, which executes and fails with PATIENT_EXISTS. Both refuse it.
    expect(['DUPLICATE', 'PATIENT_EXISTS']).toContain(jsonError(again).error.code);

    const restarted = await cli(['devnet', 'restart', 'hospital-d', '--dir', dir, '--json'], {
      timeoutMs: 90_000,
    });
    ok(restarted);
    const caughtUp = json<{ height: number; caughtUpTo: number }>(restarted);
    expect(caughtUp.height).toBeGreaterThanOrEqual(Math.max(caughtUp.caughtUpTo, committed.height));

    const logs = await cli([
      'devnet',
      'logs',
      'hospital-d',
      '--dir',
      dir,
      '--lines',
      '5',
      '--json',
    ]);
    ok(logs);
    const lines = json<{ lines: string[] }>(logs).lines;
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('level');
  }, 150_000);

  it('STOP freezes a node and CONT resumes it', async () => {
    const stop = await cli([
      'devnet',
      'kill',
      'hospital-c',
      '--signal',
      'STOP',
      '--dir',
      dir,
      '--json',
    ]);
    ok(stop);
    expect(json(stop)).toMatchObject({ signal: 'STOP', process: 'stopped' });
    const cont = await cli([
      'devnet',
      'kill',
      'hospital-c',
      '--signal',
      'CONT',
      '--dir',
      dir,
      '--json',
    ]);
    ok(cont);
    expect(json(cont)).toMatchObject({ signal: 'CONT', process: 'running' });
  });

  it('bad devnet arguments fail clearly', async () => {
    const [unknownNode, badSignal, profileLater, benchProfile] = await Promise.all([
      cli(['devnet', 'kill', 'hospital-z', '--dir', dir]),
      cli(['devnet', 'kill', 'hospital-a', '--signal', 'HUP', '--dir', dir]),
      cli(['devnet', 'up', '--cpu-profile', join(dir, 'profiles'), '--dir', dir]),
      cli(['bench', '--dir', dir, '--cpu-profile', join(dir, 'profiles')]),
    ]);
    expect(unknownNode.code).toBe(2);
    expect(unknownNode.stderr).toContain('hospital-a, hospital-b, hospital-c, hospital-d');
    expect(badSignal.code).toBe(2);
    expect(badSignal.stderr).toContain('KILL, STOP, CONT, TERM');
    // Profiling is chosen when a devnet is made; the bench profiles only the devnets it starts.
    expect(profileLater.code).toBe(2);
    expect(profileLater.stderr).toContain('made without --cpu-profile');
    expect(benchProfile.code).toBe(2);
    expect(benchProfile.stderr).toContain('--cpu-profile is for the devnets bench starts');
    expect(existsSync(join(dir, 'profiles'))).toBe(false);
  });

  it('down stops every node; up starts them again where they were', async () => {
    const run = await cli(['devnet', 'down', '--dir', dir, '--json'], { timeoutMs: 60_000 });
    ok(run);
    const results = json<{ nodes: { result: string }[] }>(run).nodes.map((n) => n.result);
    expect(results.every((r) => r === 'stopped' || r === 'killed')).toBe(true);
    const status = await cli(['devnet', 'status', '--dir', dir, '--json']);
    ok(status);
    expect(
      json<{ nodes: { process: string }[] }>(status).nodes.every((n) => n.process === 'exited'),
    ).toBe(true);
    const apis = readDevnet().nodes.map((n) => n.api);
    const up = await cli(['devnet', 'up', '--dir', dir, '--json'], { timeoutMs: 240_000 });
    ok(up);
    // The ports the OS gave them first are theirs for good: nothing moved.
    expect(json<{ nodes: { api: string }[] }>(up).nodes.map((n) => n.api)).toEqual(apis);
  }, 320_000);
});
