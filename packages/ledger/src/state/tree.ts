import {
  binaryString,
  sha256,
  sha256Binary,
  taggedHash,
  taggedHashBinary,
  toHex,
} from '@medchain/crypto';
import { StateError } from './errors.js';

/**
 * The tree. Every key sits on the 256-bit path `taggedHash('StateKey', key)` (bit 0 = most
 * significant bit of byte 0 = the root's branch; 0 goes left). The hash of a subtree is a
 * function of the (key, value) pairs under it only:
 * - no pair: the empty hash (32 zero bytes);
 * - one pair: its leaf hash `taggedHash('StateLeaf', keyHash, sha256(value))`, whatever the
 *   depth, so a lone leaf sits at the highest level where it is alone;
 * - two or more: `taggedHash('StateNode', leftHash, rightHash)`.
 * With hashed (uniform) keys a tree of n pairs is about log2(n) levels deep, so an update
 * costs about log2(n) hashes instead of 256.
 */
export const HASH_LENGTH = 32;

const EMPTY_HASH = new Uint8Array(HASH_LENGTH);

/** The root of the empty map. (A copy: callers may mutate it without harm.) */
export const EMPTY_STATE_ROOT: Uint8Array = EMPTY_HASH.slice();

/** Deepest possible leaf: two paths that differ only in their last bit split at depth 255. */
export const MAX_DEPTH = 256;

/** A plain Uint8Array copy, also of a Buffer (whose `slice` returns a view, not a copy). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function isEmptyHash(hash: Uint8Array): boolean {
  // A plain loop: this runs twice per node built, and a real hash fails on its first bytes.
  if (hash.length !== HASH_LENGTH) return false;
  for (let i = 0; i < HASH_LENGTH; i++) if (hash[i] !== 0) return false;
  return true;
}

export function emptyHash(): Uint8Array {
  return EMPTY_HASH;
}

/** The path of a key in the tree. */
export function stateKeyHash(key: Uint8Array): Uint8Array {
  return taggedHash('StateKey', key);
}

/** Plain SHA-256, so a light client that holds a value can check it with any library. */
export function stateValueHash(value: Uint8Array): Uint8Array {
  return sha256(value);
}

export function stateLeafHash(keyHash: Uint8Array, valueHash: Uint8Array): Uint8Array {
  return taggedHash('StateLeaf', keyHash, valueHash);
}

export function stateNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return taggedHash('StateNode', left, right);
}

/** Bit `depth` of a path: 0 = left, 1 = right. */
export function pathBit(path: Uint8Array, depth: number): number {
  return (path[depth >> 3]! >> (7 - (depth & 7))) & 1;
}

/** Whether two paths agree on their first `bits` bits. */
export function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ b[whole]!) & mask) === 0;
}

/**
 * Storage layout, under the node's "state" bucket. Nodes are content-addressed, which is
 * safe without reference counts because a node's hash fixes its position: a leaf's hash
 * binds its key hash, and an inner node's hash binds two leaves whose paths split at a known
 * depth. So one version of the tree never holds the same node twice.
 * - `0x6e ('n') || nodeHash` -> node (64 or 65 bytes, below)
 * - `0x76 ('v') || keyHash`  -> the value itself, so `get` is one point read.
 */
export const NODE_PREFIX = 0x6e;
export const VALUE_PREFIX = 0x76;

/**
 * Inside the state a hash is an id: the same 32 bytes as a binary string (one char per byte,
 * `binaryString` form). Ids are born as strings from the hasher and serve as Map keys as they
 * are, so a commit allocates no byte array per hash; bytes are made only for the store's ops
 * and for proofs. String order of ids is byte order.
 */
export const EMPTY_ID: string = binaryString(EMPTY_HASH);

/** `key` as bytes, or as their binary string. */
export function stateKeyId(key: Uint8Array | string): string {
  return taggedHashBinary('StateKey', key);
}

export function stateValueId(value: Uint8Array): string {
  return sha256Binary(value);
}

export function stateLeafId(keyId: string, valueId: string): string {
  return taggedHashBinary('StateLeaf', keyId, valueId);
}

export function stateNodeId(left: string, right: string): string {
  return taggedHashBinary('StateNode', left, right);
}

/** Bit `depth` of an id's path: 0 = left, 1 = right. */
export function idBit(id: string, depth: number): number {
  return (id.charCodeAt(depth >> 3) >> (7 - (depth & 7))) & 1;
}

