import { CodedError, compareBytes, decodeCanonical, encodeCanonical } from '@medchain/crypto';
import { NODE_PREFIX, VALUE_PREFIX } from '@medchain/ledger';

/*
 * Wire format of state sync on the sync protocol (canonical msgpack, like block sync):
 *
 *   offer request  {snapshot: true}
 *   offer          {height, stateRoot}            the snapshot the peer can serve now
 *   page request   {snapshot: height, after?}     entries with store key > after, in key order
 *   page           {height, stateRoot, entries: [[key, value]...], done}
 *
 * A page request names the snapshot by height only (the sync protocol takes requests of at
 * most 64 bytes; a root would not fit beside the cursor); the page carries the root back and
 * the client checks it. Keys are the ledger's state store keys: a prefix byte ('n' node,
 * 'v' value) then a 32-byte hash.
 */

export type StateSyncErrorCode =
  /** A snapshot request that does not parse (the peer gets an aborted stream). */
  | 'STATE_SYNC_BAD_REQUEST'
  /** An offer or page that does not parse or does not match what was asked. */
  | 'STATE_SYNC_BAD_RESPONSE'
  /** The peer holds no snapshot (at that height). */
  | 'STATE_SYNC_UNAVAILABLE'
  /** Entries that fail their hash checks, or a tree with parts missing. */
  | 'STATE_SYNC_REFUSED'
  /** The validator set changed since the set this node knows: it cannot check certificates. */
  | 'STATE_SYNC_VALIDATORS_CHANGED'
  /** The download passed its byte, failure or time budget. */
  | 'STATE_SYNC_LIMIT';

export class StateSyncError extends CodedError<StateSyncErrorCode> {
  override readonly name = 'StateSyncError';
}

/** A store key: prefix byte + 32-byte hash. */
export const SNAPSHOT_KEY_BYTES = 33;
/** What a server puts in one page before it stops (at least one entry always goes in). */
export const SNAPSHOT_PAGE_BYTES = 1024 * 1024;
/** Largest stored value a page may carry (ledger values are far smaller). */
export const SNAPSHOT_MAX_ENTRY_BYTES = 4 * 1024 * 1024;
/** Largest page a client accepts: a full page plus one entry of the largest size, framed. */
export const SNAPSHOT_MAX_PAGE_BYTES = 2 * SNAPSHOT_MAX_ENTRY_BYTES + SNAPSHOT_PAGE_BYTES;
/** Largest snapshot request (the snapshots protocol's request limit). */
export const SNAPSHOT_MAX_REQUEST_BYTES = 64;

export type SnapshotRequest =
  | { readonly kind: 'offer' }
  | { readonly kind: 'page'; readonly height: number; readonly after: Uint8Array | null };

export interface SnapshotOffer {
  readonly height: number;
  readonly stateRoot: Uint8Array;
}

export type SnapshotEntry = readonly [key: Uint8Array, value: Uint8Array];

export interface SnapshotPage {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  /** Strictly increasing keys. */
  readonly entries: readonly SnapshotEntry[];
  /** No entries after the last one. */
  readonly done: boolean;
}

