import type { CommitCertificate, ConsensusApplication } from '@medchain/consensus';
import { bytesEqual, sha256, toHex } from '@medchain/crypto';
import {
  AuthenticatedState,
  type Block,
  type BlockResult,
  buildBlock,
  checkBlockAgainstParent,
  decodeBlock,
  type ExecutionOptions,
  encodeBlock,
  executeBlock,
  type GenesisDocument,
  genesisHash,
  HistoryIndexWriter,
  headerHash,
  initGenesisState,
  type KeyValueReader,
  LedgerError,
  type Receipt,
  type Transaction,
  transactionHash,
  type Validator,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import {
  Bucket,
  ChainStore,
  type Database,
  decodeHeight,
  encodeHeight,
  StateStore,
  type WriteBatch,
} from '../db/index.js';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  type ChainHead,
  decodeCertificate,
  decodeHead,
  decodeReceipt,
  decodeReceiptHistory,
  encodeCertificate,
  encodeHead,
  encodeReceipt,
} from './codec.js';

/** How far a proposal's block time may run ahead of a replica's clock before it refuses it. */
export const DEFAULT_MAX_CLOCK_DRIFT_MS = 5_000;

const HEAD_KEY = 'head';
const GENESIS_KEY = 'genesisHash';
/**
 * The history index's own key for the height it is complete to, written in every block's
 * batch. It lives in the index's bucket (no list key is one byte), so losing the bucket loses
 * the mark too, and the index is rebuilt.
 */
const HISTORY_MARK = Uint8Array.of(0);
/** Set by a snapshot install: the index holds no history of blocks at or below this height. */
const HISTORY_FROM_KEY = 'historyFrom';
/** Blocks replayed into the history index per batch when it is rebuilt. */
const REBUILD_BATCH_BLOCKS = 500;

export interface ChainOptions {
  readonly db: Database;
  readonly genesis: GenesisDocument;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How far a proposal's time may run ahead of this node's clock. Default DEFAULT_MAX_CLOCK_DRIFT_MS. */
  readonly maxClockDriftMs?: number;
  /** The wall clock; tests may pass their own. */
  readonly now?: () => number;
  /** State entries kept in memory in front of LevelDB. Default 200,000. */
  readonly stateCacheEntries?: number;
  /** Bytes of state kept in memory in front of LevelDB (config memory.stateCacheBytes). Default 16 MiB. */
  readonly stateCacheBytes?: number;
}

export interface ExecutedBlock {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly block: Block;
  readonly receipts: readonly Receipt[];
  readonly stateRoot: Uint8Array;
  /** The validator keys chosen by this block, when it changed the set. */
  readonly nextValidators: readonly Uint8Array[] | null;
}

export interface StoredBlockData {
  readonly block: Block;
  readonly hash: Uint8Array;
  readonly certificate: CommitCertificate;
  readonly receipts: readonly Receipt[];
}

/** Where a block's transactions may already be decoded (the node's mempool). */
export interface PendingTransactions {
  get(txHash: Uint8Array): Transaction | undefined;
}

interface Decoded {
  readonly block: Block;
  readonly digest: Uint8Array;
}

/**
 * The node's chain: the ledger's authenticated state over LevelDB, the block store, and the
 * consensus application (proposal digest and validation). Blocks are executed and stored
 * here, one atomic LevelDB batch each. Only the consensus driver calls the mutating methods.
 */
export class Chain implements ConsensusApplication {
  readonly store: ChainStore;
  readonly stateStore: StateStore;
  readonly state: AuthenticatedState;
  readonly chainId: string;
  readonly genesisHash: Uint8Array;
  private head: ChainHead;
  /** The state root in the head block's header: the state before the head (see headStateUncertified). */
  private headerStateRoot: Uint8Array;
  private validatorList: Validator[];
  private validatorHash: Uint8Array;
  /**
   * Decoded proposals by payload object, until committed: one payload is digested, validated
   * and executed.
   */
  private readonly decoded = new WeakMap<Uint8Array, Decoded | null>();
  private readonly now: () => number;
  private readonly maxClockDriftMs: number;
  /** True from a block's execution until its batch is on disk (state sync serves no snapshot then). */
  writing = false;
  /** The node's mempool, once handed over (usePool): blocks reuse the transactions it decoded. */
  private pool: PendingTransactions | undefined;
  /** The history index as stored (the chain's own reads, while indexing). */
  private readonly historyIndex: KeyValueReader;
  /**
   * The last height whose history this node lacks: 0 from genesis, the snapshot height after
   * state sync (blocks up to it were never stored here).
   */
  readonly historyFrom: number;

