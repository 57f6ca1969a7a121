/**
 * Node I/O micro-benchmarks: WAL sync, block batch write, state reads, framed protocol.
 * Run: npx tsx --tsconfig tsconfig.test.json packages/node/bench/io.ts (from the repo root).
 */
import '../src/polyfill.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { sha256, utf8 } from '@medchain/crypto';
import {
  ChainStore,
  createHost,
  createLogger,
  createMetrics,
  Database,
  FramedProtocol,
  PeerAllowlist,
  StateStore,
  Wal,
} from '../src/index.js';

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(name: string, samplesMs: number[]): void {
  console.log(
    `${name.padEnd(48)} median ${percentile(samplesMs, 50).toFixed(3)} ms  p99 ${percentile(samplesMs, 99).toFixed(3)} ms  (n=${samplesMs.length})`,
  );
}

async function benchWal(dir: string): Promise<void> {
  const wal = await Wal.open(join(dir, 'wal'));
  const record = new Uint8Array(300).fill(1);
  const samples: number[] = [];
  for (let i = 0; i < 500; i++) {
    const started = performance.now();
    wal.append([record, record]);
    await wal.sync();
    samples.push(performance.now() - started);
  }
  report('WAL append 2 x 300 B + fdatasync', samples);
  await wal.close();
}

async function benchDb(dir: string): Promise<void> {
  const db = await Database.open(join(dir, 'db'));
  const chain = new ChainStore(db);
  const state = new StateStore(db, { cacheEntries: 200_000 });
  const txs = 2_000;
  const samples: number[] = [];
  for (let height = 1; height <= 20; height++) {
    const batch = db.batch();
    const hashes = Array.from({ length: txs }, (_, i) => sha256(utf8(`${height}/${i}`)));
    chain.saveCommittedBlock(batch, {
      height,
      block: new Uint8Array(txs * 240),
      certificate: new Uint8Array(3 * 100),
      txs: hashes.map((hash) => ({ hash, receipt: new Uint8Array(40) })),
    });
    state.write(hashes.map((key) => ({ type: 'put' as const, key, value: new Uint8Array(120) })));
    state.stageInto(batch);
    const started = performance.now();
    await db.write(batch);
    samples.push(performance.now() - started);
  }
  report(`block batch: ${txs} txs + ${txs} state puts, sync`, samples);
  const keys = Array.from({ length: 20_000 }, (_, i) => sha256(utf8(`${1 + (i % 20)}/${i % txs}`)));
  const cold = new StateStore(db, { cacheEntries: 100_000 });
  let started = performance.now();
  for (const key of keys) cold.get(key);
  const missUs = ((performance.now() - started) * 1000) / keys.length;
  started = performance.now();
  for (const key of keys) cold.get(key);
  const hitUs = ((performance.now() - started) * 1000) / keys.length;
  console.log(
    `${'state get: getSync miss / LRU hit'.padEnd(48)} ${missUs.toFixed(2)} µs / ${hitUs.toFixed(2)} µs per key`,
  );
  await db.close();
}

async function benchNet(): Promise<void> {
  const logger = createLogger({ level: 'silent' });
  const make = async () => {
    const metrics = createMetrics();
    const host = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [],
      privateNetwork: false,
      allowlist: new PeerAllowlist(),
      logger,
      metrics,
    });
    return { host, metrics };
  };
  const a = await make();
  const b = await make();
  await a.host.libp2p.peerStore.merge(b.host.libp2p.peerId, {
    multiaddrs: b.host.libp2p.getMultiaddrs(),
  });
  for (const size of [200, 1024, 8192]) {
    const frames = size > 1024 ? 2_000 : 8_000;
    let received = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const protocol = `/bench/${size}/1.0.0`;
    const receiver = new FramedProtocol(b.host.libp2p, {
      protocol,
      maxFrameBytes: 16 * 1024,
      decode: (bytes) => bytes,
      onMessage: () => {
        if (++received === frames) done();
      },
      logger,
      metrics: b.metrics,
    });
    const sender = new FramedProtocol(a.host.libp2p, {
      protocol,
      maxFrameBytes: 16 * 1024,
      decode: (bytes) => bytes,
      onMessage: () => undefined,
      logger,
      metrics: a.metrics,
    });
    await receiver.start();
    await sender.start();
    // Warm up: open the stream.
    sender.send(b.host.peerId, new Uint8Array(size));
    await new Promise((resolve) => setTimeout(resolve, 200));
    received = 0;
    const payload = new Uint8Array(size);
    const started = performance.now();
    for (let i = 0; i < frames; i++) sender.send(b.host.peerId, payload);
    await finished;
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${`framed protocol, ${size} B frames, one way`.padEnd(48)} ${(frames / seconds).toFixed(0)} frames/s  ${((frames * size) / seconds / 1e6).toFixed(1)} MB/s`,
    );
    await sender.stop();
    await receiver.stop();
  }
  await a.host.stop();
  await b.host.stop();
}

const dir = await mkdtemp(join(tmpdir(), 'medchain-node-bench-'));
try {
  await benchWal(dir);
  await benchDb(dir);
  await benchNet();
} finally {
  await rm(dir, { recursive: true, force: true });
}
