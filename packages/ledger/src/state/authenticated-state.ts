import { binaryString, toHex } from '@medchain/crypto';
import { ABSENT, REPLACED, SAME, TreeBatch, type TreeUpdate } from './batch.js';
import { StateError } from './errors.js';
import type { StateProof, StateProofLeaf } from './proof.js';
import { binaryKey, type KeyValueReader, type WriteOp } from './store.js';
import {
  copyBytes,
  decodeNodeRecord,
  EMPTY_ID,
  EMPTY_STATE_ROOT,
  encodeNodeRecord,
  HASH_LENGTH,
  idBit,
  idBytes,
  type NodeRecord,
  nodeStoreKey,
  stateKeyId,
  stateValueId,
  valueStoreKey,
} from './tree.js';

export interface AuthenticatedStateOptions {
  /**
   * How many roots before the committed one stay provable (and readable with
   * `getCommitted`). Their replaced nodes and values are kept in memory, not in the store,
   * so after a restart only the reopened root is provable. Default 2: the root in the
   * latest block header is the one before the committed root.
   */
  readonly history?: number;
  /**
   * Decoded nodes above this depth stay in memory (at most 2^depth of them; 16 is about
   * 65k nodes, ~20 MB), so the upper levels every update and proof walks through cost no
   * store read. Default 16; 0 turns the cache off.
   */
  readonly cacheDepth?: number;
}

export interface StateCommit {
  readonly root: Uint8Array;
  /** Write these atomically (with the block) before the next `commit()`. */
  readonly ops: StateOps;
}

/**
 * A key's uncommitted state: a new value, or undefined for a pending delete. The key itself
 * is the map's key (a binary string), which is what the commit hashes.
 */
interface Pending {
  readonly value: Uint8Array | undefined;
}

interface Undo {
  readonly id: string;
  readonly previous: Pending | undefined;
}

/**
 * One key's write in a commit. A commit keeps those that change a value, by key hash: they
 * serve the new values until the ops are written (`value`), and the values at the root before
 * the commit for as long as it is retained (`previous`, undefined = absent).
 */
interface KeyUpdate extends TreeUpdate {
  readonly value: Uint8Array | undefined;
  previous: Uint8Array | undefined;
}

/** The nodes a commit made and dropped (TreeBatch's lists). */
type TreeChanges = Pick<TreeBatch, 'createdIds' | 'createdNodes' | 'createdDeep' | 'replacedIds'>;

/** What one commit replaced: enough to read and prove at the root it started from (ids, see tree.ts). */
interface PastRoot {
  readonly root: string;
  readonly rootNode: NodeRecord | undefined;
  /** Replaced nodes no link reaches; the upper ones stay reachable through `rootNode`. */
  readonly nodes: ReadonlyMap<string, NodeRecord>;
  /** The keys the commit changed, by key hash: `previous` is the value at that root. */
  readonly values: ReadonlyMap<string, KeyUpdate>;
}

const DEFAULT_HISTORY = 2;
const DEFAULT_CACHE_DEPTH = 16;
const MAX_CACHE_DEPTH = 24;

function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array))
    throw new StateError('STATE_BAD_KEY', 'a key must be a Uint8Array');
}

/**
 * A commit's store writes, made one op at a time as they are iterated (each iteration makes
 * them afresh). A block's thousands of node writes then never exist as objects all at once:
 * a store that copies each op as it comes (the node's write batch) lets each die young,
 * where an array of them lived through the scavenges of the block's commit and was promoted.
 */
export class StateOps implements Iterable<WriteOp> {
  static readonly NONE = new StateOps(
    { createdIds: [], createdNodes: [], createdDeep: new Map(), replacedIds: [] },
    new Map(),
  );
  readonly #nodes: TreeChanges;
  readonly #changed: ReadonlyMap<string, KeyUpdate>;

  constructor(nodes: TreeChanges, changed: ReadonlyMap<string, KeyUpdate>) {
    this.#nodes = nodes;
    this.#changed = changed;
  }

  get length(): number {
    return this.#nodes.createdIds.length + this.#nodes.replacedIds.length + this.#changed.size;
  }

