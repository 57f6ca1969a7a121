import { type ApiClient, delay } from './api.js';
import { ClientError } from './errors.js';
import type { AuditEntryJson, HeaderJson, ReceiptJson } from './json.js';
import { type PartyKey, partyKeyHex } from './parties.js';

/** One server-sent event as the SSE standard parses it (WHATWG HTML, "event stream"). */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  /** The last event id seen on the stream so far ('' if none). */
  readonly id: string;
}

/**
 * An incremental parser of `text/event-stream`: feed it decoded text in any chunking, get the
 * dispatched messages. Comments and `retry` are dropped; lines end in CRLF, LF or CR.
 */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #lastId = '';
  #pendingCr = false;

  push(text: string): SseMessage[] {
    let chunk = text;
    // A CR at the end of the previous chunk may be half of a CRLF.
    if (this.#pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.#pendingCr = false;
    this.#buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\n|\r/.exec(this.#buffer);
      if (match === null) break;
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) {
        this.#pendingCr = true;
      }
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const message = this.#line(line);
      if (message !== undefined) out.push(message);
    }
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      const data = this.#data;
      const event = this.#event;
      this.#data = [];
      this.#event = '';
      if (data.length === 0) return undefined;
      return { event: event === '' ? 'message' : event, data: data.join('\n'), id: this.#lastId };
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#lastId = value;
    return undefined;
  }
}

export type ChainEvent =
  | {
      readonly type: 'block';
      /** The block height. */
      readonly id: number;
      readonly hash: string;
      readonly header: HeaderJson;
      readonly receipts: ReceiptJson[];
    }
  | {
      readonly type: 'audit';
      /** The entry's index in the patient's audit trail. */
      readonly id: number;
      readonly entry: AuditEntryJson;
    };

export interface EventStreamOptions {
  /** One patient's new audit entries (signed by the patient, a delegate...) instead of blocks. */
  readonly patient?: PartyKey;
  /** Resume after this id (a height, or an audit index): what came after it is sent first. */
  readonly lastEventId?: number;
  /** Ends the iteration (it returns, no error). */
  readonly signal?: AbortSignal;
  /**
   * Reconnections in a row that bring nothing before giving up with EVENT_STREAM_FAILED
   * (default 5). A connection that delivers events resets the count.
   */
  readonly maxReconnects?: number;
  /** First reconnection delay, doubled up to maxBackoffMs (defaults 250 ms, 5 s). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/**
 * The node's event stream (GET /v1/events) as an async iterator, over fetch's body stream (the
 * same in browsers and Node). Every (re)connection is a fresh request, signed when the client has
 * a signer, with Last-Event-ID set to the last id received, so nothing is missed or repeated
 * across reconnections (the node replays what came after it).
 */
export async function* streamEvents(
  api: ApiClient,
  options: EventStreamOptions = {},
): AsyncGenerator<ChainEvent, void, undefined> {
  const query = options.patient === undefined ? {} : { patient: partyKeyHex(options.patient) };
  const maxReconnects = options.maxReconnects ?? 5;
  const maxBackoff = options.maxBackoffMs ?? 5000;
  let backoff = options.initialBackoffMs ?? 250;
  let lastId = options.lastEventId;
  let failures = 0;
  let lastError: unknown;
  const { signal } = options;
  while (!signal?.aborted) {
    let progressed = false;
    let endedByNode = false;
    try {
      const response = await api.fetchResponse('GET', '/events', {
        query,
        stream: true,
        headers: {
          accept: 'text/event-stream',
          ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }),
        },
        ...(signal === undefined ? {} : { signal }),
      });
      if (response.body === null)
        throw new ClientError('BAD_ANSWER', 'the event stream has no body');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            endedByNode = true;
            break;
          }
          for (const message of parser.push(value)) {
            const event = toChainEvent(message);
            if (event === undefined) continue;
            lastId = event.id;
            progressed = true;
            yield event;
          }
        }
      } finally {
        // The consumer stopped (break, return) or the stream failed: let the connection go.
        await reader.cancel().catch(() => undefined);
      }
    } catch (error) {
      if (signal?.aborted) return;
      // 4xx answers (unauthorized, forbidden, bad request) do not get better by retrying;
      // 429 (rate limited) and 5xx (TOO_MANY_STREAMS, a node restarting) may.
      const status = error instanceof ClientError ? error.status : undefined;
      if (status !== undefined && status < 500 && status !== 429) throw error;
      lastError = error;
    }
    // The stream ended (the node ends a long replay, restarts, or the connection dropped).
    if (progressed) {
      failures = 0;
      backoff = options.initialBackoffMs ?? 250;
      continue;
    }
    // A quiet stream the node ended cleanly (its maximum lifetime) is not a failure either; the
    // backoff still applies, so a node that ends every stream at once is not hammered.
    failures = endedByNode ? 0 : failures + 1;
    if (failures > maxReconnects) {
      throw new ClientError(
        'EVENT_STREAM_FAILED',
        `the event stream failed ${failures} times in a row${lastError instanceof Error ? ` (${lastError.message})` : ''}`,
        { cause: lastError },
      );
    }
    try {
      await delay(backoff, signal);
    } catch {
      return;
    }
    backoff = Math.min(backoff * 2, maxBackoff);
  }
}

function toChainEvent(message: SseMessage): ChainEvent | undefined {
  const id = Number(message.id);
  if (!Number.isSafeInteger(id)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    return undefined;
  }
  if (message.event === 'block') {
    const block = data as { hash: string; header: HeaderJson; receipts: ReceiptJson[] };
    return { type: 'block', id, hash: block.hash, header: block.header, receipts: block.receipts };
  }
  if (message.event === 'audit') return { type: 'audit', id, entry: data as AuditEntryJson };
  return undefined;
}
