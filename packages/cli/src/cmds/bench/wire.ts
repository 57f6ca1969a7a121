import { Agent, type IncomingMessage, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, EXIT } from '../../util/errors.js';
import type { PlannedTx } from './load.js';

/** Connections per node: enough that the HTTP round trip never paces the submissions. */
const SOCKETS_PER_NODE = 16;
/** Answers that mean "try again shortly" (MEMPOOL_FULL, NOT_READY, RATE_LIMITED). */
const RETRY_STATUS = new Set([429, 503]);
const RETRY_DELAY_MS = 50;
const MAX_RETRIES = 200;

/**
 * POST /v1/tx with raw bytes over keep-alive connections (node:http, lighter per request than
 * fetch): the load generator must cost the machine as little as possible.
 */
export class Submitter {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: SOCKETS_PER_NODE });
  readonly #urls: URL[];
  /** Rejections by code, and retried answers by status. */
  readonly rejected = new Map<string, number>();
  retries = 0;

  constructor(apis: readonly string[]) {
    this.#urls = apis.map((api) => new URL(`${api}/v1/tx`));
  }

  /** Resolves true once admitted (or already known), false when refused for good. */
  async submit(tx: PlannedTx): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      let answer: { status: number; body: string } | undefined;
      let failure = 'ERROR';
      // A node that is down (killed by a sweep) is skipped: its clients go to the next node.
      for (let hop = 0; answer === undefined && hop < this.#urls.length; hop++) {
        try {
          answer = await this.#post(this.#urls[(tx.node + hop) % this.#urls.length]!, tx.bytes);
        } catch (error) {
          failure = (error as { code?: string }).code ?? 'ERROR';
          if (failure !== 'ECONNREFUSED' && failure !== 'ECONNRESET') break;
        }
      }
      if (answer === undefined) {
        this.#count(`NET_${failure}`);
        return false;
      }
      if (answer.status === 202) return true;
      if (RETRY_STATUS.has(answer.status) && attempt < MAX_RETRIES) {
        this.retries++;
        await sleep(RETRY_DELAY_MS);
        continue;
      }
      let code = `HTTP_${answer.status}`;
      try {
        code = JSON.parse(answer.body).error.code ?? code;
      } catch {
        // keep the status
      }
      if (code === 'DUPLICATE') return true;
      this.#count(code);
      return false;
    }
  }

  #count(code: string): void {
    this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1);
  }

  #post(url: URL, body: Uint8Array): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': body.length,
          },
          timeout: 30_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** A committed block as the event stream tells it, with when this process first saw it. */
export interface SeenBlock {
  readonly height: number;
  /** performance.now() when the first stream delivered it. */
  readonly at: number;
  readonly receipts: readonly { readonly txHash: string; readonly code: string }[];
}

/**
 * Follows GET /v1/events (block events) on every node and reports each height once, when the
 * first node announces it: a commit is observed, not inferred. A stream that breaks (a node
 * killed on purpose) reconnects with Last-Event-ID, so no block is missed.
 */
export class CommitWatcher {
  readonly #seen = new Set<number>();
  readonly #requests = new Set<ReturnType<typeof request>>();
  #closed = false;
  /** Streams currently connected. */
  connected = 0;

  constructor(
    private readonly apis: readonly string[],
    private readonly onBlock: (block: SeenBlock) => void,
  ) {}

  /** Resolves once every stream is connected (bounded), so no commit goes unseen. */
  async start(timeoutMs = 15_000): Promise<void> {
    for (const api of this.apis) this.#follow(api, null);
    const deadline = Date.now() + timeoutMs;
    while (this.connected < this.apis.length) {
      if (Date.now() > deadline) {
        throw new CliError(
          'BENCH_EVENTS',
          `only ${this.connected} of ${this.apis.length} event streams connected`,
          { exitCode: EXIT.unreachable },
        );
      }
      await sleep(20);
    }
  }

  #follow(api: string, lastId: number | null): void {
    if (this.#closed) return;
    let last = lastId;
    let counted = false;
    let retried = false;
    const retry = () => {
      if (retried) return;
      retried = true;
      if (counted) this.connected--;
      counted = false;
      if (!this.#closed) setTimeout(() => this.#follow(api, last), 500).unref();
    };
    const req = request(
      `${api}/v1/events`,
      { headers: last === null ? {} : { 'last-event-id': String(last) } },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          retry();
          return;
        }
        this.connected++;
        counted = true;
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const height = this.#message(message);
            if (height !== null) last = height;
          }
        });
        res.on('close', retry);
        res.on('error', () => undefined);
      },
    );
    this.#requests.add(req);
    req.on('close', () => this.#requests.delete(req));
    req.on('error', retry);
    req.end();
  }

  #message(message: string): number | null {
    let event = '';
    let data = '';
    for (const line of message.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (event !== 'block' || data === '') return null;
    const block = JSON.parse(data) as {
      header: { height: number };
      receipts: { txHash: string; code: string }[];
    };
    const height = block.header.height;
    if (!this.#seen.has(height)) {
      this.#seen.add(height);
      this.onBlock({ height, at: performance.now(), receipts: block.receipts });
    }
    return height;
  }

  close(): void {
    this.#closed = true;
    for (const req of this.#requests) req.destroy();
  }
}
