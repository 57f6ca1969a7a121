export {
  AuthenticatedState,
  type AuthenticatedStateOptions,
  type StateCommit,
  StateOps,
} from './authenticated-state.js';
export { StateError, type StateErrorCode } from './errors.js';
export {
  decodeStateProof,
  encodeStateProof,
  MAX_STATE_PROOF_BYTES,
  type StateProof,
  type StateProofLeaf,
  verifyStateProof,
} from './proof.js';
export { SlabStore } from './slab-store.js';
export { type KeyValueReader, type KeyValueStore, MemoryStore, type WriteOp } from './store.js';
export {
  decodeNode as decodeStateNode,
  EMPTY_STATE_ROOT,
  NODE_PREFIX,
  stateKeyHash,
  stateLeafHash,
  stateNodeHash,
  stateValueHash,
  type TreeNode as StateNode,
  VALUE_PREFIX,
} from './tree.js';
