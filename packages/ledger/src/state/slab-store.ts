import { compareBytes } from '@medchain/crypto';
import { StateError } from './errors.js';
import { checkedWriteOps, type KeyValueStore, type WriteOp } from './store.js';

/** Record sizes (header + key + value) by class: 2^MIN_CLASS_BITS bytes and up, doubling. */
const MIN_CLASS_BITS = 6;
const CLASSES = 15;
/** Larger records than this: rare (no state value is near it), kept in a plain Map. */
const MAX_SLAB_RECORD = 1 << (MIN_CLASS_BITS + CLASSES - 1);
/** A class's records come in chunks of about this size, allocated as the class fills. */
const CHUNK_BYTES = 1 << 24;
/** A record: key length (u16), value length (u32), key, value. */
const HEADER = 6;
/**
 * A slot's location: class in the low bits, record index + 1 above (so never 0); 0 = empty,
 * -1 = deleted, below that a large entry.
 */
const CLASS_BITS = 4;
const CLASS_MASK = (1 << CLASS_BITS) - 1;
const EMPTY = 0;
const DELETED = -1;
const INITIAL_SLOTS = 1 << 12;
const MAX_INDEX = 2 ** (31 - CLASS_BITS) - 2;

/** FNV-1a over the key's bytes: state keys mostly end in hash bytes, but not all of them. */
function keyHash(key: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key[i]!, 0x01000193);
  return hash | 0;
}

/** One size class: fixed-size records in chunks, freed records reused first. */
class SizeClass {
  readonly recordBytes: number;
  readonly #perChunk: number;
  readonly #chunks: Uint8Array[] = [];
  #next = 0;
  #free = new Int32Array(64);
  #freeCount = 0;

  constructor(recordBytes: number) {
    this.recordBytes = recordBytes;
    this.#perChunk = Math.max(1, Math.floor(CHUNK_BYTES / recordBytes));
  }

