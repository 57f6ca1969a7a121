import { encodeCanonical, toHex, utf8 } from '@medchain/crypto';
import {
  encodeTransaction,
  type PageRequest,
  type Transaction,
  transactionHash,
} from '@medchain/ledger';
import { ClientError } from './errors.js';
import { type RequestSigner, signRequest } from './http-signature.js';
import type {
  AuditEntryJson,
  AuditInclusionJson,
  BlockJson,
  ConsentJson,
  DelegateJson,
  EquivocationJson,
  GenesisAnswerJson,
  OrganizationAnswerJson,
  OrganizationJson,
  PageJson,
  PatientJson,
  ProviderJson,
  ReceiptJson,
  RecordAnswerJson,
  RecordJson,
  SignedHeaderJson,
  StateProofJson,
  StatusJson,
  SubmitResultJson,
  TxStatusJson,
  ValidatorSetJson,
  VaultStoredJson,
} from './json.js';
import { hashHex, type PartyKey, partyKeyHex } from './parties.js';
import { requestNonce } from './random.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RECEIPT_TIMEOUT_MS = 30_000;
export const API_PREFIX = '/v1';

export interface ClientOptions {
  /** The node's API base URL, e.g. `http://127.0.0.1:7701` (the `/v1` prefix is added). */
  readonly url: string;
  /**
   * The party this client acts for: every request it makes is signed with this key (the
   * request-signature profile), except transaction submission, which the transaction's own
   * signature covers. Without it, requests go unsigned (public routes only).
   */
  readonly signer?: RequestSigner;
  /** Per request (default 10 s); TIMEOUT when exceeded. */
  readonly timeoutMs?: number;
  /** The clock (ms since the epoch) for request signatures and access requests; default Date.now. */
  readonly now?: () => number;
  /** Request-signature validity (seconds, 1..300; default 60). */
  readonly signatureValiditySeconds?: number;
  /** The fetch to use (default globalThis.fetch). */
  readonly fetch?: typeof fetch;
}

export type HttpMethod = 'GET' | 'POST';

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** JSON body (sent as application/json), or raw bytes (application/octet-stream). */
  readonly body?: unknown;
  /** Sign with the client's signer (default: when it has one). */
  readonly signed?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** 'json' (default) or 'text'. */
  readonly as?: 'json' | 'text';
  /**
   * A long-lived response (the event stream): the timeout covers only the wait for the
   * response's head, not reading its body.
   */
  readonly stream?: boolean;
}

export interface CommittedTx {
  readonly hash: string;
  readonly height: number;
  readonly index: number;
  readonly receipt: ReceiptJson;
}

