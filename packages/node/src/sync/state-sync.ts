import { setTimeout as sleep } from 'node:timers/promises';
import { decodeMessage, verifyCommitCertificate } from '@medchain/consensus';
import {
  bytesEqual,
  concatBytes,
  decodeCanonical,
  encodeCanonical,
  toHex,
  verify,
} from '@medchain/crypto';
import {
  type Block,
  decodeBlock,
  decodeStateNode,
  EMPTY_STATE_ROOT,
  headerHash,
  NODE_PREFIX,
  stateLeafHash,
  stateNodeHash,
  stateValueHash,
  VALUE_PREFIX,
} from '@medchain/ledger';
import type { Chain } from '../chain/chain.js';
import type { ChainHead } from '../chain/codec.js';
import { Bucket, type Database } from '../db/index.js';
import type { Logger } from '../logger.js';
import type { RequestProtocol } from '../net/request-protocol.js';
import {
  decodeBlocksResponse,
  encodeBlocksRequest,
  SYNC_MAX_RESPONSE_BYTES,
} from './block-sync.js';

/*
 * State sync for a fresh node: instead of replaying every block from height 1, it takes a
 * peer's state at that peer's head h, and trusts it only after checking it against a root
 * 2f+1 validators signed: block h+1's header carries the state root after h, and block h+1's
 * commit certificate signs that header. Every tree node's hash is recomputed from its bytes
 * down from the root, and every value against its leaf, so a peer can only send the state
 * the validators certified (or be ignored). The node then starts consensus at h+1.
 */

export function encodeSnapshotRequest(): Uint8Array {
  return encodeCanonical({ snapshot: true });
}

export function isSnapshotRequest(bytes: Uint8Array): boolean {
  try {
    const value = decodeCanonical(bytes) as Record<string, unknown>;
    return value?.snapshot === true && Object.keys(value).length === 1;
  } catch {
    return false;
  }
}

export interface Snapshot {
  readonly height: number;
  readonly stateRoot: Uint8Array;
  /** Raw entries of the state bucket (ledger store keys and values). */
  readonly entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>;
}

/**
 * The state bucket as of the chain head, read through one LevelDB iterator (a consistent
 * snapshot), taken between block writes, so the entries always belong to `height`.
 */
export async function serveSnapshot(chain: Chain, db: Database): Promise<Uint8Array> {
  // Wait for a block batch in flight to land: head and iterator must see the same state.
  for (let waited = 0; chain.writing; waited++) {
    if (waited >= 400) throw new Error('blocks are being stored back to back; ask again');
    await sleep(5);
  }
  const height = chain.height;
  const stateRoot = chain.stateRoot;
  const iterator = db.entries(Bucket.state);
  const entries: [Uint8Array, Uint8Array][] = [];
  let bytes = 0;
  // The first next() creates the LevelDB iterator (and its snapshot) synchronously, now.
  for (let item = await iterator.next(); !item.done; item = await iterator.next()) {
    const [key, value] = item.value;
    bytes += key.length + value.length + 8;
    if (bytes > SYNC_MAX_RESPONSE_BYTES - 1024) {
      await iterator.return(undefined);
      throw new Error('the state is larger than one sync response');
    }
    entries.push([key, value]);
  }
  return encodeCanonical({ height, stateRoot, entries });
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const value = decodeCanonical(bytes) as Record<string, unknown>;
  const { height, stateRoot, entries } = value ?? {};
  if (
    !Number.isSafeInteger(height) ||
    (height as number) < 0 ||
    !(stateRoot instanceof Uint8Array) ||
    stateRoot.length !== 32 ||
    !Array.isArray(entries) ||
    !entries.every(
      (entry) =>
        Array.isArray(entry) &&
        entry.length === 2 &&
        entry[0] instanceof Uint8Array &&
        entry[1] instanceof Uint8Array,
    )
  ) {
    throw new Error('malformed snapshot');
  }
  return { height: height as number, stateRoot, entries: entries as [Uint8Array, Uint8Array][] };
}

function storeKey(prefix: number, hash: Uint8Array): string {
  return toHex(concatBytes(Uint8Array.of(prefix), hash));
}

/**
 * Walks the tree under `root` through the snapshot's entries, recomputing every node hash
 * and value hash (nodes decoded by the ledger's `decodeStateNode`). Returns exactly the
 * reachable entries; throws if anything is missing or wrong.
 */
