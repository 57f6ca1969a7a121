import { decodeBlock, type KeyValueReader } from '@medchain/ledger';
import type {
  ApiBackend,
  CommittedBlockEvent,
  NodeStatus,
  StateProofAnswer,
  StoredBlock,
  SubmitResult,
  TransactionStatus,
} from '../api/backend.js';
import type { Chain, ExecutedBlock } from './chain.js';
import type { Mempool } from './mempool.js';

export interface ChainBackendOptions {
  readonly chain: Chain;
  readonly mempool: Mempool;
  /** Admission for API submissions (mempool, then gossip and the proposal timer). */
  readonly submit: (bytes: Uint8Array) => SubmitResult;
  readonly view: () => number;
  readonly peers: () => readonly string[];
  readonly syncing: () => boolean;
}

/** The HTTP API's view of the running node: every answer comes from the stored chain. */
export class ChainBackend implements ApiBackend {
  private readonly listeners = new Set<(event: CommittedBlockEvent) => void>();
  private readonly committedReader: KeyValueReader;

  constructor(private readonly options: ChainBackendOptions) {
    const { chain } = options;
    this.committedReader = { get: (key) => chain.state.getCommitted(key) };
  }

  status(): NodeStatus {
    const { chain, mempool } = this.options;
    return {
      chainId: chain.chainId,
      height: chain.height,
      lastBlockHash: chain.lastHash,
      stateRoot: chain.stateRoot,
      view: this.options.view(),
      validators: chain.validators,
      peers: this.options.peers(),
      syncing: this.options.syncing(),
      mempoolSize: mempool.size,
    };
  }

  submitTransaction(bytes: Uint8Array): SubmitResult {
    return this.options.submit(bytes);
  }

  transaction(hash: Uint8Array): TransactionStatus {
    const { chain, mempool } = this.options;
    const pending = mempool.get(hash);
    if (pending !== undefined) return { status: 'pending', tx: pending };
    const location = chain.store.loadTxLocation(hash);
    const receipt = chain.loadReceipt(hash);
    if (location === undefined || receipt === undefined) return { status: 'unknown' };
    const payload = chain.loadPayload(location.height);
    if (payload === undefined) return { status: 'unknown' };
    const tx = decodeBlock(payload).txs[location.index];
    if (tx === undefined) return { status: 'unknown' };
    return {
      status: 'committed',
      tx,
      height: location.height,
      index: location.index,
      receipt,
    };
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

  subscribe(listener: (event: CommittedBlockEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The driver stored a block: tell the event streams. */
  publish(executed: ExecutedBlock): void {
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