  private constructor(
    private readonly options: ChainOptions,
    store: ChainStore,
    stateStore: StateStore,
    state: AuthenticatedState,
    head: ChainHead,
    genesisHash: Uint8Array,
  ) {
    this.store = store;
    this.historyIndex = { get: (key) => store.history.load(key) };
    const from = store.meta.load(HISTORY_FROM_KEY);
    this.historyFrom = from === undefined ? 0 : decodeHeight(from);
    this.headerStateRoot = head.stateRoot;
    if (head.height > 0) {
      // A state-synced head has no stored block: its root was certified by the next header.
      const payload = store.loadBlock(head.height);
      if (payload !== undefined) this.headerStateRoot = decodeBlock(payload).header.stateRoot;
    }
    this.stateStore = stateStore;
    this.state = state;
    this.head = head;
    this.chainId = options.genesis.chainId;
    this.genesisHash = genesisHash;
    this.validatorList = validatorsFromState(state);
    this.validatorHash = validatorSetHash(this.validatorList);
    this.now = options.now ?? Date.now;
    this.maxClockDriftMs = options.maxClockDriftMs ?? DEFAULT_MAX_CLOCK_DRIFT_MS;
  }

  /** Opens the chain in `db`, writing genesis on first start; refuses another chain's data. */
  static async open(options: ChainOptions): Promise<Chain> {
    const { db, genesis, metrics } = options;
    const store = new ChainStore(db);
    await store.ensureSchema(genesis.chainId);
    const stateStore = new StateStore(db, {
      cacheEntries: options.stateCacheEntries ?? 200_000,
      ...(options.stateCacheBytes === undefined ? {} : { cacheBytes: options.stateCacheBytes }),
      metrics,
    });
    const stored = store.meta.load(HEAD_KEY);
    if (stored === undefined) {
      const state = new AuthenticatedState(stateStore);
      const initial = initGenesisState(state, genesis);
      stateStore.write(initial.ops);
      const head: ChainHead = {
        height: 0,
        hash: initial.hash,
        time: genesis.genesisTime,
        stateRoot: initial.stateRoot,
        nextValidators: null,
      };
      const batch = db.batch();
      stateStore.stageInto(batch);
      store.meta.save(batch, GENESIS_KEY, initial.hash);
      store.meta.save(batch, HEAD_KEY, encodeHead(head));
      store.history.save(batch, HISTORY_MARK, encodeHeight(0));
      await db.write(batch);
      options.logger.info(
        { chainId: genesis.chainId, genesisHash: toHex(initial.hash) },
        'genesis written',
      );
      return new Chain(options, store, stateStore, state, head, initial.hash);
    }
    const head = decodeHead(stored);
    const storedGenesis = store.meta.load(GENESIS_KEY);
    const expected = genesisHash(genesis);
    if (storedGenesis === undefined || !bytesEqual(storedGenesis, expected)) {
      throw new NodeError(
        'NODE_DB_SCHEMA',
        `the database was created from another genesis (stored ${storedGenesis === undefined ? 'none' : toHex(storedGenesis)}, genesis file ${toHex(expected)})`,
      );
    }
    const state = new AuthenticatedState(stateStore, head.stateRoot);
    // At most 2^16 nodes (about 65k reads, a second at 100k patients): otherwise the first
    // blocks after a restart read each of them from LevelDB as their walks meet it.
    const started = performance.now();
    const linked = state.linkUpperTree();
    options.logger.info(
      { nodes: linked, ms: Math.round(performance.now() - started) },
      'state: upper tree loaded',
    );
    const chain = new Chain(options, store, stateStore, state, head, storedGenesis);
    await chain.ensureHistoryIndex();
    return chain;
  }

