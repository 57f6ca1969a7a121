import { utf8 } from '@medchain/crypto';
import { AuthenticatedState, MemoryStore } from '@medchain/ledger';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Bucket,
  ChainStore,
  Database,
  decodeHeight,
  encodeHeight,
  NodeError,
  StateStore,
  WriteBatch,
} from '../src/index.js';
import { STATE_KEYS_PER_BLOCK, stateKey, TXS_PER_BLOCK, txHash } from './fixtures/db-writer.js';
import { killAfterLines, spawnFixture, tempDir } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openTemp(): Promise<{ db: Database; path: string }> {
  const dir = await tempDir('db');
  const db = await Database.open(dir.path);
  cleanups.push(dir.remove, () => db.close());
  return { db, path: dir.path };
}

describe('keys', () => {
  it('height encoding preserves order and round-trips', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (a, b) => {
          expect(decodeHeight(encodeHeight(a))).toBe(a);
          const order = Buffer.compare(encodeHeight(a), encodeHeight(b));
          expect(Math.sign(order)).toBe(Math.sign(a - b));
        },
      ),
    );
    expect(() => encodeHeight(-1)).toThrow(NodeError);
    expect(() => encodeHeight(1.5)).toThrow(NodeError);
  });
});

describe('buckets', () => {
  it('are unique, small and never zero', () => {
    const numbers = Object.values(Bucket).filter((v): v is number => typeof v === 'number');
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const n of numbers) expect(n > 0 && n < 256).toBe(true);
  });
});

