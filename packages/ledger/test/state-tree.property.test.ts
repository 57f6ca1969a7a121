import { bytesEqual, toHex, utf8 } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthenticatedState, MemoryStore, verifyStateProof } from '../src/state/index.js';
import { oneCommitStore, referenceRoot, storeDump } from './state-reference.js';

/** `STATE_PROPERTY_RUNS=20` multiplies the runs, for a longer campaign. */
const RUNS = Math.max(1, Number(process.env.STATE_PROPERTY_RUNS ?? 1) || 1);

/**
 * Blocks of many changes on trees several levels deeper than the linked (cached) upper
 * levels, so a commit's walk crosses from linked nodes to nodes read by id, builds and
 * prunes whole subtrees, pushes leaves down and lifts them up.
 */
const POOL_SIZE = 400;
const poolKey = (i: number) => utf8(`patient-${i}/consent`);

const changeArb = fc.record({
  key: fc.nat({ max: POOL_SIZE - 1 }),
  // undefined = delete; a few values, so some writes repeat the committed value.
  value: fc.option(fc.constantFrom('granted', 'revoked', 'expired'), { nil: undefined }),
});
const blockArb = fc.record({
  changes: fc.array(changeArb, { minLength: 1, maxLength: 120 }),
  /** Write this commit's ops only after the next commit's walk would need them: just before it. */
  writeLate: fc.boolean(),
});

describe('state tree commits against the definition', () => {
  it(
    'random insert/update/delete blocks give the reference root, valid proofs now and at the retained roots',
    () => {
      fc.assert(
        fc.property(
          fc.array(blockArb, { minLength: 1, maxLength: 12 }),
          fc.constantFrom(0, 2, 5, 16),
          (blocks, cacheDepth) => {
            const store = new MemoryStore();
            const state = new AuthenticatedState(store, undefined, { cacheDepth, history: 2 });
            const model = new Map<number, string>();
            /** Root and contents after each commit, newest last. */
            const history: Array<{ root: Uint8Array; contents: Map<number, string> }> = [];
            let unwritten: readonly Parameters<MemoryStore['write']>[0][] = [];
            for (const { changes, writeLate } of blocks) {
              for (const { key, value } of changes) {
                if (value === undefined) {
                  state.delete(poolKey(key));
                  model.delete(key);
                } else {
                  state.set(poolKey(key), utf8(value));
                  model.set(key, value);
                }
              }
              for (const ops of unwritten) store.write(ops);
              const { root, ops } = state.commit();
              if (writeLate) unwritten = [ops];
              else {
                store.write(ops);
                unwritten = [];
              }
              const contents = new Map(model);
              const expected = referenceRoot(
                [...contents].map(([key, value]) => [poolKey(key), utf8(value)] as const),
              );
              expect(toHex(root)).toBe(toHex(expected));
              history.push({ root, contents });
            }
            // Every retained root proves every touched key and a few never written, from memory
            // or the store, whether or not the last ops are written yet.
            const touched = new Set(blocks.flatMap((block) => block.changes.map((c) => c.key)));
            const probes = [...touched, POOL_SIZE, POOL_SIZE + 1];
            for (const { root, contents } of history.slice(-3)) {
              for (const key of probes) {
                const value = contents.get(key);
                const bytes = value === undefined ? undefined : utf8(value);
                const proof = state.prove(poolKey(key), root);
                expect(verifyStateProof(root, poolKey(key), bytes, proof)).toBe(true);
                expect(state.getCommitted(poolKey(key), root)).toEqual(bytes);
              }
            }
            // And a state reopened on the written store reads the same root and proofs.
            for (const ops of unwritten) store.write(ops);
            const last = history.at(-1)!;
            const reopened = new AuthenticatedState(store, last.root, { cacheDepth });
            for (const key of probes) {
              const value = last.contents.get(key);
              const bytes = value === undefined ? undefined : utf8(value);
              expect(
                verifyStateProof(last.root, poolKey(key), bytes, reopened.prove(poolKey(key))),
              ).toBe(true);
            }
          },
        ),
        { numRuns: 40 * RUNS },
      );
    },
    60_000 * RUNS,
  );
  it(
    'writes that change nothing cost no op, whatever else the block changes, in deep trees',
    () => {
      /** A write of the committed value, a delete of a key that is not there, or a real change. */
      const writeArb = fc.record({
        key: fc.nat({ max: POOL_SIZE - 1 }),
        kind: fc.constantFrom('same', 'absent', 'change', 'delete'),
        value: fc.constantFrom('granted', 'revoked', 'expired'),
      });
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.nat({ max: POOL_SIZE - 1 }), { minLength: 1, maxLength: POOL_SIZE }),
          fc.array(fc.array(writeArb, { maxLength: 120 }), { minLength: 1, maxLength: 6 }),
          fc.constantFrom(0, 3, 16),
          (initial, blocks, cacheDepth) => {
            const model = new Map(initial.map((key) => [key, 'granted']));
            const store = new MemoryStore();
            const state = new AuthenticatedState(store, undefined, { cacheDepth });
            for (const key of initial) state.set(poolKey(key), utf8('granted'));
            store.write(state.commit().ops);
            for (const writes of blocks) {
              const before = state.root();
              let changes = 0;
              for (const { key, kind, value } of writes) {
                const committed = model.get(key);
                if (kind === 'same' && committed !== undefined) {
                  state.set(poolKey(key), utf8(committed));
                } else if (kind === 'absent' && committed === undefined) {
                  state.delete(poolKey(key));
                } else if (kind === 'delete' && committed !== undefined) {
                  state.delete(poolKey(key));
                  model.delete(key);
                  changes++;
                } else if (kind === 'change' && committed !== value) {
                  state.set(poolKey(key), utf8(value));
                  model.set(key, value);
                  changes++;
                }
              }
              const { root, ops } = state.commit();
              // Every op is needed: nothing rewritten as it was, nothing deleted that is not there.
              for (const op of ops) {
                const stored = store.get(op.key);
                if (op.type === 'del') expect(stored).toBeDefined();
                else expect(stored === undefined || !bytesEqual(stored, op.value)).toBe(true);
              }
              // A key changed twice in one block may end as it was: changes > 0 only bounds it.
              if (changes === 0) expect([...ops]).toEqual([]);
              if (ops.length === 0) expect(root).toEqual(before);
              store.write(ops);
              const entries = [...model].map(
                ([key, value]) => [poolKey(key), utf8(value)] as const,
              );
              expect(toHex(root)).toBe(toHex(referenceRoot(entries)));
              expect(storeDump(store)).toEqual(storeDump(oneCommitStore(entries).store));
            }
          },
        ),
        { numRuns: 30 * RUNS },
      );
    },
    60_000 * RUNS,
  );
});
