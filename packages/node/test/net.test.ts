import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { decodeCanonical, encodeCanonical } from '@medchain/crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHost,
  createLogger,
  createMetrics,
  encodeFrame,
  FramedProtocol,
  type Host,
  loadOrCreatePeerIdentity,
  type Metrics,
  PEER_KEY_FILE,
  PeerAllowlist,
  protocolId,
  RequestProtocol,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const PROTOCOL = protocolId('consensus');
const MAX_FRAME = 16 * 1024;

/** Polls `condition` a bounded number of times; fails with `what` if it never holds. */
async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  tries = 3_000,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await sleep(5);
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface TestMessage {
  from: string;
  seq: number;
  pad: Uint8Array;
}

function encodeMessage(message: TestMessage): Uint8Array {
  return encodeCanonical({ from: message.from, seq: message.seq, pad: message.pad });
}

function decodeMessage(bytes: Uint8Array): TestMessage {
  const value = decodeCanonical(bytes) as Record<string, unknown>;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.from !== 'string' ||
    typeof value.seq !== 'number' ||
    !(value.pad instanceof Uint8Array)
  ) {
    throw new Error('not a test message');
  }
  return value as unknown as TestMessage;
}

interface TestNode {
  name: string;
  host: Host;
  metrics: Metrics;
  proto: FramedProtocol<TestMessage>;
  received: TestMessage[];
  failOnSeq?: number;
}

async function startNode(
  name: string,
  key: Ed25519PrivateKey,
  allowed: string[],
  options: { maxQueuedFrames?: number } = {},
): Promise<TestNode> {
  const metrics = createMetrics({ node: name });
  const logger = createLogger({ level: 'silent' });
  const host = await createHost({
    privateKey: key,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: [],
    privateNetwork: true,
    allowlist: new PeerAllowlist(allowed),
    logger,
    metrics,
  });
  const node: TestNode = { name, host, metrics, received: [] } as unknown as TestNode;
  node.proto = new FramedProtocol<TestMessage>(host.libp2p, {
    protocol: PROTOCOL,
    maxFrameBytes: MAX_FRAME,
    decode: decodeMessage,
    onMessage: (_peer, message) => {
      if (message.seq === node.failOnSeq) throw new Error('handler failure on purpose');
      node.received.push(message);
    },
    logger,
    metrics,
    reconnect: { minDelayMs: 10, maxDelayMs: 200 },
    ...options,
  });
  await node.proto.start();
  return node;
}

