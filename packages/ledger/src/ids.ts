import { taggedHash } from '@medchain/crypto';

/**
 * A record's id, known to the client before the anchor commits: custodian org id, patient key
 * and a nonce the client picks (16 bytes), so two anchors for the same patient never clash.
 */
export function recordId(
  custodian: Uint8Array,
  patient: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  return taggedHash('RecordId', custodian, patient, nonce);
}
