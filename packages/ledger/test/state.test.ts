import { bytesEqual, sha256, taggedHash, toHex, utf8 } from '@medchain/crypto';
import { describe, expect, it } from 'vitest';
import {
  AuthenticatedState,
  decodeStateProof,
  EMPTY_STATE_ROOT,
  encodeStateProof,
  type KeyValueReader,
  MAX_STATE_PROOF_BYTES,
  MemoryStore,
  NODE_PREFIX,
  StateError,
  type StateProof,
  stateLeafHash,
  stateNodeHash,
  VALUE_PREFIX,
  verifyStateProof,
  type WriteOp,
} from '../src/state/index.js';
import { referenceRoot } from './state-reference.js';

const key = (name: string) => utf8(name);
const value = (text: string) => utf8(text);

function committed(entries: Record<string, string>): {
  store: MemoryStore;
  state: AuthenticatedState;
} {
  const store = new MemoryStore();
  const state = new AuthenticatedState(store);
  for (const [k, v] of Object.entries(entries)) state.set(key(k), value(v));
  store.write(state.commit().ops);
  return { store, state };
}

/**
 * The state of k0..k(count-1), each key's value its name, and a reader over its store that
 * records every key it is asked for that starts with `prefix` (node or value).
 */
function storeOfNames(count: number, prefix: number) {
  const store = new MemoryStore();
  const state = new AuthenticatedState(store);
  const names = Array.from({ length: count }, (_, i) => `k${i}`);
  for (const name of names) state.set(key(name), value(name));
  store.write(state.commit().ops);
  const reads: Uint8Array[] = [];
  const counting: KeyValueReader = {
    get: (storeKey) => {
      if (storeKey[0] === prefix) reads.push(storeKey);
      return store.get(storeKey);
    },
  };
  return { state, names, reads, counting };
}

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof StateError) return error.code;
    throw error;
  }
  return undefined;
}

