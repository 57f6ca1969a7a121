import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { bytesEqual, toHex } from '@medchain/crypto';
import {
  type AccessLogBody,
  type AuditEntry,
  auditTrail,
  getRecord,
  type KeyValueReader,
  MAX_PAGE_SIZE,
} from '@medchain/ledger';
import type { Logger } from '../logger.js';
import type { ApiBackend, CommittedBlockEvent, StoredBlock } from './backend.js';
import { toJson } from './json.js';

export interface EventStreamOptions {
  /** A comment line this often keeps proxies and clients from timing the stream out. */
  readonly heartbeatMs: number;
  /** A client whose unsent bytes exceed this is too slow: it is disconnected. */
  readonly maxBufferedBytes: number;
  /** Streams open at once; more are refused with 503. */
  readonly maxClients: number;
  /**
   * Most events replayed after a Last-Event-ID. A client further behind gets this many, then
   * the stream ends and it reconnects from where it got to.
   */
  readonly maxReplay: number;
  /**
   * Longest a stream stays open; then the node ends it and the client reconnects with
   * Last-Event-ID. Authorization runs once per request, so this bounds how long a caller who
   * lost its standing (a delegation expired, an organization removed) keeps receiving events.
   */
  readonly maxStreamMs: number;
}

export const DEFAULT_EVENT_STREAM_OPTIONS: EventStreamOptions = {
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  maxClients: 1000,
  maxReplay: 1000,
  maxStreamMs: 10 * 60_000,
};

/** Audit entries of a block are found by walking the trail back; this bounds the walk. */
const MAX_AUDIT_SCAN = 10_000;

/** One SSE message with its id: a block height or an audit entry index. */
interface Message {
  readonly id: number;
  readonly chunk: string;
}

interface Client {
  readonly response: ServerResponse;
  /** The patient of an audit stream; null for the block stream. */
  readonly patient: { readonly key: Uint8Array; readonly hex: string } | null;
  /** The id of the last message sent; live messages at or below it are not sent again. */
  lastSent: number;
  /** While a replay runs, live messages wait here; null otherwise. */
  backlog: Message[] | null;
  /** Whether the caller may still watch this stream (committed state, the node's clock). */
  readonly allowed: () => boolean;
}

export interface EventHubHooks {
  onOpen(): void;
  /** A stream closed (by either side), after `openedAt` (ms, performance.now()). */
  onClose(openedAt: number): void;
  onSlowClientDropped(): void;
}

/**
 * Fans committed blocks out to server-sent-event clients. Subscribes to the backend while at
 * least one client is connected; derives a patient's audit entries only when someone watches
 * that patient. A client that reconnects with Last-Event-ID first gets what it missed.
 */