  /**
   * Rebuilds the history index from the stored blocks' receipts when it is not complete to the
   * head (its bucket lost or damaged: every block's batch keeps it complete otherwise). The
   * marker is written with the last batch, so a crash mid-rebuild starts it over.
   */
  async ensureHistoryIndex(): Promise<void> {
    const { db, logger } = this.options;
    const indexed = this.store.history.load(HISTORY_MARK);
    if (indexed !== undefined && decodeHeight(indexed) === this.head.height) return;
    logger.warn(
      { from: this.historyFrom + 1, to: this.head.height },
      'history index missing or behind: rebuilding it from the stored blocks',
    );
    const clear = db.batch();
    for await (const [key] of db.entries(Bucket.historyIndex)) clear.del(Bucket.historyIndex, key);
    await db.write(clear);
    for (let start = this.historyFrom + 1; start <= this.head.height; ) {
      const end = Math.min(this.head.height, start + REBUILD_BATCH_BLOCKS - 1);
      const batch = db.batch();
      const index = this.historyWriter(batch);
      for (let height = start; height <= end; height++) {
        const payload = this.store.loadBlock(height);
        if (payload === undefined) {
          throw new NodeError('NODE_DB_BAD_VALUE', `block ${height} is missing: cannot index it`);
        }
        for (const tx of decodeBlock(payload).txs) {
          const receipt = this.store.loadReceipt(transactionHash(tx));
          if (receipt === undefined) {
            throw new NodeError('NODE_DB_BAD_VALUE', `block ${height} has a tx without receipt`);
          }
          for (const item of decodeReceiptHistory(receipt)) index.add(item);
        }
      }
      index.finish();
      await db.write(batch);
      start = end + 1;
    }
    const done = db.batch();
    this.store.history.save(done, HISTORY_MARK, encodeHeight(this.head.height));
    await db.write(done);
  }

  /** A writer of the history index whose entries go into `batch` as they come. */
  private historyWriter(batch: WriteBatch): HistoryIndexWriter {
    return new HistoryIndexWriter(this.historyIndex, (key, value) =>
      this.store.history.save(batch, key, value),
    );
  }

  /**
   * Reads of the history index for queries (ledger historyKeys). On a node whose history
   * starts at a snapshot every read throws LedgerError LEDGER_HISTORY_MISSING: its lists lack
   * everything before the snapshot, and a partial list must not pass for a whole one.
   */
  historyReader(): KeyValueReader {
    if (this.historyFrom === 0) return this.historyIndex;
    const message = `this node's history starts after block ${this.historyFrom} (it installed a state snapshot): ask a node that stores the blocks before it`;
    return {
      get: () => {
        throw new LedgerError('LEDGER_HISTORY_MISSING', message);
      },
    };
  }

  get height(): number {
    return this.head.height;
  }

  get lastHash(): Uint8Array {
    return this.head.hash;
  }

  get lastTime(): number {
    return this.head.time;
  }

  /** Validator keys the last stored block chose, if it changed the set. */
  get lastNextValidators(): readonly Uint8Array[] | null {
    return this.head.nextValidators;
  }

  get stateRoot(): Uint8Array {
    return this.head.stateRoot;
  }

  /**
   * Whether the state after the head block is in no header yet. A header carries its parent's
   * state root, so the head's own state is certified only by the next block: after a block
   * that changed the state, one more (empty if need be) makes that state provable and lets
   * clients read nonces at the head. An idle chain stops after that block.
   */
  get headStateUncertified(): boolean {
    return !bytesEqual(this.head.stateRoot, this.headerStateRoot);
  }

  /** The validator set the committed state defines (sorted by key). */
  get validators(): readonly Validator[] {
    return this.validatorList;
  }

  // --- ConsensusApplication --------------------------------------------------------------

  digestOf(payload: Uint8Array): Uint8Array {
    const decoded = this.decode(payload);
    // A payload that is not a block gets a digest no header can have, so it never matches.
    return decoded?.digest ?? sha256(payload);
  }

  validateProposal(height: number, payload: Uint8Array): boolean {
    const decoded = this.decode(payload);
    if (decoded === null || height !== this.head.height + 1) return false;
    try {
      checkBlockAgainstParent(
        decoded.block,
        {
          chainId: this.chainId,
          height: this.head.height,
          hash: this.head.hash,
          time: this.head.time,
          stateRoot: this.head.stateRoot,
          validatorSetHash: this.validatorHash,
        },
        this.validatorList.map((v) => v.publicKey),
      );
    } catch (error) {
      this.options.logger.warn({ height, err: (error as Error).message }, 'proposal refused');
      this.options.metrics.consensus.proposalsRefused.inc({ reason: 'invalid' });
      return false;
    }
    const drift = decoded.block.header.time - this.now();
    if (drift > this.maxClockDriftMs) {
      this.options.logger.warn({ height, driftMs: drift }, 'proposal refused: time is ahead');
      this.options.metrics.consensus.proposalsRefused.inc({ reason: 'time_ahead' });
      return false;
    }
    return true;
  }

  /**
   * Hands the chain its node's mempool: a block's transactions the pool holds are reused when
   * their bytes match, instead of being decoded and hashed again.
   */
  usePool(pool: PendingTransactions): void {
    this.pool = pool;
  }