describe('AuthenticatedState', () => {
  it('starts empty at the all-zero root', () => {
    const state = new AuthenticatedState(new MemoryStore());
    expect(state.root()).toEqual(new Uint8Array(32));
    expect(EMPTY_STATE_ROOT).toEqual(new Uint8Array(32));
    expect(state.get(key('a'))).toBeUndefined();
    const { root, ops } = state.commit();
    expect(root).toEqual(new Uint8Array(32));
    expect([...ops]).toEqual([]);
  });

  it('roots a single pair at its leaf hash', () => {
    const { state } = committed({ patient: 'consent' });
    const path = taggedHash('StateKey', key('patient'));
    expect(state.root()).toEqual(taggedHash('StateLeaf', path, sha256(value('consent'))));
  });

  it('matches the reference definition for many pairs', () => {
    const entries: Record<string, string> = {};
    for (let i = 0; i < 300; i++) entries[`key-${i}`] = `value-${i * 7}`;
    const { state } = committed(entries);
    const expected = referenceRoot(Object.entries(entries).map(([k, v]) => [key(k), value(v)]));
    expect(toHex(state.root())).toBe(toHex(expected));
  });

  it('shows pending writes to get but not to root or prove until commit', () => {
    const { store, state } = committed({ a: '1' });
    const before = state.root();
    state.set(key('a'), value('2'));
    state.set(key('b'), value('3'));
    expect(state.get(key('a'))).toEqual(value('2'));
    expect(state.getCommitted(key('a'))).toEqual(value('1'));
    expect(state.root()).toEqual(before);
    expect(verifyStateProof(before, key('b'), undefined, state.prove(key('b')))).toBe(true);
    const { root, ops } = state.commit();
    store.write(ops);
    expect(state.root()).toEqual(root);
    expect(verifyStateProof(root, key('b'), value('3'), state.prove(key('b')))).toBe(true);
  });

  it('serves a commit from memory until its ops are written', () => {
    const store = new MemoryStore();
    const state = new AuthenticatedState(store, EMPTY_STATE_ROOT, { cacheDepth: 0 });
    state.set(key('a'), value('1'));
    state.set(key('b'), value('2'));
    const first = state.commit();
    expect(store.size).toBe(0);
    expect(state.get(key('a'))).toEqual(value('1'));
    expect(verifyStateProof(first.root, key('b'), value('2'), state.prove(key('b')))).toBe(true);
    store.write(first.ops);
    state.delete(key('a'));
    store.write(state.commit().ops);
    expect(state.get(key('a'))).toBeUndefined();
    expect(state.get(key('b'))).toEqual(value('2'));
  });

  it('fails with STATE_MISSING_NODE when a commit was never written', () => {
    const store = new MemoryStore();
    // Without the node cache, which would otherwise still hold these small trees.
    const state = new AuthenticatedState(store, EMPTY_STATE_ROOT, { cacheDepth: 0 });
    state.set(key('a'), value('1'));
    state.set(key('b'), value('1'));
    state.commit();
    state.set(key('c'), value('1'));
    state.commit(); // the first commit's ops were never written: its nodes are gone now
    expect(codeOf(() => state.prove(key('a')))).toBe('STATE_MISSING_NODE');
    expect(codeOf(() => new AuthenticatedState(new MemoryStore(), state.root()))).toBe(
      'STATE_MISSING_NODE',
    );
  });

  it('keeps the pending writes when a commit fails on a missing node', () => {
    const full = committed({ a: '1', b: '2', c: '3' });
    // A copy of the store holding the values and the root node only.
    const ops: WriteOp[] = full.store
      .entries()
      .filter(([k]) => k[0] === VALUE_PREFIX || bytesEqual(k.subarray(1), full.state.root()))
      .map(([k, v]) => ({ type: 'put', key: k, value: v }));
    const store = new MemoryStore();
    store.write(ops);
    const broken = new AuthenticatedState(store, full.state.root());
    broken.set(key('d'), value('4'));
    expect(codeOf(() => broken.commit())).toBe('STATE_MISSING_NODE');
    expect(broken.get(key('d'))).toEqual(value('4'));
    expect(broken.root()).toEqual(full.state.root());
  });

  it('fails with STATE_CORRUPT_NODE on a node that does not decode', () => {
    const { store, state } = committed({ a: '1', b: '2' });
    const rootKey = new Uint8Array([NODE_PREFIX, ...state.root()]);
    for (const garbage of [new Uint8Array(3), new Uint8Array(65).fill(9)]) {
      store.write([{ type: 'put', key: rootKey, value: garbage }]);
      expect(codeOf(() => new AuthenticatedState(store, state.root()))).toBe('STATE_CORRUPT_NODE');
    }
  });

  it('rejects bad keys, empty values and unknown checkpoints with codes', () => {
    const state = new AuthenticatedState(new MemoryStore());
    expect(codeOf(() => state.set(key('a'), new Uint8Array(0)))).toBe('STATE_BAD_VALUE');
    expect(codeOf(() => state.set('a' as unknown as Uint8Array, value('1')))).toBe('STATE_BAD_KEY');
    expect(codeOf(() => state.get(null as unknown as Uint8Array))).toBe('STATE_BAD_KEY');
    expect(codeOf(() => state.revertTo(1))).toBe('STATE_BAD_CHECKPOINT');
    expect(codeOf(() => state.revertTo(-1))).toBe('STATE_BAD_CHECKPOINT');
    expect(codeOf(() => state.revertTo(0.5))).toBe('STATE_BAD_CHECKPOINT');
    expect(codeOf(() => new AuthenticatedState(new MemoryStore(), new Uint8Array(31)))).toBe(
      'STATE_UNKNOWN_ROOT',
    );
    for (const options of [{ history: -1 }, { cacheDepth: 25 }, { cacheDepth: 1.5 }]) {
      expect(
        codeOf(() => new AuthenticatedState(new MemoryStore(), EMPTY_STATE_ROOT, options)),
      ).toBe('STATE_BAD_OPTION');
    }
  });

  it('marks exactly the puts of nodes above cacheDepth as heldInMemory', () => {
    const entries = Array.from({ length: 64 }, (_, i) => [key(`k${i}`), value(`v${i}`)] as const);
    const heldKeys = (cacheDepth: number) => {
      const state = new AuthenticatedState(new MemoryStore(), EMPTY_STATE_ROOT, { cacheDepth });
      for (const [k, v] of entries) state.set(k, v);
      const { root, ops: commitOps } = state.commit();
      const ops = [...commitOps];
      const held = ops.filter((op) => op.type === 'put' && op.heldInMemory === true);
      return { root, ops, held: held.map((op) => toHex(op.key)).sort() };
    };
    expect(heldKeys(0).held).toEqual([]);
    // Depth 2: the root and its two children (with 64 keys both are inner nodes).
    const { root, ops, held } = heldKeys(2);
    const rootRecord = ops.find(
      (op) => op.type === 'put' && bytesEqual(op.key, Uint8Array.of(NODE_PREFIX, ...root)),
    );
    expect(rootRecord?.type === 'put' && rootRecord.value.length).toBe(64);
    const children = rootRecord?.type === 'put' ? rootRecord.value : new Uint8Array(64);
    expect(held).toEqual(
      [root, children.subarray(0, 32), children.subarray(32)]
        .map((id) => toHex(Uint8Array.of(NODE_PREFIX, ...id)))
        .sort(),
    );
    // Values are read from the store, whatever the depth.
    expect(ops.filter((op) => op.key[0] === VALUE_PREFIX && 'heldInMemory' in op)).toEqual([]);
  });

  it("makes a commit's ops afresh on each iteration, as many as its length", () => {
    const state = new AuthenticatedState(new MemoryStore());
    for (let i = 0; i < 20; i++) state.set(key(`k${i}`), value(`v${i}`));
    const { ops } = state.commit();
    const first = [...ops];
    const second = [...ops];
    expect(first).toHaveLength(ops.length);
    expect(second).toEqual(first);
    // Fresh objects: a store that keeps or changes one changes nothing the next reader sees.
    expect(second[0]).not.toBe(first[0]);
    first[0]!.key.fill(0);
    expect([...ops][0]).toEqual(second[0]);
  });

  it('rolls back nested checkpoints', () => {
    const { state } = committed({ a: '1' });
    const outer = state.checkpoint();
    state.set(key('a'), value('2'));
    const inner = state.checkpoint();
    state.delete(key('a'));
    state.set(key('b'), value('3'));
    state.revertTo(inner);
    expect(state.get(key('a'))).toEqual(value('2'));
    expect(state.get(key('b'))).toBeUndefined();
    state.revertTo(outer);
    expect(state.get(key('a'))).toEqual(value('1'));
    expect([...state.commit().ops]).toEqual([]);
  });

  it('does not let callers change its values or roots through returned or passed bytes', () => {
    const store = new MemoryStore();
    const state = new AuthenticatedState(store);
    const v = value('abc');
    state.set(key('a'), v);
    v[0] = 0;
    const asBuffer = Buffer.from('xyz'); // Buffer.slice would be a view: the state must copy
    state.set(key('b'), asBuffer);
    asBuffer[0] = 0;
    expect(state.get(key('b'))).toEqual(value('xyz'));
    state.get(key('a'))![1] = 0;
    expect(state.get(key('a'))).toEqual(value('abc'));
    const { root, ops } = state.commit();
    store.write(ops);
    root[0]! ^= 1;
    state.root()[0]! ^= 1;
    expect(verifyStateProof(state.root(), key('a'), value('abc'), state.prove(key('a')))).toBe(
      true,
    );
  });

  it('removes every node and value when the map becomes empty again', () => {
    const { store, state } = committed({ a: '1', b: '2', c: '3', d: '4' });
    expect(store.size).toBeGreaterThan(8);
    for (const k of ['a', 'b', 'c', 'd']) state.delete(key(k));
    store.write(state.commit().ops);
    expect(state.root()).toEqual(EMPTY_STATE_ROOT);
    expect(store.size).toBe(0);
  });

  it('proves values at the last few roots from memory, and forgets older ones', () => {
    const store = new MemoryStore();
    const state = new AuthenticatedState(store, EMPTY_STATE_ROOT, { history: 2 });
    const roots: Uint8Array[] = [];
    for (let round = 0; round < 4; round++) {
      state.set(key('a'), value(`a${round}`));
      state.set(key(`only-${round}`), value('x'));
      if (round === 2) state.delete(key('only-1'));
      const { root, ops } = state.commit();
      store.write(ops);
      roots.push(root);
    }
    expect(state.provableRoots()).toEqual([roots[3], roots[2], roots[1]]);
    for (const round of [1, 2, 3]) {
      const root = roots[round]!;
      const a = state.getCommitted(key('a'), root);
      expect(a).toEqual(value(`a${round}`));
      expect(verifyStateProof(root, key('a'), a, state.prove(key('a'), root))).toBe(true);
      const only1 = state.getCommitted(key('only-1'), root);
      expect(only1).toEqual(round === 1 ? value('x') : undefined);
      expect(verifyStateProof(root, key('only-1'), only1, state.prove(key('only-1'), root))).toBe(
        true,
      );
    }
    expect(codeOf(() => state.prove(key('a'), roots[0]))).toBe('STATE_UNKNOWN_ROOT');
    expect(codeOf(() => state.getCommitted(key('a'), new Uint8Array(32).fill(9)))).toBe(
      'STATE_UNKNOWN_ROOT',
    );
  });

  it('links the upper tree of a reopened state at once, and reads it no more', () => {
    const { state, names, reads: nodeReads, counting } = storeOfNames(300, NODE_PREFIX);
    const cacheDepth = 4;
    const reopened = new AuthenticatedState(counting, state.root(), { cacheDepth });
    nodeReads.length = 0;
    // 300 keys fill the levels above depth 4: every node at depths 1..3 (2 + 4 + 8).
    expect(reopened.linkUpperTree()).toBe(14);
    expect(nodeReads).toHaveLength(14);
    expect(reopened.linkUpperTree()).toBe(0);
    nodeReads.length = 0;
    for (const name of names) {
      const proof = reopened.prove(key(name));
      expect(proof).toEqual(state.prove(key(name)));
      // Only the nodes from depth 4 down to the proof's end are read.
      expect(nodeReads.length).toBeLessThanOrEqual(proof.depth - cacheDepth + 1);
      nodeReads.length = 0;
    }
    const unlinked = new AuthenticatedState(counting, state.root(), { cacheDepth });
    nodeReads.length = 0;
    unlinked.prove(key(names[0]!));
    // Without it the first walk reads the upper nodes on its path too.
    expect(nodeReads.length).toBeGreaterThan(reopened.prove(key(names[0]!)).depth - cacheDepth + 1);
  });

  it('answers a read of an absent key from the linked levels, without a store read', () => {
    const { state: seed, names, reads: valueReads, counting } = storeOfNames(300, VALUE_PREFIX);
    const absent = Array.from({ length: 200 }, (_, i) => `absent${i}`);
    const readAll = (state: AuthenticatedState) => {
      valueReads.length = 0;
      for (const name of absent) expect(state.get(key(name))).toBeUndefined();
      const absentReads = valueReads.length;
      valueReads.length = 0;
      for (const name of names) expect(state.get(key(name))).toEqual(value(name));
      return { absentReads, presentReads: valueReads.length };
    };
    // 300 keys end within 16 levels: every absent path ends at an empty subtree or another leaf.
    const linked = new AuthenticatedState(counting, seed.root());
    linked.linkUpperTree();
    expect(readAll(linked)).toEqual({ absentReads: 0, presentReads: names.length });
    // Unlinked levels (before linkUpperTree, or below cacheDepth) leave the answer to the store.
    expect(readAll(new AuthenticatedState(counting, seed.root()))).toEqual({
      absentReads: absent.length,
      presentReads: names.length,
    });
    expect(readAll(new AuthenticatedState(counting, seed.root(), { cacheDepth: 0 }))).toEqual({
      absentReads: absent.length,
      presentReads: names.length,
    });
    // The empty map needs no read at all.
    valueReads.length = 0;
    expect(new AuthenticatedState(counting).get(key('k0'))).toBeUndefined();
    expect(valueReads).toHaveLength(0);
  });

  it("takes the reader's cached answer (peek) before it walks or reads", () => {
    const { state: seed, names, reads: valueReads, counting } = storeOfNames(300, VALUE_PREFIX);
    const known = new Map<string, Uint8Array | null>();
    let peeks = 0;
    const reader: KeyValueReader = {
      get: counting.get,
      peek: (storeKey) => {
        peeks++;
        return known.get(toHex(storeKey));
      },
    };
    const state = new AuthenticatedState(reader, seed.root());
    state.linkUpperTree();
    valueReads.length = 0;
    // Nothing cached: each read peeks, then reads the store.
    for (const name of names) expect(state.get(key(name))).toEqual(value(name));
    expect(peeks).toBe(names.length);
    expect(valueReads).toHaveLength(names.length);
    valueReads.forEach((storeKey, i) => {
      known.set(toHex(storeKey), value(names[i]!));
    });
    // Cached: answered by the peek alone.
    valueReads.length = 0;
    for (const name of names) expect(state.get(key(name))).toEqual(value(name));
    expect(valueReads).toHaveLength(0);
    // A key the cache knows absent is absent, whatever the store holds.
    const [first] = known.keys();
    known.set(first!, null);
    expect(state.get(key(names[0]!))).toBeUndefined();
    expect(valueReads).toHaveLength(0);
    // Pending writes still come first.
    state.set(key(names[0]!), value('pending'));
    expect(state.get(key(names[0]!))).toEqual(value('pending'));
  });

  it('reopens from the store at the committed root', () => {
    const { store, state } = committed({ a: '1', b: '2', c: '3' });
    const reopened = new AuthenticatedState(store, state.root());
    for (const k of ['a', 'b', 'c', 'z']) {
      expect(reopened.get(key(k))).toEqual(state.get(key(k)));
      expect(reopened.prove(key(k))).toEqual(state.prove(key(k)));
    }
  });
});

