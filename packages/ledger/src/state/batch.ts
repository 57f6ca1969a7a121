import { EMPTY_ID, idBit, type NodeRecord, stateLeafId, stateNodeId } from './tree.js';

/** One key's change: its new value hash, or undefined for a delete (ids, see tree.ts). */
export interface TreeUpdate {
  readonly keyHash: string;
  readonly valueHash: string | undefined;
}

/** Where a batch reads the current tree; `depth` is the node's level. */
export type NodeReader = (id: string, depth: number) => NodeRecord;

/** What is known, without a read, of the subtree a walk step returned. */
const UNKNOWN = 0;
const LEAF = 1;
const NOT_LEAF = 2;
type Shape = typeof UNKNOWN | typeof LEAF | typeof NOT_LEAF;

/** First index in [lo, hi) whose path has bit `depth` set; the range is sorted and shares the bits above. */
function splitIndex(updates: readonly TreeUpdate[], lo: number, hi: number, depth: number): number {
  let low = lo;
  let high = hi;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (idBit(updates[mid]!.keyHash, depth) === 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Applies one commit's updates to a tree in a single walk: the updates are sorted by path,
 * so each node on a shared path is read and hashed once per commit, bottom-up as the walk
 * returns, not once per key. Records the nodes it creates and the nodes it replaces, by id.
 * The walk allocates one record per node it reads or builds and nothing else: subtrees
 * are ids, and what is known of the last one's shape is a field, not a returned object.
 */
export class TreeBatch {
  readonly created = new Map<string, NodeRecord>();
  readonly replaced = new Map<string, NodeRecord>();
  /** Lone leaves pushed down by a new neighbour: still stored, at a new depth. */
  readonly moved = new Map<string, NodeRecord>();
  readonly #read: NodeReader;
  #shape: Shape = UNKNOWN;

  constructor(read: NodeReader) {
    this.#read = read;
  }

  /** `updates` must be sorted by key hash with no key hash twice. Returns the new root. */
  apply(root: string, updates: readonly TreeUpdate[]): string {
    return this.#update(root, 0, updates, 0, updates.length);
  }

  #update(
    id: string,
    depth: number,
    updates: readonly TreeUpdate[],
    lo: number,
    hi: number,
  ): string {
    if (lo === hi) {
      this.#shape = UNKNOWN;
      return id;
    }
    if (id === EMPTY_ID) return this.#build(depth, updates, lo, hi, undefined, '');
    const node = this.#read(id, depth);
    this.replaced.set(id, node);
    if (node.leaf) {
      // The lone leaf here joins the updates unless one of them rewrites or deletes it.
      for (let i = lo; i < hi; i++) {
        if (updates[i]!.keyHash === node.keyHash)
          return this.#build(depth, updates, lo, hi, undefined, '');
      }
      return this.#build(depth, updates, lo, hi, node, id);
    }
    const mid = splitIndex(updates, lo, hi, depth);
    const left = this.#update(node.left, depth + 1, updates, lo, mid);
    const leftShape = this.#shape;
    const right = this.#update(node.right, depth + 1, updates, mid, hi);
    return this.#join(left, leftShape, right, this.#shape, depth);
  }

  /**
   * The subtree holding exactly the values set in `updates[lo..hi)` plus `kept` (an existing
   * leaf, id `keptId`, not among the updates), built from nothing.
   */
  #build(
    depth: number,
    updates: readonly TreeUpdate[],
    lo: number,
    hi: number,
    kept: (NodeRecord & { leaf: true }) | undefined,
    keptId: string,
  ): string {
    let live = kept === undefined ? 0 : 1;
    let only = -1;
    for (let i = lo; i < hi; i++) {
      if (updates[i]!.valueHash !== undefined) {
        live++;
        only = i;
      }
    }
    if (live === 0) {
      this.#shape = NOT_LEAF;
      return EMPTY_ID;
    }
    if (live === 1) {
      this.#shape = LEAF;
      if (kept !== undefined) return this.#keep(keptId, kept, depth);
      const { keyHash, valueHash } = updates[only]!;
      const id = stateLeafId(keyHash, valueHash!);
      this.created.set(id, { leaf: true, keyHash, valueHash: valueHash!, depth });
      return id;
    }
    const mid = splitIndex(updates, lo, hi, depth);
    const keptRight = kept !== undefined && idBit(kept.keyHash, depth) === 1;
    const left = this.#build(depth + 1, updates, lo, mid, keptRight ? undefined : kept, keptId);
    const leftShape = this.#shape;
    const right = this.#build(depth + 1, updates, mid, hi, keptRight ? kept : undefined, keptId);
    return this.#join(left, leftShape, right, this.#shape, depth);
  }

  /** An existing leaf that stays as it is, one level or more further down: no hash, no write. */
  #keep(id: string, leaf: NodeRecord & { leaf: true }, depth: number): string {
    this.replaced.delete(id);
    this.moved.set(id, { leaf: true, keyHash: leaf.keyHash, valueHash: leaf.valueHash, depth });
    return id;
  }

  /** The node at `depth` over two subtrees; a lone leaf beside an empty subtree moves up instead. */
  #join(left: string, leftShape: Shape, right: string, rightShape: Shape, depth: number): string {
    const leftEmpty = left === EMPTY_ID;
    const rightEmpty = right === EMPTY_ID;
    if (leftEmpty && rightEmpty) {
      this.#shape = NOT_LEAF;
      return EMPTY_ID;
    }
    if (leftEmpty && this.#isLeaf(right, rightShape, depth + 1)) {
      this.#shape = LEAF;
      return right;
    }
    if (rightEmpty && this.#isLeaf(left, leftShape, depth + 1)) {
      this.#shape = LEAF;
      return left;
    }
    this.#shape = NOT_LEAF;
    const id = stateNodeId(left, right);
    this.created.set(id, { leaf: false, left, right, depth });
    return id;
  }

  #isLeaf(id: string, shape: Shape, depth: number): boolean {
    if (shape !== UNKNOWN) return shape === LEAF;
    return this.#read(id, depth).leaf;
  }
}
