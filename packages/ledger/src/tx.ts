import {
  type Canonical,
  decodeCanonicalViews,
  encodeCanonical,
  type Signer,
  taggedHash,
  utf8,
  verify,
} from '@medchain/crypto';
import { parseBody, TX_KINDS, type TxBodies, type TxKind } from './consent/bodies.js';
import { LedgerError } from './errors.js';
import { asBytes, asEnum, asInteger, asObject, asPublicKey, asString } from './validate.js';

export const MAX_TX_BYTES = 16 * 1024;
export const CHAIN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface UnsignedTransaction {
  readonly chainId: string;
  readonly kind: TxKind;
  readonly body: Canonical;
  readonly signer: Uint8Array;
  /** Per signer, strictly sequential: the first transaction of a key has nonce 1. */
  readonly nonce: number;
}

export interface Transaction extends UnsignedTransaction {
  readonly signature: Uint8Array;
}

// Transactions are immutable values: remember their bytes and hash instead of re-encoding.
const encodedCache = new WeakMap<UnsignedTransaction, Uint8Array>();
const hashCache = new WeakMap<Transaction, Uint8Array>();
/** Bodies decodeTransaction parsed already (admission's role check reads them). */
const parsedBodies = new WeakMap<Transaction, TxBodies[TxKind]>();

/**
 * The signature covers taggedHash('Transaction', canonical bytes of the five unsigned fields).
 * The transaction hash is taggedHash('Transaction', canonical bytes of all six fields): the two
 * inputs are maps with different key sets, so a signing digest can never equal a tx hash, and
 * the tx hash commits to the signature (a cached "signature valid" verdict keyed by tx hash can
 * not be reused for the same content under a forged signature). A transaction that was decoded
 * or encoded already has its bytes remembered: the digest is then read off them, not encoded.
 */
export function signingDigest(tx: UnsignedTransaction): Uint8Array {
  const wire = encodedCache.get(tx);
  if (wire !== undefined) {
    const digest = signingDigestOfWire(wire);
    if (digest !== undefined) return digest;
  }
  return taggedHash(
    'Transaction',
    encodeCanonical({
      chainId: tx.chainId,
      kind: tx.kind,
      body: tx.body,
      signer: tx.signer,
      nonce: tx.nonce,
    }),
  );
}

/** The signed map's last two entries, up to their values: `signature` (64 bytes), `signer` (32). */
const SIGNATURE_ENTRY_HEAD = Uint8Array.of(0xa9, ...utf8('signature'), 0xc4, 64);
const SIGNER_ENTRY_HEAD = Uint8Array.of(0xa6, ...utf8('signer'), 0xc4, 32);
const SIGNATURE_ENTRY_LENGTH = SIGNATURE_ENTRY_HEAD.length + 64;
const SIGNER_ENTRY_LENGTH = SIGNER_ENTRY_HEAD.length + 32;
/** msgpack fixmap headers: the signed map has six entries, the unsigned one five. */
const SIGNED_MAP = 0x86;
const UNSIGNED_MAP = Uint8Array.of(0x85);

