/*
 * The ports of the node shell: everything the reactors (consensus driver, mempool and its
 * gossip, block sync, state sync, records) need from the outside world, as interfaces. The
 * shipped node plugs in the real ones (system clock and timers, the libp2p transport,
 * LevelDB, the WAL file: see `./system.ts`, `../net/libp2p-transport.ts`, `../db/level-store.ts`,
 * `../wal.ts`); the node-level simulation plugs in memory ones with a seed, so the same
 * reactor code runs in both. Each contract below is what the reactors rely on and all a
 * simulated implementation has to honour (and may break only where it says "may").
 */

/** Wall-clock time. */
export interface Clock {
  /**
   * Milliseconds since the Unix epoch, as this node believes. Block times, transaction
   * expiry, request freshness and evidence timestamps read it. Nodes' clocks may disagree
   * (skew) and a clock may jump; it is never assumed to be monotonic across nodes. Parts are
   * handed `clock.now` as a plain function, so it must not depend on `this`.
   */
  readonly now: () => number;
}

/** A scheduled callback; `cancel()` is idempotent and safe after the callback ran. */
export interface Timer {
  cancel(): void;
}

/**
 * Scheduling. Contract:
 * - a callback never runs synchronously inside `setTimeout`/`setInterval`, and never after
 *   `cancel()` returned;
 * - a timeout's callback runs at most once, no earlier than `delayMs` after it was set (by
 *   the timers' own time, which a simulation advances);
 * - callbacks due at the same time run in the order they were set;
 * - an interval's next run is `intervalMs` after the previous one was due; a slow callback
 *   delays it, it never runs twice at once;
 * - real timers never keep the process alive (they are unref'd).
 */
export interface Timers {
  setTimeout(callback: () => void, delayMs: number): Timer;
  setInterval(callback: () => void, intervalMs: number): Timer;
}

/** A peer of this node, by its libp2p peer id string. */
export type PeerId = string;

/** A change in the set of connected peers. */
export interface PeerEvent {
  readonly peer: PeerId;
  readonly type: 'connect' | 'disconnect';
}

/** A one-way message protocol (consensus, mempool gossip): what a reactor registers. */
export interface MessageChannelSpec<T> {
  /** `/medchain/<concern>/<version>`; owned by one reactor. */
  readonly protocol: string;
  /** Largest message accepted or sent. */
  readonly maxMessageBytes: number;
  /**
   * Turns the bytes of a message into its value; a throw drops the message (counted as a
   * rejected frame, reason `decode`), never the channel.
   */
  readonly decode: (bytes: Uint8Array) => T;
  /** Receives each decoded message; a throw is counted (reason `handler`) and logged. */
  readonly onMessage: (peer: PeerId, message: T) => void;
  /** Admission per peer (members only); messages from a refused peer are dropped unread. */
  readonly allowPeer?: (peer: PeerId) => boolean;
}

/**
 * A registered message protocol. Delivery contract: best effort. A message may be lost,
 * delayed, duplicated or (across reconnects) reordered; a receiver must tolerate all of it.
 * Messages from one sender over one healthy link arrive in send order. `send` never blocks
 * and never throws for an unreachable peer.
 */
export interface MessageChannel {
  readonly protocol: string;
  /**
   * Queues `bytes` for `peer`. Returns false when it was dropped because that peer's queue is
   * full (counted, reason `queue_full`). Throws NODE_FRAME_TOO_LARGE above maxMessageBytes
   * and NODE_FRAME_EMPTY for an empty message (caller bugs), NODE_PROTOCOL_STOPPED once closed.
   */
  send(peer: PeerId, bytes: Uint8Array): boolean;
  /** Drops the queue and link to a peer that left the network. */
  forget(peer: PeerId): void;
  /** Stops receiving and sending; queued messages are dropped. Safe to call twice. */
  close(): Promise<void>;
}

