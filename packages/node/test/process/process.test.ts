import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signRequest } from '@medchain/client';
import { primaryIndex } from '@medchain/consensus';
import { toHex } from '@medchain/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE_NAME } from '../../src/index.js';
import {
  makeNetwork,
  type Network,
  type NodeHome,
  registration,
  waitUntil,
} from '../cluster-harness.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const mainTs = join(repoRoot, 'packages/node/src/main.ts');

interface Status {
  height: number;
  lastBlockHash: string;
  stateRoot: string;
  view: number;
  validators: { publicKey: string }[];
}

/**
 * Four real node processes (`node --import tsx packages/node/src/main.ts --home DIR`, the same
 * entry as the built dist/main.js), driven only through their HTTP APIs and signals.
 */
describe('4 validator processes', () => {
  let network: Network;
  const children = new Map<number, ChildProcess>();

  /** Where each node listens, as its log reported at its last start (every node binds port 0). */
  const bound = new Map<number, { api: string; p2p: string[] }>();

  /**
   * Starts `home`'s node with the others' current addresses as its config peers (it dials them;
   * a connection serves both ways), and waits for its log to report its own addresses.
   */
  async function launch(home: NodeHome): Promise<void> {
    const configPath = join(home.home, CONFIG_FILE_NAME);
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.peers = network.homes
      .filter((other) => other !== home && bound.has(other.index))
      .map((other) => ({ peerId: other.peerId, addrs: bound.get(other.index)!.p2p }));
    writeFileSync(configPath, JSON.stringify(config));
    const logPath = join(home.home, 'process.log');
    const log = openSync(logPath, 'a');
    const from = fstatSync(log).size;
    const child = spawn(process.execPath, ['--import', 'tsx', mainTs, '--home', home.home], {
      cwd: repoRoot,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.test.json') },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    children.set(home.index, child);
    let p2p: string[] | undefined;
    let api: string | undefined;
    await waitUntil(
      `node ${home.index} reports its addresses`,
      () => {
        // Whole lines only: the last one may still be being written.
        const lines = readFileSync(logPath)
          .subarray(from)
          .toString('utf8')
          .split('\n')
          .slice(0, -1);
        for (const line of lines) {
          if (!line.startsWith('{')) continue;
          const entry = JSON.parse(line);
          if (entry.msg === 'libp2p host started') {
            // Config peer addresses name no peer id: drop the /p2p/ part libp2p adds.
            p2p = (entry.listen as string[]).map((addr) => addr.replace(`/p2p/${home.peerId}`, ''));
          }
          if (entry.msg === 'node started') api = entry.api;
        }
        return p2p !== undefined && api !== undefined;
      },
      { tries: 1_200 },
    );
    bound.set(home.index, { api: api!, p2p: p2p! });
  }

  const apiOf = (home: NodeHome) => bound.get(home.index)!.api;

  async function kill9(index: number): Promise<void> {
    const child = children.get(index);
    children.delete(index);
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async function status(home: NodeHome): Promise<Status | undefined> {
    try {
      const response = await fetch(`${apiOf(home)}/v1/status`, {
        signal: AbortSignal.timeout(5_000),
      });
      return response.ok ? ((await response.json()) as Status) : undefined;
    } catch {
      return undefined;
    }
  }

  async function submit(home: NodeHome, tx: Uint8Array): Promise<number> {
    try {
      const response = await fetch(`${apiOf(home)}/v1/tx`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tx: toHex(tx) }),
        signal: AbortSignal.timeout(5_000),
      });
      return response.status;
    } catch {
      return 0;
    }
  }

  const live = () => network.homes.filter((home) => children.has(home.index));

  async function heights(homes: readonly NodeHome[]): Promise<number[]> {
    const all = await Promise.all(homes.map(status));
    return all.map((s) => s?.height ?? -1);
  }

  /** Background load: a few registrations every 100 ms to live nodes, until stopped. */
  function startLoad(label: string): { stop: () => Promise<number> } {
    let running = true;
    let accepted = 0;
    const loop = (async () => {
      for (let round = 0; running && round < 3_000; round++) {
        const targets = live();
        await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const home = targets[(round + i) % targets.length];
            if (home === undefined) return;
            if ((await submit(home, registration(`${label}-${round}-${i}`))) === 202) accepted++;
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return accepted;
      },
    };
  }

  /** Every live node reports the same block hash at a common height, and the same state root when level. */
  async function expectConverged(): Promise<void> {
    await waitUntil(
      'live nodes converge on one head',
      async () => {
        const all = await Promise.all(live().map(status));
        if (all.some((s) => s === undefined)) return false;
        const first = all[0]!;
        return all.every(
          (s) =>
            s!.height === first.height &&
            s!.lastBlockHash === first.lastBlockHash &&
            s!.stateRoot === first.stateRoot,
        );
      },
      { tries: 600, intervalMs: 100 },
    );
  }

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4, logLevel: 'info', tickIntervalMs: 50 });
    for (const home of network.homes) await launch(home);
    // An idle chain makes no blocks: a little load shows the four commit together.
    const load = startLoad('warm-up');
    await waitUntil(
      'all four APIs answer and blocks are committed',
      async () => (await heights(network.homes)).every((height) => height >= 2),
      { tries: 1_200, intervalMs: 100 },
    );
    await load.stop();
  }, 180_000);

  afterAll(async () => {
    for (const index of [...children.keys()]) await kill9(index);
    await network?.remove();
  }, 30_000);

  it('a validator killed with -9 under load restarts, catches up and every node converges', async () => {
    const load = startLoad('kill9');
    await waitUntil(
      'load is being committed',
      async () => (await heights(live())).every((h) => h >= 4),
      {
        tries: 600,
      },
    );
    const victim = network.homes[2]!;
    await kill9(victim.index);
    const [heightAtKill] = await heights([network.homes[0]!]);
    await waitUntil(
      'three validators keep committing',
      async () => (await heights(live())).every((height) => height >= heightAtKill! + 5),
      { tries: 600 },
    );
    await launch(victim);
    await waitUntil(
      'the restarted validator catches up',
      async () => {
        const [restarted, reference] = await heights([victim, network.homes[0]!]);
        return restarted! >= heightAtKill! + 5 && restarted! >= reference! - 1;
      },
      { tries: 1_200 },
    );
    const accepted = await load.stop();
    expect(accepted).toBeGreaterThan(0);
    await expectConverged();
    const logText = readFileSync(join(victim.home, 'process.log'), 'utf8');
    expect(logText).toContain('consensus core restored');
  }, 240_000);

  it('after the primary is killed a view change happens and commits resume', async () => {
    const reference = await status(network.homes[0]!);
    expect(reference).toBeDefined();
    // The primary of the next height in view 0 is validators[(h + 0) mod n] (sorted by key).
    const next = reference!.height + 1;
    const primaryKey =
      reference!.validators[primaryIndex(next, 0, reference!.validators.length)]!.publicKey;
    const primary = network.homes.find((home) => toHex(home.validator.publicKey) === primaryKey)!;
    await kill9(primary.index);
    const load = startLoad('primary-down');
    await waitUntil(
      'the others commit past the dead primary’s height',
      async () => (await heights(live())).every((height) => height >= next + 4),
      { tries: 1_200 },
    );
    await load.stop();
    await expectConverged();
    const texts = await Promise.all(
      live().map((home) => fetch(`${apiOf(home)}/v1/metrics`).then((response) => response.text())),
    );
    // Heights whose view-0 primary is dead are decided in a later view, entered by NEW-VIEW.
    const newView = /medchain_consensus_messages_received_total\{[^}]*type="newview"[^}]*\} [1-9]/;
    expect(texts.some((text) => newView.test(text))).toBe(true);
  }, 240_000);

  it('a validator whose disk was wiped state-syncs from a certified snapshot and follows', async () => {
    // The primary killed above comes back first: one validator down at a time.
    for (const home of network.homes) if (!children.has(home.index)) await launch(home);
    const [reference] = await heights([network.homes[0]!]);
    await waitUntil(
      'all four answer at the same height',
      async () => (await heights(network.homes)).every((height) => height >= reference!),
      { tries: 1_200 },
    );
    const victim = live().find((home) => home.index !== 0)!;
    await kill9(victim.index);
    // A new disk: no blocks, no WAL, no vault. Keys, genesis and config stay.
    for (const dir of ['db', 'wal', 'vault']) {
      rmSync(join(victim.home, dir), { recursive: true, force: true });
    }
    const load = startLoad('wiped');
    await waitUntil(
      'the others move 25 heights on (state sync needs peers at least 20 ahead)',
      async () => (await heights(live())).every((height) => height >= reference! + 25),
      { tries: 1_200 },
    );
    await launch(victim);
    await waitUntil(
      'the wiped validator installs a snapshot',
      async () =>
        readFileSync(join(victim.home, 'process.log'), 'utf8').includes(
          'state synced from a certified snapshot',
        ),
      { tries: 1_200 },
    );
    const [afterSync] = await heights([victim]);
    await waitUntil(
      'it follows the chain as load goes on',
      async () => {
        const [mine, theirs] = await heights([victim, network.homes[0]!]);
        return mine! >= afterSync! + 3 && mine! >= theirs! - 1;
      },
      { tries: 1_200 },
    );
    await load.stop();
    await expectConverged();
    // It never fetched the blocks below the snapshot: the first of them is not stored.
    // (Blocks are for members: asked with the validator's key.)
    const blockUrl = `${apiOf(victim)}/v1/blocks/1`;
    const first = await fetch(blockUrl, {
      headers: await signRequest({ method: 'GET', url: blockUrl }, victim.validator, {
        now: Date.now(),
        nonce: `process-test-${Date.now()}`,
      }),
    });
    expect(first.status).toBe(404);
  }, 240_000);

  it('SIGTERM stops a node cleanly (exit code 0, parts closed in reverse)', async () => {
    const home = live()[0]!;
    const child = children.get(home.index)!;
    children.delete(home.index);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = readFileSync(join(home.home, 'process.log'), 'utf8').trim().split('\n');
    expect(lines.at(-1)).toContain('node stopped');
  }, 60_000);
});
