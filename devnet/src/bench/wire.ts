import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, EXIT } from '@medchain/cli';
import type { MedchainClient } from '@medchain/client';
import { encodeCanonical } from '@medchain/crypto';
import type { PlannedTx } from './load.js';

/** Connections per node: enough that the HTTP round trip never paces the submissions. */
const SOCKETS_PER_NODE = 16;
/** Answers that mean "try again shortly" (MEMPOOL_FULL, NOT_READY, RATE_LIMITED). */
const RETRY_STATUS = new Set([429, 503]);
const RETRY_DELAY_MS = 50;
const MAX_RETRIES = 200;

type Answer = { status: number; body: string };

/** One transaction's result in a POST /v1/txs answer. */
interface BatchResult {
  readonly accepted: boolean;
  readonly code?: string;
  readonly status?: number;
}

/**
 * Sends the pre-signed bytes over keep-alive connections (node:http or node:https, lighter per
 * request than fetch): the load generator must cost the machine as little as possible. With
 * `maxBatch` 1, one POST /v1/tx per transaction; above, POST /v1/txs with the canonical list
 * of a batch's bytes per node. A transaction's own signature is its authentication, so
 * nothing is signed here per request. `ca`: the PEM text https certificates must chain to.
 */
export class Submitter {
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #urls: URL[];
  readonly #batchUrls: URL[];
  /** Rejections by code, and retried transactions. */
  readonly rejected = new Map<string, number>();
  retries = 0;

  constructor(
    apis: readonly string[],
    readonly maxBatch: number,
    ca?: string,
  ) {
    this.#urls = apis.map((api) => new URL(`${api}/v1/tx`));
    this.#batchUrls = apis.map((api) => new URL(`${api}/v1/txs`));
    const https = this.#urls[0]?.protocol === 'https:';
    const options = { keepAlive: true, maxSockets: SOCKETS_PER_NODE };
    this.#agent = https
      ? new HttpsAgent({ ...options, ...(ca === undefined ? {} : { ca }) })
      : new HttpAgent(options);
    this.#request = https ? (httpsRequest as typeof httpRequest) : httpRequest;
  }

  /**
   * Sends `txs` (at most `maxBatch`), each to its signer's node: one POST per node. Resolves
   * with one boolean per transaction: true once admitted (or already known), false when
   * refused for good. Refusals for now (429, 503) are sent again after a pause.
   */
  async submitMany(txs: readonly PlannedTx[]): Promise<boolean[]> {
    if (this.maxBatch === 1) return Promise.all(txs.map((tx) => this.#submitOne(tx)));
    const byNode = new Map<number, number[]>();
    txs.forEach((tx, i) => {
      const list = byNode.get(tx.node);
      if (list === undefined) byNode.set(tx.node, [i]);
      else list.push(i);
    });
    const outcome = txs.map(() => false);
    await Promise.all(
      [...byNode].map(async ([node, indexes]) => {
        const admitted = await this.#submitBatch(
          node,
          indexes.map((i) => txs[i]!),
        );
        admitted.forEach((ok, k) => {
          outcome[indexes[k]!] = ok;
        });
      }),
    );
    return outcome;
  }

  /** POST to `node`, or to the next one while it refuses connections (killed by a sweep). */
  async #postAny(urls: readonly URL[], node: number, body: Uint8Array): Promise<Answer | string> {
    let failure = 'ERROR';
    for (let hop = 0; hop < urls.length; hop++) {
      try {
        return await this.#post(urls[(node + hop) % urls.length]!, body);
      } catch (error) {
        failure = (error as { code?: string }).code ?? 'ERROR';
        if (failure !== 'ECONNREFUSED' && failure !== 'ECONNRESET') break;
      }
    }
    return `NET_${failure}`;
  }

  async #submitBatch(node: number, txs: readonly PlannedTx[]): Promise<boolean[]> {
    const outcome = txs.map(() => false);
    let waiting = txs.map((_, i) => i);
    for (let attempt = 0; waiting.length > 0; attempt++) {
      const answer = await this.#postAny(
        this.#batchUrls,
        node,
        encodeCanonical(waiting.map((i) => txs[i]!.bytes)),
      );
      if (typeof answer === 'string') {
        this.#count(answer, waiting.length);
        break;
      }
      const results = answer.status === 200 ? batchResults(answer.body) : undefined;
      if (results === undefined || results.length !== waiting.length) {
        // The whole request refused (or an answer that is not one): every transaction shares it.
        if (RETRY_STATUS.has(answer.status) && attempt < MAX_RETRIES) {
          this.retries += waiting.length;
          await sleep(RETRY_DELAY_MS);
          continue;
        }
        this.#count(errorCode(answer), waiting.length);
        break;
      }
      const again: number[] = [];
      results.forEach((result, k) => {
        const i = waiting[k]!;
        if (result.accepted || result.code === 'DUPLICATE') outcome[i] = true;
        else if (RETRY_STATUS.has(result.status ?? 0) && attempt < MAX_RETRIES) again.push(i);
        else this.#count(result.code ?? `HTTP_${result.status}`);
      });
      if (again.length > 0) {
        this.retries += again.length;
        await sleep(RETRY_DELAY_MS);
      }
      waiting = again;
    }
    return outcome;
  }

  /** Resolves true once admitted (or already known), false when refused for good. */
  async #submitOne(tx: PlannedTx): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const answer = await this.#postAny(this.#urls, tx.node, tx.bytes);
      if (typeof answer === 'string') {
        this.#count(answer);
        return false;
      }
      if (answer.status === 202) return true;
      if (RETRY_STATUS.has(answer.status) && attempt < MAX_RETRIES) {
        this.retries++;
        await sleep(RETRY_DELAY_MS);
        continue;
      }
      const code = errorCode(answer);
      if (code === 'DUPLICATE') return true;
      this.#count(code);
      return false;
    }
  }

  #count(code: string, times = 1): void {
    this.rejected.set(code, (this.rejected.get(code) ?? 0) + times);
  }

  #post(url: URL, body: Uint8Array): Promise<Answer> {
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

/** The error code of a refused request, or its status. */
function errorCode(answer: Answer): string {
  try {
    return JSON.parse(answer.body).error.code ?? `HTTP_${answer.status}`;
  } catch {
    return `HTTP_${answer.status}`;
  }
}

function batchResults(body: string): BatchResult[] | undefined {
  try {
    const results = JSON.parse(body).results;
    return Array.isArray(results) ? results : undefined;
  } catch {
    return undefined;
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
