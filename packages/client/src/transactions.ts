import { type Canonical, decodeCanonical, fromHex, toHex } from '@medchain/crypto';
import {
  signingDigest,
  stateKeys,
  type Transaction,
  type TxBodies,
  type TxKind,
  type UnsignedTransaction,
} from '@medchain/ledger';
import { type ApiClient, type CommittedTx, DEFAULT_RECEIPT_TIMEOUT_MS, delay } from './api.js';
import { ClientError } from './errors.js';
import type { RequestSigner } from './http-signature.js';

/** The fields of a transaction of kind K, with its typed body (bytes as Uint8Array). */
export interface TxFields<K extends TxKind = TxKind> {
  readonly chainId: string;
  readonly kind: K;
  readonly body: TxBodies[K];
  readonly nonce: number;
}

/**
 * Signs a transaction: Ed25519 over the ledger's signing digest (taggedHash('Transaction', the
 * canonical five fields)). Works with any signer, WebCrypto's asynchronous one included.
 */
export async function signTransaction<K extends TxKind>(
  signer: RequestSigner,
  fields: TxFields<K>,
): Promise<Transaction> {
  const unsigned: UnsignedTransaction = {
    chainId: fields.chainId,
    kind: fields.kind,
    body: fields.body as unknown as Canonical,
    signer: signer.publicKey,
    nonce: fields.nonce,
  };
  const signature = await signer.sign(signingDigest(unsigned));
  return { ...unsigned, signature };
}

/**
 * A signer's next nonce as the node can prove it: the nonce entry through GET /state/proof. The
 * proof is of the state one block behind the head, so `sendTransaction` steps up on BAD_NONCE.
 */
export async function provenNextNonce(api: ApiClient, signer: Uint8Array): Promise<number> {
  const answer = await api.stateProof(stateKeys.nonce(signer));
  if (answer.value === null) return 1;
  return Number(decodeCanonical(fromHex(answer.value))) + 1;
}

/**
 * The nonce to sign with: the node's proven next nonce, or one past the last this client used
 * for the signer, whichever is higher (so transactions sent back to back without waiting do not
 * collide).
 */
export async function nextNonce(api: ApiClient, signer: RequestSigner): Promise<number> {
  // The nonce entry may be read by its owner (and members): ask as the transaction's signer.
  const as = signer === api.signer ? api : api.withSigner(signer);
  const proven = await provenNextNonce(as, signer.publicKey);
  return Math.max(proven, (api.usedNonces.get(toHex(signer.publicKey)) ?? 0) + 1);
}

/** Notes that the node took `nonce` from `signer` (hex), for {@link nextNonce}. */
export function noteNonceUsed(api: ApiClient, signer: string, nonce: number): void {
  api.usedNonces.set(signer, Math.max(api.usedNonces.get(signer) ?? 0, nonce));
}

export interface SendOptions {
  /** Wait for the receipt (default true), or return once the mempool admitted it. */
  readonly wait?: boolean;
  /** How long to wait for the receipt (default 30 s): TIMEOUT after it. */
  readonly timeoutMs?: number;
  /** Use this nonce instead of asking the node (no BAD_NONCE retry then). */
  readonly nonce?: number;
  /** Sign with this key instead of the client's signer. */
  readonly signer?: RequestSigner;
  readonly signal?: AbortSignal;
}

export interface SentTx {
  readonly kind: TxKind;
  readonly hash: string;
  readonly signer: string;
  readonly nonce: number;
  readonly status: 'pending' | 'committed';
  readonly height?: number;
  readonly index?: number;
  readonly receipt?: CommittedTx['receipt'];
}

/**
 * Submission retries: BAD_NONCE or DUPLICATE step a guessed nonce up (the proven nonce trails
 * the committed state by one block, and an identical body with a used nonce is a known tx); 429/503 wait for Retry-After (at most MAX_RETRY_AFTER_MS each).
 */
const SUBMIT_RETRIES = 8;
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * Builds, signs and submits a transaction, then (by default) waits for its receipt. A committed
 * transaction whose receipt is not OK is a ClientError with the receipt's code (e.g.
 * NOT_ORG_ADMIN) and the SentTx in `details`.
 *
 * Nonces: {@link nextNonce}, stepped up when the node says one is used.
 * Refusals the node says will pass later (429, 503 with Retry-After) are retried, bounded.
 */
export async function sendTransaction<K extends TxKind>(
  api: ApiClient,
  kind: K,
  body: TxBodies[K],
  options: SendOptions = {},
): Promise<SentTx> {
  const signer = options.signer ?? api.signer;
  if (signer === undefined) throw new ClientError('INVALID_ARGUMENT', 'sending needs a signer');
  const as = signer === api.signer ? api : api.withSigner(signer);
  const chainId = await api.chainId();
  const who = toHex(signer.publicKey);
  let nonce = options.nonce ?? (await nextNonce(api, signer));
  let hash: string | undefined;
  for (let attempt = 0; hash === undefined; attempt++) {
    const tx = await signTransaction(signer, { chainId, kind, body, nonce });
    try {
      hash = await api.submit(tx);
    } catch (error) {
      if (!(error instanceof ClientError) || attempt >= SUBMIT_RETRIES) throw error;
      if (
        (error.code === 'BAD_NONCE' || error.code === 'DUPLICATE') &&
        options.nonce === undefined
      ) {
        // Used, or the very same transaction (same body, same guessed nonce) is already known.
        nonce += 1;
      } else if (
        // Rate limited, mempool full, node not ready: the node says when to come back.
        (error.status === 429 || error.status === 503) &&
        error.retryAfterMs !== undefined &&
        error.retryAfterMs <= MAX_RETRY_AFTER_MS
      ) {
        await delay(error.retryAfterMs, options.signal);
      } else {
        throw error;
      }
    }
  }
  noteNonceUsed(api, who, nonce);
  const sent = { kind, hash, signer: who, nonce };
  if (options.wait === false) return { ...sent, status: 'pending' };
  const committed = await as.waitForReceipt(hash, {
    timeoutMs: options.timeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const result: SentTx = {
    ...sent,
    status: 'committed',
    height: committed.height,
    index: committed.index,
    receipt: committed.receipt,
  };
  if (committed.receipt.code !== 'OK') {
    throw new ClientError(
      committed.receipt.code,
      `${kind} ${hash} was committed at height ${committed.height} but failed: ${committed.receipt.code} ${committed.receipt.message}`,
      { details: result },
    );
  }
  return result;
}