/** Tells `node` where the others listen (what config peers do in production). */
async function introduce(nodes: TestNode[]): Promise<void> {
  for (const node of nodes) {
    for (const other of nodes) {
      if (other === node) continue;
      await node.host.libp2p.peerStore.merge(other.host.libp2p.peerId, {
        multiaddrs: other.host.libp2p.getMultiaddrs(),
      });
    }
  }
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>) {
  const metric = (await metrics.register.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return value?.value ?? 0;
}

/** The rejection of `promise` (undefined if it resolved). */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('peer identity', () => {
  it('is created once with mode 0600 and reloaded with the same peer id', async () => {
    const dir = await tempDir('identity');
    cleanups.push(dir.remove);
    const first = await loadOrCreatePeerIdentity(dir.path);
    expect(first.created).toBe(true);
    expect((await stat(join(dir.path, PEER_KEY_FILE))).mode & 0o777).toBe(0o600);
    const again = await loadOrCreatePeerIdentity(dir.path);
    expect(again.created).toBe(false);
    expect(again.peerId.toString()).toBe(first.peerId.toString());
  });

  it('refuses a key others can read, and a file that is not a key', async () => {
    const dir = await tempDir('identity-bad');
    cleanups.push(dir.remove);
    await loadOrCreatePeerIdentity(dir.path);
    const path = join(dir.path, PEER_KEY_FILE);
    await chmod(path, 0o644);
    await expect(loadOrCreatePeerIdentity(dir.path)).rejects.toMatchObject({
      code: 'NODE_PEER_KEY_PERMISSIONS',
    });
    await writeFile(path, 'not a key', { mode: 0o600 });
    await chmod(path, 0o600);
    await expect(loadOrCreatePeerIdentity(dir.path)).rejects.toMatchObject({
      code: 'NODE_PEER_KEY_INVALID',
    });
  });
});

describe('framed protocol over libp2p (127.0.0.1)', () => {
  let keys: Ed25519PrivateKey[];
  let ids: string[];
  let a: TestNode;
  let b: TestNode;
  let c: TestNode;

  beforeAll(async () => {
    keys = await Promise.all([0, 1, 2, 3].map(() => generateKeyPair('Ed25519')));
    ids = keys.map((key) => peerIdFromPrivateKey(key).toString());
    const members = ids.slice(0, 3);
    [a, b, c] = await Promise.all([
      startNode('a', keys[0]!, members),
      startNode('b', keys[1]!, members),
      startNode('c', keys[2]!, members),
    ]);
    await introduce([a, b, c]);
  });

  afterAll(async () => {
    for (const node of [a, b, c]) {
      await node.proto.stop();
      await node.host.stop();
    }
  });

  function clear(): void {
    for (const node of [a, b, c]) node.received.length = 0;
  }

  it('three hosts exchange frames in order over one long-lived stream per peer', async () => {
    clear();
    const nodes = [a, b, c];
    for (let seq = 0; seq < 200; seq++) {
      for (const from of nodes) {
        for (const to of nodes) {
          if (to === from) continue;
          from.proto.send(
            to.host.peerId,
            encodeMessage({ from: from.name, seq, pad: new Uint8Array(seq % 50) }),
          );
        }
      }
    }
    await until(() => nodes.every((node) => node.received.length === 400), 'all frames');
    for (const node of nodes) {
      for (const from of nodes.filter((n) => n !== node)) {
        const seqs = node.received.filter((m) => m.from === from.name).map((m) => m.seq);
        expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
      }
      expect(
        await metricValue(node.metrics, 'medchain_protocol_streams_opened_total', {
          protocol: PROTOCOL,
        }),
      ).toBe(2);
      expect(await metricValue(node.metrics, 'medchain_libp2p_peers', {})).toBe(2);
    }
  });

  it('a non-member can neither connect nor open a stream, and members never dial it', async () => {
    const stranger = await startNode('d', keys[3]!, ids, { maxQueuedFrames: 3 });
    cleanups.push(async () => {
      await stranger.proto.stop();
      await stranger.host.stop();
    });
    await introduce([a, stranger]);
    const denied = (stage: string) =>
      metricValue(a.metrics, 'medchain_libp2p_connections_denied_total', { stage });
    const before = await denied('inbound');
    expect(
      await failure(stranger.host.libp2p.dialProtocol(a.host.libp2p.getMultiaddrs()[0]!, PROTOCOL)),
    ).toBeInstanceOf(Error);
    // The stranger's side never sees a connection either, not even for a moment.
    const connected: string[] = [];
    stranger.host.libp2p.addEventListener('peer:connect', (event) =>
      connected.push(event.detail.toString()),
    );
    expect(await failure(stranger.host.libp2p.dial(a.host.libp2p.peerId))).toBeInstanceOf(Error);
    expect(connected).toEqual([]);
    expect(stranger.host.libp2p.getConnections(a.host.libp2p.peerId)).toEqual([]);
    expect(a.host.libp2p.getConnections(stranger.host.libp2p.peerId)).toEqual([]);
    expect(await denied('inbound')).toBeGreaterThan(before);
    expect(a.host.libp2p.getPeers().map(String)).not.toContain(ids[3]);
    // A member never dials a stranger either.
    expect(await failure(a.host.libp2p.dial(stranger.host.libp2p.peerId))).toBeInstanceOf(Error);
    expect(await denied('dial')).toBeGreaterThan(0);
    // The stranger's framed sender keeps retrying with backoff; nothing ever arrives.
    stranger.proto.send(
      a.host.peerId,
      encodeMessage({ from: 'd', seq: 1, pad: new Uint8Array(0) }),
    );
    await until(async () => (await denied('inbound')) > before + 3, 'retries to be refused');
    expect(a.received.filter((m) => m.from === 'd')).toEqual([]);
    expect(stranger.proto.queuedFrames(a.host.peerId)).toBe(1);
    // The queue towards an unreachable peer is bounded; overflow is dropped and counted.
    const more = [2, 3, 4, 5].map((seq) =>
      stranger.proto.send(a.host.peerId, encodeMessage({ from: 'd', seq, pad: new Uint8Array(0) })),
    );
    expect(more).toEqual([true, true, false, false]);
    expect(
      await metricValue(stranger.metrics, 'medchain_protocol_frames_rejected_total', {
        protocol: PROTOCOL,
        reason: 'queue_full',
      }),
    ).toBe(2);
    stranger.proto.forget(a.host.peerId);
    expect(stranger.proto.queuedFrames(a.host.peerId)).toBe(0);
  });

  it('dials configured peers by id, and admits a new member once the allowlist grows', async () => {
    const key = await generateKeyPair('Ed25519');
    const metrics = createMetrics({ node: 'e' });
    const logger = createLogger({ level: 'silent' });
    const aAddr = a.host.libp2p.getMultiaddrs()[0]!.toString().split('/p2p/')[0]!;
    const host = await createHost({
      privateKey: key,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [{ peerId: a.host.peerId, addrs: [aAddr] }],
      privateNetwork: true,
      logger,
      metrics,
    });
    const proto = new FramedProtocol<TestMessage>(host.libp2p, {
      protocol: PROTOCOL,
      maxFrameBytes: MAX_FRAME,
      decode: decodeMessage,
      onMessage: () => undefined,
      logger,
      metrics,
      reconnect: { minDelayMs: 10, maxDelayMs: 50 },
    });
    await proto.start();
    cleanups.push(async () => {
      a.host.allowlist.delete(host.peerId);
      await proto.stop();
      await host.stop();
    });
    expect(host.allowlist.has(a.host.peerId)).toBe(true);
    const refused = () =>
      metricValue(a.metrics, 'medchain_libp2p_connections_denied_total', { stage: 'inbound' });
    const before = await refused();
    proto.send(a.host.peerId, encodeMessage({ from: 'e', seq: 1, pad: new Uint8Array(0) }));
    await until(async () => (await refused()) > before, 'A to refuse the newcomer');
    expect(a.received.some((m) => m.from === 'e')).toBe(false);
    a.host.allowlist.add(host.peerId); // e.g. a governance tx admitted the hospital
    await until(() => a.received.some((m) => m.from === 'e'), 'delivery after admission');
    expect(() => proto.send(a.host.peerId, new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: 'NODE_FRAME_EMPTY' }),
    );
  });

  it('oversize and broken length prefixes close only that stream; bad frames are counted, not fatal', async () => {
    clear();
    const rejected = (reason: string) =>
      metricValue(a.metrics, 'medchain_protocol_frames_rejected_total', {
        protocol: PROTOCOL,
        reason,
      });

    // A frame that does not decode is dropped; the same stream keeps working.
    const raw = await b.host.libp2p.dialProtocol(a.host.libp2p.peerId, PROTOCOL);
    raw.send(encodeFrame(Uint8Array.of(0xc1))); // 0xc1 is never valid msgpack
    raw.send(encodeFrame(encodeMessage({ from: 'raw', seq: 1, pad: new Uint8Array(0) })));
    await until(() => a.received.some((m) => m.from === 'raw'), 'frame after a bad one');
    expect(await rejected('decode')).toBe(1);
    expect(raw.status).toBe('open');

    // An oversize announced length aborts the stream at once.
    const big = new Uint8Array(MAX_FRAME + 1);
    raw.send(encodeFrame(big).subarray(0, 64));
    await until(() => raw.status !== 'open', 'oversize stream to be closed');
    expect(await rejected('oversize')).toBe(1);

    // A non-minimal varint (0x80 0x00) cannot be framed safely either.
    const raw2 = await b.host.libp2p.dialProtocol(a.host.libp2p.peerId, PROTOCOL);
    raw2.send(Uint8Array.of(0x80, 0x00, 1, 2, 3));
    await until(() => raw2.status !== 'open', 'non-minimal stream to be closed');
    expect(await rejected('framing')).toBe(1);

    // The handler throwing is counted; later messages still arrive.
    a.failOnSeq = 7;
    b.proto.send(a.host.peerId, encodeMessage({ from: 'b', seq: 7, pad: new Uint8Array(0) }));
    b.proto.send(a.host.peerId, encodeMessage({ from: 'b', seq: 8, pad: new Uint8Array(0) }));
    await until(() => a.received.some((m) => m.seq === 8), 'message after a handler failure');
    expect(await rejected('handler')).toBe(1);
    a.failOnSeq = undefined;

    // An outgoing frame over the limit is the caller's bug: a coded error, nothing queued.
    expect(() => b.proto.send(a.host.peerId, new Uint8Array(MAX_FRAME + 1))).toThrow(
      expect.objectContaining({ code: 'NODE_FRAME_TOO_LARGE' }),
    );
  });

  it('random garbage on raw streams never stops the host from serving (fast-check)', async () => {
    clear();
    let sentinel = 1_000;
    const rejectedTotal = async () => {
      let total = 0;
      for (const reason of ['oversize', 'framing', 'decode']) {
        total += await metricValue(a.metrics, 'medchain_protocol_frames_rejected_total', {
          protocol: PROTOCOL,
          reason,
        });
      }
      return total;
    };
    const rejectedBefore = await rejectedTotal();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 2_048 }), { minLength: 1, maxLength: 4 }),
        async (chunks) => {
          const raw = await c.host.libp2p.dialProtocol(a.host.libp2p.peerId, PROTOCOL);
          for (const chunk of chunks) {
            if (raw.status !== 'open') break;
            raw.send(chunk);
          }
          await raw.close().catch(() => undefined);
          const seq = ++sentinel;
          c.proto.send(a.host.peerId, encodeMessage({ from: 'c', seq, pad: new Uint8Array(0) }));
          await until(() => a.received.some((m) => m.seq === seq), `sentinel ${seq}`);
        },
      ),
      { numRuns: 25 },
    );
    expect(a.host.libp2p.status).toBe('started');
    // Garbage never turned into a delivered message, and refusals were counted.
    expect(a.received.every((m) => m.from === 'c' && m.seq > 1_000)).toBe(true);
    expect(await rejectedTotal()).toBeGreaterThan(rejectedBefore);
  });

  it('a big burst is sent with backpressure (waits for drain) and arrives whole and in order', async () => {
    clear();
    const frames = 3_000;
    const pad = new Uint8Array(8 * 1024).fill(7);
    for (let seq = 0; seq < frames; seq++) {
      expect(a.proto.send(b.host.peerId, encodeMessage({ from: 'a', seq, pad }))).toBe(true);
    }
    await until(() => b.received.length === frames, 'burst', 20_000);
    expect(b.received.map((m) => m.seq)).toEqual(Array.from({ length: frames }, (_, i) => i));
    expect(
      await metricValue(a.metrics, 'medchain_protocol_send_waits_total', { protocol: PROTOCOL }),
    ).toBeGreaterThan(0);
  });

  it('reopens the outbound stream after the connection drops', async () => {
    clear();
    const opened = () =>
      metricValue(b.metrics, 'medchain_protocol_streams_opened_total', { protocol: PROTOCOL });
    const before = await opened();
    b.proto.send(c.host.peerId, encodeMessage({ from: 'b', seq: 1, pad: new Uint8Array(0) }));
    await until(() => c.received.length === 1, 'first message');
    await b.host.libp2p.hangUp(c.host.libp2p.peerId);
    await until(() => b.host.libp2p.getConnections(c.host.libp2p.peerId).length === 0, 'hang up');
    b.proto.send(c.host.peerId, encodeMessage({ from: 'b', seq: 2, pad: new Uint8Array(0) }));
    await until(() => c.received.some((m) => m.seq === 2), 'message after reconnect');
    expect(await opened()).toBeGreaterThan(before);
  });

  it('request/response: answers, refuses oversize requests, reports handler failures as coded errors', async () => {
    const SYNC = protocolId('blocks');
    const logger = createLogger({ level: 'silent' });
    const make = (node: TestNode) =>
      new RequestProtocol(node.host.libp2p, {
        protocol: SYNC,
        maxRequestBytes: 64,
        maxResponseBytes: 4096,
        handle: async (peer, request) => {
          if (request[0] === 0xff) throw new Error('cannot serve that');
          return encodeCanonical({ asker: peer, echo: request });
        },
        logger,
        metrics: node.metrics,
      });
    const server = make(a);
    const client = make(b);
    await server.start();
    await client.start();
    cleanups.push(async () => {
      await client.stop();
      await server.stop();
    });
    const answers = await Promise.all(
      [1, 2, 3, 4].map((n) => client.request(a.host.peerId, Uint8Array.of(n))),
    );
    expect(answers.map((bytes) => decodeCanonical(bytes))).toEqual(
      [1, 2, 3, 4].map((n) => ({ asker: b.host.peerId, echo: Uint8Array.of(n) })),
    );
    await expect(client.request(a.host.peerId, Uint8Array.of(0xff))).rejects.toMatchObject({
      code: 'NODE_REQUEST_FAILED',
    });
    expect(
      await metricValue(a.metrics, 'medchain_protocol_frames_rejected_total', {
        protocol: SYNC,
        reason: 'handler',
      }),
    ).toBe(1);
    // The client refuses to send an oversize request; a raw peer that does is cut off.
    await expect(client.request(a.host.peerId, new Uint8Array(65))).rejects.toMatchObject({
      code: 'NODE_FRAME_TOO_LARGE',
    });
    const raw = await b.host.libp2p.dialProtocol(a.host.libp2p.peerId, SYNC);
    raw.send(encodeFrame(new Uint8Array(65)));
    await until(() => raw.status !== 'open', 'oversize request stream to close');
    expect(
      await metricValue(a.metrics, 'medchain_protocol_frames_rejected_total', {
        protocol: SYNC,
        reason: 'oversize',
      }),
    ).toBe(1);
    // Still serving.
    expect(decodeCanonical(await client.request(a.host.peerId, Uint8Array.of(9)))).toEqual({
      asker: b.host.peerId,
      echo: Uint8Array.of(9),
    });
  });
});