export function encodeSnapshotRequest(request: SnapshotRequest = { kind: 'offer' }): Uint8Array {
  if (request.kind === 'offer') return encodeCanonical({ snapshot: true });
  return encodeCanonical(
    request.after === null
      ? { snapshot: request.height }
      : { snapshot: request.height, after: request.after },
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHeight(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * The snapshot request in `bytes`, or null when it is not one (a blocks request, or bytes
 * that do not decode: the blocks decoder reports those). Throws STATE_SYNC_BAD_REQUEST for a
 * map with a `snapshot` field that is not a valid snapshot request.
 */
export function decodeSnapshotRequest(bytes: Uint8Array): SnapshotRequest | null {
  let value: unknown;
  try {
    value = decodeCanonical(bytes);
  } catch {
    return null;
  }
  if (!isRecord(value) || !('snapshot' in value)) return null;
  const bad = (why: string) =>
    new StateSyncError('STATE_SYNC_BAD_REQUEST', `malformed snapshot request: ${why}`);
  if (bytes.length > SNAPSHOT_MAX_REQUEST_BYTES) throw bad('too long');
  const keys = Object.keys(value);
  const { snapshot, after } = value;
  if (snapshot === true) {
    if (keys.length !== 1) throw bad('an offer request has no other field');
    return { kind: 'offer' };
  }
  if (!isHeight(snapshot) || snapshot < 1) throw bad('snapshot is true or a height >= 1');
  if (keys.some((key) => key !== 'snapshot' && key !== 'after')) throw bad('unknown field');
  if (after === undefined) return { kind: 'page', height: snapshot, after: null };
  if (!(after instanceof Uint8Array) || after.length !== SNAPSHOT_KEY_BYTES) {
    throw bad(`after is a ${SNAPSHOT_KEY_BYTES}-byte store key`);
  }
  return { kind: 'page', height: snapshot, after };
}

export function encodeSnapshotOffer(offer: SnapshotOffer): Uint8Array {
  return encodeCanonical({ height: offer.height, stateRoot: offer.stateRoot });
}

function badResponse(why: string): StateSyncError {
  return new StateSyncError('STATE_SYNC_BAD_RESPONSE', `malformed snapshot response: ${why}`);
}

function decodeResponseFields(bytes: Uint8Array, fields: readonly string[]) {
  if (bytes.length > SNAPSHOT_MAX_PAGE_BYTES) throw badResponse('too large');
  let value: unknown;
  try {
    value = decodeCanonical(bytes);
  } catch (error) {
    throw badResponse((error as Error).message);
  }
  if (!isRecord(value)) throw badResponse('not a map');
  const keys = Object.keys(value);
  if (keys.length !== fields.length || !fields.every((field) => keys.includes(field))) {
    throw badResponse(`fields are ${fields.join(', ')}`);
  }
  if (!isHeight(value.height) || value.height < 1) throw badResponse('height');
  if (!(value.stateRoot instanceof Uint8Array) || value.stateRoot.length !== 32) {
    throw badResponse('stateRoot');
  }
  return value as Record<string, unknown> & { height: number; stateRoot: Uint8Array };
}

export function decodeSnapshotOffer(bytes: Uint8Array): SnapshotOffer {
  const value = decodeResponseFields(bytes, ['height', 'stateRoot']);
  return { height: value.height, stateRoot: value.stateRoot };
}

export function encodeSnapshotPage(page: SnapshotPage): Uint8Array {
  return encodeCanonical({
    height: page.height,
    stateRoot: page.stateRoot,
    entries: page.entries.map(([key, value]) => [key, value]),
    done: page.done,
  });
}

function isStoreKey(key: unknown): key is Uint8Array {
  return (
    key instanceof Uint8Array &&
    key.length === SNAPSHOT_KEY_BYTES &&
    (key[0] === NODE_PREFIX || key[0] === VALUE_PREFIX)
  );
}

/** Shape checks only: store keys, strictly increasing, bounded values. */
export function decodeSnapshotPage(bytes: Uint8Array): SnapshotPage {
  const value = decodeResponseFields(bytes, ['height', 'stateRoot', 'entries', 'done']);
  const { entries, done } = value;
  if (typeof done !== 'boolean') throw badResponse('done');
  if (!Array.isArray(entries)) throw badResponse('entries');
  let previous: Uint8Array | undefined;
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) throw badResponse('an entry is [key, value]');
    const [key, stored] = entry as unknown[];
    if (!isStoreKey(key)) throw badResponse('an entry key is not a state store key');
    if (!(stored instanceof Uint8Array) || stored.length > SNAPSHOT_MAX_ENTRY_BYTES) {
      throw badResponse('an entry value is not bytes of a bounded size');
    }
    if (previous !== undefined && compareBytes(previous, key) >= 0) {
      throw badResponse('entry keys are not strictly increasing');
    }
    previous = key;
  }
  return {
    height: value.height,
    stateRoot: value.stateRoot,
    entries: entries as SnapshotEntry[],
    done,
  };
}
