/**
 * Key spaces of the node's LevelDB. Every key starts with one bucket byte. Numbers are never
 * reused or renumbered: a bucket that goes away keeps its number, commented as retired, so an
 * old database can never be misread by new code.
 */
export enum Bucket {
  /** height (u64 BE) -> encoded block (header and transactions), as the ledger encodes it */
  blockByHeight = 1,
  /** Retired: block hash -> height, written by older nodes and never read; left in place. */
  heightByBlockHash = 2,
  /** height (u64 BE) -> commit certificate (the 2f+1 signed COMMITs that finalised the block) */
  commitCertificateByHeight = 3,
  /** transaction hash (32 B) -> location: height (u64 BE) then index in the block (u32 BE) */
  txLocationByHash = 4,
  /** transaction hash (32 B) -> receipt (outcome, error code, events) */
  receiptByTxHash = 5,
  /** ledger state node key (ledger-defined bytes) -> node bytes of the authenticated state */
  state = 6,
  /** Retired, never written: the consensus hard state lives in the WAL (wal.ts). */
  consensusHardState = 7,
  /** name (UTF-8) -> value: schema version, chain id, genesis hash */
  meta = 8,
  /**
   * sequence number (u64 BE) -> canonical {evidence, verified, recordedAt}: equivocations the
   * consensus driver caught, the most recent kept (older ones deleted as new ones come)
   */
  consensusEvidence = 9,
  /**
   * History index (ledger historyKeys -> canonical value): the lists queries page through that
   * are not in the state (a patient's consents, records and audit entries, a record's
   * versions, an organization's providers). Written in each block's batch from the history
   * stored with its receipts, and rebuilt from them when missing (Chain.open).
   */
  historyIndex = 10,
}

/** Bytes are opaque to the database; these sizes are the only structure it knows. */
export const HEIGHT_BYTES = 8;
export const TX_INDEX_BYTES = 4;
