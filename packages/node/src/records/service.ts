import { randomBytes } from 'node:crypto';
import { bytesEqual, type Canonical, type Signer, sealEnvelope, toHex } from '@medchain/crypto';
import {
  type AccessLogBody,
  decideAccess,
  encodeServedRecord,
  encodeTransaction,
  expectedNonce,
  getOrganization,
  getRecord,
  type KeyValueReader,
  type RecordEntry,
  readChainConfig,
  recordEnvelopeContext,
  signTransaction,
  stateKeys,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import { Counter, type Registry } from 'prom-client';
import { organizationOfValidator } from '../api/auth.js';
import type { ApiBackend, CommittedBlockEvent } from '../api/backend.js';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { protocolId } from '../net/host.js';
import type { RequestChannel, Timers, Transport } from '../shell/ports.js';
import { systemTimers } from '../shell/system.js';
import type { PutRecord, Vault, VaultVersion } from '../vault/index.js';
import { RecordError } from './errors.js';
import type { RecordsApi } from './http.js';
import {
  decodeAnswer,
  decodeSignedRequest,
  encodeAnswer,
  encodeSignedRequest,
  RECORDS_MAX_REQUEST_BYTES,
  RECORDS_MAX_RESPONSE_BYTES,
  type RecordAnswer,
  type SignedAccessRequest,
} from './protocol.js';
import { refuseRequesterWithoutRole } from './requester.js';

export interface RecordsServiceOptions {
  readonly chainId: string;
  /** The node's chain as the API sees it: committed state, tx admission, committed blocks. */
  readonly backend: Pick<ApiBackend, 'state' | 'submitTransaction' | 'subscribe' | 'transaction'>;
  readonly vault: Vault;
  /** The node's validator key: it signs access.log entries (the ledger accepts the custodian's validator key). */
  readonly signer: Signer;
  /** The same key's seed: envelopes are sealed with it, so requesters check the sender on the ledger. */
  readonly signerSeed: Uint8Array;
  /** The records protocol is registered on it at start(). */
  readonly transport: Transport;
  readonly peerId: string;
  readonly allowPeer: (peerId: string) => boolean;
  /** Wall clock (ms): request freshness. */
  readonly now: () => number;
  /** The wait for an access log entry to commit. Default the system's. */
  readonly timers?: Timers;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How long the custodian waits for its access log entry to commit. Default 20 s. */
  readonly logTimeoutMs?: number;
  /** Deadline of one exchange on the records protocol, both sides. Default 30 s. */
  readonly requestTimeoutMs?: number;
}

/** A served record as the requester's node hands it on: still sealed to the requester. */
export interface FetchedRecord {
  readonly record: RecordEntry;
  /** The custodian organization's validator key: the envelope's only acceptable sender. */
  readonly custodianKey: Uint8Array;
  readonly answer: Extract<RecordAnswer, { status: 'served' }>;
}

interface RecordsMetrics {
  readonly served: Counter<'outcome'>;
}
const metricsByRegistry = new WeakMap<Registry, RecordsMetrics>();
function recordsMetrics(register: Registry): RecordsMetrics {
  let metrics = metricsByRegistry.get(register);
  if (metrics === undefined) {
    metrics = {
      served: new Counter({
        name: 'medchain_records_requests_total',
        help: 'Record requests this node answered as custodian, by outcome (served, denied, or an error code)',
        labelNames: ['outcome'],
        registers: [register],
      }),
    };
    metricsByRegistry.set(register, metrics);
  }
  return metrics;
}

type Waiter = { resolve: (code: string, message: string) => void };

/**
 * Consent-gated record exchange (see README.md beside this file). As custodian it answers the
 * records protocol: check the request, decide on the committed state, log the decision on the
 * ledger, wait for that entry to commit, and only then seal the record to the requester. As
 * the requester's node it relays a clinician-signed request to the custodian found on the
 * ledger and hands back the sealed answer, which it cannot open. It also shreds vault records
 * whose erasure commits on the ledger.
 */
/** The records protocol: one sealed record answer per signed access request. */
export const RECORDS_PROTOCOL = protocolId('records');

export class RecordsService implements RecordsApi {
  #protocol: RequestChannel | undefined;
  private readonly waiters = new Map<string, Waiter>();
  private readonly inFlight = new Set<string>();
  private readonly unsubscribe: () => void;
  private readonly metrics: RecordsMetrics;
  /** This service's admitted transactions not yet seen in a block: nonce -> tx hash (hex). */
  private readonly pendingNonces = new Map<number, string>();
  /** Submissions run one at a time: a nonce is reserved and settled before the next is chosen. */
  private submissions: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RecordsServiceOptions) {
    this.metrics = recordsMetrics(options.metrics.register);
    this.unsubscribe = options.backend.subscribe((event) => this.onBlock(event));
  }

  /** The records protocol, once started. */
  get protocol(): RequestChannel {
    if (this.#protocol === undefined) {
      throw new NodeError('NODE_PROTOCOL_STOPPED', `${RECORDS_PROTOCOL} is not running`);
    }
    return this.#protocol;
  }

  async start(): Promise<void> {
    this.#protocol = await this.options.transport.requests({
      protocol: RECORDS_PROTOCOL,
      maxRequestBytes: RECORDS_MAX_REQUEST_BYTES,
      maxResponseBytes: RECORDS_MAX_RESPONSE_BYTES,
      timeoutMs: this.options.requestTimeoutMs ?? 30_000,
      // Each request waits for a block commit (seconds under load), so one hospital keeps
      // many in flight; past this the stream is refused and the requester sees UNREACHABLE.
      maxConcurrentRequests: 128,
      handle: async (_peer, bytes) => encodeAnswer(await this.answer(bytes)),
      allowPeer: this.options.allowPeer,
    });
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    for (const waiter of this.waiters.values()) waiter.resolve('NODE_STOPPING', 'node stopping');
    this.waiters.clear();
    await this.#protocol?.close();
  }

  private get state(): KeyValueReader {
    return this.options.backend.state();
  }

  /** The organization whose validator key this node holds, if it is a member. */
  ownOrganization(): Uint8Array | undefined {
    return organizationOfValidator(this.state, this.options.signer.publicKey);
  }

  // ---- custodian side ----

  /**
   * Answers one request (its wire bytes, or already decoded and checked when this node is the
   * custodian itself); every refusal is an answer, never silence.
   */
  async answer(request: Uint8Array | SignedAccessRequest): Promise<RecordAnswer> {
    let answer: RecordAnswer;
    try {
      answer = await this.serve(
        request instanceof Uint8Array ? decodeSignedRequest(request) : request,
      );
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      answer = { status: 'error', code: error.code, message: error.message };
    }
    this.metrics.served.inc({
      outcome: answer.status === 'error' ? answer.code : answer.status,
    });
    return answer;
  }

  private async serve(signed: SignedAccessRequest): Promise<RecordAnswer> {
    const { request } = signed;
    const { logger } = this.options;
    const state = this.state;
    const record = getRecord(state, request.recordId);
    const own = this.ownOrganization();
    if (record === undefined || own === undefined || !bytesEqual(record.custodian, own)) {
      throw new RecordError(
        'RECORD_NOT_FOUND',
        `record ${toHex(request.recordId)} is not anchored by this custodian`,
      );
    }
    // The requester's node checks this too, but a member node may relay anything.
    const now = this.options.now();
    refuseRequesterWithoutRole(state, request.requester, request.recordId, now);
    // The ledger refuses to log a request this far from its block time, so a stale request
    // is refused here without a log entry (and a request from the future cannot be saved up).
    const skew = readChainConfig(state).params.accessRequestMaxSkewMs;
    if (Math.abs(request.time - now) > skew) {
      throw new RecordError(
        'RECORD_REQUEST_STALE',
        `request time ${request.time} is more than ${skew} ms from the custodian's clock ${now}`,
      );
    }
    const nonceId = `${toHex(request.requester)}:${toHex(request.nonce)}`;
    if (
      this.inFlight.has(nonceId) ||
      state.get(stateKeys.accessNonce(request.requester, request.nonce)) !== undefined
    ) {
      throw new RecordError('RECORD_REQUEST_REPLAYED', 'this request nonce was already used');
    }
    this.inFlight.add(nonceId);
    try {
      const decision = decideAccess(state, {
        requester: request.requester,
        action: request.action,
        recordId: request.recordId,
        purpose: request.purpose,
        time: now,
        ...(request.emergencyReason === undefined
          ? {}
          : { emergencyReason: request.emergencyReason }),
      });
      const body: AccessLogBody = {
        request,
        requestSignature: signed.signature,
        decision: decision.decision,
        consentId: decision.consentId,
      };
      // Log, then serve: nothing below runs unless the entry is committed with an OK receipt.
      const logTx = await this.logAccess(body);
      const fields = {
        recordId: toHex(request.recordId).slice(0, 16),
        requester: toHex(request.requester).slice(0, 16),
        logTx: toHex(logTx),
      };
      if (decision.decision === 'deny') {
        logger.info({ ...fields, reason: decision.reason }, 'record request denied (logged)');
        return { status: 'denied', logTx, reason: decision.reason };
      }
      // The committed state may have moved (an amendment): serve the version anchored now.
      const current = getRecord(this.state, request.recordId);
      if (current === undefined || current.erased) {
        throw new RecordError('RECORD_ERASED', 'the record was erased meanwhile');
      }
      const stored = await this.options.vault.get(request.recordId, current.contentHash);
      // The salt travels only inside the envelope: the requester needs it to check the anchor.
      const envelope = sealEnvelope({
        senderSeed: this.options.signerSeed,
        recipient: request.requester,
        context: recordEnvelopeContext(request),
        payload: encodeServedRecord(stored),
        randomBytes: (length) => new Uint8Array(randomBytes(length)),
      });
      logger.info({ ...fields, basis: decision.basis, version: stored.version }, 'record served');
      return {
        status: 'served',
        logTx,
        version: stored.version,
        contentHash: stored.contentHash,
        resourceType: stored.resourceType,
        envelope,
      };
    } finally {
      this.inFlight.delete(nonceId);
    }
  }

  /**
   * Commits the access.log (or access.emergency) entry of a request: its tx hash, once OK.
   */
  private logAccess(body: AccessLogBody): Promise<Uint8Array> {
    const kind = body.request.emergencyReason === undefined ? 'access.log' : 'access.emergency';
    const canonical = { ...body, request: { ...body.request } } as unknown as Canonical;
    return this.commitTransaction(kind, canonical);
  }

  /**
   * Log, then serve, for any entry the custodian writes (access logs, research releases):
   * signs `kind` with the validator key, on this service's one nonce sequence, submits it and
   * resolves with its hash only once it is committed with an OK receipt (RECORD_LOG_FAILED
   * otherwise).
   */
  async commitTransaction(kind: TxKind, body: Canonical): Promise<Uint8Array> {
    const { hash, nonce, done } = await this.serialized(() => this.submit(kind, body));
    const id = toHex(hash);
    const receipt = await done;
    // A transaction that left the mempool uncommitted (timed out and dropped) frees its nonce
    // for the next submission, which closes the gap; one still pending keeps it.
    const status =
      receipt.code === 'LOG_TIMEOUT'
        ? (await this.options.backend.transaction(hash)).status
        : undefined;
    if (status !== 'pending' && this.pendingNonces.get(nonce) === id)
      this.pendingNonces.delete(nonce);
    if (receipt.code !== 'OK') {
      throw new RecordError(
        'RECORD_LOG_FAILED',
        `the ${kind} entry ${id} did not commit OK (${receipt.code}${receipt.message === '' ? '' : `: ${receipt.message}`}); nothing was sent`,
        { logTx: id, receipt: receipt.code },
      );
    }
    return hash;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.submissions.then(work);
    this.submissions = run.catch(() => undefined);
    return run;
  }

  /**
   * Signs and submits one transaction on the lowest nonce neither committed nor held by one of
   * this service's pending transactions, so a refusal never leaves a gap: its nonce is simply
   * used by the next submission. A nonce taken by someone else (BAD_NONCE: another transaction
   * of this key is pending there) is skipped, a few times at most.
   */
  private async submit(
    kind: TxKind,
    body: Canonical,
  ): Promise<{
    hash: Uint8Array;
    nonce: number;
    done: Promise<{ code: string; message: string }>;
  }> {
    const { signer, chainId, backend } = this.options;
    const skipped = new Set<number>();
    for (;;) {
      const committed = expectedNonce(this.state, signer.publicKey);
      for (const nonce of this.pendingNonces.keys()) {
        if (nonce < committed) this.pendingNonces.delete(nonce);
      }
      let nonce = committed;
      while (this.pendingNonces.has(nonce) || skipped.has(nonce)) nonce++;
      const tx = signTransaction({ chainId, kind, body, signer: signer.publicKey, nonce }, signer);
      const hash = transactionHash(tx);
      const done = this.waitForReceipt(hash);
      const submitted = await backend.submitTransaction(encodeTransaction(tx));
      if (submitted.accepted) {
        this.pendingNonces.set(nonce, toHex(hash));
        return { hash, nonce, done };
      }
      this.waiters.get(toHex(hash))?.resolve('NOT_ADMITTED', '');
      if (submitted.code === 'BAD_NONCE' && skipped.size < 3) {
        skipped.add(nonce);
        continue;
      }
      throw new RecordError(
        'RECORD_LOG_FAILED',
        `the ${kind} entry was not admitted (${submitted.code}: ${submitted.message}); nothing was sent`,
        { admission: submitted.code },
      );
    }
  }

  private waitForReceipt(hash: Uint8Array): Promise<{ code: string; message: string }> {
    const id = toHex(hash);
    const timeoutMs = this.options.logTimeoutMs ?? 20_000;
    return new Promise((resolve) => {
      const timer = (this.options.timers ?? systemTimers).setTimeout(() => {
        this.waiters.delete(id);
        resolve({ code: 'LOG_TIMEOUT', message: `not committed within ${timeoutMs} ms` });
      }, timeoutMs);
      this.waiters.set(id, {
        resolve: (code, message) => {
          timer.cancel();
          this.waiters.delete(id);
          resolve({ code, message });
        },
      });
    });
  }

  private onBlock(event: CommittedBlockEvent): void {
    event.receipts.forEach((receipt, i) => {
      if (this.waiters.size > 0) {
        this.waiters.get(toHex(receipt.txHash))?.resolve(receipt.code, receipt.message);
      }
      const tx = event.txs[i];
      // Erasure committed on the ledger (by the custodian or by the patient): shred here too.
      if (tx?.kind === 'record.erase' && receipt.code === 'OK') {
        const recordId = (tx.body as { recordId: Uint8Array }).recordId;
        void this.shredIfHeld(recordId);
      }
    });
  }

  private async shredIfHeld(recordId: Uint8Array): Promise<void> {
    try {
      const { vault } = this.options;
      if ((await vault.describe(recordId)) !== undefined) await vault.erase(recordId);
    } catch (error) {
      this.options.logger.error({ err: error, recordId: toHex(recordId) }, 'shredding failed');
    }
  }

  // ---- the hospital's own vault (loopback API) ----

  putRecord(record: PutRecord): Promise<VaultVersion & { resourceType: string }> {
    return this.options.vault.put(record);
  }

  /**
   * Shreds a record, but never a live one: nobody destroys a record the ledger still has
   * without a committed `record.erase`, which only the custodian's providers, the patient or
   * a delegate can sign. The HTTP route also needs a request signed by this organization's
   * admin or provider, and refuses an id not anchored with it as custodian (403
   * VAULT_NOT_CUSTODIAN).
   */
  async eraseRecord(recordId: Uint8Array): Promise<boolean> {
    const anchored = getRecord(this.state, recordId);
    if (anchored !== undefined && !anchored.erased) {
      throw new RecordError(
        'RECORD_BAD_REQUEST',
        `record ${toHex(recordId)} is live on the ledger: commit record.erase first (the node then shreds it by itself)`,
      );
    }
    return this.options.vault.erase(recordId);
  }

  // ---- requester side ----

  /**
   * Relays a requester-signed request to the record's custodian (found on the ledger: record
   * -> custodian organization -> its peer id), or answers it here when this node is the
   * custodian. Resolves with the sealed record; a denial or refusal throws its RecordError.
   * `signed` comes from checkSignedRequest: answered here, it is not decoded and checked again.
   */
  async fetch(signed: SignedAccessRequest): Promise<FetchedRecord> {
    const state = this.state;
    const record = getRecord(state, signed.request.recordId);
    if (record === undefined) {
      throw new RecordError(
        'RECORD_NOT_FOUND',
        `no record ${toHex(signed.request.recordId)} on the ledger`,
      );
    }
    const custodian = getOrganization(state, record.custodian);
    if (custodian === undefined || custodian.status !== 'member') {
      throw new RecordError(
        'RECORD_CUSTODIAN_UNREACHABLE',
        'the custodian is not a member organization',
      );
    }
    let answer: RecordAnswer;
    if (custodian.peerId === this.options.peerId) {
      answer = await this.answer(signed);
    } else {
      let bytes: Uint8Array;
      try {
        bytes = await this.protocol.request(custodian.peerId, encodeSignedRequest(signed));
      } catch (error) {
        if (!(error instanceof NodeError)) throw error;
        throw new RecordError(
          'RECORD_CUSTODIAN_UNREACHABLE',
          `the custodian's node ${custodian.peerId} did not answer: ${error.message}`,
        );
      }
      answer = decodeAnswer(bytes);
    }
    if (answer.status === 'denied') {
      throw new RecordError(
        'RECORD_ACCESS_DENIED',
        `access denied (${answer.reason}), logged in ${toHex(answer.logTx)}`,
        {
          reason: answer.reason,
          logTx: toHex(answer.logTx),
        },
      );
    }
    if (answer.status === 'error') throw new RecordError(answer.code, answer.message);
    return { record, custodianKey: custodian.validatorKey, answer };
  }
}
