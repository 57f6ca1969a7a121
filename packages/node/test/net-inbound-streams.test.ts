import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { concatBytes, utf8 } from '@medchain/crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHost,
  createLogger,
  createMetrics,
  encodeFrame,
  FramedProtocol,
  type FramedProtocolOptions,
  type Host,
  PeerAllowlist,
  RequestProtocol,
  type RequestProtocolOptions,
} from '../src/index.js';
import { FrameDecoder } from '../src/net/framing.js';

/*
 * Inbound stream slots. libp2p counts a stream against a protocol's per-connection limit until
 * the stream is closed BOTH ways (or reset). The rogue here is a raw libp2p dialer: it opens
 * streams and sends whole, partial or no frames, closes or never closes its end, resets, or
 * hangs up. Whatever it does, every slot must come back, and then a fresh stream from the same
 * peer must be accepted. (Before the fix, a sender that sent one frame and closed its end left
 * the slot taken forever, because the handler never closed its own end: the third such stream
 * with a limit of 2 was refused.) Waits are bounded polls that fail with what they waited for.
 */

const CAP = 2;
const MAX_FRAME = 1_024;
const logger = createLogger({ level: 'silent' });
const serverMetrics = createMetrics({ node: 'server' });
const clientMetrics = createMetrics({ node: 'rogue' });

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  tries = 1_000,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await condition()) return;
    await sleep(5);
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function metricValue(
  metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((entry) => Object.entries(labels).every(([key, value]) => entry.labels[key] === value))
    .reduce((sum, entry) => sum + entry.value, 0);
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let server: Host;
let rogue: Host;
let protocols = 0;

beforeAll(async () => {
  const keys = await Promise.all([0, 1].map(() => generateKeyPair('Ed25519')));
  const members = keys.map((key) => peerIdFromPrivateKey(key).toString());
  const start = (index: number) =>
    createHost({
      privateKey: keys[index]!,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [],
      privateNetwork: true,
      allowlist: new PeerAllowlist(members),
      logger,
      metrics: index === 0 ? serverMetrics : clientMetrics,
    });
  server = await start(0);
  rogue = await start(1);
  await rogue.libp2p.peerStore.merge(server.libp2p.peerId, {
    multiaddrs: server.libp2p.getMultiaddrs(),
  });
});

afterAll(async () => {
  await rogue?.stop();
  await server?.stop();
});

/** Streams of `protocol` between the rogue and the server, as libp2p counts them. */
function streamsOn(host: Host, protocol: string, direction: 'inbound' | 'outbound'): Stream[] {
  const other = host === server ? rogue : server;
  return host.libp2p
    .getConnections(other.libp2p.peerId)
    .flatMap((connection) => connection.streams)
    .filter((stream) => stream.direction === direction && stream.protocol === protocol);
}

const openGauge = (protocol: string) => metricValue(serverMetrics.net.inboundStreams, { protocol });
const timeouts = (protocol: string, reason?: string) =>
  metricValue(serverMetrics.net.streamTimeouts, { protocol, ...(reason ? { reason } : {}) });
const rejected = (protocol: string, reason: string) =>
  metricValue(serverMetrics.net.framesRejected, { protocol, reason });

/** Every slot of `protocol` is free: libp2p holds no inbound stream and the gauge is exactly 0. */
async function expectReleased(protocol: string, what: string): Promise<void> {
  await until(
    async () =>
      streamsOn(server, protocol, 'inbound').length === 0 && (await openGauge(protocol)) === 0,
    `${what}: every inbound slot released`,
  );
}

const frame = (text: string) => encodeFrame(utf8(text));
/** A frame whose payload starts with `marker` (0xff: does not decode, 0xfe: handler throws). */
const markedFrame = (marker: number) => encodeFrame(Uint8Array.of(marker, 1, 2, 3));
/** The first bytes of a 100-byte frame: the prefix and 10 of its bytes. */
const partialFrame = () => encodeFrame(new Uint8Array(100).fill(7)).subarray(0, 11);

/** Sends `bytes` on a stream that the server may already have aborted; never throws. */
function sendQuietly(stream: Stream, bytes: Uint8Array): void {
  if (stream.writeStatus !== 'writable') return;
  try {
    stream.send(bytes);
  } catch {
    // the server cut the stream first: that is its answer
  }
}

describe('framed protocol: inbound stream slots', () => {
  async function serveFramed(options: Partial<FramedProtocolOptions<Uint8Array>> = {}) {
    const protocol = `/medchain/test-inbound-${++protocols}/1.0.0`;
    const received: string[] = [];
    const proto = new FramedProtocol<Uint8Array>(server.libp2p, {
      protocol,
      maxFrameBytes: MAX_FRAME,
      maxInboundStreams: CAP,
      decode: (bytes) => {
        if (bytes[0] === 0xff) throw new Error('undecodable on purpose');
        return bytes.slice();
      },
      onMessage: (_peer, bytes) => {
        if (bytes[0] === 0xfe) throw new Error('handler failure on purpose');
        received.push(new TextDecoder().decode(bytes));
      },
      logger,
      metrics: serverMetrics,
      ...options,
    });
    await proto.start();
    cleanups.push(() => proto.stop());
    let fresh = 0;
    /** A new stream from the same peer is accepted: its frame arrives. */
    const acceptsFreshStream = async () => {
      const text = `fresh-${++fresh}`;
      const stream = await rogue.libp2p.dialProtocol(server.libp2p.peerId, protocol);
      stream.send(frame(text));
      await stream.close();
      await until(() => received.includes(text), `${protocol}: a fresh stream's frame`);
    };
    const dial = () => rogue.libp2p.dialProtocol(server.libp2p.peerId, protocol);
    return { protocol, proto, received, acceptsFreshStream, dial };
  }

  it('a sender that closes its end after whole frames frees the slot at once: streams never run out', async () => {
    // Default (long) timeouts: only the closing itself can free these slots within the wait.
    const { protocol, received, dial } = await serveFramed();
    for (let i = 0; i < 3 * CAP; i++) {
      const stream = await dial();
      stream.send(frame(`whole-${i}`));
      await stream.close();
      await until(() => received.includes(`whole-${i}`), `frame of stream ${i} (limit ${CAP})`);
      await expectReleased(protocol, `stream ${i}`);
      await until(() => stream.status === 'closed', `stream ${i} closed on the sender too`);
    }
    expect(await timeouts(protocol)).toBe(0);
  });

  it('silent streams that never close are aborted after the idle timeout, counted, and the peer is served again', async () => {
    const { protocol, acceptsFreshStream, dial } = await serveFramed({ idleTimeoutMs: 300 });
    const silent = [await dial(), await dial()];
    await until(
      () => silent.every((s) => s.status === 'reset'),
      'the rogue to see its streams reset',
    );
    await expectReleased(protocol, 'idle streams');
    expect(await timeouts(protocol, 'idle')).toBe(CAP);
    await acceptsFreshStream();
  });

  it('half a frame left hanging, or trickled a byte at a time, is aborted after the frame timeout', async () => {
    // The idle timeout is far away, so only the frame deadline can end these streams.
    const { protocol, acceptsFreshStream, dial } = await serveFramed({
      idleTimeoutMs: 60_000,
      frameTimeoutMs: 250,
    });
    const hanging = await dial();
    hanging.send(partialFrame());
    const trickling = await dial();
    const whole = frame('x'.repeat(100));
    for (let i = 0; i < whole.length && trickling.status === 'open'; i++) {
      sendQuietly(trickling, whole.subarray(i, i + 1));
      await sleep(25);
    }
    await until(
      () => hanging.status === 'reset' && trickling.status === 'reset',
      'both stalled streams to be reset',
    );
    await expectReleased(protocol, 'stalled frames');
    expect(await timeouts(protocol, 'partial_frame')).toBe(CAP);
    expect(await timeouts(protocol, 'idle')).toBe(0);
    await acceptsFreshStream();
  });

  it('half a frame then a close frees the slot at once and counts the truncated frame', async () => {
    const { protocol, acceptsFreshStream, dial } = await serveFramed();
    const stream = await dial();
    stream.send(partialFrame());
    await stream.close();
    await expectReleased(protocol, 'truncated stream');
    expect(await rejected(protocol, 'truncated')).toBe(1);
    expect(await timeouts(protocol)).toBe(0);
    await acceptsFreshStream();
  });

  it('decode errors, handler throws, oversize and bad prefixes, resets and a hang-up each free the slot exactly once', async () => {
    const { protocol, received, acceptsFreshStream, dial } = await serveFramed();
    // A frame that does not decode and one whose handler throws keep their streams.
    const undecodable = await dial();
    undecodable.send(concatBytes(markedFrame(0xff), frame('after-decode-error')));
    const throwing = await dial();
    throwing.send(concatBytes(markedFrame(0xfe), frame('after-handler-error')));
    await until(
      () => received.includes('after-decode-error') && received.includes('after-handler-error'),
      'frames after a decode error and a handler throw',
    );
    expect(streamsOn(server, protocol, 'inbound').length).toBe(2);
    expect(await openGauge(protocol)).toBe(2);
    await undecodable.close();
    await throwing.close();
    await expectReleased(protocol, 'streams closed after decode and handler errors');
    expect(await rejected(protocol, 'decode')).toBe(1);
    expect(await rejected(protocol, 'handler')).toBe(1);

    // Broken framing: the server aborts the stream.
    const oversize = await dial();
    oversize.send(encodeFrame(new Uint8Array(MAX_FRAME + 1)).subarray(0, 8));
    const nonMinimal = await dial();
    nonMinimal.send(Uint8Array.of(0x80, 0x00, 1, 2));
    await until(
      () => oversize.status === 'reset' && nonMinimal.status === 'reset',
      'the server to abort both broken streams',
    );
    await expectReleased(protocol, 'oversize and non-minimal prefixes');
    expect(await rejected(protocol, 'oversize')).toBe(1);
    expect(await rejected(protocol, 'framing')).toBe(1);

    // The rogue resets mid-frame.
    const reset = await dial();
    reset.send(partialFrame());
    reset.abort(new Error('rogue reset'));
    await expectReleased(protocol, 'a stream reset mid-frame');

    // The rogue hangs up with two streams open mid-frame.
    const left = [await dial(), await dial()];
    for (const stream of left) stream.send(partialFrame());
    await until(
      async () => (await openGauge(protocol)) === 2,
      'both mid-frame streams to be accepted',
    );
    await rogue.libp2p.hangUp(server.libp2p.peerId);
    await expectReleased(protocol, 'streams of a closed connection');

    expect(await timeouts(protocol)).toBe(0);
    await acceptsFreshStream();
  });

  it('stop() aborts every inbound stream and frees every slot', async () => {
    const { protocol, proto, dial } = await serveFramed();
    const open = [await dial(), await dial()];
    for (const stream of open) stream.send(partialFrame());
    await until(async () => (await openGauge(protocol)) === CAP, 'both streams to be accepted');
    await proto.stop();
    await until(
      () => open.every((s) => s.status === 'reset'),
      'the rogue to see its streams reset',
    );
    await expectReleased(protocol, 'a stopped protocol');
  });

  it('a quiet outbound link closes itself before the peer would time it out; the next frame reopens it', async () => {
    const idleTimeoutMs = 4_000;
    const { protocol, received } = await serveFramed({ idleTimeoutMs });
    const sender = new FramedProtocol<Uint8Array>(rogue.libp2p, {
      protocol,
      maxFrameBytes: MAX_FRAME,
      decode: (bytes) => bytes,
      onMessage: () => undefined,
      idleTimeoutMs,
      logger,
      metrics: clientMetrics,
    });
    await sender.start();
    cleanups.push(() => sender.stop());
    const peer = server.libp2p.peerId.toString();
    sender.send(peer, utf8('before-quiet'));
    await until(() => received.includes('before-quiet'), 'the first frame');
    // Half the idle timeout later the sender closes the link gracefully, on both ends.
    await until(
      () => streamsOn(rogue, protocol, 'outbound').length === 0,
      'the quiet link to close on the sender',
      3_000,
    );
    await expectReleased(protocol, 'a quiet link');
    expect(await timeouts(protocol)).toBe(0);
    sender.send(peer, utf8('after-quiet'));
    await until(() => received.includes('after-quiet'), 'a frame after the link closed');
    expect(await metricValue(clientMetrics.net.streamsOpened, { protocol })).toBe(2);
  });

  type Behaviour =
    | 'whole+close'
    | 'partial+close'
    | 'nothing+close'
    | 'whole+reset'
    | 'whole+leave'
    | 'partial+leave'
    | 'nothing+leave'
    | 'oversize'
    | 'undecodable+close';

  it('any mix of stream behaviours from one peer never locks it out (fast-check, seeded)', async () => {
    const { protocol, received, acceptsFreshStream, dial } = await serveFramed({
      idleTimeoutMs: 300,
      frameTimeoutMs: 200,
    });
    const sent = new Set<string>();
    let n = 0;
    const act = async (behaviour: Behaviour) => {
      const text = `mix-${++n}`;
      let stream: Stream | undefined;
      try {
        // Past the limit libp2p refuses the stream (aborts it): also an answer.
        stream = await dial();
        const [what, end] = behaviour.split('+');
        if (what === 'whole') {
          sent.add(text);
          sendQuietly(stream, frame(text));
        } else if (what === 'partial') sendQuietly(stream, partialFrame());
        else if (what === 'oversize') sendQuietly(stream, Uint8Array.of(0xff, 0xff, 0xff, 0x7f));
        else if (what === 'undecodable') sendQuietly(stream, markedFrame(0xff));
        if (end === 'close') await stream.close();
        else if (end === 'reset') stream.abort(new Error('rogue reset'));
      } catch {
        stream?.abort(new Error('rogue gives up'));
      }
    };
    const behaviour = fc.constantFrom<Behaviour>(
      'whole+close',
      'partial+close',
      'nothing+close',
      'whole+reset',
      'whole+leave',
      'partial+leave',
      'nothing+leave',
      'oversize',
      'undecodable+close',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(behaviour, { minLength: 1, maxLength: 2 * CAP + 1 }),
        async (plan) => {
          for (const step of plan) await act(step);
          await expectReleased(protocol, `after ${plan.join(', ')}`);
          await acceptsFreshStream();
        },
      ),
      { numRuns: 12, seed: 20261125 },
    );
    // Only frames the rogue sent whole ever reached the handler.
    expect(received.filter((text) => !text.startsWith('fresh-')).every((t) => sent.has(t))).toBe(
      true,
    );
  });
});