  *[Symbol.iterator](): Generator<WriteOp> {
    const { createdIds, createdNodes, createdDeep, replacedIds } = this.#nodes;
    for (let i = 0; i < createdIds.length; i++) {
      const id = createdIds[i]!;
      const key = nodeStoreKey(id);
      const value = encodeNodeRecord(createdNodes[i]!);
      yield createdDeep.has(id)
        ? { type: 'put', key, value }
        : { type: 'put', key, value, heldInMemory: true };
    }
    for (const id of replacedIds) yield { type: 'del', key: nodeStoreKey(id) };
    for (const { keyHash, value } of this.#changed.values()) {
      const key = valueStoreKey(keyHash);
      yield value === undefined ? { type: 'del', key } : { type: 'put', key, value };
    }
  }
}

/**
 * The ledger's authenticated key-value map (see tree.ts for the tree and its storage layout).
 *
 * Writes are pending until `commit()`, which returns the new root and the store ops; the
 * caller writes them (in the node: in the same LevelDB batch as the block). Until the next
 * `commit()` the state also serves those ops from memory, so reads right after a commit see
 * the new state whether or not the ops are written yet. Write each commit's ops before
 * calling `commit()` again.
 *
 * Replaced nodes are deleted by the commit's ops: the store holds the latest tree only
 * (about 2.4 nodes per key), and the last few roots stay provable from memory (`history`).
 */
export class AuthenticatedState {
  readonly #store: KeyValueReader;
  readonly #historyLimit: number;
  readonly #cacheDepth: number;
  /** The committed root's id, and its record (undefined for the empty map). */
  #root: string;
  #rootNode: NodeRecord | undefined;
  readonly #pending = new Map<string, Pending>();
  readonly #journal: Undo[] = [];
  /**
   * The last commit's new nodes no link reaches (see batch.ts) and its values, until the
   * next commit (a value undefined = deleted).
   */
  #unflushedNodes: ReadonlyMap<string, NodeRecord> = new Map();
  #unflushedValues: ReadonlyMap<string, KeyUpdate> = new Map();
  /** Newest first. */
  #past: PastRoot[] = [];

  constructor(
    store: KeyValueReader,
    root: Uint8Array = EMPTY_STATE_ROOT,
    options: AuthenticatedStateOptions = {},
  ) {
    if (!(root instanceof Uint8Array) || root.length !== HASH_LENGTH) {
      throw new StateError('STATE_UNKNOWN_ROOT', `a root must be ${HASH_LENGTH} bytes`);
    }
    const { history = DEFAULT_HISTORY, cacheDepth = DEFAULT_CACHE_DEPTH } = options;
    if (!Number.isSafeInteger(history) || history < 0) {
      throw new StateError('STATE_BAD_OPTION', 'history must be a non-negative integer');
    }
    if (!Number.isSafeInteger(cacheDepth) || cacheDepth < 0 || cacheDepth > MAX_CACHE_DEPTH) {
      throw new StateError(
        'STATE_BAD_OPTION',
        `cacheDepth must be an integer in 0..${MAX_CACHE_DEPTH}`,
      );
    }
    this.#store = store;
    this.#historyLimit = history;
    this.#cacheDepth = cacheDepth;
    this.#root = binaryString(root);
    this.#rootNode = this.#root === EMPTY_ID ? undefined : this.#readNode(this.#root, -1);
  }

  /** The value for `key`, pending writes first. */
  get(key: Uint8Array): Uint8Array | undefined {
    assertKey(key);
    const pending = this.#pending.get(binaryKey(key));
    if (pending !== undefined) return copyOptional(pending.value);
    return this.#readValue(stateKeyId(key));
  }

  /**
   * The value for `key` at the committed root (ignoring pending writes), or at a retained
   * older root: the value that `prove(key, root)` proves.
   */
  getCommitted(key: Uint8Array, root?: Uint8Array): Uint8Array | undefined {
    assertKey(key);
    const id = stateKeyId(key);
    const past = this.#pastIndex(root);
    // The oldest commit after `root` that changed the key remembers its value at `root`.
    for (let i = past; i >= 0; i--) {
      const changed = this.#past[i]!.values.get(id);
      if (changed !== undefined) return copyOptional(changed.previous);
    }
    return this.#readValue(id);
  }

  set(key: Uint8Array, value: Uint8Array): void {
    assertKey(key);
    if (!(value instanceof Uint8Array) || value.length === 0) {
      throw new StateError(
        'STATE_BAD_VALUE',
        'a value must be a non-empty Uint8Array (use delete)',
      );
    }
    this.#write(key, copyBytes(value));
  }

  delete(key: Uint8Array): void {
    assertKey(key);
    this.#write(key, undefined);
  }

