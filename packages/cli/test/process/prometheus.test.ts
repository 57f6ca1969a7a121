import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../fresh-tree.js';
import { cli, devnetUp, tempDir } from '../helpers.js';

/**
 * deploy/prometheus with Debian's real prometheus and promtool (installed by
 * scripts/ensure-debian.sh where it can; skipped, with the reason, where it cannot): the
 * rules load, the rule unit tests pass, and against a 4-validator devnet (--tls, scraped through
 * the shipped medchain-remote job: https, CA file, token file) the recording rules compute and a
 * killed node fires MedchainNodeDown. The only changes to the shipped files: targets written,
 * the scrape and evaluation intervals 1 s instead of 15 s, MedchainNodeDown's `for` 5 s
 * instead of 1 m.
 */

const SHIPPED = join(ROOT, 'deploy/prometheus');
const ensure = spawnSync(
  'bash',
  [
    join(ROOT, 'scripts/ensure-debian.sh'),
    'prometheus',
    'the monitoring test',
    'prometheus',
    'promtool',
  ],
  { encoding: 'utf8' },
);
const missing =
  ensure.status === 0 ? undefined : `prometheus unavailable: ${ensure.stderr.trim() || 'no apt'}`;
if (missing !== undefined) console.log(`prometheus.test: skipped: ${missing}`);

const promtool = (...args: string[]) => spawnSync('promtool', args, { encoding: 'utf8' });

