import { once } from 'node:events';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { toHex } from '@medchain/crypto';
import { encodeTransaction, recordId, type Transaction, transactionHash } from '@medchain/ledger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type ApiBackend,
  type ApiServer,
  createApiServer,
  type EventStreamOptions,
} from '../src/api/index.js';
import { NodeError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import { accessRequest, bytes, CHAIN_ID, populatedBackend, signer } from './api-chain.js';

const servers: ApiServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function listen(
  backend: ApiBackend,
  events: Partial<EventStreamOptions> = {},
  metrics: Metrics = createMetrics(),
) {
  // Stream mechanics; who may open which stream is tested in auth.test.ts.
  const server = createApiServer({
    backend,
    logger: createLogger({ level: 'silent' }),
    metrics,
    port: 0,
    events,
    auth: 'off',
  });
  servers.push(server);
  const address = await server.start();
  return { server, address, metrics };
}

interface SseEvent {
  event: string;
  id: string;
  data: unknown;
}

/** Reads an SSE response body: events and comments, in order, as they arrive. */
function sse(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const take = async (): Promise<{ events: SseEvent[]; comments: string[] } | null> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const events: SseEvent[] = [];
        const comments: string[] = [];
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(':');
            fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
          }
        }
        if (fields.event !== undefined) {
          events.push({ event: fields.event, id: fields.id!, data: JSON.parse(fields.data!) });
        }
        return { events, comments };
      }
      const { done, value } = await reader.read();
      if (done) return null;
      buffer += decoder.decode(value, { stream: true });
    }
  };
  return {
    /** The next event (skipping comments), or null when the stream ended. */
    async nextEvent(): Promise<SseEvent | null> {
      for (;;) {
        const chunk = await take();
        if (chunk === null) return null;
        if (chunk.events.length > 0) return chunk.events[0]!;
      }
    },
    /** Waits for a comment line with this text. */
    async comment(text: string): Promise<void> {
      for (;;) {
        const chunk = await take();
        if (chunk === null) throw new Error(`stream ended before comment ${text}`);
        if (chunk.comments.includes(text)) return;
      }
    },
    /** True once the server ended the stream. */
    async ended(): Promise<boolean> {
      for (;;) {
        const chunk = await take();
        if (chunk === null) return true;
      }
    },
  };
}

describe('real HTTP on 127.0.0.1', () => {
  it('listens on loopback, answers health and admits a transaction over the network', async () => {
    const { backend } = populatedBackend();
    const { address } = await listen(backend);
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${address}/v1/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const tx = backend.sign(signer('patient/gil'), 'patient.register', {});
    const response = await fetch(`${address}/v1/tx`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tx: toHex(encodeTransaction(tx)) }),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ hash: toHex(transactionHash(tx)) });
    const bad = await fetch(`${address}/v1/events?patient=xyz`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });

  it('close() cuts, after its grace, a connection whose request body never ends', async () => {
    const { server, address } = await listen(populatedBackend().backend);
    servers.splice(servers.indexOf(server), 1);
    const socket = connect(Number(new URL(address).port), '127.0.0.1');
    await once(socket, 'connect');
    // Answered without reading its body, which is announced and never sent: the request
    // stays in progress, so the connection is never idle.
    socket.write('GET /v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n');
    const [answer] = (await once(socket, 'data')) as [Buffer];
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 \d{3} /);
    socket.resume();
    const ended = once(socket, 'close');
    await server.close();
    await ended;
  });

  it('refuses to start on a port in use with NODE_API_LISTEN', async () => {
    const { address } = await listen(populatedBackend().backend);
    const port = Number(new URL(address).port);
    const second = createApiServer({
      backend: populatedBackend().backend,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      port,
    });
    const failure = await second.start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(NodeError);
    expect((failure as NodeError).code).toBe('NODE_API_LISTEN');
    await second.close();
  });
});

