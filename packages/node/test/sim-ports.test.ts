import { SeededRandom, toHex, utf8 } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Incarnation, SimTimers, SkewedClock } from './sim/clock.js';
import { SimNetwork } from './sim/network.js';
import { Scheduler } from './sim/scheduler.js';
import { SimDisk } from './sim/storage.js';

/** The simulation's memory ports keep the contracts of shell/ports.ts (what the shell relies on). */

function disk(seed: number, scheduler: Scheduler, crashNext: () => boolean = () => false) {
  let crashed = false;
  const made: SimDisk = new SimDisk(0, scheduler, new SeededRandom(seed), {
    syncLatency: [0.1, 2],
    crashAtWrite: crashNext,
    crash: () => {
      crashed = true;
      life.alive = false;
      made.crash();
    },
  });
  const life = new Incarnation(0, 1);
  return { disk: made, life, crashed: () => crashed };
}

const record = (i: number) => utf8(`record-${i}`);

describe('simulated storage', () => {
  it('WAL: after a crash, replay is every synced record then a prefix of the rest', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.constantFrom('append', 'sync', 'crash-in-sync'), { maxLength: 30 }),
        async (seed, steps) => {
          const scheduler = new Scheduler();
          let crashNow = false;
          const made = disk(seed, scheduler, () => {
            const now = crashNow;
            crashNow = false;
            return now;
          });
          const wal = made.disk.open(made.life).wal;
          const synced: Uint8Array[] = [];
          const appended: Uint8Array[] = [];
          let count = 0;
          for (const step of steps) {
            if (made.crashed()) break;
            if (step === 'append') {
              const r = record(count++);
              wal.append([r]);
              appended.push(r);
              continue;
            }
            crashNow = step === 'crash-in-sync';
            let done = false;
            void wal.sync().then(() => {
              done = true;
            });
            await scheduler.run({ until: Number.POSITIVE_INFINITY, maxEvents: 1_000 });
            if (done) synced.push(...appended.splice(0));
          }
          if (!made.crashed()) made.disk.crash();
          const replayed = made.disk.walRecords().map(toHex);
          const all = [...synced, ...appended].map(toHex);
          expect(replayed.slice(0, synced.length)).toEqual(synced.map(toHex));
          expect(all.slice(0, replayed.length)).toEqual(replayed);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('KV: a crash keeps a prefix of the unsynced batches, each whole, and every synced one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
        async (seed, syncs) => {
          const scheduler = new Scheduler();
          const made = disk(seed, scheduler);
          const kv = made.disk.open(made.life).kv;
          let lastSynced = -1;
          for (const [i, sync] of syncs.entries()) {
            // Batch i writes keys a and b with value i: a crash must never split them.
            const value = Uint8Array.of(i);
            void kv
              .write(
                [
                  { type: 'put', key: utf8('a'), value },
                  { type: 'put', key: utf8('b'), value },
                ],
                { sync },
              )
              .then(() => {
                if (sync) lastSynced = Math.max(lastSynced, i);
              });
            expect(kv.getSync(utf8('a'))).toEqual(value);
          }
          await scheduler.run({ until: 1, maxEvents: 1_000 });
          made.disk.crash();
          const survivor = made.disk.open(new Incarnation(0, 2)).kv;
          const a = survivor.getSync(utf8('a'));
          const b = survivor.getSync(utf8('b'));
          expect(a).toEqual(b);
          const kept = a === undefined ? -1 : a[0]!;
          expect(kept).toBeGreaterThanOrEqual(lastSynced);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('KV: iterates ranges in key order, forwards and back, with limits', async () => {
    const scheduler = new Scheduler();
    const made = disk(1, scheduler);
    const kv = made.disk.open(made.life).kv;
    const keys = [3, 1, 4, 15, 9, 2, 6].map((k) => Uint8Array.of(1, k));
    void kv.write(keys.map((key) => ({ type: 'put', key, value: key })));
    await scheduler.run({ until: 10, maxEvents: 100 });
    const read = async (range: Parameters<typeof kv.iterate>[0]) => {
      const out: number[] = [];
      for await (const [key] of kv.iterate(range)) out.push(key[1]!);
      return out;
    };
    expect(await read({ gte: Uint8Array.of(1, 2), lt: Uint8Array.of(1, 9) })).toEqual([2, 3, 4, 6]);
    expect(await read({ gt: Uint8Array.of(1, 2), lt: Uint8Array.of(1, 9), reverse: true })).toEqual(
      [6, 4, 3],
    );
    expect(await read({ gte: Uint8Array.of(1), limit: 2 })).toEqual([1, 2]);
    const snapshot = kv.snapshot();
    void kv.write([{ type: 'del', key: Uint8Array.of(1, 1) }]);
    const seen: number[] = [];
    for await (const [key] of snapshot.iterate({})) seen.push(key[1]!);
    expect(seen).toEqual([1, 2, 3, 4, 6, 9, 15]);
  });
});

describe('simulated network and timers', () => {
  async function twoNodes(seed: number) {
    const scheduler = new Scheduler();
    const received: string[] = [];
    const network = new SimNetwork(scheduler, new SeededRandom(seed), () => undefined);
    const peers = ['12D3KooWSimA', '12D3KooWSimB'];
    const transports = peers.map((peer, index) => {
      network.addNode(peer);
      const life = new Incarnation(index, 1);
      const clock = new SkewedClock(scheduler, 0, 0, 1);
      return {
        life,
        transport: network.attach(index, life, new SimTimers(scheduler, clock, life)),
      };
    });
    const channels = await Promise.all(
      transports.map(({ transport }) =>
        transport.messages({
          protocol: '/test/1',
          maxMessageBytes: 64,
          decode: (bytes) => bytes[0]!,
          onMessage: (peer, value) => received.push(`${peer}:${value}`),
        }),
      ),
    );
    return { scheduler, network, peers, transports, channels, received };
  }

  it('keeps messages on a link in send order, whatever the delays', async () => {
    const { scheduler, network, peers, channels, received } = await twoNodes(7);
    network.faults.delay = [1, 100];
    for (let i = 0; i < 50; i++) channels[0]!.send(peers[1]!, Uint8Array.of(i));
    await scheduler.run({ until: 1_000, maxEvents: 1_000 });
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => `${peers[0]}:${i}`));
  });

  it('loses, duplicates and cuts by the seed, and delivers nothing to a crashed node', async () => {
    const { scheduler, network, peers, transports, channels, received } = await twoNodes(11);
    network.faults.lossRate = 0.5;
    network.faults.duplicateRate = 0.5;
    for (let i = 0; i < 100; i++) channels[0]!.send(peers[1]!, Uint8Array.of(i));
    await scheduler.run({ until: 1_000, maxEvents: 1_000 });
    expect(received.length).toBeGreaterThan(20);
    expect(new Set(received).size).toBeLessThan(100);
    expect(new Set(received).size).toBeLessThan(received.length);
    received.length = 0;
    network.faults.lossRate = 0;
    network.setPartition(new Set([0]));
    channels[0]!.send(peers[1]!, Uint8Array.of(1));
    network.setPartition(null);
    transports[1]!.life.alive = false;
    channels[0]!.send(peers[1]!, Uint8Array.of(2));
    await scheduler.run({ until: 2_000, maxEvents: 1_000 });
    expect(received).toEqual([]);
  });

  it('fails a request whose answer never comes with NODE_REQUEST_FAILED after its timeout', async () => {
    const { scheduler, network, peers, transports } = await twoNodes(3);
    await transports[1]!.transport.requests({
      protocol: '/req/1',
      maxRequestBytes: 64,
      maxResponseBytes: 64,
      handle: async (_peer, request) => Uint8Array.of(request[0]! + 1),
    });
    const client = await transports[0]!.transport.requests({
      protocol: '/req/1',
      maxRequestBytes: 64,
      maxResponseBytes: 64,
      timeoutMs: 500,
    });
    const answered = client.request(peers[1]!, Uint8Array.of(41));
    await scheduler.run({ until: 100, maxEvents: 100 });
    expect(await answered).toEqual(Uint8Array.of(42));
    network.faults.lossRate = 1;
    const lost = client.request(peers[1]!, Uint8Array.of(1));
    const outcome = lost.then(
      () => 'answered',
      (error: { code?: string }) => error.code,
    );
    await scheduler.run({ until: 1_000, maxEvents: 100 });
    expect(await outcome).toBe('NODE_REQUEST_FAILED');
    expect(scheduler.now).toBeGreaterThanOrEqual(600);
  });

  it('runs intervals on the node clock rate and never after a crash', async () => {
    const scheduler = new Scheduler();
    const life = new Incarnation(0, 1);
    const timers = new SimTimers(scheduler, new SkewedClock(scheduler, 0, 0, 2), life);
    const fired: number[] = [];
    timers.setInterval(() => fired.push(scheduler.now), 100);
    scheduler.after(260, () => {
      life.alive = false;
    });
    await scheduler.run({ until: 1_000, maxEvents: 100 });
    expect(fired).toEqual([50, 100, 150, 200, 250]);
  });
});