  /**
   * The decoded block of a payload (cached per payload object), or null when it is not a block.
   * Transactions this node's mempool holds are reused when their bytes match (decoded and
   * hashed once per node); the block's bytes and tx root are checked all the same.
   */
  decode(payload: Uint8Array): Decoded | null {
    let decoded = this.decoded.get(payload);
    if (decoded === undefined) {
      try {
        const pool = this.pool;
        const block = decodeBlock(
          payload,
          pool === undefined ? undefined : (hash) => pool.get(hash),
        );
        decoded = { block, digest: headerHash(block.header) };
      } catch {
        decoded = null;
      }
      this.decoded.set(payload, decoded);
    }
    return decoded;
  }

  /** The proposal for the next height: header time from the wall clock, never before the parent. */
  buildProposal(
    proposer: Uint8Array,
    txs: readonly Transaction[],
  ): {
    digest: Uint8Array;
    payload: Uint8Array;
  } {
    const block = buildBlock(
      {
        chainId: this.chainId,
        height: this.head.height + 1,
        time: Math.max(this.now(), this.head.time),
        parentHash: this.head.hash,
        stateRoot: this.head.stateRoot,
        validatorSetHash: this.validatorHash,
        proposer,
      },
      txs,
    );
    const payload = encodeBlock(block);
    const digest = headerHash(block.header);
    this.decoded.set(payload, { block, digest });
    return { digest, payload };
  }

  // --- Execution --------------------------------------------------------------------------

  /**
   * Executes the committed block at the next height and stores it with its certificate,
   * receipts, tx index, history index, state writes and the new head in ONE LevelDB batch
   * (fsynced).
   * `verdicts` are the mempool's signature verdicts from admission (see ExecutionOptions).
   */
  async commitBlock(
    payload: Uint8Array,
    certificate: CommitCertificate,
    verdicts: ExecutionOptions,
  ): Promise<ExecutedBlock> {
    const decoded = this.decode(payload);
    if (decoded === null) {
      throw new NodeError(
        'NODE_DB_BAD_VALUE',
        `committed block ${certificate.height} is not a block`,
      );
    }
    const { block, digest } = decoded;
    const height = block.header.height;
    if (height !== this.head.height + 1 || !bytesEqual(block.header.parentHash, this.head.hash)) {
      throw new NodeError(
        'NODE_DB_BAD_VALUE',
        `committed block ${height} does not extend the stored head ${this.head.height}`,
      );
    }
    this.writing = true;
    try {
      return await this.executeAndStore(payload, block, digest, certificate, verdicts);
    } finally {
      this.writing = false;
      // The consensus core keeps a committed payload until the next stable checkpoint (for
      // peers that lag); its decoded block, several MB for a full one, need not live as long.
      this.decoded.delete(payload);
    }
  }

  private async executeAndStore(
    payload: Uint8Array,
    block: Block,
    digest: Uint8Array,
    certificate: CommitCertificate,
    verdicts: ExecutionOptions,
  ): Promise<ExecutedBlock> {
    const height = block.header.height;
    const { batch, head, receipts, validatorSetChange } = this.executeIntoBatch(
      payload,
      block,
      digest,
      certificate,
      verdicts,
    );
    await this.options.db.write(batch);
    this.head = head;
    this.headerStateRoot = block.header.stateRoot;
    if (validatorSetChange !== null) {
      this.validatorList = [...validatorSetChange.validators];
      this.validatorHash = validatorSetChange.hash;
    }
    const { metrics } = this.options;
    metrics.chain.blocksCommitted.inc();
    metrics.chain.height.set(height);
    let failed = 0;
    for (const receipt of receipts) if (receipt.code !== 'OK') failed++;
    metrics.chain.txCommitted.inc({ outcome: 'ok' }, receipts.length - failed);
    if (failed > 0) metrics.chain.txCommitted.inc({ outcome: 'failed' }, failed);
    return {
      height,
      hash: digest,
      block,
      receipts,
      stateRoot: head.stateRoot,
      nextValidators: head.nextValidators,
    };
  }

