import { type Canonical, decodeCanonical, fromHex, type Signer, toHex } from '@medchain/crypto';
import { signTransaction, stateKeys, type TxKind } from '@medchain/ledger';
import { type ApiClient, ApiError, type CommittedTx } from './client.js';
import { CliError } from './errors.js';

export interface SendOptions {
  /** Wait for the receipt (default) or return once the mempool admitted the transaction. */
  readonly wait: boolean;
  readonly commitTimeoutMs: number;
  /** Use this nonce instead of asking the node. */
  readonly nonce?: number | undefined;
}

export const DEFAULT_COMMIT_TIMEOUT_MS = 30_000;
/** BAD_NONCE retries: the proven nonce trails the committed state by one block. */
const NONCE_RETRIES = 8;

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

const chainIds = new WeakMap<ApiClient, string>();

export async function chainIdOf(client: ApiClient): Promise<string> {
  let chainId = chainIds.get(client);
  if (chainId === undefined) {
    chainId = String((await client.status()).chainId);
    chainIds.set(client, chainId);
  }
  return chainId;
}

/**
 * The signer's next nonce as far as the node can prove it. The API has no nonce route, so this
 * reads the nonce entry through GET /state/proof, which answers for the state one block behind
 * the head; `sendTransaction` steps up on BAD_NONCE to cover that block.
 */
export async function provenNextNonce(client: ApiClient, signer: Uint8Array): Promise<number> {
  const answer = await client.get(`/state/proof?key=${toHex(stateKeys.nonce(signer))}`);
  if (answer.value === null || answer.value === undefined) return 1;
  return Number(decodeCanonical(fromHex(answer.value))) + 1;
}

/**
 * Signs, submits and (by default) waits for the receipt. A failed receipt is an error (exit 1)
 * carrying the receipt in `details`.
 */
export async function sendTransaction(
  client: ApiClient,
  signer: Signer,
  kind: TxKind,
  body: Canonical,
  options: SendOptions = { wait: true, commitTimeoutMs: DEFAULT_COMMIT_TIMEOUT_MS },
): Promise<SentTx> {
  const chainId = await chainIdOf(client);
  let nonce = options.nonce ?? (await provenNextNonce(client, signer.publicKey));
  let hash: string | undefined;
  for (let attempt = 0; hash === undefined; attempt++) {
    const tx = signTransaction({ chainId, kind, body, signer: signer.publicKey, nonce }, signer);
    try {
      hash = await client.submit(tx);
    } catch (error) {
      const retry =
        error instanceof ApiError &&
        error.code === 'BAD_NONCE' &&
        options.nonce === undefined &&
        attempt < NONCE_RETRIES;
      if (!retry) throw error;
      nonce += 1;
    }
  }
  const sent = { kind, hash, signer: toHex(signer.publicKey), nonce };
  if (!options.wait) return { ...sent, status: 'pending' };
  const committed = await client.waitForCommit(hash, options.commitTimeoutMs);
  const result: SentTx = {
    ...sent,
    status: 'committed',
    height: committed.height,
    index: committed.index,
    receipt: committed.receipt,
  };
  if (committed.receipt.code !== 'OK') {
    throw new CliError(
      committed.receipt.code,
      `${kind} ${hash} was committed at height ${committed.height} but failed: ${committed.receipt.code} ${committed.receipt.message}`,
      { details: result },
    );
  }
  return result;
}

export function defaultSendOptions(timeoutMs = DEFAULT_COMMIT_TIMEOUT_MS): SendOptions {
  return { wait: true, commitTimeoutMs: timeoutMs };
}
