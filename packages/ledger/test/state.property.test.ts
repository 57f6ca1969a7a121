import { bytesEqual, concatBytes, toHex, utf8 } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AuthenticatedState,
  decodeStateProof,
  encodeStateProof,
  MemoryStore,
  StateError,
  type StateProof,
  verifyStateProof,
  type WriteOp,
} from '../src/state/index.js';
import { oneCommitStore, referenceRoot, storeDump } from './state-reference.js';

/** `STATE_PROPERTY_RUNS=20` multiplies every property's runs, for a longer campaign. */
const RUNS = Math.max(1, Number(process.env.STATE_PROPERTY_RUNS ?? 1) || 1);
const TIMEOUT = 60_000 * RUNS;

/** A small key pool, so random operations hit the same keys, plus keys never written. */
const POOL = [...Array.from({ length: 12 }, (_, i) => utf8(`key-${i}`)), new Uint8Array(0)];
const NEVER_WRITTEN = Array.from({ length: 6 }, (_, i) => utf8(`absent-${i}`));
const keyArb = fc.constantFrom(...POOL);
/** Few distinct values, so writes often repeat the committed value. */
const valueArb = fc.oneof(
  fc.constantFrom(utf8('granted'), utf8('revoked')),
  fc.uint8Array({ minLength: 1, maxLength: 12 }),
);

type Command =
  | { readonly op: 'set'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: 'delete'; readonly key: Uint8Array }
  | { readonly op: 'commit'; readonly writeLate: boolean }
  | { readonly op: 'checkpoint' }
  | { readonly op: 'revert'; readonly pick: number }
  | { readonly op: 'discard' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('set' as const), key: keyArb, value: valueArb }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('commit' as const), writeLate: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('checkpoint' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revert' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('discard' as const) }) },
);

type Contents = Map<string, Uint8Array>;

function entriesOf(contents: Contents): Array<[Uint8Array, Uint8Array]> {
  return [...contents].map(([hex, value]) => [Buffer.from(hex, 'hex'), value]);
}

/** A store holding `contents` written in one commit: what every history must end up as. */
const freshStore = (contents: Contents) => oneCommitStore(entriesOf(contents));

function expectSameStore(a: MemoryStore, b: MemoryStore): void {
  expect(storeDump(a)).toEqual(storeDump(b));
}

function expectProofs(state: AuthenticatedState, root: Uint8Array, contents: Contents): void {
  for (const key of [...POOL, ...NEVER_WRITTEN]) {
    const value = contents.get(toHex(key));
    const proof = state.prove(key, root);
    expect(state.getCommitted(key, root)).toEqual(value);
    expect(verifyStateProof(root, key, value, proof)).toBe(true);
    const wrongValue = value === undefined ? utf8('granted') : concatBytes(value, utf8('!'));
    expect(verifyStateProof(root, key, wrongValue, proof)).toBe(false);
    if (value !== undefined) expect(verifyStateProof(root, key, undefined, proof)).toBe(false);
    expect(decodeStateProof(encodeStateProof(proof))).toEqual(proof);
  }
}