  allocate(): number {
    if (this.#freeCount > 0) return this.#free[--this.#freeCount]!;
    const index = this.#next++;
    if (index > MAX_INDEX) throw new StateError('STATE_BAD_OP', 'slab store is full');
    if (index % this.#perChunk === 0) {
      this.#chunks.push(new Uint8Array(this.#perChunk * this.recordBytes));
    }
    return index;
  }

  release(index: number): void {
    if (this.#freeCount === this.#free.length) {
      const grown = new Int32Array(this.#free.length * 2);
      grown.set(this.#free);
      this.#free = grown;
    }
    this.#free[this.#freeCount++] = index;
  }

  /** The chunk holding record `index`. */
  chunk(index: number): Uint8Array {
    return this.#chunks[Math.floor(index / this.#perChunk)]!;
  }

  /** Where record `index` starts in its chunk. */
  offset(index: number): number {
    return (index % this.#perChunk) * this.recordBytes;
  }
}

/**
 * A `KeyValueStore` in memory whose entries live outside the JavaScript heap's object graph:
 * records in large byte chunks by size class, found through an open-addressing index of typed
 * arrays. `MemoryStore` holds two strings and a Map slot per entry, so at ten million entries
 * (a 1M-patient state) every major collection marks twenty million objects, and a benchmark
 * of the ledger at that size measures the collector. Here the collector sees a few hundred
 * arrays, as it sees nothing of the node's LevelDB. For benchmarks and large builds; `get`
 * returns a fresh copy, `write` is all or nothing.
 */
export class SlabStore implements KeyValueStore {
  readonly #classes = Array.from(
    { length: CLASSES },
    (_, c) => new SizeClass(1 << (MIN_CLASS_BITS + c)),
  );
  readonly #large = new Map<number, { key: Uint8Array; value: Uint8Array }>();
  #nextLarge = 1;
  /** Slot -> location (see CLASS_BITS), and the key's hash beside it. */
  #slots = new Int32Array(INITIAL_SLOTS);
  #hashes = new Int32Array(INITIAL_SLOTS);
  #live = 0;
  #deleted = 0;

  get size(): number {
    return this.#live;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const slot = this.#find(key, keyHash(key));
    if (slot < 0) return undefined;
    return this.#valueOf(this.#slots[slot]!);
  }

  write(ops: Iterable<WriteOp>): void {
    const list = checkedWriteOps(ops);
    for (const op of list) {
      if (op.key.length > 0xffff) {
        throw new StateError('STATE_BAD_OP', `key of ${op.key.length} bytes is too long`);
      }
    }
    for (const op of list) {
      if (op.type === 'put') this.#put(op.key, op.value);
      else this.#delete(op.key);
    }
  }

  /** Every entry in ascending key order, so two stores compare by content. */
  entries(): Array<[key: Uint8Array, value: Uint8Array]> {
    return [...this.scan()].sort((a, b) => compareBytes(a[0], b[0]));
  }

  /** Every entry in no particular order, made as it is read. */
  *scan(): Generator<[key: Uint8Array, value: Uint8Array]> {
    for (let slot = 0; slot < this.#slots.length; slot++) {
      const location = this.#slots[slot]!;
      if (location !== EMPTY && location !== DELETED) {
        yield [this.#keyOf(location), this.#valueOf(location)];
      }
    }
  }

  /** A copy of the key stored at `location`. */
  #keyOf(location: number): Uint8Array {
    const large = this.#largeEntry(location);
    if (large !== undefined) return large.key.slice();
    const chunk = this.#chunk(location);
    const at = this.#offset(location);
    return chunk.slice(at + HEADER, at + HEADER + (chunk[at]! | (chunk[at + 1]! << 8)));
  }

  /** A copy of the value stored at `location`. */
  #valueOf(location: number): Uint8Array {
    const large = this.#largeEntry(location);
    if (large !== undefined) return large.value.slice();
    const chunk = this.#chunk(location);
    const at = this.#offset(location);
    const start = at + HEADER + (chunk[at]! | (chunk[at + 1]! << 8));
    return chunk.slice(start, start + readU32(chunk, at + 2));
  }

  #put(key: Uint8Array, value: Uint8Array): void {
    const hash = keyHash(key);
    const found = this.#find(key, hash);
    if (found >= 0) this.#release(this.#slots[found]!);
    const location = this.#store(key, value);
    if (found >= 0) {
      this.#slots[found] = location;
      return;
    }
    if ((this.#live + this.#deleted + 1) * 10 > this.#slots.length * 7) this.#resize();
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    while (this.#slots[slot] !== EMPTY && this.#slots[slot] !== DELETED) slot = (slot + 1) & mask;
    if (this.#slots[slot] === DELETED) this.#deleted--;
    this.#slots[slot] = location;
    this.#hashes[slot] = hash;
    this.#live++;
  }

  #delete(key: Uint8Array): void {
    const slot = this.#find(key, keyHash(key));
    if (slot < 0) return;
    this.#release(this.#slots[slot]!);
    this.#slots[slot] = DELETED;
    this.#live--;
    this.#deleted++;
  }

  /** The slot holding `key`, or -1. */
  #find(key: Uint8Array, hash: number): number {
    const mask = this.#slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const location = this.#slots[slot]!;
      if (location === EMPTY) return -1;
      if (location !== DELETED && this.#hashes[slot] === hash && this.#keyAt(location, key)) {
        return slot;
      }
    }
  }

  #keyAt(location: number, key: Uint8Array): boolean {
    const large = this.#largeEntry(location);
    if (large !== undefined) return compareBytes(large.key, key) === 0;
    const chunk = this.#chunk(location);
    const at = this.#offset(location);
    if ((chunk[at]! | (chunk[at + 1]! << 8)) !== key.length) return false;
    const start = at + HEADER;
    for (let i = 0; i < key.length; i++) if (chunk[start + i] !== key[i]) return false;
    return true;
  }

  /** Copies the entry into a record and returns its location. */
  #store(key: Uint8Array, value: Uint8Array): number {
    const bytes = HEADER + key.length + value.length;
    if (bytes > MAX_SLAB_RECORD) {
      const id = this.#nextLarge++;
      this.#large.set(id, { key: key.slice(), value: value.slice() });
      return -2 - id;
    }
    const c = Math.max(0, Math.ceil(Math.log2(bytes)) - MIN_CLASS_BITS);
    const index = this.#classes[c]!.allocate();
    const location = ((index + 1) << CLASS_BITS) | c;
    const chunk = this.#chunk(location);
    const at = this.#offset(location);
    chunk[at] = key.length & 0xff;
    chunk[at + 1] = key.length >>> 8;
    writeU32(chunk, at + 2, value.length);
    chunk.set(key, at + HEADER);
    chunk.set(value, at + HEADER + key.length);
    return location;
  }

  #release(location: number): void {
    if (location < DELETED) this.#large.delete(largeId(location));
    else this.#classes[location & CLASS_MASK]!.release((location >>> CLASS_BITS) - 1);
  }

  #largeEntry(location: number): { key: Uint8Array; value: Uint8Array } | undefined {
    return location < DELETED ? this.#large.get(largeId(location)) : undefined;
  }

  #chunk(location: number): Uint8Array {
    return this.#classes[location & CLASS_MASK]!.chunk((location >>> CLASS_BITS) - 1);
  }

  #offset(location: number): number {
    return this.#classes[location & CLASS_MASK]!.offset((location >>> CLASS_BITS) - 1);
  }

  /** Twice the slots when live entries fill them, the same number when deleted ones do. */
  #resize(): void {
    const grow = this.#live * 10 > this.#slots.length * 4;
    const slots = this.#slots;
    const hashes = this.#hashes;
    const length = grow ? slots.length * 2 : slots.length;
    this.#slots = new Int32Array(length);
    this.#hashes = new Int32Array(length);
    this.#deleted = 0;
    const mask = length - 1;
    for (let i = 0; i < slots.length; i++) {
      const location = slots[i]!;
      if (location === EMPTY || location === DELETED) continue;
      let slot = hashes[i]! & mask;
      while (this.#slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.#slots[slot] = location;
      this.#hashes[slot] = hashes[i]!;
    }
  }
}

/** Large entries have locations below DELETED: -2 - id, ids from 1. */
function largeId(location: number): number {
  return -2 - location;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
  );
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}