describe('event stream', () => {
  it('sends one block event per committed block, in order, with header and receipts', async () => {
    const { backend } = populatedBackend();
    const { address } = await listen(backend);
    const stream = sse(await fetch(`${address}/v1/events`));
    await stream.comment('blocks');
    const tx = backend.sign(signer('patient/hal'), 'patient.register', {});
    backend.admit(tx);
    const fourth = backend.commit();
    backend.commit();
    const first = await stream.nextEvent();
    expect(first).toEqual({
      event: 'block',
      id: '4',
      data: expect.objectContaining({
        hash: toHex(fourth.hash),
        receipts: [{ txHash: toHex(transactionHash(tx)), code: 'OK', message: '' }],
      }),
    });
    expect((first!.data as { header: { height: number } }).header.height).toBe(4);
    expect((await stream.nextEvent())?.id).toBe('5');
  });

  it("sends a patient's new audit entries only to that patient's stream", async () => {
    const world = populatedBackend();
    const { backend, clinician, a } = world;
    const bob = signer('patient/bob');
    backend.admit(backend.sign(bob, 'patient.register', {}));
    backend.commit();
    const bobRecordNonce = bytes('bob-record', 16);
    backend.admit(
      backend.sign(clinician, 'record.anchor', {
        patient: bob.publicKey,
        custodian: a.id,
        resourceType: 'Condition',
        contentHash: bytes('bob-condition'),
        nonce: bobRecordNonce,
      }),
    );
    backend.commit();
    const bobRecord = recordId(a.id, bob.publicKey, bobRecordNonce);
    const { address } = await listen(backend);
    const alice = sse(await fetch(`${address}/v1/events?patient=${toHex(world.alice.publicKey)}`));
    await alice.comment('audit');
    const blocks = sse(await fetch(`${address}/v1/events`));
    await blocks.comment('blocks');

    const stranger = signer('c/stranger');
    const log = (record: Uint8Array, decision: 'permit' | 'deny', consentId: Uint8Array | null) =>
      backend.sign(clinician, 'access.log', {
        ...accessRequest(backend, decision === 'permit' ? world.bClinician : stranger, record),
        decision,
        consentId,
      });
    backend.admit(log(bobRecord, 'deny', null));
    const aliceDenied = log(world.record, 'deny', null);
    backend.admit(aliceDenied);
    expect(backend.commit().receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
    // A block with only bob's entry: alice's stream stays quiet.
    backend.admit(log(bobRecord, 'deny', null));
    backend.commit();
    const alicePermitted = log(world.record, 'permit', world.consentId);
    backend.admit(alicePermitted);
    expect(backend.commit().receipts.map((r) => r.code)).toEqual(['OK']);

    const first = await alice.nextEvent();
    expect(first).toMatchObject({
      event: 'audit',
      id: '1',
      data: { index: 1, decision: 'deny', txHash: toHex(transactionHash(aliceDenied)) },
    });
    expect(await alice.nextEvent()).toMatchObject({
      event: 'audit',
      id: '2',
      data: { index: 2, decision: 'permit', txHash: toHex(transactionHash(alicePermitted)) },
    });
    const heights: string[] = [];
    for (let i = 0; i < 3; i++) heights.push((await blocks.nextEvent())!.id);
    expect(heights).toEqual(['6', '7', '8']);
  });

  it('replays the blocks after Last-Event-ID, then goes live without gaps or repeats', async () => {
    const { backend } = populatedBackend();
    // Hold the replay at its first step, so a block commits while the stream is replaying.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const gated: ApiBackend = {
      status: async () => {
        await gate;
        return backend.status();
      },
      submitTransaction: (bytes) => backend.submitTransaction(bytes),
      submitTransactions: (list) => backend.submitTransactions(list),
      transaction: (hash) => backend.transaction(hash),
      block: (height) => backend.block(height),
      latestBlock: () => backend.latestBlock(),
      state: () => backend.state(),
      history: () => backend.history(),
      stateProof: (key) => backend.stateProof(key),
      subscribe: (listener) => backend.subscribe(listener),
      evidence: () => backend.evidence(),
    };
    const { address } = await listen(gated);
    const stream = sse(await fetch(`${address}/v1/events`, { headers: { 'last-event-id': '1' } }));
    await stream.comment('blocks');
    // Block 4 reaches the stream live (held back) and is also inside the replay range.
    backend.commit();
    release();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await stream.nextEvent())!.id);
    expect(ids).toEqual(['2', '3', '4']);
    backend.commit();
    expect((await stream.nextEvent())?.id).toBe('5');
  });

  it("replays a patient's audit entries after Last-Event-ID, at most maxReplay per connection", async () => {
    const world = populatedBackend();
    const { backend, clinician } = world;
    for (let i = 0; i < 3; i++) {
      backend.admit(
        backend.sign(clinician, 'access.log', {
          ...accessRequest(backend, world.bClinician, world.record),
          decision: 'permit',
          consentId: world.consentId,
        }),
      );
      backend.commit();
    }
    const { address } = await listen(backend, { maxReplay: 2 });
    const url = `${address}/v1/events?patient=${toHex(world.alice.publicKey)}`;
    const first = sse(await fetch(url, { headers: { 'last-event-id': '0' } }));
    expect((await first.nextEvent())?.id).toBe('1');
    expect((await first.nextEvent())?.id).toBe('2');
    // Still behind after maxReplay events: the stream ends so the client reconnects.
    expect(await first.ended()).toBe(true);
    const second = sse(await fetch(url, { headers: { 'last-event-id': '2' } }));
    expect(await second.nextEvent()).toMatchObject({ id: '3', data: { index: 3 } });
    const bad = await fetch(url, { headers: { 'last-event-id': '-1' } });
    expect(bad.status).toBe(400);
  });

  it('sends heartbeats while nothing happens', async () => {
    const { address } = await listen(populatedBackend().backend, { heartbeatMs: 10 });
    const stream = sse(await fetch(`${address}/v1/events`));
    await stream.comment('heartbeat');
    await stream.comment('heartbeat');
  });

  it('ends a stream at maxStreamMs: nothing more is sent on it', async () => {
    const { backend } = populatedBackend();
    const { address } = await listen(backend, { maxStreamMs: 1 });
    const stream = sse(await fetch(`${address}/v1/events`));
    await stream.comment('blocks');
    expect(await stream.ended()).toBe(true);
    backend.commit();
    expect(await stream.nextEvent()).toBeNull();
  });

  it('ends every stream when the server closes, and close() returns', async () => {
    const { backend } = populatedBackend();
    const { server, address } = await listen(backend);
    const streams = await Promise.all([
      fetch(`${address}/v1/events`).then(sse),
      fetch(`${address}/v1/events?patient=${toHex(signer('x').publicKey)}`).then(sse),
    ]);
    await streams[0]!.comment('blocks');
    await streams[1]!.comment('audit');
    await server.close();
    expect(await streams[0]!.ended()).toBe(true);
    expect(await streams[1]!.ended()).toBe(true);
    expect(backend.listeners.size).toBe(0);
  });

  it('refuses streams beyond the limit with 503 TOO_MANY_STREAMS', async () => {
    const { address } = await listen(populatedBackend().backend, { maxClients: 1 });
    const first = sse(await fetch(`${address}/v1/events`));
    await first.comment('blocks');
    const second = await fetch(`${address}/v1/events`);
    expect(second.status).toBe(503);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe(
      'TOO_MANY_STREAMS',
    );
  });

  it('drops a client that stops reading instead of buffering without bound', async () => {
    const { backend } = populatedBackend();
    const { address, server, metrics } = await listen(backend, { maxBufferedBytes: 64 * 1024 });
    const url = new URL(`${address}/v1/events`);
    // Never read the response: the socket's buffers fill, then the server's.
    const request = httpGet(url, (response) => response.pause());
    request.on('error', () => {});
    await vi.waitFor(() => expect(backend.listeners.size).toBe(1));
    // Transactions for another chain fail cheaply (no signature check) but each adds a receipt,
    // so every block event is large.
    const foreign = signer('foreign');
    let nonce = 0;
    const bigBlock = () => {
      for (let i = 0; i < 3000; i++) {
        nonce += 1;
        const tx: Transaction = {
          chainId: `${CHAIN_ID}-x`,
          kind: 'patient.register',
          body: {},
          signer: foreign.publicKey,
          nonce,
          signature: new Uint8Array(64),
        };
        backend.mempool.set(toHex(transactionHash(tx)), tx);
      }
      backend.commit();
    };
    while (backend.listeners.size > 0) {
      bigBlock();
      // Let the socket flush what it can, as a live node would between blocks.
      await new Promise((resolve) => setImmediate(resolve));
    }
    request.destroy();
    expect(
      await metrics.register.getSingleMetricAsString('medchain_http_event_streams_dropped_total'),
    ).toContain('medchain_http_event_streams_dropped_total 1');
    expect((await server.fastify.inject({ url: '/v1/health' })).statusCode).toBe(200);
  });
});
