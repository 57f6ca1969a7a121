import { hash as nodeHash } from 'node:crypto';
import { utf8 } from './bytes.js';

/**
 * Every hash in medchain is taken under one of these domains, so a value hashed for one
 * purpose can never be replayed as another (a tx hash never equals a block hash).
 * Add new domains at the end; never change or reuse a string.
 */
export const HashDomain = {
  Transaction: 'medchain/tx/v1',
  BlockHeader: 'medchain/block-header/v1',
  MerkleLeaf: 'medchain/merkle-leaf/v1',
  MerkleNode: 'medchain/merkle-node/v1',
  StateLeaf: 'medchain/state-leaf/v1',
  StateNode: 'medchain/state-node/v1',
  StateKey: 'medchain/state-key/v1',
  ConsensusMessage: 'medchain/consensus-msg/v1',
  ValidatorSet: 'medchain/validator-set/v1',
  Checkpoint: 'medchain/checkpoint/v1',
  AccessRequest: 'medchain/access-request/v1',
  RecordContent: 'medchain/record-content/v1',
  EnvelopeKey: 'medchain/envelope-key/v1',
  Keystore: 'medchain/keystore/v1',
  MerkleRoot: 'medchain/merkle-root/v1',
  KeystoreChecksum: 'medchain/keystore-checksum/v1',
  RecordId: 'medchain/record-id/v1',
} as const;

export type HashDomainName = keyof typeof HashDomain;

/** Prefix per domain: one length byte then the tag, so no tag is a prefix of another's input. */
const domainPrefixes = new Map<string, Buffer>(
  Object.values(HashDomain).map((tag) => {
    const tagBytes = utf8(tag);
    return [tag, Buffer.concat([Buffer.from([tagBytes.length]), tagBytes])];
  }),
);

/** Plain SHA-256, for interoperable digests (FHIR content hashes, test vectors). */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeHash('sha256', data, 'buffer'));
}

/** Inputs up to this size are assembled in one reused buffer instead of a fresh concat. */
const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

/** SHA-256 over `len(tag) || tag || data`, with the tag taken from {@link HashDomain}. */
export function taggedHash(domain: HashDomainName, ...parts: Uint8Array[]): Uint8Array {
  const prefix = domainPrefixes.get(HashDomain[domain])!;
  let length = prefix.length;
  for (const part of parts) length += part.length;
  if (length > SCRATCH_BYTES) {
    return new Uint8Array(nodeHash('sha256', Buffer.concat([prefix, ...parts]), 'buffer'));
  }
  // Hashing is synchronous, so one module-level scratch buffer is never shared by two calls;
  // it spares the state tree an off-heap Buffer pool every few dozen hashes.
  prefix.copy(scratch, 0);
  let offset = prefix.length;
  for (const part of parts) {
    scratch.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(nodeHash('sha256', scratch.subarray(0, length), 'buffer'));
}