/** Temporary directories made by the tests that ran, removed when the file is done. */
const scratch: string[] = [];
const scratchDir = (prefix: string) => {
  const dir = tempDir(prefix);
  scratch.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A copy of deploy/prometheus (with placeholder token and CA files) to run from. */
function copyShipped(): string {
  const dir = join(scratchDir('prometheus'), 'etc');
  cpSync(SHIPPED, dir, { recursive: true });
  writeFileSync(join(dir, 'medchain-metrics-token'), 'placeholder\n', { mode: 0o600 });
  writeFileSync(join(dir, 'medchain-ca.pem'), '');
  return dir;
}

describe('deploy/prometheus alerts and docs/OPERATIONS.md', () => {
  it('every alert has a runbook entry: its runbook_url names a heading of the guide', () => {
    const alerts = readFileSync(join(SHIPPED, 'medchain.alerts.yml'), 'utf8');
    const names = [...alerts.matchAll(/- alert: (\w+)/g)].map(([, name]) => name!);
    const links = [...alerts.matchAll(/runbook_url: "docs\/OPERATIONS\.md#([\w-]+)"/g)].map(
      ([, anchor]) => anchor!,
    );
    expect(names.length).toBeGreaterThanOrEqual(7);
    expect(links).toHaveLength(names.length);
    // GitHub's heading anchors: lower case, spaces to hyphens, other punctuation dropped.
    const anchors = readFileSync(join(ROOT, 'docs/OPERATIONS.md'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .map((line) =>
        line
          .replace(/^#+\s*/, '')
          .toLowerCase()
          .replace(/[^\w\s-]/g, '')
          .replace(/\s/g, '-'),
      );
    for (const link of links) expect(anchors).toContain(link);
  });
});

describe.skipIf(missing !== undefined)('deploy/prometheus, with the real Prometheus', () => {
  it('promtool checks the rules and the configuration', () => {
    const rules = promtool(
      'check',
      'rules',
      join(SHIPPED, 'medchain.rules.yml'),
      join(SHIPPED, 'medchain.alerts.yml'),
    );
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);
    const config = promtool('check', 'config', join(copyShipped(), 'prometheus.yml'));
    expect(config.status, config.stdout + config.stderr).toBe(0);
  });

  it('promtool refuses a rule file with a broken expression (the check can fail)', () => {
    const dir = copyShipped();
    const alerts = join(dir, 'medchain.alerts.yml');
    writeFileSync(alerts, readFileSync(alerts, 'utf8').replace('== 0', '== == 0'));
    expect(promtool('check', 'rules', alerts).status).not.toBe(0);
  });

  it('the rule logic passes its unit tests (promtool test rules)', () => {
    const run = promtool('test', 'rules', join(SHIPPED, 'tests/medchain.test.yml'));
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('SUCCESS');
  });

  describe('against a devnet', () => {
    let devnet = '';
    let etc: string;
    let prometheus: ChildProcess | undefined;
    let url = '';
    let nodes: Array<{ name: string; api: string }> = [];

    const query = async (expr: string) => {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as {
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      return body.data.result;
    };
    const alerts = async () => {
      const body = (await (await fetch(`${url}/api/v1/alerts`)).json()) as {
        data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
      };
      return body.data.alerts;
    };
    /** Polls `check` once a second until it holds (bounded). */
    const until = async (what: string, check: () => Promise<boolean>, seconds: number) => {
      for (let i = 0; i < seconds; i++) {
        if (await check()) return;
        await sleep(1000);
      }
      throw new Error(`not within ${seconds} s: ${what}`);
    };

    beforeAll(async () => {
      devnet = join(scratchDir('prometheus-devnet'), 'devnet');
      await devnetUp(devnet, { extra: ['--tls'] });
      const state = JSON.parse(readFileSync(join(devnet, 'devnet.json'), 'utf8')) as {
        nodes: Array<{ name: string; api: string }>;
        tls: { ca: string };
      };
      nodes = state.nodes;
      etc = copyShipped();
      cpSync(state.tls.ca, join(etc, 'medchain-ca.pem'));
      writeFileSync(
        join(etc, 'targets/remote.json'),
        JSON.stringify(
          nodes.map((node) => ({ targets: [new URL(node.api).host], labels: { node: node.name } })),
        ),
      );
      const config = join(etc, 'prometheus.yml');
      writeFileSync(
        config,
        readFileSync(config, 'utf8')
          .replace('scrape_interval: 15s', 'scrape_interval: 1s')
          .replace('evaluation_interval: 15s', 'evaluation_interval: 1s'),
      );
      const alertRules = join(etc, 'medchain.alerts.yml');
      const shipped = readFileSync(alertRules, 'utf8');
      const shortened = shipped.replace(
        /(alert: MedchainNodeDown\n\s+expr: .*\n\s+)for: 1m/,
        '$1for: 5s',
      );
      expect(shortened).not.toBe(shipped);
      writeFileSync(alertRules, shortened);
      const server = spawn(
        'prometheus',
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${join(etc, '..', 'data')}`,
          '--web.listen-address=127.0.0.1:0',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      prometheus = server;
      // It binds port 0 and logs the address it got.
      url = await new Promise<string>((resolve, reject) => {
        let log = '';
        server.stderr!.on('data', (chunk: Buffer) => {
          if (url !== '') return;
          log += chunk.toString('utf8');
          const bound = /msg="Listening on" address=(\S+)/.exec(log);
          if (bound !== null) resolve(`http://${bound[1]}`);
        });
        server.once('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${log}`)));
      });
      await until(
        'every node scraped',
        async () => {
          const result = await query('up{job="medchain-remote"} == 1').catch(() => []);
          return result.length === 4;
        },
        90,
      );
    }, 240_000);

    afterAll(async () => {
      prometheus?.kill('SIGTERM');
      await cli(['devnet', 'down', '--dir', devnet]);
    }, 60_000);

    it('scrapes every node over https and computes the recording rules', async () => {
      await until(
        'recording rules evaluated',
        async () => (await query('medchain:peers_needed')).length === 4,
        30,
      );
      for (const series of await query('medchain:peers_needed')) {
        expect(series.value[1]).toBe('2'); // 4 validators: f = 1, a quorum needs 2 peers
      }
      const free = await query('medchain:home_disk_free:ratio');
      expect(free).toHaveLength(4);
      for (const series of free) {
        expect(Number(series.value[1])).toBeGreaterThan(0);
        expect(Number(series.value[1])).toBeLessThanOrEqual(1);
      }
      // devnet certificates are made for 30 days.
      for (const series of await query('medchain:tls_certificate:seconds_left')) {
        expect(Number(series.value[1]) / 86_400).toBeGreaterThan(29);
        expect(Number(series.value[1]) / 86_400).toBeLessThanOrEqual(30);
      }
      expect((await alerts()).filter((alert) => alert.state === 'firing')).toEqual([]);
    }, 60_000);

    it('a killed node fires MedchainNodeDown for that node only', async () => {
      const victim = nodes[3]!.name;
      const kill = await cli(['devnet', 'kill', victim, '--dir', devnet]);
      expect(kill.code, kill.stderr).toBe(0);
      const nodeDown = async () =>
        (await alerts()).filter(
          (alert) => alert.labels.alertname === 'MedchainNodeDown' && alert.state === 'firing',
        );
      await until('MedchainNodeDown firing', async () => (await nodeDown()).length > 0, 60);
      expect((await nodeDown()).map((alert) => alert.labels)).toEqual([
        expect.objectContaining({ node: victim, job: 'medchain-remote', severity: 'critical' }),
      ]);
    }, 90_000);
  });
});
