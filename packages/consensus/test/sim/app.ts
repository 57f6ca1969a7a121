import { concatBytes, decodeCanonical, encodeCanonical, sha256, utf8 } from '@medchain/crypto';
import type { AppliedBlock, ConsensusApplication, Proposal } from '../../src/index.js';

/** What a simulated block says: its height, who built it, a nonce, maybe a new validator set. */
export interface SimBlock {
  readonly height: number;
  readonly proposer: number;
  readonly nonce: number;
  /** Node indices of the next validator set, in rotation order. */
  readonly validators?: readonly number[];
}

export function encodeBlock(block: SimBlock): Uint8Array {
  const fields: { [key: string]: number | number[] } = {
    height: block.height,
    proposer: block.proposer,
    nonce: block.nonce,
  };
  if (block.validators !== undefined) fields.validators = [...block.validators];
  return encodeCanonical(fields);
}

export function decodeBlock(payload: Uint8Array): SimBlock | null {
  try {
    const value = decodeCanonical(payload) as Record<string, unknown>;
    const { height, proposer, nonce, validators } = value;
    if (!Number.isSafeInteger(height) || !Number.isSafeInteger(proposer)) return null;
    if (!Number.isSafeInteger(nonce)) return null;
    const keys = Object.keys(value).length;
    if (validators === undefined) {
      if (keys !== 3) return null;
      return { height: height as number, proposer: proposer as number, nonce: nonce as number };
    }
    if (keys !== 4 || !Array.isArray(validators)) return null;
    if (!validators.every((v) => Number.isSafeInteger(v))) return null;
    return {
      height: height as number,
      proposer: proposer as number,
      nonce: nonce as number,
      validators: validators as number[],
    };
  } catch {
    return null;
  }
}

export function blockDigest(payload: Uint8Array): Uint8Array {
  return sha256(payload);
}

export function proposalOf(block: SimBlock): Proposal {
  const payload = encodeBlock(block);
  return { digest: blockDigest(payload), payload };
}

/** The rules every simulated node applies: blocks name their height; sets name existing nodes. */
export function simApplication(nodeCount: number): ConsensusApplication {
  return {
    digestOf: blockDigest,
    validateProposal(height, payload) {
      const block = decodeBlock(payload);
      if (block === null || block.height !== height) return false;
      if (block.validators === undefined) return true;
      const set = new Set(block.validators);
      return (
        block.validators.length > 0 &&
        set.size === block.validators.length &&
        block.validators.every((v) => v >= 0 && v < nodeCount)
      );
    },
  };
}

/** A node's application state: a hash chain over applied blocks, and its validator schedule. */
export class SimState {
  root: Uint8Array = sha256(utf8('sim-genesis'));
  height = 0;

  apply(
    height: number,
    payload: Uint8Array,
    keyOf: (index: number) => Uint8Array,
  ): AppliedBlock & { block: SimBlock | null } {
    if (height !== this.height + 1) throw new Error(`sim: applying ${height} after ${this.height}`);
    this.height = height;
    this.root = sha256(concatBytes(this.root, blockDigest(payload)));
    const block = decodeBlock(payload);
    if (block?.validators !== undefined) {
      return { stateRoot: this.root, nextValidators: block.validators.map(keyOf), block };
    }
    return { stateRoot: this.root, block };
  }
}
