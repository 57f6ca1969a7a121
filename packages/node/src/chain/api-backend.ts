import { LruCache } from '@medchain/crypto';
import { type Block, decodeBlock, type KeyValueReader } from '@medchain/ledger';
import type {
  ApiBackend,
  CommittedBlockEvent,
  NodeStatus,
  StateProofAnswer,
  StoredBlock,
  TransactionStatus,
} from '../api/backend.js';
import type { Transport } from '../shell/ports.js';
import type { Chain, ExecutedBlock } from './chain.js';
import type { Mempool } from './mempool.js';
import type { EvidenceList, SubmitResult } from './types.js';

export interface ChainBackendOptions {
  readonly chain: Chain;
  readonly mempool: Mempool;
  /**
   * Admission for API submissions (the mempool reactor: mempool, then gossip and the
   * proposal timer); `address` is the submitter's remote address.
   */
  readonly admission: {
    submit(bytes: Uint8Array, address?: string): SubmitResult;
    submitMany(list: readonly Uint8Array[], address?: string): SubmitResult[];
  };
  /** The consensus driver: its view, the evidence it caught, and its committed blocks. */
  readonly consensus: {
    readonly view: number;
    evidence(): EvidenceList;
    subscribe(listener: (block: ExecutedBlock) => void): () => void;
  };
  readonly transport: Pick<Transport, 'connectedPeers'>;
  /** Block sync: whether the node is catching up. */
  readonly sync: { readonly syncing: boolean };
}

/** What a decoded transaction holds on the heap (a consent.grant of 384 bytes: ~2.8 KB, measured). */
const DECODED_TX_BYTES = 3_000;
const DECODED_BLOCKS_BYTES = 16 * 1024 * 1024;

/** The HTTP API's view of the running node: every answer comes from the stored chain. */
export class ChainBackend implements ApiBackend {
  private readonly listeners = new Set<(event: CommittedBlockEvent) => void>();
  private readonly committedReader: KeyValueReader;
  /** At most 16 blocks and DECODED_BLOCKS_BYTES of them (README "Memory"). */
  private readonly decodedBlocks = new LruCache<Block>(16, {
    maxBytes: DECODED_BLOCKS_BYTES,
    sizeOf: (block) => block.txs.length * DECODED_TX_BYTES,
  });
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ChainBackendOptions) {
    const { chain } = options;
    this.committedReader = { get: (key) => chain.state.getCommitted(key) };
    this.unsubscribe = options.consensus.subscribe((executed) => this.publish(executed));
  }

  /** Stops following the driver's blocks. */
  close(): void {
    this.unsubscribe();
  }

  status(): NodeStatus {
    const { chain, mempool } = this.options;
    return {
      chainId: chain.chainId,
      height: chain.height,
      lastBlockHash: chain.lastHash,
      stateRoot: chain.stateRoot,
      view: this.options.consensus.view,
      validators: chain.validators,
      peers: this.options.transport.connectedPeers(),
      syncing: this.options.sync.syncing,
      mempoolSize: mempool.size,
    };
  }

  submitTransaction(bytes: Uint8Array, address?: string): SubmitResult {
    return this.options.admission.submit(bytes, address);
  }

  submitTransactions(list: readonly Uint8Array[], address?: string): SubmitResult[] {
    return this.options.admission.submitMany(list, address);
  }

  transaction(hash: Uint8Array): TransactionStatus {
    const { chain, mempool } = this.options;
    // The index is read first: a block being stored is visible there before the mempool drops it.
    const location = chain.store.loadTxLocation(hash);
    if (location === undefined || location.height > chain.height) {
      const pending = mempool.get(hash);
      return pending === undefined ? { status: 'unknown' } : { status: 'pending', tx: pending };
    }
    const receipt = chain.loadReceipt(hash);
    const tx = this.blockAt(location.height)?.txs[location.index];
    if (receipt === undefined || tx === undefined) return { status: 'unknown' };
    return { status: 'committed', tx, height: location.height, index: location.index, receipt };
  }

  /** Decoded blocks by height: clients poll transactions of the same recent blocks. */
  private blockAt(height: number): Block | undefined {
    let block = this.decodedBlocks.get(String(height));
    if (block === undefined) {
      const payload = this.options.chain.loadPayload(height);
      if (payload === undefined) return undefined;
      block = decodeBlock(payload);
      this.decodedBlocks.set(String(height), block);
    }
    return block;
  }

  block(height: number): StoredBlock | undefined {
    return this.options.chain.loadBlock(height);
  }

  latestBlock(): StoredBlock | undefined {
    const { chain } = this.options;
    return chain.height === 0 ? undefined : chain.loadBlock(chain.height);
  }

  state(): KeyValueReader {
    return this.committedReader;
  }

  history(): KeyValueReader {
    return this.options.chain.historyReader();
  }

  /**
   * A proof against the root in the latest header (the state after the block before it), so
   * the header's certificate certifies the root; before block 1, against the genesis root.
   */
  stateProof(key: Uint8Array): StateProofAnswer {
    const { chain } = this.options;
    const latest = chain.height === 0 ? undefined : chain.loadBlock(chain.height);
    const root = latest?.block.header.stateRoot ?? chain.state.root();
    return {
      height: latest === undefined ? 0 : chain.height - 1,
      stateRoot: root,
      header: latest?.block.header ?? null,
      certificate: latest?.certificate ?? null,
      value: chain.state.getCommitted(key, root),
      proof: chain.state.prove(key, root),
    };
  }

  evidence(): EvidenceList {
    return this.options.consensus.evidence();
  }

  subscribe(listener: (event: CommittedBlockEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The driver stored a block: tell the event streams. */
  private publish(executed: ExecutedBlock): void {
    if (this.listeners.size === 0) return;
    const event: CommittedBlockEvent = {
      hash: executed.hash,
      header: executed.block.header,
      txs: executed.block.txs,
      receipts: executed.receipts,
    };
    for (const listener of this.listeners) listener(event);
  }
}