export interface WaitOptions {
  /** Default 30 s; TIMEOUT after it. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const pageQuery = (page: PageRequest = {}) => ({
  offset: page.offset,
  limit: page.limit,
  reverse: page.reverse,
});

/** Pages through a list route until its end. */
export async function allPages<T>(
  read: (page: PageRequest) => Promise<PageJson<T>>,
  pageSize = 200,
): Promise<T[]> {
  const items: T[] = [];
  for (let offset: number | null = 0; offset !== null; ) {
    const page: PageJson<T> = await read({ offset, limit: pageSize });
    items.push(...page.items);
    offset = page.nextOffset;
  }
  return items;
}

/** Resolves to undefined when the node answers 404 (a point read of something absent). */
export async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof ClientError && error.status === 404) return undefined;
    throw error;
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ClientError('ABORTED', 'aborted'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ClientError('ABORTED', 'aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export { sleep as delay };

/**
 * A node's HTTP API: one method per route, answers typed as the API sends them (bytes as hex),
 * errors as ClientError (the node's code and HTTP status, or NODE_UNREACHABLE / TIMEOUT /
 * BAD_ANSWER). With a signer, every request carries that party's request signature.
 */
export class ApiClient {
  readonly url: string;
  readonly signer: RequestSigner | undefined;
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly #options: ClientOptions;
  readonly #fetch: typeof fetch;
  /** What clients of one node share, whoever they act for (see withSigner). */
  #shared: { chainId?: Promise<string>; readonly usedNonces: Map<string, number> } = {
    usedNonces: new Map(),
  };

  constructor(options: ClientOptions) {
    this.#options = options;
    this.url = options.url.replace(/\/+$/, '');
    this.signer = options.signer;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The same node, acting for another party (or for none). */
  withSigner(signer: RequestSigner | undefined): this {
    const { signer: _, ...rest } = this.#options;
    const Self = this.constructor as new (options: ClientOptions) => this;
    const copy = new Self(signer === undefined ? rest : { ...rest, signer });
    copy.#shared = this.#shared;
    return copy;
  }

  /** The absolute URL of an API path (`/status` -> `<url>/v1/status`). */
  urlOf(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.url}${API_PREFIX}${path}${search === '' ? '' : `?${search}`}`;
  }

  /**
   * Sends one request, signed when the client has a signer (unless `signed: false`), and
   * answers the response once its head arrived (the timeout covers only that: for streams). API
   * errors are thrown.
   */
  fetchResponse(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<Response> {
    return this.#exchange(method, path, options, async (response) => response);
  }

  /** One request whose answer is JSON (or text with `as: 'text'`); the timeout covers it all. */
  request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    return this.#exchange(method, path, options, async (response) => {
      const text = await response.text();
      if (options.as === 'text') return text as T;
      try {
        return (text === '' ? null : JSON.parse(text)) as T;
      } catch {
        throw new ClientError('BAD_ANSWER', `${method} ${path} answered non-JSON`, {
          status: response.status,
        });
      }
    });
  }

  async #exchange<T>(
    method: HttpMethod,
    path: string,
    options: RequestOptions,
    read: (response: Response) => Promise<T>,
  ): Promise<T> {
    const url = this.urlOf(path, options.query);
    const headers: Record<string, string> = { ...options.headers };
    let body: Uint8Array | undefined;
    if (options.body instanceof Uint8Array) {
      body = options.body;
      headers['content-type'] = 'application/octet-stream';
    } else if (options.body !== undefined) {
      body = utf8(JSON.stringify(options.body));
      headers['content-type'] = 'application/json';
    }
    if (options.signed ?? this.signer !== undefined) {
      if (this.signer === undefined) {
        throw new ClientError('INVALID_ARGUMENT', `${method} ${path} needs a signer`);
      }
      const signature = await signRequest(
        { method, url, ...(body === undefined ? {} : { body }) },
        this.signer,
        {
          now: this.now(),
          nonce: requestNonce(),
          ...(this.#options.signatureValiditySeconds === undefined
            ? {}
            : { validitySeconds: this.#options.signatureValiditySeconds }),
        },
      );
      Object.assign(headers, signature);
    }
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    const signal =
      options.signal === undefined
        ? timeout.signal
        : AbortSignal.any([timeout.signal, options.signal]);
    try {
      const response = await this.#fetch(url, {
        method,
        headers,
        signal,
        ...(body === undefined ? {} : { body: body as NonNullable<RequestInit['body']> }),
      });
      if (!response.ok) throw await apiError(method, path, response);
      return await read(response);
    } catch (error) {
      if (error instanceof ClientError) throw error;
      if (options.signal?.aborted) throw new ClientError('ABORTED', 'aborted', { cause: error });
      if (timeout.signal.aborted) {
        throw new ClientError(
          'TIMEOUT',
          `${method} ${path}: no answer from ${this.url} within ${this.timeoutMs} ms`,
          { cause: error },
        );
      }
      const err = error as Error & { cause?: { code?: string; message?: string } };
      const why = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new ClientError('NODE_UNREACHABLE', `cannot reach the node at ${this.url} (${why})`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  get<T>(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, body: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  // ---- public ----

  health(): Promise<{ status: 'ok' }> {
    return this.get('/health');
  }

  status(): Promise<StatusJson> {
    return this.get('/status');
  }

  /** The node's chain id (asked once). */
  chainId(): Promise<string> {
    const shared = this.#shared;
    shared.chainId ??= this.status().then(
      (status) => status.chainId,
      (error: unknown) => {
        shared.chainId = undefined;
        throw error;
      },
    );
    return shared.chainId;
  }

  /** The highest nonce this client (and its withSigner copies) used per signer (hex key). */
  get usedNonces(): Map<string, number> {
    return this.#shared.usedNonces;
  }

  /**
   * Hands a signed transaction to the mempool; resolves with its hash once admitted (not
   * committed). Unsigned: the transaction's own signature is its authentication.
   */
  async submit(tx: Transaction): Promise<string> {
    const answer = await this.post<{ hash?: unknown }>('/tx', encodeTransaction(tx), {
      signed: false,
    });
    return typeof answer?.hash === 'string' ? answer.hash : toHex(transactionHash(tx));
  }

  /**
   * Hands many signed transactions to the mempool in one request (POST /v1/txs, at most
   * 1,000); resolves with one result per transaction, in order: admitted with its hash, or
   * refused with the node's code, message and the HTTP status a single submission would have
   * got (429/503: try that one again later). A later one sees the earlier ones, so one signer's
   * consecutive nonces may share a batch. Only a refusal of the whole request throws.
   */
  async submitMany(txs: readonly Transaction[]): Promise<SubmitResultJson[]> {
    if (txs.length === 0) return [];
    const body = encodeCanonical(txs.map((tx) => encodeTransaction(tx)));
    const answer = await this.post<{ results?: unknown }>('/txs', body, { signed: false });
    if (!Array.isArray(answer?.results) || answer.results.length !== txs.length) {
      throw new ClientError('BAD_ANSWER', `POST /txs answered no result per transaction`);
    }
    return answer.results as SubmitResultJson[];
  }

  async tx(hash: string | Uint8Array): Promise<TxStatusJson> {
    return this.get(`/tx/${hashHex(hash)}`);
  }

  /**
   * Polls GET /tx/:hash until the transaction is committed, backing off from 50 to 500 ms;
   * TIMEOUT when it is not within `timeoutMs`. Resolves with the receipt whatever its code.
   */
  async waitForReceipt(hash: string | Uint8Array, options: WaitOptions = {}): Promise<CommittedTx> {
    const id = hashHex(hash);
    const timeoutMs = options.timeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      // A just-admitted transaction may not be visible here for a moment: 404 is "not yet".
      const answer = await orUndefined(this.tx(id));
      if (answer?.status === 'committed') {
        return { hash: id, height: answer.height, index: answer.index, receipt: answer.receipt };
      }
      if (Date.now() + delay > deadline) {
        throw new ClientError('TIMEOUT', `transaction ${id} not committed within ${timeoutMs} ms`);
      }
      await sleep(delay, options.signal);
    }
  }

  latestBlock(): Promise<BlockJson> {
    return this.get('/blocks/latest');
  }

  block(height: number): Promise<BlockJson> {
    return this.get(`/blocks/${height}`);
  }

  /** A header with its commit certificate (public: what a light client follows). */
  header(height: number): Promise<SignedHeaderJson> {
    return this.get(`/headers/${height}`);
  }

  /** The node's genesis document and its hash (check the hash against one you trust). */
  genesis(): Promise<GenesisAnswerJson> {
    return this.get('/genesis');
  }

  /** Every validator set from genesis, with the first height each decides. */
  validatorSets(): Promise<{ items: ValidatorSetJson[] }> {
    return this.get('/validator-sets');
  }

  async stateProof(key: Uint8Array): Promise<StateProofJson> {
    return this.get('/state/proof', { query: { key: toHex(key) } });
  }

  organizations(): Promise<{ items: OrganizationJson[] }> {
    return this.get('/organizations');
  }

  async organization(id: string | Uint8Array, page?: PageRequest): Promise<OrganizationAnswerJson> {
    return this.get(`/organizations/${hashHex(id)}`, { query: pageQuery(page) });
  }

  async provider(key: PartyKey): Promise<ProviderJson> {
    return this.get(`/providers/${partyKeyHex(key)}`);
  }

  evidence(): Promise<{ items: EquivocationJson[]; total: number }> {
    return this.get('/consensus/evidence');
  }

  /** Prometheus text exposition. */
  metrics(): Promise<string> {
    return this.get('/metrics', { as: 'text' });
  }

  // ---- a patient's data (the patient, a live delegate, or a provider a consent names) ----

  async patient(key: PartyKey): Promise<PatientJson> {
    return this.get(`/patients/${partyKeyHex(key)}`);
  }

  async delegate(patient: PartyKey, delegate: PartyKey): Promise<DelegateJson> {
    return this.get(`/patients/${partyKeyHex(patient)}/delegates/${partyKeyHex(delegate)}`);
  }

  async consents(patient: PartyKey, page?: PageRequest): Promise<PageJson<ConsentJson>> {
    return this.get(`/patients/${partyKeyHex(patient)}/consents`, { query: pageQuery(page) });
  }

  allConsents(patient: PartyKey): Promise<ConsentJson[]> {
    return allPages((page) => this.consents(patient, page));
  }

  async audit(patient: PartyKey, page?: PageRequest): Promise<PageJson<AuditEntryJson>> {
    return this.get(`/patients/${partyKeyHex(patient)}/audit`, { query: pageQuery(page) });
  }

  allAudit(patient: PartyKey): Promise<AuditEntryJson[]> {
    return allPages((page) => this.audit(patient, page));
  }

  /** Where audit entry `index`'s transaction is: its block and Merkle path (check with a light client). */
  async auditInclusion(patient: PartyKey, index: number): Promise<AuditInclusionJson> {
    return this.get(`/patients/${partyKeyHex(patient)}/audit/${index}/inclusion`);
  }

  async patientRecords(patient: PartyKey, page?: PageRequest): Promise<PageJson<RecordJson>> {
    return this.get(`/patients/${partyKeyHex(patient)}/records`, { query: pageQuery(page) });
  }

  /** The consents `patient` gave this provider or its organization (oldest first). */
  async providerConsents(
    provider: PartyKey,
    patient: PartyKey,
    page?: PageRequest,
  ): Promise<PageJson<ConsentJson>> {
    return this.get(`/providers/${partyKeyHex(provider)}/consents`, {
      query: { patient: partyKeyHex(patient), ...pageQuery(page) },
    });
  }

  async consent(id: string | Uint8Array): Promise<ConsentJson> {
    return this.get(`/consents/${hashHex(id)}`);
  }

  async record(id: string | Uint8Array, page?: PageRequest): Promise<RecordAnswerJson> {
    return this.get(`/records/${hashHex(id)}`, { query: pageQuery(page) });
  }

  // ---- the node's own vault (its organization's admins and providers) ----

  /**
   * Stores one version of a record (FHIR JSON bytes) in this node's vault, with the salt its
   * anchor commits with (absent: a version anchored by plain sha256 of its content).
   */
  async storeVaultRecord(args: {
    readonly recordId: string | Uint8Array;
    readonly patient: PartyKey;
    readonly version: number;
    readonly content: Uint8Array;
    readonly salt?: Uint8Array;
  }): Promise<VaultStoredJson> {
    return this.post('/vault/records', {
      recordId: hashHex(args.recordId),
      patient: partyKeyHex(args.patient),
      version: args.version,
      content: toHex(args.content),
      ...(args.salt === undefined ? {} : { salt: toHex(args.salt) }),
    });
  }

  /** Crypto-shreds a record (erased on the ledger) in this node's vault. */
  async eraseVaultRecord(id: string | Uint8Array): Promise<{ recordId: string; held: boolean }> {
    return this.post(`/vault/records/${hashHex(id)}/erase`, {});
  }
}

async function apiError(method: string, path: string, response: Response): Promise<ClientError> {
  let code = `HTTP_${response.status}`;
  let message = response.statusText;
  let details: unknown;
  try {
    const json = (await response.json()) as {
      error?: { code?: unknown; message?: unknown; [extra: string]: unknown };
    };
    const error = json?.error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string') message = error.message;
    details = error;
  } catch {
    // Not JSON: keep the HTTP status as the code.
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
  return new ClientError(code, `${method} ${path}: ${message}`, {
    status: response.status,
    details,
    ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
  });
}
