import { concatBytes, sha256, utf8 } from '@medchain/crypto';

/**
 * Hash domain for record ids. It is the ledger's own tag (crypto's HashDomain has no entry for
 * it); it follows taggedHash's layout, `len(tag) || tag || data`, so it cannot collide with it.
 */
export const RECORD_ID_TAG = 'medchain/record-id/v1';
const recordIdPrefix = concatBytes(Uint8Array.of(utf8(RECORD_ID_TAG).length), utf8(RECORD_ID_TAG));

/**
 * A record's id, known to the client before the anchor commits: custodian org id, patient key
 * and a nonce the client picks (16 bytes), so two anchors for the same patient never clash.
 */
export function recordId(
  custodian: Uint8Array,
  patient: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  return sha256(concatBytes(recordIdPrefix, custodian, patient, nonce));
}
