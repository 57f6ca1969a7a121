import { encodeTransaction } from '@medchain/ledger';
import type { Metrics } from '../metrics.js';
import { protocolId } from '../net/host.js';
import type { PeerDirectory } from '../net/peers.js';
import type { Timer, Timers, Transport } from '../shell/ports.js';
import { decodeTxBatch, GOSSIP_MAX_FRAME_BYTES, TxGossip } from './gossip.js';
import type { Mempool } from './mempool.js';
import type { SubmitResult } from './types.js';

/** The mempool protocol: batches of transactions, pushed to every member peer. */
export const MEMPOOL_PROTOCOL = protocolId('mempool');
/** Transactions sent again per stall interval while no block comes. */
export const REGOSSIP_MAX_TXS = 1_024;

export interface MempoolReactorOptions {
  /** How often re-gossip looks for a stalled chain (two view-change timeouts). */
  readonly regossipIntervalMs: number;
}

export interface MempoolReactorComponents {
  readonly transport: Transport;
  readonly timers: Timers;
  readonly mempool: Mempool;
  /** The chain's height, to tell a stall from progress. */
  readonly chain: { readonly height: number };
  /** The consensus driver: a primary waiting to fill a block may propose sooner. */
  readonly consensus: { transactionsArrived(): void };
  readonly peers: PeerDirectory;
  readonly metrics: Metrics;
}

export interface MempoolReactor {
  /**
   * Admission of an API submission: the mempool, then gossip to the members and the
   * driver's proposal timer. `address` is the submitter's remote address.
   */
  submit(bytes: Uint8Array, address?: string): SubmitResult;
  /**
   * A batch submission (POST /v1/txs): each admitted in order as `submit` would, one result
   * each, and the driver woken once for the whole batch.
   */
  submitMany(list: readonly Uint8Array[], address?: string): SubmitResult[];
  stop(): Promise<void>;
}

/**
 * The mempool reactor: owns the mempool protocol, the batching gossip of admitted
 * transactions, admission of gossiped ones, and re-gossip. Gossip lost while a peer was down
 * leaves transactions stranded here, where only a view change would bring them to a primary:
 * while no block comes, the longest-waiting go out again, each at most once, so an
 * overloaded network that is merely slow never gets a storm of duplicates on top of its load.
 */
export async function createMempoolReactor(
  options: MempoolReactorOptions,
  components: MempoolReactorComponents,
): Promise<MempoolReactor> {
  const { transport, timers, mempool, chain, consensus, peers, metrics } = components;
  const channel = await transport.messages<Uint8Array[]>({
    protocol: MEMPOOL_PROTOCOL,
    maxMessageBytes: GOSSIP_MAX_FRAME_BYTES,
    decode: decodeTxBatch,
    onMessage: (_peer, txs) => {
      let admitted = 0;
      for (const raw of txs) if (mempool.admit(raw, 'gossip').accepted) admitted++;
      if (admitted > 0) consensus.transactionsArrived();
    },
    allowPeer: (peer) => peers.isMember(peer),
  });
  const gossip = new TxGossip(
    (frame, count) => {
      metrics.mempool.gossipFrameTxs.observe(count);
      for (const peer of peers.memberPeers()) channel.send(peer, frame);
    },
    { timers },
  );
  let heightAtRegossip = chain.height;
  const regossiped = new WeakSet<object>();
  const regossip: Timer = timers.setInterval(() => {
    if (chain.height === heightAtRegossip) {
      for (const tx of mempool.oldest(REGOSSIP_MAX_TXS)) {
        if (regossiped.has(tx)) continue;
        regossiped.add(tx);
        gossip.add(encodeTransaction(tx));
      }
    }
    heightAtRegossip = chain.height;
  }, options.regossipIntervalMs);
  /** Admission of one API submission; the caller tells the driver once per request. */
  const admit = (bytes: Uint8Array, address: string | undefined): SubmitResult => {
    const result = mempool.admit(bytes, 'api', address);
    if (!result.accepted) return result;
    gossip.add(bytes);
    return { accepted: true, hash: result.hash };
  };
  return {
    submit(bytes, address) {
      const result = admit(bytes, address);
      if (result.accepted) consensus.transactionsArrived();
      return result;
    },
    submitMany(list, address) {
      const results = list.map((bytes) => admit(bytes, address));
      if (results.some((result) => result.accepted)) consensus.transactionsArrived();
      return results;
    },
    async stop() {
      regossip.cancel();
      gossip.stop();
      await channel.close();
    },
  };
}
