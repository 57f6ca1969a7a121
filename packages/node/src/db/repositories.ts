import { fromUtf8, utf8 } from '@medchain/crypto';
import { NodeError } from '../errors.js';
import { Bucket } from './buckets.js';
import type { Database, WriteBatch } from './controller.js';
import {
  decodeHeight,
  decodeTxLocation,
  encodeHeight,
  encodeTxLocation,
  type TxLocation,
} from './keys.js';

/**
 * One bucket seen as a map from typed keys to opaque byte values. Save/Load/Delete follow the
 * CometBFT naming: Save* writes into a batch (durable when the batch is written), Load* reads.
 */
export class Repository<K> {
  constructor(
    readonly db: Database,
    readonly bucket: Bucket,
    private readonly encodeKey: (key: K) => Uint8Array,
  ) {}

  save(batch: WriteBatch, key: K, value: Uint8Array): void {
    batch.put(this.bucket, this.encodeKey(key), value);
  }

  delete(batch: WriteBatch, key: K): void {
    batch.del(this.bucket, this.encodeKey(key));
  }

  load(key: K): Uint8Array | undefined {
    return this.db.getSync(this.bucket, this.encodeKey(key));
  }

  has(key: K): boolean {
    return this.load(key) !== undefined;
  }
}

const identity = (key: Uint8Array): Uint8Array => key;

/** Bumped when the layout of any bucket changes; a node refuses a database of another version. */
export const SCHEMA_VERSION = 2;

/** Everything a committed block writes, handed over in one piece so it lands in one batch. */
export interface CommittedBlock {
  height: number;
  /** The encoded block (header and transactions). */
  block: Uint8Array;
  /** The encoded commit certificate. */
  certificate: Uint8Array;
  /** Transactions in block order, with their encoded receipts (and history: codec.ts). */
  txs: ReadonlyArray<{ hash: Uint8Array; receipt: Uint8Array }>;
}

/**
 * The consensusEvidence bucket: equivocation records by arrival sequence (u64 BE), so the
 * bucket is in arrival order and the newest are one reverse scan away.
 */
export class EvidenceRepository extends Repository<number> {
  constructor(db: Database) {
    super(db, Bucket.consensusEvidence, encodeHeight);
  }

  /** The newest `limit` entries, newest first, with their sequence numbers. */
  async *loadNewest(limit: number): AsyncGenerator<[sequence: number, value: Uint8Array]> {
    for await (const [key, value] of this.db.entries(this.bucket, { reverse: true, limit })) {
      yield [decodeHeight(key), value];
    }
  }
}

/**
 * The chain's typed repositories over one database, one per bucket: blocks, certificates,
 * transaction locations, receipts, meta, evidence, and the state (StateStore).
 */
export class ChainStore {
  readonly blocks: Repository<number>;
  readonly certificates: Repository<number>;
  readonly txLocations: Repository<Uint8Array>;
  readonly receipts: Repository<Uint8Array>;
  readonly meta: Repository<string>;
  readonly evidence: EvidenceRepository;
  readonly history: Repository<Uint8Array>;

  constructor(readonly db: Database) {
    this.blocks = new Repository(db, Bucket.blockByHeight, encodeHeight);
    this.certificates = new Repository(db, Bucket.commitCertificateByHeight, encodeHeight);
    this.txLocations = new Repository(db, Bucket.txLocationByHash, identity);
    this.receipts = new Repository(db, Bucket.receiptByTxHash, identity);
    this.meta = new Repository(db, Bucket.meta, utf8);
    this.evidence = new EvidenceRepository(db);
    this.history = new Repository(db, Bucket.historyIndex, identity);
  }

  /**
   * Adds every write of a committed block to `batch` (block, certificate, txs, receipts); the
   * chain adds the history index writes and the head to the same batch.
   */
  saveCommittedBlock(batch: WriteBatch, committed: CommittedBlock): void {
    this.blocks.save(batch, committed.height, committed.block);
    this.certificates.save(batch, committed.height, committed.certificate);
    committed.txs.forEach((tx, index) => {
      this.saveTransaction(batch, committed.height, index, tx.hash, tx.receipt);
    });
  }

  /** A committed transaction's location (its block's height, its index there) and receipt. */
  saveTransaction(
    batch: WriteBatch,
    height: number,
    index: number,
    hash: Uint8Array,
    receipt: Uint8Array,
  ): void {
    this.txLocations.save(batch, hash, encodeTxLocation({ height, index }));
    this.receipts.save(batch, hash, receipt);
  }

  loadBlock(height: number): Uint8Array | undefined {
    return this.blocks.load(height);
  }

  loadCertificate(height: number): Uint8Array | undefined {
    return this.certificates.load(height);
  }

  loadTxLocation(txHash: Uint8Array): TxLocation | undefined {
    const bytes = this.txLocations.load(txHash);
    return bytes === undefined ? undefined : decodeTxLocation(bytes);
  }

  loadReceipt(txHash: Uint8Array): Uint8Array | undefined {
    return this.receipts.load(txHash);
  }

  /** Height of the highest stored block, or undefined on an empty chain (one reverse seek). */
  async loadLatestHeight(): Promise<number | undefined> {
    for await (const [key] of this.db.entries(Bucket.blockByHeight, { reverse: true, limit: 1 })) {
      return decodeHeight(key);
    }
    return undefined;
  }

  /**
   * Stamps a new database with the schema version and chain id, or checks an existing one
   * against them, so a node never runs on another chain's data or an unknown layout.
   */
  async ensureSchema(chainId: string): Promise<void> {
    const version = this.meta.load('schemaVersion');
    const storedChain = this.meta.load('chainId');
    if (version === undefined && storedChain === undefined) {
      const batch = this.db.batch();
      this.meta.save(batch, 'schemaVersion', encodeHeight(SCHEMA_VERSION));
      this.meta.save(batch, 'chainId', utf8(chainId));
      await this.db.write(batch);
      return;
    }
    if (version === undefined || decodeHeight(version) !== SCHEMA_VERSION) {
      const found = version === undefined ? 'none' : String(decodeHeight(version));
      throw new NodeError(
        'NODE_DB_SCHEMA',
        `database schema version ${found}, this node needs ${SCHEMA_VERSION}`,
      );
    }
    const stored = storedChain === undefined ? '' : fromUtf8(storedChain);
    if (stored !== chainId) {
      throw new NodeError(
        'NODE_DB_SCHEMA',
        `database belongs to chain "${stored}", not "${chainId}"`,
      );
    }
  }
}
