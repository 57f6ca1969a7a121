import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, EXIT } from '@medchain/cli';
import type { MedchainClient } from '@medchain/client';
import type { PlannedTx } from './load.js';

/** Connections per node: enough that the HTTP round trip never paces the submissions. */
const SOCKETS_PER_NODE = 16;
/** Answers that mean "try again shortly" (MEMPOOL_FULL, NOT_READY, RATE_LIMITED). */
const RETRY_STATUS = new Set([429, 503]);
const RETRY_DELAY_MS = 50;
const MAX_RETRIES = 200;

/**
 * POST /v1/tx with the pre-signed bytes over keep-alive connections (node:http or node:https,
 * lighter per request than fetch): the load generator must cost the machine as little as
 * possible. A transaction's own signature is its authentication, so nothing is signed or
 * encoded here per request. `ca`: the PEM text https certificates must chain to.
 */
export class Submitter {
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #urls: URL[];
  /** Rejections by code, and retried answers by status. */
  readonly rejected = new Map<string, number>();
  retries = 0;

  constructor(apis: readonly string[], ca?: string) {
    this.#urls = apis.map((api) => new URL(`${api}/v1/tx`));
    const https = this.#urls[0]?.protocol === 'https:';
    const options = { keepAlive: true, maxSockets: SOCKETS_PER_NODE };
    this.#agent = https
      ? new HttpsAgent({ ...options, ...(ca === undefined ? {} : { ca }) })
      : new HttpAgent(options);
    this.#request = https ? (httpsRequest as typeof httpRequest) : httpRequest;
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
      const req = this.#request(
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
 * Follows the block event stream of every node (the client's, signed by a member admin's key:
 * block events are for members) and reports each height once, when the first node announces
 * it: a commit is observed, not inferred. Each stream starts after the height its node had at
 * `start`, and the client resumes a broken stream with Last-Event-ID, so no block is missed; a
 * node killed for good (a crash sweep) just stops reporting.
 */
export class CommitWatcher {
  readonly #seen = new Set<number>();
  readonly #stop = new AbortController();
  readonly #streams: Promise<void>[] = [];

  constructor(
    private readonly clients: readonly MedchainClient[],
    private readonly onBlock: (block: SeenBlock) => void,
  ) {}

  /** Resolves once every node answered its status: streams start from those heights. */
  async start(): Promise<void> {
    const heights = await Promise.all(
      this.clients.map((client) => client.status().then((s) => s.height)),
    ).catch((error: unknown) => {
      throw new CliError(
        'BENCH_EVENTS',
        `cannot follow every node's blocks: ${(error as Error).message}`,
        { exitCode: EXIT.unreachable },
      );
    });
    this.clients.forEach((client, i) => {
      this.#streams.push(this.#follow(client, heights[i]!));
    });
  }

  async #follow(client: MedchainClient, from: number): Promise<void> {
    try {
      for await (const event of client.events({
        lastEventId: from,
        signal: this.#stop.signal,
        maxReconnects: 20,
      })) {
        if (event.type !== 'block' || this.#seen.has(event.id)) continue;
        this.#seen.add(event.id);
        this.onBlock({ height: event.id, at: performance.now(), receipts: event.receipts });
      }
    } catch {
      // The node is gone for good (killed by a sweep): the others still report every block.
    }
  }

  close(): void {
    this.#stop.abort();
  }
}