export function verifySnapshotEntries(
  root: Uint8Array,
  entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
): Array<readonly [Uint8Array, Uint8Array]> {
  const byKey = new Map<string, readonly [Uint8Array, Uint8Array]>();
  for (const entry of entries) byKey.set(toHex(entry[0]), entry);
  const kept: Array<readonly [Uint8Array, Uint8Array]> = [];
  const pending: Uint8Array[] = bytesEqual(root, EMPTY_STATE_ROOT) ? [] : [root];
  while (pending.length > 0) {
    const hash = pending.pop()!;
    const entry = byKey.get(storeKey(NODE_PREFIX, hash));
    if (entry === undefined) throw new Error(`snapshot lacks node ${toHex(hash)}`);
    const node = decodeStateNode(hash, entry[1]);
    if (node.kind === 'inner') {
      if (!bytesEqual(stateNodeHash(node.left, node.right), hash)) {
        throw new Error('inner node hash mismatch');
      }
      for (const child of [node.left, node.right]) {
        if (!bytesEqual(child, EMPTY_STATE_ROOT)) pending.push(child);
      }
    } else {
      if (!bytesEqual(stateLeafHash(node.keyHash, node.valueHash), hash)) {
        throw new Error('leaf hash mismatch');
      }
      const value = byKey.get(storeKey(VALUE_PREFIX, node.keyHash));
      if (value === undefined || !bytesEqual(stateValueHash(value[1]), node.valueHash)) {
        throw new Error(`snapshot value for ${toHex(node.keyHash)} is missing or wrong`);
      }
      kept.push(value);
    }
    kept.push(entry);
  }
  return kept;
}

export interface StateSyncOptions {
  readonly chainId: string;
  /** Writes the verified state and head (Chain.installSnapshot) and reopens the chain. */
  readonly install: (
    snapshot: Omit<ChainHead, 'nextValidators'> & {
      entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>;
    },
  ) => Promise<void>;
  readonly protocol: RequestProtocol;
  readonly peers: () => readonly string[];
  /** The validator keys that certify the snapshot's next block (the node's known set). */
  readonly validators: readonly Uint8Array[];
  readonly logger: Logger;
  /** Only worth it when the peers are at least this far ahead. Default 20. */
  readonly minHeight?: number;
  /** Rounds over the peers before giving up (block sync then replays from height 1). Default 3. */
  readonly rounds?: number;
}

/**
 * For a fresh node: fetches and verifies a peer's state and installs it as the head. Returns
 * the height installed, or undefined when no peer is far enough ahead or none gave a state
 * that verifies (the node then syncs block by block).
 */
export async function stateSync(options: StateSyncOptions): Promise<number | undefined> {
  const { protocol, logger } = options;
  const rounds = options.rounds ?? 3;
  for (let round = 0; round < rounds; round++) {
    let answered = 0;
    for (const peer of options.peers()) {
      let snapshot: Snapshot;
      try {
        snapshot = decodeSnapshot(await protocol.request(peer, encodeSnapshotRequest()));
      } catch (error) {
        logger.debug({ peer, err: (error as Error).message }, 'no snapshot from peer');
        continue;
      }
      answered++;
      if (snapshot.height < (options.minHeight ?? 20)) {
        logger.info({ peer, height: snapshot.height }, 'peer too close to genesis for state sync');
        return undefined;
      }
      try {
        const certified = await fetchCertifiedPair(options, peer, snapshot.height);
        if (!bytesEqual(certified.next.header.stateRoot, snapshot.stateRoot)) {
          throw new Error('the certified header does not carry the snapshot root');
        }
        const entries = verifySnapshotEntries(snapshot.stateRoot, snapshot.entries);
        await options.install({
          height: snapshot.height,
          hash: headerHash(certified.block.header),
          time: certified.block.header.time,
          stateRoot: snapshot.stateRoot,
          entries,
        });
        logger.info(
          { peer, height: snapshot.height, entries: entries.length },
          'state synced from a certified snapshot',
        );
        return snapshot.height;
      } catch (error) {
        logger.warn({ peer, err: (error as Error).message }, 'snapshot from peer refused');
      }
    }
    // Nobody reachable: the network is starting with us, there is nothing to catch up on.
    if (answered === 0) return undefined;
    await sleep(500);
  }
  return undefined;
}

/** Blocks h and h+1 with certificates that verify; h+1 may take a moment to exist. */
async function fetchCertifiedPair(
  options: StateSyncOptions,
  peer: string,
  height: number,
): Promise<{ block: Block; next: Block }> {
  const { protocol } = options;
  for (let attempt = 0; attempt < 20; attempt++) {
    const response = decodeBlocksResponse(
      await protocol.request(peer, encodeBlocksRequest({ from: height, count: 2 })),
    );
    if (response.decisions.length === 2) {
      const [block, next] = response.decisions.map((bytes) => {
        const decision = decodeMessage(bytes);
        if (decision.type !== 'decision') throw new Error('sync answered with a non-decision');
        const decoded = decodeBlock(decision.payload);
        const certificate = decision.certificate;
        if (
          !bytesEqual(headerHash(decoded.header), certificate.digest) ||
          certificate.height !== decoded.header.height ||
          !verifyCommitCertificate(options.chainId, certificate, options.validators, { verify })
        ) {
          throw new Error(`block ${decoded.header.height} is not certified by the validators`);
        }
        return decoded;
      }) as [Block, Block];
      if (
        block.header.height !== height ||
        !bytesEqual(next.header.parentHash, headerHash(block.header))
      ) {
        throw new Error('the certified blocks do not chain');
      }
      return { block, next };
    }
    await sleep(250);
  }
  throw new Error(`block ${height + 1} did not appear`);
}
