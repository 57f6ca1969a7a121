import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cli, freePortRange, json, jsonError, tempDir } from './helpers.js';

/**
 * One devnet of 4 validator processes, driven only through the CLI: up, status, demo, tx and
 * query (with a locally verified proof), logs, kill a node (the other 3 keep committing),
 * restart it (it catches up), down. Every step checks the exit code and the --json output.
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
});

let demo: {
  keys: string;
  consentId: string;
  recordId: string;
  audit: { decision: string; emergency: boolean; denyReason: string | null }[];
  steps: unknown[];
};

describe('medchain devnet (4 validator processes)', () => {
  beforeAll(async () => {
    const basePort = await freePortRange(8);
    const up = await cli(
      [
        'devnet',
        'up',
        '--validators',
        '4',
        '--dir',
        dir,
        '--base-port',
        String(basePort),
        '--json',
      ],
      {
        timeoutMs: 150_000,
      },
    );
    ok(up);
  }, 160_000);

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

  it('up wrote devnet.json and every node is a running validator connected to the other three', async () => {
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
        api: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        peerId: expect.stringMatching(/^12D3Koo/),
      });
      expect(node.pid).toBeGreaterThan(0);
    }
    const status = await cli(['devnet', 'status', '--dir', dir, '--json']);
    ok(status);
    const shown = json<{
      network: { kind: string; description: string };
      nodes: { process: string; height: number; peers: number }[];
    }>(status);
    // An idle chain commits nothing (the primary proposes only with transactions).
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
  });

  it('demo tells the consent story: permit by consent, deny after revocation, break-glass', async () => {
    const run = await cli(['devnet', 'demo', '--dir', dir, '--json'], { timeoutMs: 120_000 });
    ok(run);
    demo = json(run);
    expect(demo.steps).toHaveLength(9);
    expect(demo.audit.map((e) => [e.decision, e.emergency, e.denyReason])).toEqual([
      ['permit', false, null],
      ['deny', false, 'NO_CONSENT'],
      ['permit', true, null],
    ]);
  }, 130_000);

  it('queries the trail, and verifies a state proof against a certified header', async () => {
    const [a, b] = readDevnet().nodes;
    const patient = join(demo.keys, 'patient.json');
    const [audit, proof, fhir] = await Promise.all([
      cli(['query', 'audit', patient, '--node', a!.api, '--json']),
      cli([
        'query',
        'proof',
        '--consent',
        demo.consentId,
        '--genesis',
        join(dir, 'genesis.json'),
        '--node',
        b!.api,
        '--json',
      ]),
      cli(['export', 'fhir', 'audit', '--patient', patient, '--node', b!.api]),
    ]);
    ok(audit);
    expect(json<{ total: number }>(audit).total).toBe(3);
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
    expect(bundle.entry.map((e) => [e.resource.resourceType, e.resource.outcome])).toEqual([
      ['AuditEvent', '0'],
      ['AuditEvent', '4'],
      ['AuditEvent', '0'],
    ]);
  }, 60_000);

  it('policy, a signed request and its logged decision, governance: all through the CLI', async () => {
    const [a, , , d] = readDevnet().nodes;
    const env = passphrase();
    const node = ['--node', a!.api, '--json'];
    const policy = await cli(
      [
        'tx',
        'policy',
        '--key',
        join(demo.keys, 'patient.json'),
        '--break-glass',
        'deny',
        '--research',
        'allow',
        ...node,
      ],
      { env },
    );
    ok(policy);
    expect(json(policy)).toMatchObject({ kind: 'patient.policy', receipt: { code: 'OK' } });

    const request = join(demo.keys, 'emergency-request.json');
    ok(
      await cli(
        [
          'tx',
          'sign-request',
          '--key',
          join(demo.keys, 'dr-eve.json'),
          '--record',
          demo.recordId,
          '--emergency',
          'life-threatening',
          '--out',
          request,
        ],
        { env },
      ),
    );
    const logged = await cli(
      [
        'tx',
        'log-access',
        '--key',
        join(dir, 'keys', 'hospital-a-admin.json'),
        '--request',
        request,
        ...node,
      ],
      { env },
    );
    ok(logged);
    expect(json(logged)).toMatchObject({
      kind: 'access.emergency',
      decision: 'deny',
      detail: 'deny (BREAK_GLASS_OPT_OUT)',
      receipt: { code: 'OK' },
    });
    const trail = await cli([
      'query',
      'audit',
      join(demo.keys, 'patient.json'),
      '--reverse',
      '--limit',
      '1',
      ...node,
    ]);
    ok(trail);
    expect(
      json<{ total: number; items: { denyReason: string; emergency: boolean }[] }>(trail),
    ).toMatchObject({
      total: 4,
      items: [{ denyReason: 'BREAK_GLASS_OPT_OUT', emergency: true }],
    });

    const orgId = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')).nodes[3].orgId;
    const proposal = await cli(
      [
        'tx',
        'propose-removal',
        '--key',
        join(dir, 'keys', 'hospital-a-admin.json'),
        '--org-id',
        orgId,
        ...node,
      ],
      { env },
    );
    ok(proposal);
    const vote = await cli(
      [
        'tx',
        'vote',
        '--key',
        join(dir, 'keys', 'hospital-b-admin.json'),
        '--proposal',
        json<{ hash: string }>(proposal).hash,
        '--approve',
        'no',
        '--node',
        d!.api,
        '--json',
      ],
      { env },
    );
    ok(vote);
    expect(json(vote)).toMatchObject({ kind: 'governance.vote', receipt: { code: 'OK' } });
  }, 120_000);

  it('a killed node stops answering while the other three keep committing; restart catches it up', async () => {
    const nodes = readDevnet().nodes;
    const killed = await cli(['devnet', 'kill', 'hospital-d', '--dir', dir, '--json']);
    ok(killed);
    expect(json(killed)).toMatchObject({ name: 'hospital-d', signal: 'KILL', process: 'exited' });

    const key = join(dir, 'late-patient.json');
    ok(await cli(['keys', 'generate', '--out', key], { env: passphrase() }));
    const [down, tx] = await Promise.all([
      cli(['status', '--node', nodes[3]!.api, '--timeout', '2s', '--json']),
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
    const [unknownNode, badSignal] = await Promise.all([
      cli(['devnet', 'kill', 'hospital-z', '--dir', dir]),
      cli(['devnet', 'kill', 'hospital-a', '--signal', 'HUP', '--dir', dir]),
    ]);
    expect(unknownNode.code).toBe(2);
    expect(unknownNode.stderr).toContain('hospital-a, hospital-b, hospital-c, hospital-d');
    expect(badSignal.code).toBe(2);
    expect(badSignal.stderr).toContain('KILL, STOP, CONT, TERM');
  });

  it('down stops every node', async () => {
    const run = await cli(['devnet', 'down', '--dir', dir, '--json'], { timeoutMs: 60_000 });
    ok(run);
    const results = json<{ nodes: { result: string }[] }>(run).nodes.map((n) => n.result);
    expect(results.every((r) => r === 'stopped' || r === 'killed')).toBe(true);
    const status = await cli(['devnet', 'status', '--dir', dir, '--json']);
    ok(status);
    expect(
      json<{ nodes: { process: string }[] }>(status).nodes.every((n) => n.process === 'exited'),
    ).toBe(true);
  }, 70_000);
});
