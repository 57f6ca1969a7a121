import { Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  DEFAULT_LEDGER_PARAMS,
  encodeTransaction,
  initGenesisState,
  MemoryStore,
  parseGenesis,
  signTransaction,
  transactionHash,
} from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { decodeTxBatch } from '../src/chain/gossip.js';
import { createMempoolReactor } from '../src/chain/mempool-reactor.js';
import {
  createMetrics,
  Mempool,
  type PeerDirectory,
  type Timer,
  type Transport,
} from '../src/index.js';

/**
 * The mempool reactor's API admission over a real mempool, with the transport and timers
 * replaced by recorders: a batch is admitted in order, wakes the driver once, and leaves in
 * one gossip frame per peer (counted in medchain_mempool_gossip_frame_txs).
 */

const CHAIN_ID = 'medchain-reactor-test';
const T0 = 1_750_000_000_000;
const signer = (label: string) => new Signer(sha256(utf8(`reactor-test:${label}`)));

async function setup() {
  const store = new MemoryStore();
  const state = new AuthenticatedState(store);
  const doc = parseGenesis({
    chainId: CHAIN_ID,
    genesisTime: T0,
    organizations: [
      {
        id: sha256(utf8('org')),
        adminKeys: [signer('admin').publicKey],
        validatorKey: signer('validator').publicKey,
        peerId: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
      },
    ],
    params: { ...DEFAULT_LEDGER_PARAMS },
    consensus: {},
  });
  store.write(initGenesisState(state, doc).ops);
  const metrics = createMetrics();
  const mempool = new Mempool({
    chainId: CHAIN_ID,
    maxTxs: 1_000,
    maxBytes: 1 << 20,
    maxTxBytes: 16 * 1024,
    head: { state, lastTime: T0, hasTransaction: () => false },
    metrics,
  });
  const sent: Array<{ peer: string; frame: Uint8Array }> = [];
  const transport = {
    messages: async () => ({
      protocol: 'mempool',
      send: (peer: string, frame: Uint8Array) => sent.push({ peer, frame }) > 0,
      forget: () => {},
      close: async () => {},
    }),
  } as unknown as Transport;
  // Timers that fire only when the test says: the gossip delay is not waited out for real.
  const due: Array<() => void> = [];
  const timer = (callback: () => void): Timer => {
    due.push(callback);
    return { cancel: () => due.splice(due.indexOf(callback) >>> 0, 1) };
  };
  let wakeUps = 0;
  const reactor = await createMempoolReactor(
    { regossipIntervalMs: 60_000 },
    {
      transport,
      timers: { setTimeout: timer, setInterval: () => ({ cancel: () => {} }) },
      mempool,
      chain: { height: 0 },
      consensus: { transactionsArrived: () => wakeUps++ },
      peers: {
        memberPeers: () => ['peer-b', 'peer-c'],
        isMember: () => true,
      } as unknown as PeerDirectory,
      metrics,
    },
  );
  const flush = () => {
    for (const callback of due.splice(0)) callback();
  };
  return { reactor, mempool, metrics, sent, flush, wakeUps: () => wakeUps };
}

const registration = (label: string, nonce = 1) =>
  signTransaction(
    {
      chainId: CHAIN_ID,
      kind: 'patient.register',
      body: {},
      signer: signer(label).publicKey,
      nonce,
    },
    signer(label),
  );

describe('mempool reactor: batch submission', () => {
  it('admits a batch in order, wakes the driver once and gossips it in one frame per peer', async () => {
    const { reactor, mempool, metrics, sent, flush, wakeUps } = await setup();
    const txs = Array.from({ length: 50 }, (_, i) => registration(`patient-${i}`));
    const bytes = txs.map(encodeTransaction);
    const results = reactor.submitMany([...bytes, bytes[0]!, Uint8Array.of(1, 2, 3)], '10.0.0.1');
    expect(results.slice(0, 50)).toEqual(
      txs.map((tx) => ({ accepted: true, hash: transactionHash(tx) })),
    );
    expect(results.slice(50).map((r) => !r.accepted && r.code)).toEqual(['DUPLICATE', 'MALFORMED']);
    expect(mempool.size).toBe(50);
    expect(mempool.pendingFromAddress('10.0.0.1')).toBe(50);
    expect(wakeUps()).toBe(1);
    flush();
    expect(sent.map((s) => s.peer)).toEqual(['peer-b', 'peer-c']);
    expect(decodeTxBatch(sent[0]!.frame).map(toHex)).toEqual(bytes.map(toHex));
    const histogram = (await metrics.mempool.gossipFrameTxs.get()).values;
    expect(histogram.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(1);
    expect(histogram.find((v) => v.metricName?.endsWith('_sum'))?.value).toBe(50);
    await reactor.stop();
  });

  it('does not wake the driver for a batch it refused whole', async () => {
    const { reactor, sent, flush, wakeUps } = await setup();
    const results = reactor.submitMany([Uint8Array.of(0xc0), Uint8Array.of()]);
    expect(results.every((r) => !r.accepted)).toBe(true);
    flush();
    expect(wakeUps()).toBe(0);
    expect(sent).toEqual([]);
    await reactor.stop();
  });

  it('a single submission is the batch of one', async () => {
    const { reactor, sent, flush, wakeUps } = await setup();
    const tx = registration('alone');
    expect(reactor.submit(encodeTransaction(tx))).toEqual({
      accepted: true,
      hash: transactionHash(tx),
    });
    expect(reactor.submit(encodeTransaction(tx))).toMatchObject({ code: 'DUPLICATE' });
    expect(wakeUps()).toBe(1);
    flush();
    expect(sent).toHaveLength(2);
    await reactor.stop();
  });
});
