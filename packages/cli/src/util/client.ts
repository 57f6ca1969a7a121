import { setTimeout as sleep } from 'node:timers/promises';
import { toHex } from '@medchain/crypto';
import { encodeTransaction, type Transaction, transactionHash } from '@medchain/ledger';
import { CliError, EXIT } from './errors.js';

export const NODE_ENV = 'MEDCHAIN_NODE';
/** The node's default API address (DEFAULT_CONFIG.api; a test keeps the two equal). */
/** The node's default API address (its DEFAULT_CONFIG.api; a test keeps the two equal). */
export const DEFAULT_NODE_URL = 'http://127.0.0.1:7701';
export const DEFAULT_TIMEOUT_MS = 10_000;

/** JSON as the node's API sends it (bytes as hex). */
// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON checked by the fields we read
export type ApiJson = any;

export interface Receipt {
  readonly txHash: string;
  readonly code: string;
  readonly message: string;
}

export interface CommittedTx {
  readonly hash: string;
  readonly height: number;
  readonly index: number;
  readonly receipt: Receipt;
}

/** Thrown for an API error answer (4xx/5xx with `{error: {code, message}}`). */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message, {
      exitCode: EXIT.failed,
      ...(status === 404
        ? { hint: 'check the id or key; the node only knows committed state' }
        : {}),
    });
  }
}

/**
 * The node's HTTP API, with a timeout on every request and errors that say what to do: a node
 * that is down or slow gives exit code 3, an API error answer exit code 1.
 */
export class ApiClient {
  readonly base: string;

  constructor(
    base: string,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiJson> {
    const url = `${this.base}/v1${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
    } catch (error) {
      const err = error as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === 'TimeoutError' || err.name === 'AbortError'
          ? `no answer within ${this.timeoutMs} ms`
          : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new CliError('NODE_UNREACHABLE', `cannot reach the node at ${this.base} (${why})`, {
        exitCode: EXIT.unreachable,
        hint: `is it running? start it with \`medchain start --home DIR\`, or point to another node with --node URL or $${NODE_ENV}`,
      });
    }
    const text = await response.text();
    let json: ApiJson;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      throw new CliError('BAD_ANSWER', `${url} answered ${response.status} with non-JSON`, {
        hint: `is ${this.base} a medchain node API?`,
      });
    }
    if (!response.ok) {
      const error = json?.error ?? {};
      throw new ApiError(
        response.status,
        typeof error.code === 'string' ? error.code : `HTTP_${response.status}`,
        `${method} ${path}: ${typeof error.message === 'string' ? error.message : response.statusText}`,
      );
    }
    return json;
  }

  get(path: string): Promise<ApiJson> {
    return this.request('GET', path);
  }

  post(path: string, body: unknown): Promise<ApiJson> {
    return this.request('POST', path, body);
  }

  status(): Promise<ApiJson> {
    return this.get('/status');
  }

  /** Submits a signed transaction; resolves with its hash once the mempool admitted it. */
  async submit(tx: Transaction): Promise<string> {
    const answer = await this.request('POST', '/tx', { tx: toHex(encodeTransaction(tx)) });
    return typeof answer?.hash === 'string' ? answer.hash : toHex(transactionHash(tx));
  }

  /** Polls GET /tx/:hash until the transaction is committed (bounded by `timeoutMs`). */
  async waitForCommit(hash: string, timeoutMs: number): Promise<CommittedTx> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      let answer: ApiJson;
      try {
        answer = await this.get(`/tx/${hash}`);
      } catch (error) {
        // A just-admitted tx may not be visible on this path for a moment: 404 is "not yet".
        if (!(error instanceof ApiError && error.status === 404)) throw error;
      }
      if (answer?.status === 'committed') {
        return { hash, height: answer.height, index: answer.index, receipt: answer.receipt };
      }
      if (Date.now() + delay > deadline) {
        throw new CliError(
          'COMMIT_TIMEOUT',
          `transaction ${hash} not committed within ${timeoutMs} ms`,
          {
            hint: `check later with \`medchain query tx ${hash}\`; is the network making blocks (\`medchain status\`)?`,
          },
        );
      }
      await sleep(delay);
    }
  }
}
