import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError, type MedchainClient } from '@medchain/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cli, json, tempDir } from '../../../packages/cli/test/helpers.js';
import type { ChaosReport } from '../../src/chaos.js';
import {
  blockTimeViolation,
  checkChain,
  evidenceViolations,
  whenLetThrough,
} from '../../src/chaos-check.js';
import type { Acknowledged } from '../../src/chaos-load.js';
import { MAX_SKEW_MS } from '../../src/chaos-plan.js';
import { adminSigner, devnetClient, findNode, readDevnet } from '../../src/state.js';

/**
 * A short chaos run of 4 validator processes: at least 10 kill -9 (the primary every third
 * fault, some with a torn WAL tail), a SIGSTOP pause and a clock skew ahead under load, then the
 * external checker's verdict. Asserts what the checker found, never how fast it went.
 */

const dir = tempDir('chaos');
/** Its first 12 faults: 10 kills (4 of the primary, 4 with a damaged WAL), 1 pause, 1 skew of +2,166 ms. */
const SEED = 9;

interface DevnetFile {
  chainId: string;
  nodes: { name: string; api: string; pid: number | null }[];
}

afterAll(async () => {
  await cli(['devnet', 'down', '--dir', dir]);
  try {
    const net = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as DevnetFile;
    for (const node of net.nodes) if (node.pid !== null) process.kill(node.pid, 'SIGKILL');
  } catch {
    // nothing left to stop
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('medchain devnet chaos', () => {
  let run: CliRun;
  let report: ChaosReport;

  // The run is the tests' fixture: each test reads its report or its chain (nodes stopped).
  beforeAll(async () => {
    run = await cli(
      [
        'devnet',
        'chaos',
        '--json',
        '--dir',
        dir,
        '--seed',
        String(SEED),
        '--faults',
        '12',
        '--kills',
        '10',
        '--clients',
        '6',
      ],
      { timeoutMs: 600_000 },
    );
    report = json<ChaosReport>(run);
  }, 620_000);

  it('loses no acknowledged transaction and converges through >= 10 kills, primary included, and a skewed clock', () => {
    expect(report.check.violations).toEqual([]);
    expect(report.unexpectedExits).toEqual([]);
    expect(report.livenessFailures).toBe(0);
    expect(report.ok).toBe(true);
    expect(run.code).toBe(0);
    expect(report.seed).toBe(SEED);
    expect(report.kills).toBeGreaterThanOrEqual(10);
    expect(report.faults.filter((f) => f.kind === 'kill' && f.wasPrimary).length).toBeGreaterThan(
      0,
    );
    const skews = report.faults.filter((f) => f.kind === 'skew');
    expect(skews.length).toBe(report.skews);
    expect(report.skews).toBeGreaterThanOrEqual(1);
    for (const { skew } of skews) {
      expect(skew!.clockOffsetMs).toBeGreaterThan(0);
      expect(skew!.clockOffsetMs).toBeLessThanOrEqual(MAX_SKEW_MS);
      expect(skew!.catchUpMs).not.toBeNull();
    }
    // Within the tolerance no validator refuses a proposal for its time, whoever is skewed.
    expect(report.timeRefusals).toBe(0);
    expect(report.check.acknowledgedTxs).toBeGreaterThan(0);
    expect(report.check.committedTxs).toBeGreaterThanOrEqual(report.check.acknowledgedTxs);
    const roots = new Set(report.check.nodes.map((n) => `${n.height}/${n.stateRoot}`));
    expect(roots.size).toBe(1);
    expect(report.check.comparedHeight).toBe(report.check.nodes[0]!.height);
  });

  it('the checker flags a lost transaction and a changed receipt on the same chain', async () => {
    const up = await cli(['devnet', 'up', '--dir', dir, '--json'], { timeoutMs: 170_000 });
    expect(up.code, up.stderr).toBe(0);
    const net = readDevnet(dir);
    // Blocks are for members: the checker reads each node as its organization's admin.
    const reader = (node: { name: string }) =>
      devnetClient(net, findNode(net, node.name), {
        signer: adminSigner(dir, findNode(net, node.name)),
      });
    const first = reader(net.nodes[0]!);
    const someTx = await findCommittedTx(first, (await first.latestBlock()).header.height);
    const lost: Acknowledged = {
      hash: 'ab'.repeat(32),
      height: 1,
      index: 0,
      receipt: { txHash: 'ab'.repeat(32), code: 'OK', message: '' },
      node: 'fabricated',
    };
    const changed: Acknowledged = {
      ...someTx,
      receipt: { ...someTx.receipt, code: 'PATIENT_EXISTS' },
    };
    const result = await checkChain({
      chainId: net.chainId,
      nodes: net.nodes,
      reader,
      acknowledged: new Map([
        [lost.hash, lost],
        [changed.hash, changed],
      ]),
      convergenceTimeoutMs: 60_000,
    });
    expect(result.ok).toBe(false);
    expect(result.violations).toHaveLength(2);
    expect(result.violations[0]).toContain(`tx ${lost.hash}`);
    expect(result.violations[1]).toContain(`tx ${changed.hash}`);
  }, 180_000);
});

describe('the checker on block times', () => {
  it('flags a block time before its parent and one beyond the tolerance ahead of its clock', () => {
    const now = 1_000_000;
    expect(blockTimeViolation(5, now, now, now, 5_000)).toBeUndefined();
    expect(blockTimeViolation(5, now + 5_000, now, now, 5_000)).toBeUndefined();
    expect(blockTimeViolation(5, now - 1, now, now, 5_000)).toContain('before its parent');
    expect(blockTimeViolation(5, now + 5_001, now, now, 5_000)).toContain('5001 ms ahead');
  });
});

describe('the checker on a rate-limited node', () => {
  const limited = (retryAfterMs: number | undefined, status = 429) =>
    new ClientError('RATE_LIMITED', 'Too many requests', {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });

  it('reads again after the wait the node names, and gives up on anything else', async () => {
    let calls = 0;
    const answer = await whenLetThrough(async () => {
      calls++;
      if (calls < 3) throw limited(5, calls === 1 ? 429 : 503);
      return 'block';
    });
    expect(answer).toBe('block');
    expect(calls).toBe(3);

    const refused = new ClientError('FORBIDDEN', 'not a member', { status: 403 });
    await expect(whenLetThrough(() => Promise.reject(refused))).rejects.toBe(refused);
    const noWait = limited(undefined);
    await expect(whenLetThrough(() => Promise.reject(noWait))).rejects.toBe(noWait);
    const tooLong = limited(3_600_000);
    await expect(whenLetThrough(() => Promise.reject(tooLong))).rejects.toBe(tooLong);
  });

  it('stops retrying after a bounded number of waits', async () => {
    let calls = 0;
    const always = limited(0);
    await expect(
      whenLetThrough(() => {
        calls++;
        return Promise.reject(always);
      }),
    ).rejects.toBe(always);
    expect(calls).toBe(21);
  });
});

describe('the checker on equivocation evidence', () => {
  it('turns every evidence item, an undercount and a malformed answer into violations', () => {
    expect(evidenceViolations('a', { items: [], total: 0 })).toEqual([]);
    const item = {
      validator: 'ab'.repeat(32),
      phase: 'commit',
      height: 7,
      view: 1,
      verified: true,
    };
    const found = evidenceViolations('a', { items: [item], total: 3 });
    expect(found[0]).toContain('validator abababababababab signed two commit votes at height 7');
    expect(found[1]).toContain('2 more equivocations');
    expect(evidenceViolations('a', { error: 'nope' })[0]).toContain('malformed evidence');
  });
});

/** The last committed transaction at or below `height`, as the API reports it. */
async function findCommittedTx(api: MedchainClient, height: number): Promise<Acknowledged> {
  for (let h = height; h > 0; h--) {
    const block = await api.block(h);
    const receipt = block.receipts.at(-1);
    if (receipt !== undefined) {
      return {
        hash: receipt.txHash,
        height: h,
        index: block.receipts.length - 1,
        receipt,
        node: 'a',
      };
    }
  }
  throw new Error('no committed transaction on the chain');
}
