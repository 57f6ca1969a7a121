import { describe, expect, it } from 'vitest';
import type { ShellPorts, WalLog } from '../src/index.js';
import { describeCampaign, formatNodeSimFailure, runNodeCampaign } from './sim/campaign.js';
import type { ViolationKind } from './sim/checkers.js';
import { type NodeSimOverrides, nodeSimParams } from './sim/params.js';
import { REGRESSION_SEEDS } from './sim/seeds.js';
import { shellFactory } from './sim/shell.js';
import { type Injection, runNodeSimulation } from './sim/simulation.js';

/** A short campaign for the inner loop (the long one is test/campaign/). */
const SHORT_RUNS = 8;

/**
 * An injection that runs every node's WAL with some methods replaced: each replacement gets
 * the real WAL and returns the method the shell calls instead.
 */
function walInjection(
  replace: { [K in 'sync' | 'replay']?: (wal: WalLog) => WalLog[K] },
): Injection {
  return {
    ports: (ports: ShellPorts) => {
      const wal = ports.storage.wal;
      return {
        ...ports,
        storage: {
          kv: ports.storage.kv,
          wal: {
            append: (records) => wal.append(records),
            sync: replace.sync?.(wal) ?? (() => wal.sync()),
            checkpoint: (records) => wal.checkpoint(records),
            replay: replace.replay?.(wal) ?? (() => wal.replay()),
            get sizeBytes() {
              return wal.sizeBytes;
            },
            close: () => wal.close(),
          },
        },
      };
    },
  };
}

describe('node-level simulation', () => {
  it(`runs ${SHORT_RUNS} seeded runs of the shipped shell with every checker passing`, async () => {
    const report = await runNodeCampaign(10_001, SHORT_RUNS);
    console.log(describeCampaign(10_001, report));
    expect(report.failures.map(formatNodeSimFailure)).toEqual([]);
  });

  it('replays a seed exactly', async () => {
    const params = nodeSimParams(4242);
    const [first, second] = [
      await runNodeSimulation(params, shellFactory, { verbose: true }),
      await runNodeSimulation(params, shellFactory, { verbose: true }),
    ];
    expect(first!.trace.length).toBeGreaterThan(10);
    expect(second!.trace).toEqual(first!.trace);
    expect(second!.events).toBe(first!.events);
    expect(second!.delivered).toBe(first!.delivered);
    expect(second!.stateRoots).toEqual(first!.stateRoots);
  });

  // Every seed that ever failed (sim/seeds.ts) replays as its own test.
  for (const entry of REGRESSION_SEEDS) {
    const run = () => runNodeSimulation(nodeSimParams(entry.seed, entry.overrides), shellFactory);
    if (entry.open === undefined) {
      it(`regression seed ${entry.seed}: ${entry.found}`, async () => {
        const result = await run();
        expect(result.violations.map((v) => `${v.kind}: ${v.detail}`)).toEqual([]);
      });
    } else {
      const { kind, why } = entry.open;
      it(`regression seed ${entry.seed} still fails (${kind}, unfixed): ${why}`, async () => {
        const result = await run();
        expect(result.violations.map((v) => v.kind)).toContain(kind);
      });
    }
  }
});

/**
 * The checkers can fail: each test breaks one promise of the shell (through a port or a
 * wrapper, never by editing the shipped code), runs seeds until a run fails, and asserts the
 * checker that fired; the same seed passes without the bug.
 */
describe('node-level simulation with an injected bug', () => {
  async function firstCaught(
    injection: Injection,
    overrides: NodeSimOverrides,
    kind: ViolationKind,
    maxSeeds: number,
  ): Promise<number> {
    for (let seed = 1; seed <= maxSeeds; seed++) {
      const result = await runNodeSimulation(nodeSimParams(seed, overrides), shellFactory, {
        injection,
      });
      if (result.violations.some((v) => v.kind === kind)) {
        console.log(`${kind} caught the injected bug at seed ${seed}`);
        return seed;
      }
    }
    throw new Error(`no ${kind} violation in ${maxSeeds} seeds`);
  }

  it('catches a driver that sends before its fsync (a WAL that acknowledges early)', async () => {
    // The WAL's sync resolves at once while the write is still in flight, so the driver
    // sends votes its disk may not hold: a crash then loses them.
    const earlyFsync = walInjection({
      sync: (wal) => () => {
        void wal.sync().catch(() => undefined);
        return Promise.resolve();
      },
    });
    const overrides = { crashes: true, crashAtWriteShare: 1, lossRate: 0, partitions: false };
    const seed = await firstCaught(earlyFsync, overrides, 'persistBeforeSend', 40);
    const honest = await runNodeSimulation(nodeSimParams(seed, overrides), shellFactory);
    expect(honest.violations.map((v) => v.kind)).not.toContain('persistBeforeSend');
  });

  it('catches a validator that forgets its votes on restart (a WAL that replays nothing)', async () => {
    // The restarted core resumes after the stored chain with no record of the height it was
    // voting at, so it may sign a second, different statement for a slot it already signed.
    const amnesia = walInjection({ replay: () => async () => [] });
    const overrides = { crashes: true, crashAtWriteShare: 0, lossRate: 0, partitions: false };
    const seed = await firstCaught(amnesia, overrides, 'equivocation', 60);
    const honest = await runNodeSimulation(nodeSimParams(seed, overrides), shellFactory);
    expect(honest.violations.map((v) => v.kind)).not.toContain('equivocation');
  });

  it('catches a mempool that acknowledges a transaction and drops it', async () => {
    // Every third submission is answered "admitted" but never reaches the mempool.
    let submissions = 0;
    const dropping: Injection = {
      shell: (shell) => ({
        ...shell,
        submit: (bytes) => (++submissions % 3 === 0 ? { accepted: true } : shell.submit(bytes)),
        view: () => shell.view(),
        stop: () => shell.stop(),
      }),
    };
    const overrides = { crashes: false, partitions: false, lossRate: 0 };
    const seed = await firstCaught(dropping, overrides, 'ackLost', 10);
    const honest = await runNodeSimulation(nodeSimParams(seed, overrides), shellFactory);
    expect(honest.violations).toEqual([]);
  });
});
