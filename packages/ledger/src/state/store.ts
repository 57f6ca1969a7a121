import { binaryString, compareBytes, fromBinaryString } from '@medchain/crypto';
import { StateError } from './errors.js';

/** Point reads; the node's LevelDB answers them with its synchronous, cached `getSync`. */
export interface KeyValueReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * What `get` would return, when the reader knows without reading its storage (from its
   * cache): the value, `null` for a key known absent, `undefined` for "it would have to read".
   * Optional. The state asks it before it walks its linked tree for an absent key, a walk that
   * is wasted on the present keys a cache answers.
   */
  peek?(key: Uint8Array): Uint8Array | null | undefined;
}

export type WriteOp =
  | {
      readonly type: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      /**
       * The state keeps this entry in memory (a node of its linked upper tree) and will not
       * read it back from the store while it runs: a store's read cache gains nothing by it.
       */
      readonly heldInMemory?: true;
    }
  | { readonly type: 'del'; readonly key: Uint8Array };

/** A reader that also applies ops atomically (the node: one LevelDB batch). */
export interface KeyValueStore extends KeyValueReader {
  /** `ops` may be iterated once only: a commit's ops are made as they are read. */
  write(ops: Iterable<WriteOp>): void;
}

/**
 * Byte strings as Map keys: one UTF-16 unit per byte, lossless and cheaper than hex. Not
 * `Buffer.from(bytes.buffer)`: reading `.buffer` moves a small array's bytes off the V8
 * heap for good (every hash goes through here, and a million off-heap buffers make each GC
 * slow). On Node crypto's `binaryString` is the native latin1 decoder, about 2.5x faster
 * than `String.fromCharCode.apply`; in browsers it is the latter (no `Buffer` there).
 */
export function binaryKey(bytes: Uint8Array): string {
  return binaryString(bytes);
}

/** The ops as a list, each checked; a commit's ops are made as they are iterated. */
export function checkedWriteOps(ops: Iterable<WriteOp>): readonly WriteOp[] {
  if (typeof (ops as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function') {
    throw new StateError('STATE_BAD_OP', 'ops must be iterable');
  }
  const list = Array.isArray(ops) ? (ops as readonly WriteOp[]) : [...ops];
  for (let i = 0; i < list.length; i++) {
    const op: WriteOp | undefined = list[i];
    const fine =
      typeof op === 'object' &&
      op !== null &&
      op.key instanceof Uint8Array &&
      (op.type === 'del' || (op.type === 'put' && op.value instanceof Uint8Array));
    if (!fine) throw new StateError('STATE_BAD_OP', `op ${i} is not a put or del of byte strings`);
  }
  return list;
}

/** Maps a store spreads its entries over: one V8 Map holds at most 2^24 (a 1M-patient state needs more). */
const MEMORY_STORE_SHARDS = 16;

/**
 * An in-memory store for tests and benchmarks. It keeps its entries as latin1 strings, not
 * byte arrays: a million small off-heap ArrayBuffers would make every garbage collection
 * (and so every benchmark) slow. It owns copies of everything written to it.
 */
export class MemoryStore implements KeyValueStore {
  readonly #shards = Array.from({ length: MEMORY_STORE_SHARDS }, () => new Map<string, string>());

  /** Keys end in hash bytes (or counters), so their last byte spreads them. */
  #shard(key: string): Map<string, string> {
    const last = key.length === 0 ? 0 : key.charCodeAt(key.length - 1);
    return this.#shards[last % MEMORY_STORE_SHARDS]!;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const id = binaryKey(key);
    const value = this.#shard(id).get(id);
    return value === undefined ? undefined : fromBinaryString(value);
  }

  /** All or nothing: every op is checked before the first one is applied. */
  write(ops: Iterable<WriteOp>): void {
    for (const op of checkedWriteOps(ops)) {
      const id = binaryKey(op.key);
      if (op.type === 'put') this.#shard(id).set(id, binaryKey(op.value));
      else this.#shard(id).delete(id);
    }
  }

  get size(): number {
    return this.#shards.reduce((sum, shard) => sum + shard.size, 0);
  }

  /** Every entry in ascending key order, so two stores compare by content. */
  entries(): Array<[key: Uint8Array, value: Uint8Array]> {
    return [...this.scan()].sort((a, b) => compareBytes(a[0], b[0]));
  }

  /** Every entry in no particular order, made as it is read: copies a large store out. */
  *scan(): Generator<[key: Uint8Array, value: Uint8Array]> {
    for (const shard of this.#shards) {
      for (const [key, value] of shard) yield [fromBinaryString(key), fromBinaryString(value)];
    }
  }
}