describe('WriteBatch', () => {
  it('gives back every op in order, keys with their bucket byte first', () => {
    const bytes = fc.uint8Array({ maxLength: 300 });
    const op = fc.record({
      bucket: fc.constantFrom(
        ...Object.values(Bucket).filter((b): b is Bucket => typeof b === 'number'),
      ),
      key: bytes,
      value: fc.option(bytes, { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const batch = new WriteBatch();
        for (const { bucket, key, value } of ops) {
          if (value === undefined) batch.del(bucket, key);
          else batch.put(bucket, key, value);
        }
        expect(batch.size).toBe(ops.length);
        expect([...batch.ops()]).toEqual(
          ops.map(({ bucket, key, value }) => {
            const whole = Uint8Array.of(bucket, ...key);
            return value === undefined
              ? { type: 'del', key: whole }
              : { type: 'put', key: whole, value };
          }),
        );
      }),
    );
  });
});

describe('Database', () => {
  it('keeps buckets apart and scans one bucket in key order', async () => {
    const { db } = await openTemp();
    const batch = db.batch();
    for (const h of [5, 1, 300, 2]) batch.put(Bucket.blockByHeight, encodeHeight(h), utf8(`b${h}`));
    batch.put(Bucket.commitCertificateByHeight, encodeHeight(1), utf8('cert'));
    await db.write(batch);
    expect(db.getSync(Bucket.commitCertificateByHeight, encodeHeight(1))).toEqual(utf8('cert'));
    expect(db.getSync(Bucket.blockByHeight, encodeHeight(7))).toBeUndefined();
    const heights: number[] = [];
    for await (const [key] of db.entries(Bucket.blockByHeight)) heights.push(decodeHeight(key));
    expect(heights).toEqual([1, 2, 5, 300]);
    const reversed: number[] = [];
    for await (const [key] of db.entries(Bucket.blockByHeight, { reverse: true, limit: 2 })) {
      reversed.push(decodeHeight(key));
    }
    expect(reversed).toEqual([300, 5]);
  });

  it('runs committed hooks only after the write and refuses use after close', async () => {
    const dir = await tempDir('db-closed');
    cleanups.push(dir.remove);
    const db = await Database.open(dir.path);
    let ran = 0;
    const batch = db
      .batch()
      .put(Bucket.meta, utf8('x'), utf8('y'))
      .onCommitted(() => ran++);
    expect(ran).toBe(0);
    await db.write(batch);
    expect(ran).toBe(1);
    await db.close();
    expect(() => db.getSync(Bucket.meta, utf8('x'))).toThrow(
      expect.objectContaining({ code: 'NODE_DB_NOT_OPEN' }),
    );
  });
});

describe('ChainStore', () => {
  it('saves a committed block in one batch and loads every part back', async () => {
    const { db } = await openTemp();
    const chain = new ChainStore(db);
    expect(await chain.loadLatestHeight()).toBeUndefined();
    for (const height of [1, 2, 3]) {
      const batch = db.batch();
      chain.saveCommittedBlock(batch, {
        height,
        block: utf8(`block ${height}`),
        certificate: utf8(`cert ${height}`),
        txs: [0, 1].map((i) => ({ hash: txHash(height, i), receipt: utf8(`r${height}.${i}`) })),
      });
      await db.write(batch);
    }
    expect(await chain.loadLatestHeight()).toBe(3);
    expect(chain.loadBlock(2)).toEqual(utf8('block 2'));
    expect(chain.loadCertificate(1)).toEqual(utf8('cert 1'));
    expect(chain.loadTxLocation(txHash(2, 1))).toEqual({ height: 2, index: 1 });
    expect(chain.loadReceipt(txHash(3, 0))).toEqual(utf8('r3.0'));
  });

  it('stamps the schema once and refuses another chain id', async () => {
    const { db } = await openTemp();
    const chain = new ChainStore(db);
    await chain.ensureSchema('medchain-test');
    await chain.ensureSchema('medchain-test');
    await expect(chain.ensureSchema('other-chain')).rejects.toMatchObject({
      code: 'NODE_DB_SCHEMA',
    });
    const batch = db.batch();
    chain.meta.save(batch, 'schemaVersion', encodeHeight(999));
    await db.write(batch);
    await expect(chain.ensureSchema('medchain-test')).rejects.toMatchObject({
      code: 'NODE_DB_SCHEMA',
    });
  });
});

describe('StateStore', () => {
  it('shows writes once their batch is written, through the cache, one commit at a time', async () => {
    const { db } = await openTemp();
    const state = new StateStore(db, { cacheEntries: 4 });
    const key = utf8('consent/1');
    expect(state.get(key)).toBeUndefined();
    state.write([{ type: 'put', key, value: utf8('v1') }]);
    // Not before the batch is written: the ledger's state serves its last commit itself.
    expect(state.get(key)).toBeUndefined();
    const batch = db.batch();
    state.stageInto(batch);
    expect(batch.size).toBe(1);
    // Staged once: a second batch gets nothing.
    const empty = db.batch();
    state.stageInto(empty);
    expect(empty.size).toBe(0);
    // A second commit's ops before the first batch is written: refused.
    expect(() => state.write([{ type: 'put', key, value: utf8('v2') }])).toThrow(
      expect.objectContaining({ code: 'NODE_STATE_UNFLUSHED' }),
    );
    expect(db.getSync(Bucket.state, key)).toBeUndefined();
    await db.write(batch);
    expect(db.getSync(Bucket.state, key)).toEqual(utf8('v1'));
    // From the cache now: each read is a fresh array, so a caller that changes one changes
    // nothing the next read sees.
    const read = state.get(key)!;
    expect(read).toEqual(utf8('v1'));
    read.fill(0);
    expect(state.get(key)).toEqual(utf8('v1'));
    // peek answers from the cache alone: what it holds, or "would read".
    expect(state.peek(key)).toEqual(utf8('v1'));
    expect(state.peek(utf8('never-read'))).toBeUndefined();
    state.write([{ type: 'del', key }]);
    const second = db.batch();
    state.stageInto(second);
    await db.write(second);
    // A deleted key leaves the cache (no tombstone taking an entry).
    expect(state.cacheSize).toBe(0);
    expect(state.peek(key)).toBeUndefined();
    expect(state.get(key)).toBeUndefined();
    // A miss is remembered as known absent.
    expect(state.peek(key)).toBeNull();
    expect(db.getSync(Bucket.state, key)).toBeUndefined();
  });

  it('serves an AuthenticatedState exactly as a memory store, while each batch is in flight too', async () => {
    const { db } = await openTemp();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(fc.tuple(fc.nat(40), fc.option(fc.nat(255), { nil: undefined })), {
            maxLength: 12,
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.constantFrom(0, 2, 16),
        async (blocks, cacheDepth) => {
          // Fresh key space per run: keys carry the run number.
          const run = ++runs;
          const fullKey = (k: number) => utf8(`run-${run}/${k}`);
          const referenceStore = new MemoryStore();
          const reference = new AuthenticatedState(referenceStore, undefined, { cacheDepth });
          const store = new StateStore(db, { cacheEntries: 8 });
          const state = new AuthenticatedState(store, undefined, { cacheDepth });
          const agree = () => {
            for (let k = 0; k <= 40; k++)
              expect(state.get(fullKey(k))).toEqual(reference.get(fullKey(k)));
          };
          for (const writes of blocks) {
            for (const [k, value] of writes) {
              for (const target of [reference, state]) {
                if (value === undefined) target.delete(fullKey(k));
                else target.set(fullKey(k), Uint8Array.of(value, k));
              }
            }
            const expected = reference.commit();
            referenceStore.write(expected.ops);
            store.write(state.commit().ops);
            const batch = db.batch();
            store.stageInto(batch);
            const written = db.write(batch, { sync: false });
            agree();
            await written;
            agree();
            expect(state.root()).toEqual(expected.root);
          }
          // A fresh state over the store (empty cache) reads the same.
          const reopened = new AuthenticatedState(new StateStore(db), state.root(), { cacheDepth });
          for (let k = 0; k <= 40; k++) {
            expect(reopened.get(fullKey(k))).toEqual(reference.get(fullKey(k)));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("learns its own ops from the batch, among other buckets' ops before and after them", async () => {
    const { db } = await openTemp();
    const state = new StateStore(db, { cacheEntries: 16 });
    const [gone, kept, held, added, other] = ['gone', 'kept', 'held', 'added', 'other'].map(utf8);
    state.write([
      { type: 'put', key: gone!, value: utf8('g1') },
      { type: 'put', key: kept!, value: utf8('k1') },
    ]);
    const first = db.batch();
    state.stageInto(first);
    await db.write(first);
    expect(state.cacheSize).toBe(2);
    const batch = db.batch().put(Bucket.meta, other!, utf8('before'));
    state.write([
      { type: 'del', key: gone! },
      { type: 'put', key: held!, value: utf8('h'), heldInMemory: true },
      { type: 'put', key: added!, value: utf8('a') },
      { type: 'put', key: kept!, value: utf8('k2') },
    ]);
    state.stageInto(batch);
    batch.put(Bucket.meta, other!, utf8('after')).del(Bucket.meta, kept!);
    await db.write(batch);
    // kept and added: the deleted key left, the held put was not learned, nor the meta ops.
    expect(state.cacheSize).toBe(2);
    expect(state.get(kept!)).toEqual(utf8('k2'));
    expect(state.get(added!)).toEqual(utf8('a'));
    expect(state.get(gone!)).toBeUndefined();
    expect(state.get(other!)).toBeUndefined();
    expect(state.cacheSize).toBe(4);
    expect([...batch.ops(5)].map((op) => op.type)).toEqual(['put', 'del']);
  });

  it('does not cache a put the state holds in memory, and still stores it', async () => {
    const { db } = await openTemp();
    const state = new StateStore(db, { cacheEntries: 4 });
    const linked = utf8('node/linked');
    const deep = utf8('node/deep');
    state.write([
      { type: 'put', key: linked, value: utf8('upper'), heldInMemory: true },
      { type: 'put', key: deep, value: utf8('lower') },
    ]);
    const batch = db.batch();
    state.stageInto(batch);
    await db.write(batch);
    expect(state.cacheSize).toBe(1);
    expect(db.getSync(Bucket.state, linked)).toEqual(utf8('upper'));
    // A restart reads it from LevelDB like any other entry.
    expect(state.get(linked)).toEqual(utf8('upper'));
  });
});

describe('crash atomicity', () => {
  it('writers killed with SIGKILL leave only whole batches, and every acknowledged one', async () => {
    const dir = await tempDir('db-crash');
    cleanups.push(dir.remove);
    // Three kills in a row, each run resuming where the last whole block left off.
    let lastAck = -1;
    for (const lines of [120, 170, 230]) {
      const child = spawnFixture('db-writer.ts', [dir.path]);
      const acknowledged = await killAfterLines(child, lines);
      // The restart resumes after every acknowledged block (more may have landed unread).
      expect(Number(acknowledged[0])).toBeGreaterThanOrEqual(lastAck + 1);
      lastAck = Number(acknowledged.at(-1));
    }

    const db = await Database.open(dir.path);
    cleanups.push(() => db.close());
    const chain = new ChainStore(db);
    const latest = await chain.loadLatestHeight();
    expect(latest).toBeDefined();
    expect(latest!).toBeGreaterThanOrEqual(lastAck);
    // The child writes sequentially, so the heights present are exactly 0..latest, each whole.
    let blocks = 0;
    for await (const [key] of db.entries(Bucket.blockByHeight)) {
      expect(decodeHeight(key)).toBe(blocks);
      blocks++;
    }
    expect(blocks).toBe(latest! + 1);
    for (let height = 0; height <= latest! + 1; height++) {
      const present = height <= latest!;
      const parts = [
        chain.loadCertificate(height) !== undefined,
        chain.loadBlock(height) !== undefined,
        ...Array.from(
          { length: TXS_PER_BLOCK },
          (_, i) => chain.loadReceipt(txHash(height, i)) !== undefined,
        ),
        ...Array.from(
          { length: TXS_PER_BLOCK },
          (_, i) => chain.loadTxLocation(txHash(height, i))?.index === i,
        ),
        ...Array.from(
          { length: STATE_KEYS_PER_BLOCK },
          (_, i) => db.getSync(Bucket.state, stateKey(height, i)) !== undefined,
        ),
      ];
      expect(parts.every((part) => part === present)).toBe(true);
    }
  });
});
