/**
 * What one entry costs the cache itself on V8, before its value and its key's characters: the
 * Map entry, the string header and the key, value, link and size slots (measured on Node 20,
 * 100,000 entries: 143 bytes per entry for 64-character hex keys and `true` values).
 */
export const LRU_ENTRY_OVERHEAD_BYTES = 80;

/**
 * A one-byte V8 string's header (map, hash, length) before its characters, which are padded to
 * 8 bytes (measured on Node 20, 100,000 strings: 88 bytes each at 65 characters, 192 at 170).
 */
export const BINARY_STRING_OVERHEAD_BYTES = 16;

/**
 * The bytes a `binaryString` value costs a cache: a quarter to a third of what the same bytes
 * cost as a Uint8Array, whose ArrayBuffer and malloc'd backing store come on top (RSS measured
 * at 530-630 bytes for one of 65-170 bytes).
 */
export function binaryStringCost(value: string): number {
  return BINARY_STRING_OVERHEAD_BYTES + Math.ceil(value.length / 8) * 8;
}

export interface LruOptions<V> {
  /**
   * Most bytes held, counted per entry as LRU_ENTRY_OVERHEAD_BYTES + the key's length +
   * `sizeOf(value)`; least recently used entries go first, and an entry larger than the whole
   * budget is not kept. Default: no byte bound (the count bound alone).
   */
  readonly maxBytes?: number;
  /** The bytes a value keeps alive beyond the entry. Default 0 (true, null, numbers, shared objects). */
  readonly sizeOf?: (value: V) => number;
}

/**
 * A bounded least-recently-used map with O(1) get, set and eviction: a Map from key to slot,
 * and the recency order as a doubly linked list over preallocated slot arrays. Bounded by
 * entries (`capacity`) and optionally by bytes (`maxBytes`).
 *
 * Why not a plain Map in insertion order (a hit re-inserts, eviction takes `keys().next()`):
 * V8 leaves a deleted entry as a hole that iterators skip, and eviction deletes at the front,
 * so every eviction walks all the holes before it. At 100,000 entries that cost 14-50 µs per
 * set, on the node's hot path (state reads, public keys, verified transactions).
 */
export class LruCache<V> {
  readonly #slots = new Map<string, number>();
  readonly #keys: string[] = [];
  readonly #values: (V | undefined)[] = [];
  /** Per slot, the next newer and next older slot; -1 ends the list. A free slot's `older` links the free list. */
  readonly #newer: Int32Array;
  readonly #older: Int32Array;
  /** Per slot, the bytes its entry was charged. */
  readonly #sizes: Float64Array;
  readonly #sizeOf: ((value: V) => number) | undefined;
  /** The most bytes held; Infinity when only the count bounds the cache. */
  readonly maxBytes: number;
  #bytes = 0;
  #newest = -1;
  #oldest = -1;
  /** Slots never used yet start here; freed slots are on the free list. */
  #unused = 0;
  #free = -1;

  constructor(
    readonly capacity: number,
    options: LruOptions<V> = {},
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 2 ** 30) {
      throw new RangeError(`LRU capacity must be an integer in 1..2^30, got ${capacity}`);
    }
    const { maxBytes = Number.POSITIVE_INFINITY } = options;
    if (
      maxBytes !== Number.POSITIVE_INFINITY &&
      !(Number.isSafeInteger(maxBytes) && maxBytes > 0)
    ) {
      throw new RangeError(`LRU maxBytes must be a positive integer, got ${maxBytes}`);
    }
    this.maxBytes = maxBytes;
    this.#sizeOf = options.sizeOf;
    this.#newer = new Int32Array(capacity);
    this.#older = new Int32Array(capacity);
    this.#sizes = new Float64Array(capacity);
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Bytes charged for the entries held (see LruOptions.maxBytes). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The value, which becomes the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#touch(slot);
    return this.#values[slot];
  }

  /** Whether the key is held; like `get`, a hit counts as a use. */
  has(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#touch(slot);
    return true;
  }

  /** The value without counting a use: the recency order stays as it was. */
  peek(key: string): V | undefined {
    const slot = this.#slots.get(key);
    return slot === undefined ? undefined : this.#values[slot];
  }

  /**
   * Stores the value as the most recently used, evicting the least recently used while the
   * count or the bytes are over. A value whose entry alone is over `maxBytes` is not kept
   * (and the key's older value is dropped).
   */
  set(key: string, value: V): void {
    const size = LRU_ENTRY_OVERHEAD_BYTES + key.length + (this.#sizeOf?.(value) ?? 0);
    let slot = this.#slots.get(key);
    if (size > this.maxBytes) {
      if (slot !== undefined) this.#remove(key, slot);
      return;
    }
    if (slot !== undefined) {
      this.#values[slot] = value;
      this.#bytes += size - this.#sizes[slot]!;
      this.#sizes[slot] = size;
      this.#touch(slot);
    } else {
      if (this.#slots.size === this.capacity) this.#remove(this.#keys[this.#oldest]!, this.#oldest);
      slot = this.#take();
      this.#keys[slot] = key;
      this.#values[slot] = value;
      this.#sizes[slot] = size;
      this.#bytes += size;
      this.#slots.set(key, slot);
      this.#linkNewest(slot);
    }
    // The entry just set is the newest and fits alone, so this stops before reaching it.
    while (this.#bytes > this.maxBytes) this.#remove(this.#keys[this.#oldest]!, this.#oldest);
  }

  /** Drops the key; whether it was held. */
  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#remove(key, slot);
    return true;
  }

  #take(): number {
    if (this.#free === -1) return this.#unused++;
    const slot = this.#free;
    this.#free = this.#older[slot]!;
    return slot;
  }

  #remove(key: string, slot: number): void {
    this.#slots.delete(key);
    this.#unlink(slot);
    this.#bytes -= this.#sizes[slot]!;
    // Let go of the key and value now: a freed slot may wait long for reuse.
    this.#keys[slot] = '';
    this.#values[slot] = undefined;
    this.#older[slot] = this.#free;
    this.#free = slot;
  }

  #touch(slot: number): void {
    if (slot === this.#newest) return;
    this.#unlink(slot);
    this.#linkNewest(slot);
  }

  #unlink(slot: number): void {
    const newer = this.#newer[slot]!;
    const older = this.#older[slot]!;
    if (newer === -1) this.#newest = older;
    else this.#older[newer] = older;
    if (older === -1) this.#oldest = newer;
    else this.#newer[older] = newer;
  }

  #linkNewest(slot: number): void {
    this.#newer[slot] = -1;
    this.#older[slot] = this.#newest;
    if (this.#newest === -1) this.#oldest = slot;
    else this.#newer[this.#newest] = slot;
    this.#newest = slot;
  }
}