/** The 32 bytes of an id, as a fresh array. */
export function idBytes(id: string): Uint8Array {
  const bytes = new Uint8Array(HASH_LENGTH);
  putId(bytes, 0, id);
  return bytes;
}

function putId(target: Uint8Array, at: number, id: string): void {
  for (let i = 0; i < HASH_LENGTH; i++) target[at + i] = id.charCodeAt(i);
}

function prefixedId(prefix: number, id: string): Uint8Array {
  const key = new Uint8Array(1 + HASH_LENGTH);
  key[0] = prefix;
  putId(key, 1, id);
  return key;
}

export function nodeStoreKey(nodeId: string): Uint8Array {
  return prefixedId(NODE_PREFIX, nodeId);
}

export function valueStoreKey(keyId: string): Uint8Array {
  return prefixedId(VALUE_PREFIX, keyId);
}

/**
 * Node encodings, told apart by length: an inner node is its two child hashes (64 bytes,
 * which V8 keeps on its heap: most new nodes are inner), a leaf is a tag byte then its key
 * hash and value hash (65 bytes).
 */
const INNER_LENGTH = 2 * HASH_LENGTH;
const LEAF_LENGTH = 1 + 2 * HASH_LENGTH;
const LEAF_TAG = 1;

export type TreeNode =
  | { readonly kind: 'inner'; readonly left: Uint8Array; readonly right: Uint8Array }
  | { readonly kind: 'leaf'; readonly keyHash: Uint8Array; readonly valueHash: Uint8Array };

/**
 * A node as the state holds it in memory: ids, not bytes. A leaf keeps its key hash in
 * `left` and its value hash in `right`. An inner node links the records of its children
 * once they are read (the state links only the upper levels, see `cacheDepth`), so a walk
 * down the upper tree reads no Map. Ids never change; only the links are filled in.
 */
export class NodeRecord {
  leftNode: NodeRecord | undefined = undefined;
  rightNode: NodeRecord | undefined = undefined;

  constructor(
    readonly leaf: boolean,
    readonly left: string,
    readonly right: string,
  ) {}
}

export function encodeNodeRecord(node: NodeRecord): Uint8Array {
  if (!node.leaf) {
    const bytes = new Uint8Array(INNER_LENGTH);
    putId(bytes, 0, node.left);
    putId(bytes, HASH_LENGTH, node.right);
    return bytes;
  }
  const bytes = new Uint8Array(LEAF_LENGTH);
  bytes[0] = LEAF_TAG;
  putId(bytes, 1, node.left);
  putId(bytes, 1 + HASH_LENGTH, node.right);
  return bytes;
}

function corruptNode(hash: Uint8Array | string): StateError {
  const hex = toHex(typeof hash === 'string' ? idBytes(hash) : hash);
  return new StateError('STATE_CORRUPT_NODE', `stored node ${hex} does not decode`);
}

/** A stored node as a record; its ids are slices of one string of the stored bytes. */
export function decodeNodeRecord(id: string, bytes: Uint8Array): NodeRecord {
  if (bytes.length === INNER_LENGTH) {
    const text = binaryString(bytes);
    return new NodeRecord(false, text.slice(0, HASH_LENGTH), text.slice(HASH_LENGTH));
  }
  if (bytes.length === LEAF_LENGTH && bytes[0] === LEAF_TAG) {
    const text = binaryString(bytes);
    return new NodeRecord(true, text.slice(1, 1 + HASH_LENGTH), text.slice(1 + HASH_LENGTH));
  }
  throw corruptNode(id);
}

export function decodeNode(hash: Uint8Array, bytes: Uint8Array): TreeNode {
  // Copies, not views: 32-byte arrays live on the V8 heap, while a view would pin the
  // store's (often pooled, off-heap) buffer for as long as the node is kept.
  if (bytes.length === INNER_LENGTH) {
    return { kind: 'inner', left: copyHash(bytes, 0), right: copyHash(bytes, HASH_LENGTH) };
  }
  if (bytes.length === LEAF_LENGTH && bytes[0] === LEAF_TAG) {
    return {
      kind: 'leaf',
      keyHash: copyHash(bytes, 1),
      valueHash: copyHash(bytes, 1 + HASH_LENGTH),
    };
  }
  throw corruptNode(hash);
}

/** `bytes[at..at+32)` as a new array, without the intermediate view `subarray` would allocate. */
function copyHash(bytes: Uint8Array, at: number): Uint8Array {
  const hash = new Uint8Array(HASH_LENGTH);
  for (let i = 0; i < HASH_LENGTH; i++) hash[i] = bytes[at + i]!;
  return hash;
}
