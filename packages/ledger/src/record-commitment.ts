import { assertLength, bytesEqual, sha256, taggedHash } from '@medchain/crypto';

/** A record salt: 256 random bits the anchoring party draws (this package draws none). */
export const RECORD_SALT_BYTES = 32;

/**
 * A record version's anchor (the `contentHash` of record.anchor / record.amend), as a hiding
 * commitment: `H_RecordContent(salt || content)`. Only the custodian's vault keeps the salt,
 * and erasure shreds it, so nobody can test a guessed document against the ledger. The salt
 * has a fixed length, so `salt || content` parses one way only.
 */
export function recordCommitment(salt: Uint8Array, content: Uint8Array): Uint8Array {
  assertLength(salt, RECORD_SALT_BYTES, 'record salt');
  return taggedHash('RecordContent', salt, content);
}

/**
 * The anchor `content` must have: its commitment under `salt`, or, with no salt (a version
 * anchored before salts existed), the plain SHA-256 of the content.
 */
export function recordAnchor(content: Uint8Array, salt?: Uint8Array): Uint8Array {
  return salt === undefined ? sha256(content) : recordCommitment(salt, content);
}

/** Whether `content` (with its salt, if it has one) is what `anchor` commits to. */
export function matchesRecordAnchor(
  anchor: Uint8Array,
  content: Uint8Array,
  salt?: Uint8Array,
): boolean {
  return bytesEqual(recordAnchor(content, salt), anchor);
}
