import { EMPTY_ID, idBit, NodeRecord, stateLeafId, stateNodeId } from './tree.js';

/** What the walk found of a key in the old tree (`TreeUpdate.found`). */
export const ABSENT = 0;
/** Its leaf, with the value hash the update sets: the update changes nothing. */
export const SAME = 1;
/** Its leaf, with another value hash: the update replaces or deletes it. */
export const REPLACED = 2;
export type Found = typeof ABSENT | typeof SAME | typeof REPLACED;

/**
 * One key's write: its new value hash, or undefined for a delete (ids, see tree.ts). The walk
 * fills in `found` (starting at ABSENT), so the caller learns which writes changed a value
 * without reading the committed values.
 */
export interface TreeUpdate {
  readonly keyHash: string;
  readonly valueHash: string | undefined;
  found: Found;
}

/** Where a batch reads a node that no link reaches. */
export type NodeReader = (id: string) => NodeRecord;

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
 * returns, not once per key.
 *
 * Nodes above `linkDepth` are reached through their parents' links (and linked when first
 * read), so the upper levels cost no Map lookup; new nodes there are linked to their
 * children. Deeper nodes are read by id. The walk allocates one record per node it builds
 * and nothing else per step: a subtree is its id, and what is known of the last one (its
 * shape and record) is kept in fields, not returned in an object.
 */
export class TreeBatch {
  /** Every new node, bottom-up: ids and records side by side. */
  readonly createdIds: string[] = [];
  readonly createdNodes: NodeRecord[] = [];
  /** The new nodes no link reaches (at `linkDepth` and below), by id, until the ops are written. */
  readonly createdDeep = new Map<string, NodeRecord>();
  /** Every node of the old tree that the new one drops. */
  readonly replacedIds: string[] = [];
  /** Those at `linkDepth` and below, by id: the old root's upper nodes stay reachable by its links. */
  readonly replacedDeep = new Map<string, NodeRecord>();
  readonly #read: NodeReader;
  readonly #linkDepth: number;
  #shape: Shape = UNKNOWN;
  /** The record of the subtree last returned, when known. */
  #node: NodeRecord | undefined = undefined;

  constructor(read: NodeReader, linkDepth: number) {
    this.#read = read;
    this.#linkDepth = linkDepth;
  }

  /**
   * `updates` must be sorted by key hash with no key hash twice. Returns the new root's id;
   * `rootNode()` then gives its record (undefined for the empty tree).
   */
  apply(root: string, rootNode: NodeRecord | undefined, updates: readonly TreeUpdate[]): string {
    const node = rootNode ?? (root === EMPTY_ID ? undefined : this.#read(root));
    return this.#update(root, node, 0, updates, 0, updates.length);
  }

  rootNode(): NodeRecord | undefined {
    return this.#node;
  }

  /** `node` is the record of `id` (undefined only for the empty subtree). */
  #update(
    id: string,
    node: NodeRecord | undefined,
    depth: number,
    updates: readonly TreeUpdate[],
    lo: number,
    hi: number,
  ): string {
    if (node === undefined) return this.#build(depth, updates, lo, hi, undefined, '');
    if (node.leaf) {
      // The lone leaf here joins the updates unless one of them rewrites or deletes it (a
      // write of its own value hash leaves it as it is).
      for (let i = lo; i < hi; i++) {
        const update = updates[i]!;
        if (update.keyHash !== node.left) continue;
        if (update.valueHash === node.right) {
          update.found = SAME;
          break;
        }
        update.found = REPLACED;
        this.#replace(id, node, depth);
        return this.#build(depth, updates, lo, hi, undefined, '');
      }
      return this.#build(depth, updates, lo, hi, node, id);
    }
    const mid = splitIndex(updates, lo, hi, depth);
    const left = this.#descend(node, false, depth + 1, updates, lo, mid);
    const leftShape = this.#shape;
    const leftNode = this.#node;
    const right = this.#descend(node, true, depth + 1, updates, mid, hi);
    if (left === node.left && right === node.right) {
      // Only writes that change nothing fell here: the node stays as it is.
      this.#shape = NOT_LEAF;
      this.#node = node;
      return id;
    }
    this.#replace(id, node, depth);
    return this.#join(left, leftShape, leftNode, right, this.#shape, this.#node, depth);
  }