  #write(key: Uint8Array, value: Uint8Array | undefined): void {
    const id = binaryKey(key);
    this.#journal.push({ id, previous: this.#pending.get(id) });
    this.#pending.set(id, { value });
  }

  /** The last committed root. */
  root(): Uint8Array {
    return idBytes(this.#root);
  }

  /** Roots `prove` and `getCommitted` accept: the committed one first, then older ones. */
  provableRoots(): Uint8Array[] {
    return [this.#root, ...this.#past.map((past) => past.root)].map(idBytes);
  }

  /** A mark to roll back to; valid until the next `commit()` or `discard()`. */
  checkpoint(): number {
    return this.#journal.length;
  }

  /** Undoes every write since `checkpoint` was taken. */
  revertTo(checkpoint: number): void {
    if (!Number.isSafeInteger(checkpoint) || checkpoint < 0 || checkpoint > this.#journal.length) {
      throw new StateError(
        'STATE_BAD_CHECKPOINT',
        `no checkpoint ${String(checkpoint)} in this batch`,
      );
    }
    while (this.#journal.length > checkpoint) {
      const { id, previous } = this.#journal.pop()!;
      if (previous === undefined) this.#pending.delete(id);
      else this.#pending.set(id, previous);
    }
  }

  /** Drops every pending write. */
  discard(): void {
    this.#pending.clear();
    this.#journal.length = 0;
  }

  /**
   * Applies the pending writes. Costs about log2(size) hashes per changed key, with the
   * shared upper nodes hashed once. Writes that leave a key as it was change nothing; with
   * no change at all the root stays and `ops` is empty.
   */
  commit(): StateCommit {
    const updates: KeyUpdate[] = [];
    for (const [id, { value }] of this.#pending) {
      updates.push({
        keyHash: stateKeyId(id),
        value,
        valueHash: value === undefined ? undefined : stateValueId(value),
        found: ABSENT,
        previous: undefined,
      });
    }
    // Ids are the key hashes one char per byte, so string order is byte order.
    updates.sort((a, b) => (a.keyHash < b.keyHash ? -1 : 1));
    // Nothing changes until the new tree is complete, so a missing node leaves the state as it was.
    const batch = new TreeBatch((id) => this.#readNode(id, -1), this.#cacheDepth);
    const root = batch.apply(this.#root, this.#rootNode, updates);
    // The walk found which writes change a value: only those are written and remembered, and
    // only a replaced value is read (for the history), never an unchanged or a new one.
    const changed = new Map<string, KeyUpdate>();
    for (const update of updates) {
      const { found } = update;
      if (found === SAME || (found === ABSENT && update.value === undefined)) continue;
      if (found === REPLACED && this.#historyLimit > 0) {
        update.previous = this.#readValue(update.keyHash);
      }
      changed.set(update.keyHash, update);
    }
    this.discard();
    if (changed.size === 0) {
      this.#unflushedNodes = new Map();
      this.#unflushedValues = new Map();
      return { root: idBytes(this.#root), ops: StateOps.NONE };
    }
    const { createdIds, createdNodes, createdDeep, replacedIds } = batch;
    const ops = new StateOps({ createdIds, createdNodes, createdDeep, replacedIds }, changed);
    this.#unflushedNodes = batch.createdDeep;
    this.#unflushedValues = changed;
    this.#past.unshift({
      root: this.#root,
      rootNode: this.#rootNode,
      nodes: batch.replacedDeep,
      values: changed,
    });
    this.#past.length = Math.min(this.#past.length, this.#historyLimit);
    this.#root = root;
    this.#rootNode = batch.rootNode();
    return { root: idBytes(root), ops };
  }

  /** A proof for `key` at the committed root, or at a retained older root (see `provableRoots`). */
  prove(key: Uint8Array, root?: Uint8Array): StateProof {
    assertKey(key);
    const past = this.#pastIndex(root);
    const keyHash = stateKeyId(key);
    const siblings: Uint8Array[] = [];
    const nonEmptyAt: number[] = [];
    let node = past < 0 ? this.#rootNode : this.#past[past]!.rootNode;
    let depth = 0;
    let leaf: StateProofLeaf | undefined;
    while (node !== undefined) {
      if (node.leaf) {
        if (node.left !== keyHash) {
          leaf = { keyHash: idBytes(node.left), valueHash: idBytes(node.right) };
        }
        break;
      }
      const right = idBit(keyHash, depth) === 1;
      const sibling = right ? node.left : node.right;
      if (sibling !== EMPTY_ID) {
        siblings.push(idBytes(sibling));
        nonEmptyAt.push(depth);
      }
      depth++;
      node = this.#child(node, right, depth, past);
    }
    const bitmap = new Uint8Array(Math.ceil(depth / 8));
    for (const at of nonEmptyAt) bitmap[at >> 3]! |= 0x80 >> (at & 7);
    return leaf === undefined ? { depth, bitmap, siblings } : { depth, bitmap, siblings, leaf };
  }

  /**
   * Links every node above `cacheDepth` now, reading from the store those no walk has met yet:
   * otherwise, on a state reopened from its store, commits and proofs read each upper node
   * the first time they pass it, about one store read more per changed key on a large state
   * until they have met them all. Returns how many nodes it read.
   */
  linkUpperTree(): number {
    let read = 0;
    const link = (parent: NodeRecord, depth: number): void => {
      if (parent.leaf || depth + 1 >= this.#cacheDepth) return;
      for (const right of [false, true]) {
        const linked = (right ? parent.rightNode : parent.leftNode) !== undefined;
        const child = this.#child(parent, right, depth + 1, -1);
        if (child === undefined) continue;
        if (!linked) read++;
        link(child, depth + 1);
      }
    };
    if (this.#rootNode !== undefined) link(this.#rootNode, 0);
    return read;
  }

  /** -1 for the committed root (or none given), else the index in `#past`. */
  #pastIndex(root: Uint8Array | undefined): number {
    if (root === undefined) return -1;
    if (root instanceof Uint8Array) {
      const id = binaryString(root);
      if (id === this.#root) return -1;
      const index = this.#past.findIndex((past) => past.root === id);
      if (index >= 0) return index;
    }
    throw new StateError('STATE_UNKNOWN_ROOT', `root ${toHexSafe(root)} is not retained`);
  }

  #readValue(keyHash: string): Uint8Array | undefined {
    const unflushed = this.#unflushedValues.get(keyHash);
    if (unflushed !== undefined) return copyOptional(unflushed.value);
    const key = valueStoreKey(keyHash);
    const known = this.#store.peek?.(key);
    if (known !== undefined) return known ?? undefined;
    if (this.#absentByLinks(keyHash)) return undefined;
    return this.#store.get(key);
  }

  /**
   * Whether the linked upper tree alone shows that the committed tree lacks the key: its path
   * ends at an empty subtree or at another key's lone leaf before any link is missing. Most
   * reads of an absent key (a new consent, grant or signer) end so, without a store read,
   * which was a LevelDB miss each. False means "ask the store", not "present".
   */
  #absentByLinks(keyHash: string): boolean {
    if (this.#root === EMPTY_ID) return true;
    let node = this.#rootNode;
    for (let depth = 0; node !== undefined; depth++) {
      if (node.leaf) return node.left !== keyHash;
      const right = idBit(keyHash, depth) === 1;
      if ((right ? node.right : node.left) === EMPTY_ID) return true;
      node = right ? node.rightNode : node.leftNode;
    }
    return false;
  }

  /** A child's record (undefined for an empty subtree), linked to its parent above the cache depth. */
  #child(parent: NodeRecord, right: boolean, depth: number, past: number): NodeRecord | undefined {
    const linked = right ? parent.rightNode : parent.leftNode;
    if (linked !== undefined) return linked;
    const id = right ? parent.right : parent.left;
    if (id === EMPTY_ID) return undefined;
    const node = this.#readNode(id, past);
    if (depth < this.#cacheDepth) {
      if (right) parent.rightNode = node;
      else parent.leftNode = node;
    }
    return node;
  }

  /**
   * A node no link reaches, of the committed tree (`past` -1) or of a retained older one
   * (`past` its index: nodes the last `past + 1` commits replaced are still in memory).
   */
  #readNode(id: string, past: number): NodeRecord {
    const unflushed = this.#unflushedNodes.get(id);
    if (unflushed !== undefined) return unflushed;
    const bytes = this.#store.get(nodeStoreKey(id));
    if (bytes !== undefined) return decodeNodeRecord(id, bytes);
    for (let i = 0; i <= past; i++) {
      const kept = this.#past[i]!.nodes.get(id);
      if (kept !== undefined) return kept;
    }
    throw new StateError(
      'STATE_MISSING_NODE',
      `state node ${toHex(idBytes(id))} is missing (wrong store, or a commit's ops were not written)`,
    );
  }
}

function copyOptional(bytes: Uint8Array | undefined): Uint8Array | undefined {
  return bytes === undefined ? undefined : copyBytes(bytes);
}

function toHexSafe(root: unknown): string {
  return root instanceof Uint8Array ? toHex(root) : String(root);
}