/** A request/response protocol (block sync, snapshots, records): what a reactor registers. */
export interface RequestChannelSpec {
  readonly protocol: string;
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  /**
   * Answers one request (omit it for a protocol this node only asks on). A throw, or a
   * response past the deadline, fails the exchange: the requester gets NODE_REQUEST_FAILED.
   */
  readonly handle?: (peer: PeerId, request: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>;
  readonly allowPeer?: (peer: PeerId) => boolean;
  /** Deadline of one whole exchange, both sides. Default 10 s. */
  readonly timeoutMs?: number;
  /** Requests served at once per connection; more are refused. Default 16. */
  readonly maxConcurrentRequests?: number;
}

/**
 * A registered request/response protocol. `request` resolves with the peer's response or
 * rejects with NODE_REQUEST_FAILED (peer unreachable, refused, too slow, response too large,
 * or `signal` aborted). A request is never retried by the transport; a duplicated or late
 * response is never delivered to a later request.
 */
export interface RequestChannel {
  readonly protocol: string;
  request(
    peer: PeerId,
    request: Uint8Array,
    options?: { signal?: AbortSignal },
  ): Promise<Uint8Array>;
  /** Stops serving; requests in flight fail. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The node's peer messaging: protocols by id, at the level the reactors use (no streams,
 * connections or multiaddrs). Who may connect at all is the transport's business (the
 * libp2p adapter's allowlist gater); `allowPeer` in a spec narrows it per protocol.
 */
export interface Transport {
  /** This node's own peer id. */
  readonly self: PeerId;
  /** Registers a message protocol; one registration per protocol id. */
  messages<T>(spec: MessageChannelSpec<T>): Promise<MessageChannel>;
  /** Registers a request/response protocol; one registration per protocol id. */
  requests(spec: RequestChannelSpec): Promise<RequestChannel>;
  /** Peers connected now. */
  connectedPeers(): PeerId[];
  /** Calls `listener` on every connect and disconnect; returns the unsubscribe function. */
  onPeer(listener: (event: PeerEvent) => void): () => void;
}

/** One write of a key-value batch (keys are whole keys: bucket byte included). */
export type KvOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

/** A key range: `gte`/`gt` and `lt` bound whole keys; `limit` < 0 or absent means none. */
export interface KvRange {
  readonly gte?: Uint8Array;
  readonly gt?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
}

/** A point-in-time view of a store: later writes are not seen through it. */
export interface KvSnapshot {
  /** Entries in key order (or reverse), as of the snapshot; values are the caller's to keep. */
  iterate(range: KvRange): AsyncIterable<readonly [key: Uint8Array, value: Uint8Array]>;
  /** Releases the view; iterations in progress finish first. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * An ordered byte-key, byte-value store (the node's LevelDB; `db/` adds buckets and
 * repositories on top). Contract:
 * - `write(ops)` is atomic: after a crash either all of its ops are visible or none;
 * - with `sync: true` (the default) it resolves only once the batch survives a crash; an
 *   unsynced batch that resolved may be lost by a crash, but never partly, and never while a
 *   later synced batch survives;
 * - reads see every write that resolved (and none that has not started); `getSync` is the
 *   same read without a promise, for hot paths (the ledger's state reads are synchronous);
 * - after a failed write nothing is promised about that batch; the caller stops.
 */
export interface KvStore {
  getSync(key: Uint8Array): Uint8Array | undefined;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** `ops` is iterated once, before the returned promise settles. */
  write(ops: Iterable<KvOp>, options?: { readonly sync?: boolean }): Promise<void>;
  /** Entries of the range in key order (or reverse), reading the latest state as it goes. */
  iterate(range: KvRange): AsyncIterable<readonly [key: Uint8Array, value: Uint8Array]>;
  /** A view of every entry as of this call, taken synchronously (no write lands in between). */
  snapshot(): KvSnapshot;
  readonly isOpen: boolean;
  close(): Promise<void>;
}

/**
 * The consensus write-ahead log, at the record level (the file format with its checksums
 * is the real implementation's business, `../wal.ts`). Contract:
 * - `append` only buffers; `sync()` makes every record appended before it durable and
 *   resolves once they are. The driver syncs before sending anything the records justify;
 * - a crash loses records whose sync had not resolved: `replay()` after a restart returns
 *   every synced record, in append order, followed by a prefix (possibly empty) of the
 *   records appended after the last sync (a torn tail is cut, never half a record, never a
 *   gap, never a record that was not appended);
 * - `checkpoint(records)` atomically replaces the whole log with `records` (after syncing
 *   what was pending): after a crash, replay gives either the old log or the new one;
 * - a failed write or sync poisons the log: every later call throws NODE_WAL_FAILED, since
 *   after a failed fsync nothing on disk can be vouched for; the node restarts from disk;
 * - `replay()` reads what is durable now (pending, unsynced records are not included).
 */
export interface WalLog {
  append(records: readonly Uint8Array[]): void;
  sync(): Promise<void>;
  checkpoint(records: readonly Uint8Array[]): Promise<void>;
  replay(): Promise<Uint8Array[]>;
  /** Bytes of the synced log (the driver checkpoints once it grows past a limit). */
  readonly sizeBytes: number;
  close(): Promise<void>;
}

/** The node's durable storage: the key-value store (chain, state, evidence) and the WAL. */
export interface Storage {
  readonly kv: KvStore;
  readonly wal: WalLog;
}

/** Everything the shell takes from outside: what the simulation replaces. */
export interface ShellPorts {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly transport: Transport;
  readonly storage: Storage;
}