describe('frame decoder: bytes held back', () => {
  it('pendingBytes is exactly the unfinished frame after any chunking (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (payloads, cuts) => {
          const frames = payloads.map(encodeFrame);
          const stream = concatBytes(...frames);
          const ends: number[] = [];
          let offset = 0;
          for (const f of frames) {
            offset += f.length;
            ends.push(offset);
          }
          const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort(
            (x, y) => x - y,
          );
          const decoder = new FrameDecoder(MAX_FRAME);
          let fed = 0;
          const decoded: number[] = [];
          for (const point of [...points, stream.length]) {
            for (const out of decoder.decode(stream.subarray(fed, point))) {
              decoded.push(out.byteLength);
            }
            fed = point;
            const lastEnd = [0, ...ends].filter((end) => end <= fed).pop()!;
            expect(decoder.pendingBytes).toBe(fed - lastEnd);
          }
          // Empty frames carry nothing and are skipped; every other frame comes out whole.
          expect(decoded).toEqual(payloads.map((p) => p.length).filter((length) => length > 0));
        },
      ),
      { numRuns: 300, seed: 20261125 },
    );
  });
});

describe('request protocol: both ends closed or aborted at the deadline', () => {
  const answer = (request: Uint8Array) => concatBytes(utf8('answer:'), request);
  /** Plain Uint8Array of a response (lpStream hands out Buffers). */
  const plain = (bytes: Uint8Array) => Uint8Array.from(bytes);
  function serveRequests(options: Partial<RequestProtocolOptions> = {}) {
    const protocol = `/medchain/test-request-${++protocols}/1.0.0`;
    const base: RequestProtocolOptions = {
      protocol,
      maxRequestBytes: 64,
      maxResponseBytes: 1_024,
      handle: async (_peer, request) => {
        if (request[0] === 0xee) return new Promise<Uint8Array>(() => undefined); // never settles
        return answer(request);
      },
      logger,
      metrics: serverMetrics,
      ...options,
    };
    return { protocol, base };
  }

  async function start(host: Host, options: RequestProtocolOptions): Promise<RequestProtocol> {
    const proto = new RequestProtocol(host.libp2p, options);
    await proto.start();
    cleanups.push(() => proto.stop());
    return proto;
  }

  it('an answered request leaves no stream open on either side, long before the deadline', async () => {
    const { protocol, base } = serveRequests({ timeoutMs: 60_000 });
    await start(server, base);
    const client = await start(rogue, { ...base, metrics: clientMetrics });
    for (let i = 0; i < 3; i++) {
      const response = await client.request(server.libp2p.peerId.toString(), Uint8Array.of(i));
      expect(plain(response)).toEqual(answer(Uint8Array.of(i)));
    }
    await expectReleased(protocol, 'answered requests');
    await until(
      () => streamsOn(rogue, protocol, 'outbound').length === 0,
      'the requester to hold no stream',
    );
    expect(await timeouts(protocol)).toBe(0);
  });

  it("a response larger than the stream helpers' 4 MiB read buffer arrives whole", async () => {
    const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => i % 251);
    const { base } = serveRequests({ maxResponseBytes: 8 * 1024 * 1024, handle: async () => big });
    await start(server, base);
    const client = await start(rogue, { ...base, metrics: clientMetrics });
    const response = await client.request(server.libp2p.peerId.toString(), Uint8Array.of(1));
    expect(response.length).toBe(big.length);
    expect(Buffer.compare(response, big)).toBe(0);
  });

  it('a requester that sends nothing, or never closes after its answer, is cut at the deadline', async () => {
    const { protocol, base } = serveRequests({ timeoutMs: 1_000 });
    await start(server, base);
    const silent = await rogue.libp2p.dialProtocol(server.libp2p.peerId, protocol);
    const lingering = await rogue.libp2p.dialProtocol(server.libp2p.peerId, protocol);
    let answered = false;
    lingering.addEventListener('message', () => {
      answered = true;
    });
    lingering.send(encodeFrame(Uint8Array.of(5)));
    await until(
      () => silent.status === 'reset' && lingering.status === 'reset',
      'both requester streams to be reset at the deadline',
    );
    expect(answered).toBe(true);
    await expectReleased(protocol, 'requests past the deadline');
    expect(await timeouts(protocol, 'deadline')).toBe(2);
  });

  it('a handler that never settles is cut at the deadline; the requester gets NODE_REQUEST_FAILED', async () => {
    const { protocol, base } = serveRequests({ timeoutMs: 1_000 });
    await start(server, base);
    const client = await start(rogue, { ...base, timeoutMs: 60_000, metrics: clientMetrics });
    await expect(
      client.request(server.libp2p.peerId.toString(), Uint8Array.of(0xee)),
    ).rejects.toMatchObject({ code: 'NODE_REQUEST_FAILED' });
    await expectReleased(protocol, 'a handler that never settles');
    expect(await timeouts(protocol, 'deadline')).toBe(1);
    // Still serving.
    expect(plain(await client.request(server.libp2p.peerId.toString(), Uint8Array.of(1)))).toEqual(
      answer(Uint8Array.of(1)),
    );
  });

  it('a server that never closes its end: the requester gets its answer and drops the stream at its deadline', async () => {
    const { protocol, base } = serveRequests();
    // A raw server: answers, then keeps its end open forever.
    await server.libp2p.handle(protocol, (stream) => {
      stream.addEventListener('message', () => sendQuietly(stream, encodeFrame(utf8('answer'))), {
        once: true,
      });
    });
    cleanups.push(() => server.libp2p.unhandle(protocol));
    const client = await start(rogue, { ...base, timeoutMs: 1_000, metrics: clientMetrics });
    expect(plain(await client.request(server.libp2p.peerId.toString(), Uint8Array.of(1)))).toEqual(
      utf8('answer'),
    );
    await until(
      () =>
        streamsOn(rogue, protocol, 'outbound').length === 0 &&
        streamsOn(server, protocol, 'inbound').length === 0,
      'the requester to drop the stream the server kept open',
    );
  });
});
