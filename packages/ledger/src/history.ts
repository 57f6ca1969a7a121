import {
  binaryString,
  bytesEqual,
  type Canonical,
  decodeStoredCanonical,
  encodeCanonical,
  taggedHash,
} from '@medchain/crypto';
import type { AuditEntry, RecordVersion } from './model.js';
import type { KeyValueReader } from './state/index.js';

/**
 * History: what transactions did, kept out of the authenticated state because no rule reads
 * it. Execution returns it per transaction (BlockResult.history); the node keeps it in an index
 * beside its blocks, written in the same batch, and the queries page through that index.
 * Completeness of a patient's audit trail stays provable: the state holds an accumulator (a
 * count and a running hash) that every audit entry extends (see {@link auditChainStep}).
 */
export type HistoryItem =
  | { readonly type: 'provider'; readonly org: Uint8Array; readonly provider: Uint8Array }
  | { readonly type: 'record'; readonly patient: Uint8Array; readonly recordId: Uint8Array }
  | { readonly type: 'version'; readonly recordId: Uint8Array; readonly version: RecordVersion }
  | { readonly type: 'consent'; readonly patient: Uint8Array; readonly consentId: Uint8Array }
  | { readonly type: 'audit'; readonly entry: AuditEntry };

export interface ListKeys {
  readonly count: Uint8Array;
  entry(index: number): Uint8Array;
}

/** A list as a counter key plus one key per position, in the canonical encoding of its name. */
function list(...parts: Canonical[]): ListKeys {
  return {
    count: encodeCanonical([...parts, 'n']),
    entry: (index) => encodeCanonical([...parts, index]),
  };
}

/** Keys of the history index (the node's store, not the state): lists paged by position. */
export const historyKeys = {
  organizationProviders: (orgId: Uint8Array) => list('org-providers', orgId),
  recordVersions: (recordId: Uint8Array) => list('record-versions', recordId),
  patientRecords: (patient: Uint8Array) => list('patient-records', patient),
  patientConsents: (patient: Uint8Array) => list('patient-consents', patient),
  patientAudit: (patient: Uint8Array) => list('patient-audit', patient),
} as const;

/** The per-patient audit accumulator in the state (stateKeys.auditAccumulator). */
export interface AuditAccumulator {
  /** Entries in the patient's trail. */
  readonly count: number;
  /** h_count, where h_0 = AUDIT_CHAIN_START and h_n = auditChainStep(h_{n-1}, entry n-1). */
  readonly hash: Uint8Array;
}

/** h_0: the hash of an empty trail. */
export const AUDIT_CHAIN_START: Uint8Array = new Uint8Array(32);

/** h_n = taggedHash('AuditChain', h_{n-1} ‖ canonical bytes of entry n-1). */
export function auditChainStep(previous: Uint8Array, entry: AuditEntry): Uint8Array {
  return taggedHash('AuditChain', previous, encodeCanonical(entry as unknown as Canonical));
}

/**
 * Whether `entries` is a patient's whole audit trail, oldest first, as the accumulator proven
 * in the state says: positions 0..count-1 in order, and the running hash over them equal to
 * the accumulator's. A dropped, reordered, altered or added entry fails.
 */
export function isCompleteAuditTrail(
  entries: readonly AuditEntry[],
  accumulator: AuditAccumulator | undefined,
): boolean {
  const { count, hash } = accumulator ?? { count: 0, hash: AUDIT_CHAIN_START };
  if (entries.length !== count) return false;
  let h = AUDIT_CHAIN_START;
  for (let i = 0; i < entries.length; i++) {
    if (entries[i]!.index !== i) return false;
    h = auditChainStep(h, entries[i]!);
  }
  return bytesEqual(h, hash);
}

/** Where a HistoryIndexWriter puts the index's entries (the node: the block's write batch). */
export type HistoryPut = (key: Uint8Array, value: Uint8Array) => void;

/**
 * Turns history items into writes of the history index, reading what is already indexed from
 * `reader` and the lists' lengths it changed itself from its own buffer (a block may append to
 * a list twice). Entries go to `put` at once, each at a key no other item of the writer takes;
 * the lengths follow with `finish()`. So a block's entries are not all held until it ends (a
 * block of a thousand audit entries kept them through several scavenges, and they were
 * promoted). Positions are the order items are added, except an audit entry's, which is its
 * `index` (the accumulator's count): a node whose history starts at a snapshot leaves the
 * earlier positions empty instead of misnumbering the rest.
 */
export class HistoryIndexWriter {
  readonly #reader: KeyValueReader;
  readonly #put: HistoryPut;
  /** Each changed list's length, by its count key as a binary string. */
  readonly #lengths = new Map<string, { readonly key: Uint8Array; length: number }>();

  constructor(reader: KeyValueReader, put: HistoryPut) {
    this.#reader = reader;
    this.#put = put;
  }

  #append(keys: ListKeys, value: unknown, position?: number): void {
    const id = binaryString(keys.count);
    let counted = this.#lengths.get(id);
    if (counted === undefined) {
      // A given position (an audit entry's accumulator count) lies past every one stored, so
      // the list's length follows from it and the stored length is not read.
      const stored = position === undefined ? this.#reader.get(keys.count) : undefined;
      const length = stored === undefined ? 0 : (decodeStoredCanonical(stored) as number);
      counted = { key: keys.count, length };
      this.#lengths.set(id, counted);
    }
    const at = position ?? counted.length;
    this.#put(keys.entry(at), encodeCanonical(value as Canonical));
    counted.length = Math.max(counted.length, at + 1);
  }

  add(item: HistoryItem): void {
    if (item.type === 'provider') {
      this.#append(historyKeys.organizationProviders(item.org), item.provider);
    } else if (item.type === 'record') {
      this.#append(historyKeys.patientRecords(item.patient), item.recordId);
    } else if (item.type === 'version') {
      this.#append(historyKeys.recordVersions(item.recordId), item.version);
    } else if (item.type === 'consent') {
      this.#append(historyKeys.patientConsents(item.patient), item.consentId);
    } else {
      this.#append(historyKeys.patientAudit(item.entry.patient), item.entry, item.entry.index);
    }
  }

  /** Puts the length of every list the items changed. Call once, after the last `add`. */
  finish(): void {
    for (const { key, length } of this.#lengths.values()) this.#put(key, encodeCanonical(length));
    this.#lengths.clear();
  }
}