describe('MemoryStore', () => {
  it('applies a batch all or nothing and keeps its own copies', () => {
    const store = new MemoryStore();
    const v = value('one');
    store.write([{ type: 'put', key: key('a'), value: v }]);
    v[0] = 0;
    store.get(key('a'))![1] = 0;
    expect(store.get(key('a'))).toEqual(value('one'));
    const bad = [
      { type: 'del', key: key('a') },
      { type: 'put', key: key('b') },
    ] as unknown as WriteOp[];
    expect(codeOf(() => store.write(bad))).toBe('STATE_BAD_OP');
    // biome-ignore lint/suspicious/noSparseArray: a hole is one of the malformed inputs
    expect(codeOf(() => store.write([, { type: 'del', key: key('a') }] as WriteOp[]))).toBe(
      'STATE_BAD_OP',
    );
    expect(codeOf(() => store.write(42 as unknown as WriteOp[]))).toBe('STATE_BAD_OP');
    // Ops made as they are read (a commit's) are all checked before the first is applied.
    function* badLast(): Generator<WriteOp> {
      yield { type: 'del', key: key('a') };
      yield { type: 'put', key: key('b') } as unknown as WriteOp;
    }
    expect(codeOf(() => store.write(badLast()))).toBe('STATE_BAD_OP');
    expect(store.get(key('a'))).toEqual(value('one'));
    store.write([
      { type: 'put', key: key('b'), value: value('two') },
      { type: 'del', key: key('a') },
    ]);
    expect(store.size).toBe(1);
    expect(store.entries()).toEqual([[key('b'), value('two')]]);
  });
});

