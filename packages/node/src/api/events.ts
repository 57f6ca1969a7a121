import type { ServerResponse } from 'node:http';
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
import type { ApiBackend, CommittedBlockEvent } from './backend.js';
import { toJson } from './json.js';

export interface EventStreamOptions {
  /** A comment line this often keeps proxies and clients from timing the stream out. */
  readonly heartbeatMs: number;
  /** A client whose unsent bytes exceed this is too slow: it is disconnected. */
  readonly maxBufferedBytes: number;
  /** Streams open at once; more are refused with 503. */
  readonly maxClients: number;
}

export const DEFAULT_EVENT_STREAM_OPTIONS: EventStreamOptions = {
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  maxClients: 1000,
};

/** Audit entries of a block are found by walking the trail back; this bounds the walk. */
const MAX_AUDIT_SCAN = 10_000;

interface Client {
  readonly response: ServerResponse;
  /** Hex patient key for an audit stream; null for the block stream. */
  readonly patient: string | null;
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
 * that patient.
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

  /** Takes over a response (already hijacked from fastify) as an event stream. */
  open(response: ServerResponse, patient: Uint8Array | null): void {
    const client: Client = { response, patient: patient === null ? null : toHex(patient) };
    const openedAt = performance.now();
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The first bytes let the client know the stream is live before any event happens.
    response.write(`retry: 3000\n: ${client.patient === null ? 'blocks' : 'audit'}\n\n`);
    this.#clients.add(client);
    this.hooks.onOpen();
    response.once('close', () => {
      this.#clients.delete(client);
      this.hooks.onClose(openedAt);
      if (this.#clients.size === 0) this.#stop();
    });
    response.on('error', (error) => this.logger.debug({ err: error }, 'event stream error'));
    this.#start();
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
      this.#heartbeat = setInterval(
        () => this.#broadcast(() => ': heartbeat\n\n'),
        this.options.heartbeatMs,
      );
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
      const blockMessage = sseMessage('block', String(event.header.height), {
        hash: toHex(event.hash),
        header: toJson(event.header),
        receipts: toJson(event.receipts),
      });
      const watched = new Set<string>();
      for (const client of this.#clients) if (client.patient !== null) watched.add(client.patient);
      const audit = watched.size === 0 ? new Map() : this.#auditMessages(event, watched);
      this.#broadcast((client) =>
        client.patient === null ? blockMessage : audit.get(client.patient),
      );
    } catch (error) {
      // A listener must never throw into the chain component that called it.
      this.logger.error({ err: error, height: event.header.height }, 'event stream: block dropped');
    }
  }

  /** The block's new audit entries of each watched patient, as one SSE chunk per patient. */
  #auditMessages(event: CommittedBlockEvent, watched: ReadonlySet<string>): Map<string, string> {
    const reader = this.backend.state();
    const txHashesByPatient = new Map<string, { key: Uint8Array; txHashes: Uint8Array[] }>();
    event.txs.forEach((tx, i) => {
      const receipt = event.receipts[i];
      if (receipt?.code !== 'OK') return;
      if (tx.kind !== 'access.log' && tx.kind !== 'access.emergency') return;
      const body = tx.body as unknown as AccessLogBody;
      const record = getRecord(reader, body.request.recordId);
      if (record === undefined) return;
      const id = toHex(record.patient);
      if (!watched.has(id)) return;
      const entry = txHashesByPatient.get(id) ?? { key: record.patient, txHashes: [] };
      entry.txHashes.push(receipt.txHash);
      txHashesByPatient.set(id, entry);
    });
    const messages = new Map<string, string>();
    for (const [id, { key, txHashes }] of txHashesByPatient) {
      const entries = findAuditEntries(reader, key, txHashes);
      if (entries.length > 0) {
        messages.set(
          id,
          entries.map((entry) => sseMessage('audit', String(entry.index), toJson(entry))).join(''),
        );
      }
    }
    return messages;
  }

  #broadcast(message: (client: Client) => string | undefined): void {
    for (const client of this.#clients) {
      const chunk = message(client);
      if (chunk === undefined) continue;
      const { response } = client;
      // Destroyed but not yet reported closed: 'close' comes on a later tick.
      if (response.destroyed) continue;
      if (response.writableLength > this.options.maxBufferedBytes) {
        // Buffering without bound for a reader that cannot keep up would let one client
        // exhaust the node's memory; it can reconnect and catch up from the API.
        this.hooks.onSlowClientDropped();
        this.logger.info(
          { buffered: response.writableLength },
          'event stream: slow client dropped',
        );
        response.destroy();
        continue;
      }
      response.write(chunk);
    }
  }
}

function sseMessage(event: string, id: string, data: unknown): string {
  return `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The trail entries written by `txHashes`, oldest first. They were appended by the block just
 * committed, so they sit at the end of the trail: walk back from the end until all are found.
 */
function findAuditEntries(
  reader: KeyValueReader,
  patient: Uint8Array,
  txHashes: readonly Uint8Array[],
): AuditEntry[] {
  const found: AuditEntry[] = [];
  for (let offset = 0; offset < MAX_AUDIT_SCAN && found.length < txHashes.length; ) {
    const page = auditTrail(reader, patient, { offset, limit: MAX_PAGE_SIZE, reverse: true });
    for (const entry of page.items) {
      if (txHashes.some((hash) => bytesEqual(hash, entry.txHash))) found.push(entry);
    }
    if (page.nextOffset === null) break;
    offset = page.nextOffset;
  }
  return found.sort((a, b) => a.index - b.index);
}