export class EventHub {
  readonly #clients = new Set<Client>();
  #unsubscribe: (() => void) | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    private readonly backend: ApiBackend,
    private readonly logger: Logger,
    private readonly options: EventStreamOptions,
    private readonly hooks: EventHubHooks,
  ) {}

  get clientCount(): number {
    return this.#clients.size;
  }

  /** False when the hub is full or closing: the caller answers 503. */
  canAccept(): boolean {
    return !this.#closed && this.#clients.size < this.options.maxClients;
  }

  /**
   * Takes over a response (already hijacked from fastify) as an event stream. With
   * `lastEventId`, first replays the blocks above that height (or the patient's audit entries
   * above that index). `headers` are sent along (security and CORS headers the server set).
   * `allowed` is asked again before each block's events go out: once it says no, the stream
   * ends.
   */
  open(
    response: ServerResponse,
    patient: Uint8Array | null,
    lastEventId: number | null,
    headers: OutgoingHttpHeaders = {},
    allowed: () => boolean = () => true,
  ): void {
    const client: Client = {
      response,
      patient: patient === null ? null : { key: patient, hex: toHex(patient) },
      lastSent: lastEventId ?? Number.NEGATIVE_INFINITY,
      backlog: lastEventId === null ? null : [],
      allowed,
    };
    const openedAt = performance.now();
    response.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The first bytes let the client know the stream is live before any event happens.
    response.write(`retry: 3000\n: ${client.patient === null ? 'blocks' : 'audit'}\n\n`);
    this.#clients.add(client);
    this.hooks.onOpen();
    const lifetime = setTimeout(() => response.end(), this.options.maxStreamMs);
    lifetime.unref();
    response.once('close', () => {
      clearTimeout(lifetime);
      this.#clients.delete(client);
      this.hooks.onClose(openedAt);
      if (this.#clients.size === 0) this.#stop();
    });
    response.on('error', (error) => this.logger.debug({ err: error }, 'event stream error'));
    this.#start();
    if (client.backlog !== null) {
      this.#replay(client).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'event stream: replay failed');
        response.destroy();
      });
    }
  }

  /** Ends every stream; new ones are refused from now on. */
  close(): void {
    this.#closed = true;
    for (const client of this.#clients) client.response.end();
    this.#stop();
  }

  #start(): void {
    if (this.#unsubscribe === null) {
      this.#unsubscribe = this.backend.subscribe((event) => this.#onBlock(event));
    }
    if (this.#heartbeat === null) {
      this.#heartbeat = setInterval(() => {
        for (const client of this.#clients) this.#write(client, ': heartbeat\n\n');
      }, this.options.heartbeatMs);
      this.#heartbeat.unref();
    }
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #onBlock(event: CommittedBlockEvent): void {
    try {
      const block = blockMessage(event);
      const watched = new Set<string>();
      for (const client of this.#clients)
        if (client.patient !== null) watched.add(client.patient.hex);
      const audit = watched.size === 0 ? new Map() : this.#auditMessages(event, watched);
      for (const client of this.#clients) {
        const messages = client.patient === null ? [block] : audit.get(client.patient.hex);
        if (messages === undefined) continue;
        if (!client.allowed()) {
          client.response.end();
          continue;
        }
        if (client.backlog === null) this.#send(client, messages);
        else if (client.backlog.length + messages.length > this.options.maxReplay)
          this.#drop(client);
        else client.backlog.push(...messages);
      }
    } catch (error) {
      // A listener must never throw into the chain component that called it.
      this.logger.error({ err: error, height: event.header.height }, 'event stream: block dropped');
    }
  }

  /** The block's new audit entries of each watched patient. */
  #auditMessages(event: CommittedBlockEvent, watched: ReadonlySet<string>): Map<string, Message[]> {
    const reader = this.backend.state();
    const txHashesByPatient = new Map<string, { key: Uint8Array; txHashes: Uint8Array[] }>();
    event.txs.forEach((tx, i) => {
      const receipt = event.receipts[i];
      if (receipt?.code !== 'OK') return;
      let patient: Uint8Array | undefined;
      if (tx.kind === 'research.release') {
        patient = (tx.body as unknown as { patient: Uint8Array }).patient;
      } else if (tx.kind === 'access.log' || tx.kind === 'access.emergency') {
        const body = tx.body as unknown as AccessLogBody;
        patient = getRecord(reader, body.request.recordId)?.patient;
      }
      if (patient === undefined) return;
      const id = toHex(patient);
      if (!watched.has(id)) return;
      const entry = txHashesByPatient.get(id) ?? { key: patient, txHashes: [] };
      entry.txHashes.push(receipt.txHash);
      txHashesByPatient.set(id, entry);
    });
    const messages = new Map<string, Message[]>();
    for (const [id, { key, txHashes }] of txHashesByPatient) {
      messages.set(id, findAuditEntries(this.backend.history(), key, txHashes).map(auditMessage));
    }
    return messages;
  }

  /** Sends what the client missed, then what arrived meanwhile, then goes live. */
  async #replay(client: Client): Promise<void> {
    const { response } = client;
    let budget = this.options.maxReplay;
    const deliver = async (message: Message) => {
      budget -= 1;
      client.lastSent = message.id;
      if (!response.write(message.chunk)) await drained(response);
    };
    if (client.patient === null) {
      const { height } = await this.backend.status();
      for (let h = client.lastSent + 1; h <= height && budget > 0 && !ended(response); h++) {
        const stored = await this.backend.block(h);
        if (stored === undefined) break;
        await deliver(storedBlockMessage(stored));
      }
    } else {
      const reader = this.backend.history();
      let offset: number | null = client.lastSent + 1;
      while (offset !== null && budget > 0 && !ended(response)) {
        const page = auditTrail(reader, client.patient.key, {
          offset,
          limit: Math.min(MAX_PAGE_SIZE, budget),
        });
        for (const entry of page.items) await deliver(auditMessage(entry));
        offset = page.nextOffset;
      }
    }
    if (budget <= 0 || ended(response)) {
      // Still behind: end here; the client reconnects with the id it got to.
      response.end();
      return;
    }
    const backlog = client.backlog ?? [];
    client.backlog = null;
    this.#send(client, backlog);
  }

  #send(client: Client, messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.id <= client.lastSent) continue;
      client.lastSent = message.id;
      this.#write(client, message.chunk);
    }
  }

  #write(client: Client, chunk: string): void {
    const { response } = client;
    // Ended or destroyed but not yet reported closed: 'close' comes on a later tick.
    if (ended(response)) return;
    if (response.writableLength > this.options.maxBufferedBytes) {
      this.#drop(client);
      return;
    }
    response.write(chunk);
  }

  /**
   * Buffering without bound for a reader that cannot keep up would let one client exhaust the
   * node's memory; it can reconnect with Last-Event-ID and catch up.
   */
  #drop(client: Client): void {
    this.hooks.onSlowClientDropped();
    this.logger.info(
      { buffered: client.response.writableLength },
      'event stream: slow client dropped',
    );
    client.response.destroy();
  }
}

