import { concatBytes, utf8 } from './bytes.js';
import * as platform from './platform/node.js';

export { sha256, sha256Binary } from './platform/node.js';

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
  AuditChain: 'medchain/audit-chain/v1',
} as const;

export type HashDomainName = keyof typeof HashDomain;

/** Prefix per domain: one length byte then the tag, so no tag is a prefix of another's input. */
const domainPrefixes = new Map<string, Uint8Array>(
  Object.values(HashDomain).map((tag) => {
    const tagBytes = utf8(tag);
    return [tag, concatBytes(Uint8Array.of(tagBytes.length), tagBytes)];
  }),
);

/** SHA-256 over `len(tag) || tag || data`, with the tag taken from {@link HashDomain}. */
export function taggedHash(domain: HashDomainName, ...parts: Uint8Array[]): Uint8Array {
  return platform.sha256Prefixed(domainPrefixes.get(HashDomain[domain])!, parts);
}

/**
 * {@link taggedHash} of one or two parts, with parts and digest as binary strings (one char
 * per byte, as `binaryString` gives; byte arrays are accepted too). For hot loops that keep
 * hashes as Map keys (the state tree): it allocates no byte array.
 */
export function taggedHashBinary(
  domain: HashDomainName,
  first: Uint8Array | string,
  second?: Uint8Array | string,
): string {
  return platform.sha256PrefixedBinary(domainPrefixes.get(HashDomain[domain])!, first, second);
}
