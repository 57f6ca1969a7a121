import {
  bytesEqual,
  type Canonical,
  CryptoError,
  decodeCanonical,
  encodeCanonical,
} from '@medchain/crypto';
import { StateError } from './errors.js';
import {
  emptyHash,
  HASH_LENGTH,
  isEmptyHash,
  MAX_DEPTH,
  pathBit,
  samePrefix,
  stateKeyHash,
  stateLeafHash,
  stateNodeHash,
  stateValueHash,
} from './tree.js';

/**
 * The path from the root down to where a key's walk ends: at its own leaf (inclusion), at an
 * empty subtree, or at the lone leaf of another key whose path shares the first `depth` bits
 * (both non-inclusion). Only non-empty siblings travel; `bitmap` says which levels have one.
 * Each proof has one form: the deepest sibling is never empty (the walk would have ended a
 * level higher) and the bitmap's padding bits are zero.
 */
export type StateProof = {
  /** Levels walked from the root, 0..256. */
  readonly depth: number;
  /** ceil(depth / 8) bytes; bit i (most significant first) is set when the sibling at depth i is non-empty. */
  readonly bitmap: Uint8Array;
  /** The non-empty siblings, root side first. */
  readonly siblings: readonly Uint8Array[];
  /** Present only when the walk ended at another key's leaf. */
  readonly leaf?: StateProofLeaf;
};

export type StateProofLeaf = {
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array;
};

/** Generous bound on an encoded proof (256 siblings take about 8.8 KB), checked before decoding. */
export const MAX_STATE_PROOF_BYTES = 16 * 1024;

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_LENGTH;
}

function bitmapBit(bitmap: Uint8Array, depth: number): boolean {
  return pathBit(bitmap, depth) === 1;
}

/** Why `proof` is not a proof in its one canonical form, or undefined when it is. */
function proofDefect(proof: unknown): string | undefined {
  if (typeof proof !== 'object' || proof === null) return 'not an object';
  const { depth, bitmap, siblings, leaf } = proof as Record<string, unknown>;
  if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) {
    return `depth must be an integer in 0..${MAX_DEPTH}`;
  }
  if (!(bitmap instanceof Uint8Array) || bitmap.length !== Math.ceil(depth / 8)) {
    return 'bitmap must hold one bit per level';
  }
  let nonEmpty = 0;
  for (let i = 0; i < bitmap.length * 8; i++) {
    if (!bitmapBit(bitmap, i)) continue;
    if (i >= depth) return 'bitmap padding bits must be zero';
    nonEmpty++;
  }
  if (depth > 0 && !bitmapBit(bitmap, depth - 1)) return 'the deepest sibling cannot be empty';
  if (!Array.isArray(siblings) || siblings.length !== nonEmpty) {
    return 'siblings must match the bitmap';
  }
  for (const sibling of siblings) {
    if (!isHash(sibling) || isEmptyHash(sibling))
      return 'a sibling must be a non-empty 32-byte hash';
  }
  if (leaf !== undefined) {
    if (typeof leaf !== 'object' || leaf === null) return 'leaf must be an object';
    const { keyHash, valueHash } = leaf as Record<string, unknown>;
    if (!isHash(keyHash) || !isHash(valueHash)) return 'leaf hashes must be 32 bytes';
  }
  return undefined;
}

/**
 * Checks that `root` maps `key` to `value` (or, with `value` undefined, that it holds no
 * value for `key`). Standalone for light clients; returns false on any malformed input.
 */
export function verifyStateProof(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array | undefined,
  proof: StateProof,
): boolean {
  try {
    if (!isHash(root) || !(key instanceof Uint8Array)) return false;
    if (value !== undefined && (!(value instanceof Uint8Array) || value.length === 0)) return false;
    if (proofDefect(proof) !== undefined) return false;
    const { depth, bitmap, siblings, leaf } = proof;
    const keyHash = stateKeyHash(key);
    let hash: Uint8Array;
    if (value !== undefined) {
      if (leaf !== undefined) return false;
      hash = stateLeafHash(keyHash, stateValueHash(value));
    } else if (leaf !== undefined) {
      // Another key's lone leaf on this key's path: it must really lie on the path.
      if (bytesEqual(leaf.keyHash, keyHash) || !samePrefix(leaf.keyHash, keyHash, depth)) {
        return false;
      }
      hash = stateLeafHash(leaf.keyHash, leaf.valueHash);
    } else {
      hash = emptyHash();
    }
    let next = siblings.length;
    for (let d = depth - 1; d >= 0; d--) {
      const sibling = bitmapBit(bitmap, d) ? siblings[--next]! : emptyHash();
      hash =
        pathBit(keyHash, d) === 0 ? stateNodeHash(hash, sibling) : stateNodeHash(sibling, hash);
    }
    return bytesEqual(hash, root);
  } catch {
    // Only hostile objects (throwing getters, proxies) get here; a verifier answers, never throws.
    return false;
  }
}

function badProof(why: string): StateError {
  return new StateError('STATE_BAD_PROOF', `malformed state proof: ${why}`);
}

/** Canonical bytes of a well-formed proof (throws STATE_BAD_PROOF for anything else). */
export function encodeStateProof(proof: StateProof): Uint8Array {
  const defect = proofDefect(proof);
  if (defect !== undefined) throw badProof(defect);
  const body: Record<string, Canonical> = {
    depth: proof.depth,
    bitmap: proof.bitmap,
    siblings: [...proof.siblings],
  };
  if (proof.leaf !== undefined) {
    body.leaf = { keyHash: proof.leaf.keyHash, valueHash: proof.leaf.valueHash };
  }
  return encodeCanonical(body);
}

const PROOF_FIELDS = new Set(['depth', 'bitmap', 'siblings', 'leaf']);
const LEAF_FIELDS = new Set(['keyHash', 'valueHash']);

function onlyFields(value: object, allowed: ReadonlySet<string>): boolean {
  return Object.keys(value).every((field) => allowed.has(field));
}

/** Parses bytes from {@link encodeStateProof}; any other bytes throw STATE_BAD_PROOF. */
export function decodeStateProof(bytes: Uint8Array): StateProof {
  if (!(bytes instanceof Uint8Array)) throw badProof('expected bytes');
  if (bytes.length > MAX_STATE_PROOF_BYTES)
    throw badProof(`longer than ${MAX_STATE_PROOF_BYTES} bytes`);
  let decoded: Canonical;
  try {
    decoded = decodeCanonical(bytes);
  } catch (error) {
    if (error instanceof CryptoError) throw badProof(error.message);
    throw error;
  }
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    Array.isArray(decoded) ||
    decoded instanceof Uint8Array
  ) {
    throw badProof('not a map');
  }
  if (!onlyFields(decoded, PROOF_FIELDS)) throw badProof('unknown field');
  const leaf = (decoded as Record<string, Canonical>).leaf;
  if (
    leaf !== undefined &&
    (typeof leaf !== 'object' || leaf === null || !onlyFields(leaf, LEAF_FIELDS))
  ) {
    throw badProof('leaf must hold exactly keyHash and valueHash');
  }
  const defect = proofDefect(decoded);
  if (defect !== undefined) throw badProof(defect);
  return decoded as unknown as StateProof;
}
