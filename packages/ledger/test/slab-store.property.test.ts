import { bytesEqual, toHex, utf8 } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AuthenticatedState,
  MemoryStore,
  SlabStore,
  StateError,
  type WriteOp,
} from '../src/state/index.js';

/** Keys of many lengths (empty, short, hash-like, long) that collide often in a small pool. */
const POOL = [
  new Uint8Array(0),
  ...Array.from({ length: 20 }, (_, i) => utf8(`k${i}`)),
  ...Array.from({ length: 10 }, (_, i) => new Uint8Array(33).fill(i)),
  new Uint8Array(300).fill(7),
];
const keyArb = fc.constantFrom(...POOL);
/** Values across the size classes: a few bytes, a tree node's 64-65, a few KB. */
const valueArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 8 }),
  fc.uint8Array({ minLength: 60, maxLength: 70 }),
  fc.uint8Array({ minLength: 1000, maxLength: 5000 }),
);
const opArb: fc.Arbitrary<WriteOp> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('put' as const), key: keyArb, value: valueArb }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('del' as const), key: keyArb }) },
);

/** A store's contents as one string: toEqual on many byte arrays is slow. */
function dump(store: SlabStore | MemoryStore): string {
  return store
    .entries()
    .map(([key, value]) => `${toHex(key)}=${toHex(value)}`)
    .join('\n');
}

const hexOf = (bytes: Uint8Array | undefined) => (bytes === undefined ? 'absent' : toHex(bytes));

function expectSameContents(slab: SlabStore, model: MemoryStore): void {
  expect(slab.size).toBe(model.size);
  expect(dump(slab)).toBe(dump(model));
  for (const key of POOL) expect(hexOf(slab.get(key))).toBe(hexOf(model.get(key)));
}

describe('SlabStore', () => {
  it('holds exactly what a MemoryStore holds after any sequence of batches', () => {
    fc.assert(
      fc.property(fc.array(fc.array(opArb, { maxLength: 30 }), { maxLength: 40 }), (batches) => {
        const slab = new SlabStore();
        const model = new MemoryStore();
        for (const ops of batches) {
          slab.write(ops);
          model.write(ops);
          expectSameContents(slab, model);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps its answers through index growth, deleted slots and reused records', () => {
    const slab = new SlabStore();
    const model = new MemoryStore();
    const key = (i: number) => utf8(`key-${i}`);
    // 20,000 keys grow the index from 4,096 slots; deleting and re-adding half of them many
    // times fills it with deleted slots (rebuilt in place) and reuses freed records.
    const puts = (from: number, to: number, round: number): WriteOp[] =>
      Array.from({ length: to - from }, (_, i) => ({
        type: 'put',
        key: key(from + i),
        value: utf8(`value ${from + i} round ${round}`.repeat(1 + ((from + i) % 5))),
      }));
    for (const store of [slab, model]) store.write(puts(0, 20_000, 0));
    for (let round = 1; round <= 6; round++) {
      const dels: WriteOp[] = Array.from({ length: 10_000 }, (_, i) => ({
        type: 'del',
        key: key(2 * i + (round % 2)),
      }));
      for (const store of [slab, model]) {
        store.write(dels);
        store.write(puts(0, 20_000, round).filter((_, i) => i % 3 !== 0));
      }
    }
    expect(slab.size).toBe(model.size);
    expect(dump(slab)).toBe(dump(model));
  });

  it('stores an entry larger than its largest record size', () => {
    const slab = new SlabStore();
    const big = new Uint8Array(1_100_000).fill(9);
    slab.write([{ type: 'put', key: utf8('big'), value: big }]);
    expect(bytesEqual(slab.get(utf8('big'))!, big)).toBe(true);
    slab.write([{ type: 'put', key: utf8('big'), value: utf8('small now') }]);
    expect(slab.get(utf8('big'))).toEqual(utf8('small now'));
    slab.write([{ type: 'put', key: utf8('big'), value: big }]);
    slab.write([{ type: 'del', key: utf8('big') }]);
    expect(slab.get(utf8('big'))).toBeUndefined();
    expect(slab.size).toBe(0);
  });

  it('hands out copies, and applies no op of a batch with a bad one', () => {
    const slab = new SlabStore();
    const value = utf8('kept');
    slab.write([{ type: 'put', key: utf8('a'), value }]);
    value[0] = 0;
    const read = slab.get(utf8('a'))!;
    expect(read).toEqual(utf8('kept'));
    read[0] = 0;
    expect(slab.get(utf8('a'))).toEqual(utf8('kept'));
    const bad = [
      { type: 'del', key: utf8('a') },
      { type: 'put', key: utf8('b'), value: 'not bytes' },
    ] as unknown as WriteOp[];
    expect(() => slab.write(bad)).toThrow(StateError);
    const tooLong: WriteOp[] = [
      { type: 'del', key: utf8('a') },
      { type: 'put', key: new Uint8Array(70_000), value: utf8('x') },
    ];
    expect(() => slab.write(tooLong)).toThrow(/too long/);
    expect(slab.get(utf8('a'))).toEqual(utf8('kept'));
  });

  it('serves the authenticated state as a MemoryStore does: same roots, same stored tree', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.nat(400), fc.option(fc.nat(3))), { maxLength: 60 }), {
          maxLength: 12,
        }),
        (blocks) => {
          const slab = new SlabStore();
          const model = new MemoryStore();
          const slabState = new AuthenticatedState(slab);
          const modelState = new AuthenticatedState(model);
          for (const writes of blocks) {
            for (const [k, v] of writes) {
              for (const state of [slabState, modelState]) {
                if (v === null) state.delete(utf8(`key-${k}`));
                else state.set(utf8(`key-${k}`), utf8(`value-${v}`));
              }
            }
            const a = slabState.commit();
            const b = modelState.commit();
            expect(a.root).toEqual(b.root);
            slab.write(a.ops);
            model.write(b.ops);
          }
          expect(dump(slab)).toBe(dump(model));
          const reopened = new AuthenticatedState(slab, slabState.root());
          expect(reopened.linkUpperTree()).toBe(
            new AuthenticatedState(model, modelState.root()).linkUpperTree(),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