  /**
   * Executes the block and puts everything it writes into one batch. Synchronous and apart
   * from executeAndStore, so what only the batch needs (the state's ops, the history items)
   * is garbage before the fsync rather than kept, and promoted, by the suspended caller.
   */
  private executeIntoBatch(
    payload: Uint8Array,
    block: Block,
    digest: Uint8Array,
    certificate: CommitCertificate,
    verdicts: ExecutionOptions,
  ): Pick<BlockResult, 'receipts' | 'validatorSetChange'> & {
    batch: WriteBatch;
    head: ChainHead;
  } {
    const height = block.header.height;
    const batch = this.options.db.batch();
    // Each transaction's receipt, location and history go into the batch as it executes, so
    // no block's worth of history items is held (and promoted) until the block is done. The
    // history index lands with the block, so the two are never apart after a crash.
    const index = this.historyWriter(batch);
    let result: BlockResult;
    try {
      result = executeBlock(this.state, block, {
        ...verdicts,
        onExecuted: (position, receipt, history) => {
          const hash = receipt.txHash;
          this.store.saveTransaction(
            batch,
            height,
            position,
            hash,
            encodeReceipt(receipt, history),
          );
          for (const item of history) index.add(item);
        },
      });
    } catch (error) {
      this.state.discard();
      throw error;
    }
    this.stateStore.write(result.ops);
    const head: ChainHead = {
      height,
      hash: digest,
      time: block.header.time,
      stateRoot: result.stateRoot,
      nextValidators:
        result.validatorSetChange === null
          ? null
          : result.validatorSetChange.validators.map((v) => v.publicKey),
    };
    this.stateStore.stageInto(batch);
    this.store.saveCommittedBlock(batch, {
      height,
      block: payload,
      certificate: encodeCertificate(certificate),
      txs: [], // saved as they executed
    });
    index.finish();
    this.store.history.save(batch, HISTORY_MARK, encodeHeight(height));
    this.store.meta.save(batch, HEAD_KEY, encodeHead(head));
    return {
      batch,
      head,
      receipts: result.receipts,
      validatorSetChange: result.validatorSetChange,
    };
  }

  /**
   * Replaces the state with a verified snapshot and makes `head` the chain head, in one
   * batch; open the chain again afterwards. Blocks up to the head are not stored (the node
   * starts at head + 1), so the API has no blocks or receipts before it.
   */
  static async installSnapshot(
    db: Database,
    snapshot: Omit<ChainHead, 'nextValidators'> & {
      entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>;
    },
  ): Promise<void> {
    const store = new ChainStore(db);
    const batch = db.batch();
    for await (const [key] of db.entries(Bucket.state)) batch.del(Bucket.state, key);
    for (const [key, value] of snapshot.entries) batch.put(Bucket.state, key, value);
    // No blocks up to the snapshot are stored here, so no history of them either.
    for await (const [key] of db.entries(Bucket.historyIndex)) batch.del(Bucket.historyIndex, key);
    store.meta.save(batch, HISTORY_FROM_KEY, encodeHeight(snapshot.height));
    store.history.save(batch, HISTORY_MARK, encodeHeight(snapshot.height));
    store.meta.save(
      batch,
      HEAD_KEY,
      encodeHead({
        height: snapshot.height,
        hash: snapshot.hash,
        time: snapshot.time,
        stateRoot: snapshot.stateRoot,
        nextValidators: null,
      }),
    );
    await db.write(batch);
  }

  // --- Reads ------------------------------------------------------------------------------

  /** The stored payload (encoded block) at `height`. */
  loadPayload(height: number): Uint8Array | undefined {
    return this.store.loadBlock(height);
  }

  loadCertificate(height: number): CommitCertificate | undefined {
    const bytes = this.store.loadCertificate(height);
    return bytes === undefined ? undefined : decodeCertificate(bytes);
  }

  loadBlock(height: number): StoredBlockData | undefined {
    if (!Number.isSafeInteger(height) || height < 1 || height > this.head.height) return undefined;
    const payload = this.store.loadBlock(height);
    const certificate = this.loadCertificate(height);
    if (payload === undefined || certificate === undefined) return undefined;
    const block = decodeBlock(payload);
    const receipts = block.txs.map((tx) => this.loadReceipt(transactionHash(tx)));
    if (receipts.some((receipt) => receipt === undefined)) {
      throw new NodeError('NODE_DB_BAD_VALUE', `block ${height} has a transaction without receipt`);
    }
    return { block, hash: headerHash(block.header), certificate, receipts: receipts as Receipt[] };
  }

  loadReceipt(txHash: Uint8Array): Receipt | undefined {
    const bytes = this.store.loadReceipt(txHash);
    return bytes === undefined ? undefined : decodeReceipt(bytes);
  }

  hasTransaction(txHash: Uint8Array): boolean {
    return this.store.txLocations.has(txHash);
  }
}