describe('state proofs', () => {
  const { state } = committed({ a: '1', b: '2', c: '3', d: '4', e: '5' });
  const root = state.root();

  it('round trip through canonical bytes', () => {
    for (const k of ['a', 'e', 'absent', 'also-absent', '']) {
      const proof = state.prove(key(k));
      const decoded = decodeStateProof(encodeStateProof(proof));
      expect(decoded).toEqual(proof);
      expect(verifyStateProof(root, key(k), state.get(key(k)), decoded)).toBe(true);
    }
  });

  it('are small: one 32-byte hash per non-empty level', () => {
    const proof = state.prove(key('a'));
    expect(encodeStateProof(proof).length).toBeLessThan(40 + 34 * proof.siblings.length);
  });

  // Roots no honest tree produces, to show the verifier checks the tree's shape itself.
  const leafPath = (name: string) => taggedHash('StateKey', key(name));
  const leftKey = ['k0', 'k1', 'k2', 'k3'].find((name) => leafPath(name)[0]! < 0x80)!;
  const rightKey = ['k0', 'k1', 'k2', 'k3'].find((name) => leafPath(name)[0]! >= 0x80)!;

  it("reject an absence proof whose leaf is not on the key's path", () => {
    const other = { keyHash: leafPath(rightKey), valueHash: sha256(value('v')) };
    const sibling = new Uint8Array(32).fill(5);
    const forged = stateNodeHash(stateLeafHash(other.keyHash, other.valueHash), sibling);
    const proof: StateProof = {
      depth: 1,
      bitmap: new Uint8Array([0x80]),
      siblings: [sibling],
      leaf: other,
    };
    expect(verifyStateProof(forged, key(leftKey), undefined, proof)).toBe(false);
  });

  it('reject a proof that ends below an empty sibling', () => {
    const leaf = stateLeafHash(leafPath(leftKey), sha256(value('v')));
    const forged = stateNodeHash(leaf, EMPTY_STATE_ROOT);
    const proof: StateProof = { depth: 1, bitmap: new Uint8Array([0]), siblings: [] };
    expect(verifyStateProof(forged, key(leftKey), value('v'), proof)).toBe(false);
    expect(
      verifyStateProof(leaf, key(leftKey), value('v'), {
        ...proof,
        depth: 0,
        bitmap: new Uint8Array(0),
      }),
    ).toBe(true);
  });

  it('reject malformed bytes and objects with STATE_BAD_PROOF', () => {
    const good = state.prove(key('a'));
    const cases: unknown[] = [
      new Uint8Array(0),
      new Uint8Array([0xc1]),
      utf8('not msgpack at all'),
      new Uint8Array(MAX_STATE_PROOF_BYTES + 1),
    ];
    for (const bytes of cases) {
      expect(codeOf(() => decodeStateProof(bytes as Uint8Array))).toBe('STATE_BAD_PROOF');
    }
    const objects: unknown[] = [
      null,
      { ...good, depth: -1 },
      { ...good, depth: 257 },
      { ...good, siblings: [] },
      { ...good, bitmap: new Uint8Array(40) },
    ];
    for (const proof of objects) {
      expect(codeOf(() => encodeStateProof(proof as StateProof))).toBe('STATE_BAD_PROOF');
    }
  });
});
