import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '@medchain/crypto';
import { DEFAULT_MAX_CLOCK_DRIFT_MS, Wal } from '@medchain/node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../packages/cli/test/helpers.js';
import {
  describeFault,
  faultSchedule,
  firstFaults,
  MAX_SKEW_MS,
  PRIMARY_EVERY,
  scheduleDigest,
  type WalDamage,
} from '../../src/chaos-plan.js';
import { damageWal, liveWalSegment, WAL_DIR } from '../../src/chaos-wal.js';

describe('chaos fault schedule', () => {
  it('is a function of the seed: same seed, same schedule; another seed, another one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 4, max: 10 }),
        (seed, n) => {
          const a = firstFaults(seed, n, 40);
          expect(firstFaults(seed, n, 40)).toEqual(a);
          expect(scheduleDigest(firstFaults(seed + 1, n, 40))).not.toBe(scheduleDigest(a));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('kills the primary every third fault, targets real validators, damages only killed WALs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 4, max: 10 }),
        (seed, n) => {
          const faults = firstFaults(seed, n, 60);
          for (const fault of faults) {
            if (fault.index % PRIMARY_EVERY === 0) {
              expect(fault).toMatchObject({ kind: 'kill', target: 'primary' });
            } else {
              expect(fault.target).toBeGreaterThanOrEqual(0);
              expect(fault.target).toBeLessThan(n);
            }
            if (fault.kind === 'pause') expect(fault.walDamage).toBe('none');
            expect(fault.downMs).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 50 },
    );
    // Over a long schedule every fault kind and every WAL damage shows up.
    const kinds = new Set<string>();
    for (const fault of faultSchedule(3, 4)) {
      kinds.add(`${fault.kind}/${fault.walDamage}`);
      if (fault.index === 200) break;
    }
    expect([...kinds].sort()).toEqual([
      'kill/none',
      'kill/torn-write',
      'kill/truncated-tail',
      'pause/none',
    ]);
  });
});

describe('chaos clock skews', () => {
  it('without skews a seed gives its skew-free schedule (golden digests)', () => {
    // Golden digests: with skew off, the draws are those of the skew-free schedules (the
    // 30-minute run's seed, an old default seed, a --netns seed), drawn from @medchain/crypto's
    // SeededRandom. (Seeds recorded while the plan drew from its own mulberry32, as in
    // RELIABILITY.md, replay on a checkout from before the switch.)
    expect(scheduleDigest(firstFaults(20261125, 4, 166))).toBe('a90281ca1652dbcc');
    expect(scheduleDigest(firstFaults(11, 4, 12))).toBe('b073d10d74c0f349');
    expect(scheduleDigest(firstFaults(7, 4, 30, true))).toBe('3209cb76f007b0d6');
  });

  it('skews one validator at a time within the tolerance, either way, the primary included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 4, max: 10 }),
        fc.boolean(),
        (seed, n, partitions) => {
          const faults = firstFaults(seed, n, 60, partitions, true);
          expect(firstFaults(seed, n, 60, partitions, true)).toEqual(faults);
          for (const fault of faults) {
            if (fault.index % PRIMARY_EVERY === 0) expect(fault.target).toBe('primary');
            if (fault.kind !== 'skew') {
              expect(fault.clockOffsetMs).toBeUndefined();
              continue;
            }
            const offset = fault.clockOffsetMs!;
            expect(Number.isSafeInteger(offset)).toBe(true);
            expect(Math.abs(offset)).toBeGreaterThanOrEqual(MAX_SKEW_MS / 4);
            expect(Math.abs(offset)).toBeLessThanOrEqual(MAX_SKEW_MS);
            expect(fault.walDamage).toBe('none');
            expect(describeFault(fault)).toContain(`${offset > 0 ? '+' : ''}${offset} ms`);
          }
        },
      ),
      { numRuns: 50 },
    );
    expect(MAX_SKEW_MS).toBeLessThan(DEFAULT_MAX_CLOCK_DRIFT_MS);
    // Over a long schedule: skews ahead and behind, of the primary and of others, and every
    // other kind still shows up.
    const seen = new Set<string>();
    for (const fault of faultSchedule(3, 4, false, true)) {
      seen.add(
        fault.kind === 'skew'
          ? `skew/${fault.clockOffsetMs! > 0 ? 'ahead' : 'behind'}/${fault.target === 'primary' ? 'primary' : 'other'}`
          : fault.kind,
      );
      if (fault.index === 200) break;
    }
    expect([...seen].sort()).toEqual([
      'kill',
      'pause',
      'skew/ahead/other',
      'skew/ahead/primary',
      'skew/behind/other',
      'skew/behind/primary',
    ]);
  });
});

describe('chaos WAL damage', () => {
  const records = (count: number) =>
    Array.from({ length: count }, (_, i) =>
      Uint8Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => (i + j) & 0xff),
    );

  it('appends a torn frame that the node cuts on open, keeping every synced record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom<WalDamage>('truncated-tail', 'torn-write'),
        fc.integer({ min: 0, max: 20 }),
        async (seed, damage, count) => {
          const home = tempDir('chaos-wal');
          mkdirSync(join(home, WAL_DIR));
          const written = records(count);
          const wal = await Wal.open(join(home, WAL_DIR));
          wal.append(written);
          await wal.sync();
          await wal.close();
          const file = liveWalSegment(home)!;
          const size = statSync(file).size;
          const appended = damageWal(home, damage, new SeededRandom(seed));
          expect(appended).toBeGreaterThan(0);
          expect(statSync(file).size).toBe(size + appended);
          const reopened = await Wal.open(join(home, WAL_DIR));
          expect(reopened.opened.droppedBytes).toBe(appended);
          expect(await reopened.replay()).toEqual(written);
          await reopened.close();
          expect(statSync(file).size).toBe(size);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('does nothing for a plain crash or a home without a WAL', () => {
    const home = tempDir('chaos-nowal');
    expect(damageWal(home, 'torn-write', new SeededRandom(1))).toBe(0);
    expect(damageWal(home, 'none', new SeededRandom(1))).toBe(0);
  });
});