  /** One child of an inner node: untouched when no update falls under it, else updated. */
  #descend(
    parent: NodeRecord,
    right: boolean,
    depth: number,
    updates: readonly TreeUpdate[],
    lo: number,
    hi: number,
  ): string {
    const id = right ? parent.right : parent.left;
    let node = right ? parent.rightNode : parent.leftNode;
    if (lo === hi) {
      this.#shape = UNKNOWN;
      this.#node = node;
      return id;
    }
    if (node === undefined && id !== EMPTY_ID) {
      node = this.#read(id);
      if (depth < this.#linkDepth) {
        if (right) parent.rightNode = node;
        else parent.leftNode = node;
      }
    }
    return this.#update(id, node, depth, updates, lo, hi);
  }

  /**
   * The subtree holding exactly the values set in `updates[lo..hi)` plus `kept` (an existing
   * leaf, id `keptId`, that no update touches), built from nothing.
   */
  #build(
    depth: number,
    updates: readonly TreeUpdate[],
    lo: number,
    hi: number,
    kept: NodeRecord | undefined,
    keptId: string,
  ): string {
    let live = kept === undefined ? 0 : 1;
    let only = -1;
    for (let i = lo; i < hi; i++) {
      const update = updates[i]!;
      if (update.valueHash !== undefined && update.found !== SAME) {
        live++;
        only = i;
      }
    }
    if (live === 0) {
      this.#shape = NOT_LEAF;
      this.#node = undefined;
      return EMPTY_ID;
    }
    if (live === 1) {
      this.#shape = LEAF;
      if (kept !== undefined) {
        // It stays stored as it is, only further down: no hash, no write.
        this.#node = kept;
        return keptId;
      }
      const { keyHash, valueHash } = updates[only]!;
      return this.#create(
        stateLeafId(keyHash, valueHash!),
        new NodeRecord(true, keyHash, valueHash!),
        depth,
      );
    }
    const mid = splitIndex(updates, lo, hi, depth);
    const keptRight = kept !== undefined && idBit(kept.left, depth) === 1;
    const left = this.#build(depth + 1, updates, lo, mid, keptRight ? undefined : kept, keptId);
    const leftShape = this.#shape;
    const leftNode = this.#node;
    const right = this.#build(depth + 1, updates, mid, hi, keptRight ? kept : undefined, keptId);
    return this.#join(left, leftShape, leftNode, right, this.#shape, this.#node, depth);
  }

  /** The node at `depth` over two subtrees; a lone leaf beside an empty subtree moves up instead. */
  #join(
    left: string,
    leftShape: Shape,
    leftNode: NodeRecord | undefined,
    right: string,
    rightShape: Shape,
    rightNode: NodeRecord | undefined,
    depth: number,
  ): string {
    const leftEmpty = left === EMPTY_ID;
    const rightEmpty = right === EMPTY_ID;
    if (leftEmpty && rightEmpty) {
      this.#shape = NOT_LEAF;
      this.#node = undefined;
      return EMPTY_ID;
    }
    if (leftEmpty || rightEmpty) {
      const id = leftEmpty ? right : left;
      let shape = leftEmpty ? rightShape : leftShape;
      let node = leftEmpty ? rightNode : leftNode;
      if (shape === UNKNOWN) {
        node ??= this.#read(id);
        shape = node.leaf ? LEAF : NOT_LEAF;
      }
      if (shape === LEAF) {
        this.#shape = LEAF;
        this.#node = node;
        return id;
      }
    }
    const node = new NodeRecord(false, left, right);
    if (depth + 1 < this.#linkDepth) {
      node.leftNode = leftNode;
      node.rightNode = rightNode;
    }
    this.#shape = NOT_LEAF;
    return this.#create(stateNodeId(left, right), node, depth);
  }

  #create(id: string, node: NodeRecord, depth: number): string {
    this.createdIds.push(id);
    this.createdNodes.push(node);
    if (depth >= this.#linkDepth) this.createdDeep.set(id, node);
    this.#node = node;
    return id;
  }

  #replace(id: string, node: NodeRecord, depth: number): void {
    this.replacedIds.push(id);
    if (depth >= this.#linkDepth) this.replacedDeep.set(id, node);
  }
}