describe('authenticated state against a Map model', () => {
  it(
    'reads, roots, proofs, rollbacks, storage and history all follow the model',
    () => {
      fc.assert(
        fc.property(
          fc.array(commandArb, { maxLength: 60 }),
          fc.constantFrom(0, 1, 3, 16),
          (commands, cacheDepth) => {
            const store = new MemoryStore();
            const state = new AuthenticatedState(store, undefined, { history: 3, cacheDepth });
            let committed: Contents = new Map();
            let pending = new Map<string, Uint8Array | undefined>();
            let checkpoints: Array<{ id: number; pending: Map<string, Uint8Array | undefined> }> =
              [];
            let unwritten: Iterable<WriteOp> | undefined;
            const pastRoots: Array<{ root: Uint8Array; contents: Contents }> = [];

            const view = (key: Uint8Array) => {
              const id = toHex(key);
              return pending.has(id) ? pending.get(id) : committed.get(id);
            };
            for (const command of commands) {
              switch (command.op) {
                case 'set':
                  state.set(command.key, command.value);
                  pending.set(toHex(command.key), command.value);
                  break;
                case 'delete':
                  state.delete(command.key);
                  pending.set(toHex(command.key), undefined);
                  break;
                case 'checkpoint':
                  checkpoints.push({ id: state.checkpoint(), pending: new Map(pending) });
                  break;
                case 'revert': {
                  if (checkpoints.length === 0) break;
                  const index = command.pick % checkpoints.length;
                  state.revertTo(checkpoints[index]!.id);
                  pending = new Map(checkpoints[index]!.pending);
                  checkpoints = checkpoints.slice(0, index + 1);
                  break;
                }
                case 'discard':
                  state.discard();
                  pending.clear();
                  checkpoints = [];
                  break;
                case 'commit': {
                  if (unwritten !== undefined) store.write(unwritten);
                  const before = state.root();
                  const { root, ops } = state.commit();
                  // Ops are minimal: nothing rewritten as it was, nothing deleted that is not there.
                  for (const op of ops) {
                    const stored = store.get(op.key);
                    if (op.type === 'del') expect(stored).toBeDefined();
                    else expect(stored === undefined || !bytesEqual(stored, op.value)).toBe(true);
                  }
                  const next = new Map(committed);
                  for (const [id, value] of pending) {
                    if (value === undefined) next.delete(id);
                    else next.set(id, value);
                  }
                  expect(toHex(root)).toBe(toHex(referenceRoot(entriesOf(next))));
                  expect(ops.length === 0).toBe(bytesEqual(root, before));
                  if (ops.length > 0) pastRoots.unshift({ root: before, contents: committed });
                  committed = next;
                  pending = new Map();
                  checkpoints = [];
                  // Late writes exercise the in-memory overlay between commit and write.
                  if (command.writeLate) unwritten = ops;
                  else {
                    store.write(ops);
                    unwritten = undefined;
                  }
                  break;
                }
              }
              for (const key of [...POOL, NEVER_WRITTEN[0]!])
                expect(state.get(key)).toEqual(view(key));
            }

            expectProofs(state, state.root(), committed);
            for (const past of pastRoots.slice(0, 3)) expectProofs(state, past.root, past.contents);
            if (unwritten !== undefined) store.write(unwritten);
            // Storage, like the root, is a function of the contents: no garbage is left behind.
            const fresh = freshStore(committed);
            expect(state.root()).toEqual(fresh.root);
            expectSameStore(store, fresh.store);
            const reopened = new AuthenticatedState(store, state.root());
            for (const key of [...POOL, ...NEVER_WRITTEN]) {
              expect(reopened.get(key)).toEqual(committed.get(toHex(key)));
              expect(reopened.prove(key)).toEqual(state.prove(key));
            }
          },
        ),
        { numRuns: 300 * RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'gives one root and one store for one set of pairs, whatever the order, batching and detours',
    () => {
      const entriesArb = fc.uniqueArray(
        fc.tuple(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ minLength: 1, maxLength: 6 })),
        { selector: ([key]) => toHex(key), maxLength: 80 },
      );
      fc.assert(
        fc.property(
          entriesArb,
          fc.array(fc.uint8Array({ minLength: 7, maxLength: 7 }), { maxLength: 20 }),
          fc.infiniteStream(fc.nat({ max: 9 })),
          (entries, detours, splits) => {
            const contents: Contents = new Map(entries.map(([k, v]) => [toHex(k), v]));
            const expected = freshStore(contents);
            // Insert in reverse order in random batch sizes, with keys that come and go on the way.
            const store = new MemoryStore();
            const state = new AuthenticatedState(store);
            const split = splits[Symbol.iterator]();
            let sinceCommit = 0;
            const maybeCommit = () => {
              if (++sinceCommit >= (split.next().value as number)) {
                store.write(state.commit().ops);
                sinceCommit = 0;
              }
            };
            for (const detour of detours) {
              state.set(detour, detour);
              maybeCommit();
            }
            for (const [key, value] of [...entries].reverse()) {
              state.set(key, utf8('first a different value'));
              maybeCommit();
              state.set(key, value);
              maybeCommit();
            }
            for (const detour of detours) {
              state.delete(detour);
              maybeCommit();
            }
            store.write(state.commit().ops);
            expect(toHex(state.root())).toBe(toHex(expected.root));
            expectSameStore(store, expected.store);
          },
        ),
        { numRuns: 150 * RUNS },
      );
    },
    TIMEOUT,
  );
});

/** Ways to damage a proof; each must make it fail. */
const mutations: Record<string, (proof: StateProof) => StateProof | undefined> = {
  'flip a sibling byte': (p) => {
    if (p.siblings.length === 0) return undefined;
    const siblings = p.siblings.map((s) => s.slice());
    siblings[0]![5]! ^= 0x10;
    return { ...p, siblings };
  },
  'drop a sibling': (p) =>
    p.siblings.length === 0 ? undefined : { ...p, siblings: p.siblings.slice(1) },
  'add a sibling': (p) => ({ ...p, siblings: [...p.siblings, new Uint8Array(32).fill(7)] }),
  'swap two siblings': (p) =>
    p.siblings.length < 2 || bytesEqual(p.siblings[0]!, p.siblings[1]!)
      ? undefined
      : { ...p, siblings: [p.siblings[1]!, p.siblings[0]!, ...p.siblings.slice(2)] },
  'one level deeper': (p) => ({ ...p, depth: p.depth + 1 }),
  'one level shallower': (p) => (p.depth === 0 ? undefined : { ...p, depth: p.depth - 1 }),
  'flip a bitmap bit': (p) => {
    if (p.depth === 0) return undefined;
    const bitmap = p.bitmap.slice();
    bitmap[0]! ^= 0x80;
    return { ...p, bitmap };
  },
  'claim another leaf': (p) => ({
    ...p,
    leaf: { keyHash: new Uint8Array(32).fill(1), valueHash: new Uint8Array(32).fill(2) },
  }),
  'alter the other leaf': (p) =>
    p.leaf === undefined
      ? undefined
      : { ...p, leaf: { keyHash: p.leaf.keyHash, valueHash: p.leaf.valueHash.map((b) => b ^ 1) } },
  'drop the other leaf': (p) => {
    if (p.leaf === undefined) return undefined;
    const { leaf: _, ...rest } = p;
    return rest;
  },
};

describe('state proofs', () => {
  const scenario = fc.record({
    entries: fc.uniqueArray(fc.tuple(fc.constantFrom(...POOL), valueArb), {
      selector: ([key]) => toHex(key),
      minLength: 0,
      maxLength: POOL.length,
    }),
    target: fc.constantFrom(...POOL, ...NEVER_WRITTEN),
    other: fc.constantFrom(...POOL, ...NEVER_WRITTEN),
  });

  it(
    'fail when damaged or asked about the wrong key, value or root',
    () => {
      fc.assert(
        fc.property(scenario, fc.nat(), ({ entries, target, other }, bitIndex) => {
          const contents: Contents = new Map(entries.map(([k, v]) => [toHex(k), v]));
          const store = new MemoryStore();
          const state = new AuthenticatedState(store);
          for (const [key, value] of entries) state.set(key, value);
          const { root, ops } = state.commit();
          store.write(ops);
          const value = contents.get(toHex(target));
          const proof = state.prove(target);
          expect(verifyStateProof(root, target, value, proof)).toBe(true);

          for (const [name, mutate] of Object.entries(mutations)) {
            const damaged = mutate(proof);
            if (damaged !== undefined)
              expect(verifyStateProof(root, target, value, damaged), name).toBe(false);
          }
          const wrongRoot = root.slice();
          wrongRoot[bitIndex % 32]! ^= 1 << (bitIndex % 8);
          expect(verifyStateProof(wrongRoot, target, value, proof)).toBe(false);
          expect(verifyStateProof(root, target, utf8('forged'), proof)).toBe(
            value !== undefined && bytesEqual(value, utf8('forged')),
          );
          // Another key: a proof never proves a false statement (an absence proof can be shared
          // by keys on the same empty path, which is true, not a forgery).
          if (!bytesEqual(other, target)) {
            const otherValue = contents.get(toHex(other));
            if (verifyStateProof(root, other, value, proof)) expect(value).toEqual(otherValue);
            if (value !== undefined)
              expect(verifyStateProof(root, other, value, proof)).toBe(false);
          }
          // Damaged bytes: the decoder refuses them or the proof no longer verifies.
          const bytes = encodeStateProof(proof);
          const flipped = bytes.slice();
          flipped[bitIndex % bytes.length]! ^= 1 << (bitIndex % 8);
          let decoded: StateProof | undefined;
          try {
            decoded = decodeStateProof(flipped);
          } catch (error) {
            expect(error).toBeInstanceOf(StateError);
            expect((error as StateError).code).toBe('STATE_BAD_PROOF');
          }
          if (decoded !== undefined)
            expect(verifyStateProof(root, target, value, decoded)).toBe(false);
        }),
        { numRuns: 400 * RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    'verification never throws, whatever it is given',
    () => {
      const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
      const proofLike = fc.record(
        {
          depth: fc.oneof(fc.integer({ min: -2, max: 260 }), fc.double(), fc.anything()),
          bitmap: fc.oneof(fc.uint8Array({ maxLength: 34 }), fc.anything()),
          siblings: fc.oneof(
            fc.array(fc.oneof(bytes32, fc.anything()), { maxLength: 5 }),
            fc.anything(),
          ),
          leaf: fc.oneof(fc.record({ keyHash: bytes32, valueHash: bytes32 }), fc.anything()),
        },
        { requiredKeys: [] },
      );
      fc.assert(
        fc.property(
          fc.oneof(bytes32, fc.anything()),
          fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.anything()),
          fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.constant(undefined), fc.anything()),
          fc.oneof(proofLike, fc.anything()),
          (root, key, value, proof) => {
            const result = verifyStateProof(
              root as Uint8Array,
              key as Uint8Array,
              value as Uint8Array | undefined,
              proof as StateProof,
            );
            expect(typeof result).toBe('boolean');
          },
        ),
        { numRuns: 2000 * RUNS },
      );
      const hostile = new Proxy(
        {},
        {
          get() {
            throw new Error('hostile getter');
          },
        },
      );
      expect(
        verifyStateProof(new Uint8Array(32), new Uint8Array(1), undefined, hostile as StateProof),
      ).toBe(false);
    },
    TIMEOUT,
  );

  it(
    'decoding refuses arbitrary bytes with STATE_BAD_PROOF only',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          try {
            const proof = decodeStateProof(bytes);
            expect(decodeStateProof(encodeStateProof(proof))).toEqual(proof);
          } catch (error) {
            expect((error as StateError).code).toBe('STATE_BAD_PROOF');
          }
        }),
        { numRuns: 2000 * RUNS },
      );
    },
    TIMEOUT,
  );
});