function sseChunk(event: string, id: number, data: unknown): string {
  return `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}

function blockMessage(event: CommittedBlockEvent): Message {
  const { height } = event.header;
  const data = {
    hash: toHex(event.hash),
    header: toJson(event.header),
    receipts: toJson(event.receipts),
  };
  return { id: height, chunk: sseChunk('block', height, data) };
}

function storedBlockMessage(stored: StoredBlock): Message {
  return blockMessage({
    hash: stored.hash,
    header: stored.block.header,
    txs: stored.block.txs,
    receipts: stored.receipts,
  });
}

function auditMessage(entry: AuditEntry): Message {
  return { id: entry.index, chunk: sseChunk('audit', entry.index, toJson(entry)) };
}

/** Ended by the node (lifetime, standing lost) or gone: nothing more may be written. */
function ended(response: ServerResponse): boolean {
  return response.destroyed || response.writableEnded;
}

/** Resolves when the response can take more bytes, or is gone. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

/**
 * The trail entries written by `txHashes`, oldest first. They were appended by the block just
 * committed, so they sit at the end of the trail: walk back from the end until all are found.
 */
function findAuditEntries(
  history: KeyValueReader,
  patient: Uint8Array,
  txHashes: readonly Uint8Array[],
): AuditEntry[] {
  const found: AuditEntry[] = [];
  for (let offset = 0; offset < MAX_AUDIT_SCAN && found.length < txHashes.length; ) {
    const page = auditTrail(history, patient, { offset, limit: MAX_PAGE_SIZE, reverse: true });
    for (const entry of page.items) {
      if (txHashes.some((hash) => bytesEqual(hash, entry.txHash))) found.push(entry);
    }
    if (page.nextOffset === null) break;
    offset = page.nextOffset;
  }
  return found.sort((a, b) => a.index - b.index);
}