function hasAt(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/**
 * The signing digest straight from a transaction's canonical bytes, without encoding again.
 * Keys sort body, chainId, kind, nonce, signature, signer, so the bytes are the six-entry map
 * header, the four first entries, then `signature` and `signer`; dropping the signature entry
 * and writing a five-entry header gives the canonical bytes of the unsigned map. Undefined
 * when the bytes do not end that way.
 */
function signingDigestOfWire(wire: Uint8Array): Uint8Array | undefined {
  const signerAt = wire.length - SIGNER_ENTRY_LENGTH;
  const signatureAt = signerAt - SIGNATURE_ENTRY_LENGTH;
  if (
    signatureAt < 1 ||
    wire[0] !== SIGNED_MAP ||
    !hasAt(wire, signatureAt, SIGNATURE_ENTRY_HEAD) ||
    !hasAt(wire, signerAt, SIGNER_ENTRY_HEAD)
  ) {
    return undefined;
  }
  return taggedHash(
    'Transaction',
    UNSIGNED_MAP,
    wire.subarray(1, signatureAt),
    wire.subarray(signerAt),
  );
}

export function signTransaction(tx: UnsignedTransaction, signer: Signer): Transaction {
  return {
    chainId: tx.chainId,
    kind: tx.kind,
    body: tx.body,
    signer: tx.signer,
    nonce: tx.nonce,
    signature: signer.sign(signingDigest(tx)),
  };
}

export function verifyTransactionSignature(tx: Transaction): boolean {
  return verify(tx.signer, signingDigest(tx), tx.signature);
}

/**
 * The parsed body of `tx`: the one decodeTransaction checked, or parsed here checking key
 * lengths only (what execution checks). Throws LedgerError LEDGER_MALFORMED.
 */
export function parsedBody(tx: Transaction): TxBodies[TxKind] {
  return parsedBodies.get(tx) ?? parseBody(tx.kind, tx.body, 'length');
}

export function encodeTransaction(tx: Transaction): Uint8Array {
  let bytes = encodedCache.get(tx);
  if (bytes === undefined) {
    bytes = encodeCanonical({
      chainId: tx.chainId,
      kind: tx.kind,
      body: tx.body,
      signer: tx.signer,
      nonce: tx.nonce,
      signature: tx.signature,
    });
    encodedCache.set(tx, bytes);
  }
  return bytes;
}

export function transactionHash(tx: Transaction): Uint8Array {
  let hash = hashCache.get(tx);
  if (hash === undefined) {
    hash = transactionHashOfBytes(encodeTransaction(tx));
    hashCache.set(tx, hash);
  }
  return hash;
}

/**
 * The hash of canonical transaction bytes: equal to transactionHash of their decoding (a
 * decoded transaction encodes back to the same bytes), so a block's tx root needs no decoding.
 */
export function transactionHashOfBytes(bytes: Uint8Array): Uint8Array {
  return taggedHash('Transaction', bytes);
}

/** For decoders that hashed the bytes already (decodeBlock): transactionHash returns `hash`. */
export function rememberTransactionHash(tx: Transaction, hash: Uint8Array): void {
  hashCache.set(tx, hash);
}

/**
 * Decodes wire bytes into a transaction: size limit, canonical encoding, envelope shape, known
 * kind and a body of that kind's shape. It does not check the signature, chain id or nonce
 * (admission and execution do). Throws LedgerError LEDGER_TOO_LARGE or LEDGER_MALFORMED.
 */
export function decodeTransaction(bytes: Uint8Array): Transaction {
  if (!(bytes instanceof Uint8Array)) throw new LedgerError('LEDGER_MALFORMED', 'expected bytes');
  if (bytes.length > MAX_TX_BYTES) {
    throw new LedgerError(
      'LEDGER_TOO_LARGE',
      `transaction is ${bytes.length} bytes, the limit is ${MAX_TX_BYTES}`,
    );
  }
  // The transaction's own copy of its bytes, which its byte strings view: a pooled
  // transaction is then one array buffer, not one per key and signature.
  const own = new Uint8Array(bytes);
  let value: Canonical;
  try {
    value = decodeCanonicalViews(own);
  } catch (error) {
    throw new LedgerError('LEDGER_MALFORMED', `transaction: ${(error as Error).message}`);
  }
  const o = asObject(value, 'transaction', [
    'chainId',
    'kind',
    'body',
    'signer',
    'nonce',
    'signature',
  ]);
  const kind = asEnum(o.kind, 'transaction.kind', TX_KINDS);
  const body = o.body!;
  const parsed = parseBody(kind, body);
  const tx: Transaction = {
    chainId: asString(o.chainId, 'transaction.chainId', CHAIN_ID_PATTERN, 'a chain id'),
    kind,
    body,
    signer: asPublicKey(o.signer, 'transaction.signer'),
    nonce: asInteger(o.nonce, 'transaction.nonce', 1, Number.MAX_SAFE_INTEGER),
    signature: asBytes(o.signature, 'transaction.signature', 64),
  };
  encodedCache.set(tx, own);
  parsedBodies.set(tx, parsed);
  return tx;
}
