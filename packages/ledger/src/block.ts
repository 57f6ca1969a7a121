import {
  bytesEqual,
  type Canonical,
  decodeCanonical,
  encodeCanonical,
  merkleRoot,
  taggedHash,
  toHex,
} from '@medchain/crypto';
import { LedgerError } from './errors.js';
import {
  CHAIN_ID_PATTERN,
  decodeTransaction,
  encodeTransaction,
  MAX_TX_BYTES,
  rememberTransactionHash,
  type Transaction,
  transactionHash,
  transactionHashOfBytes,
} from './tx.js';
import {
  asBytes,
  asInteger,
  asList,
  asObject,
  asPublicKey,
  asString,
  invalid,
} from './validate.js';

export const MAX_BLOCK_TXS = 10_000;
export const MAX_BLOCK_BYTES = 8 * 1024 * 1024;

export interface BlockHeader {
  readonly chainId: string;
  /** The first block after genesis has height 1. */
  readonly height: number;
  /** Proposed by the primary (ms since the epoch); the only clock the ledger ever reads. */
  readonly time: number;
  /** Hash of the parent header; for height 1, the genesis hash. */
  readonly parentHash: Uint8Array;
  /** merkleRoot of the transaction hashes, in block order. */
  readonly txRoot: Uint8Array;
  /** State root after executing the parent block (after genesis, for height 1). */
  readonly stateRoot: Uint8Array;
  /** Hash of the validator set that orders this block. */
  readonly validatorSetHash: Uint8Array;
  /** Public key of the proposing validator. */
  readonly proposer: Uint8Array;
}

/**
 * A block: its header and transactions. The commit certificate (2f+1 signed COMMITs, defined
 * by consensus) is stored and sent beside it, not inside: it does not exist when the block
 * is proposed, and it differs between nodes that saw different COMMITs.
 */
export interface Block {
  readonly header: BlockHeader;
  readonly txs: readonly Transaction[];
}

export function transactionsRoot(txs: readonly Transaction[]): Uint8Array {
  return merkleRoot(txs.map(transactionHash));
}

function headerCanonical(header: BlockHeader): Canonical {
  return {
    chainId: header.chainId,
    height: header.height,
    time: header.time,
    parentHash: header.parentHash,
    txRoot: header.txRoot,
    stateRoot: header.stateRoot,
    validatorSetHash: header.validatorSetHash,
    proposer: header.proposer,
  };
}

export function encodeHeader(header: BlockHeader): Uint8Array {
  return encodeCanonical(headerCanonical(header));
}

/** taggedHash('BlockHeader', canonical header): the block's id, and its child's parentHash. */
export function headerHash(header: BlockHeader): Uint8Array {
  return taggedHash('BlockHeader', encodeHeader(header));
}

/**
 * Blocks whose tx root this module computed (buildBlock) or checked (decodeBlock), so
 * checkBlockAgainstParent does not hash their transactions again. Their header and tx list
 * are frozen, and a block rebuilt from parts is a new object, checked in full.
 */
const rootMatches = new WeakSet<Block>();

/** Builds a block, filling in the tx root. */
export function buildBlock(
  fields: Omit<BlockHeader, 'txRoot'>,
  txs: readonly Transaction[],
): Block {
  const list = Object.freeze([...txs]);
  const block = Object.freeze({
    header: Object.freeze({ ...fields, txRoot: transactionsRoot(list) }),
    txs: list,
  });
  rootMatches.add(block);
  return block;
}

export function encodeBlock(block: Block): Uint8Array {
  return encodeCanonical({
    header: headerCanonical(block.header),
    txs: block.txs.map(encodeTransaction),
  });
}

function parseHeader(value: unknown, path: string): BlockHeader {
  const o = asObject(value, path, [
    'chainId',
    'height',
    'time',
    'parentHash',
    'txRoot',
    'stateRoot',
    'validatorSetHash',
    'proposer',
  ]);
  return {
    chainId: asString(o.chainId, `${path}.chainId`, CHAIN_ID_PATTERN, 'a chain id'),
    height: asInteger(o.height, `${path}.height`, 1, Number.MAX_SAFE_INTEGER),
    time: asInteger(o.time, `${path}.time`),
    parentHash: asBytes(o.parentHash, `${path}.parentHash`, 32),
    txRoot: asBytes(o.txRoot, `${path}.txRoot`, 32),
    stateRoot: asBytes(o.stateRoot, `${path}.stateRoot`, 32),
    validatorSetHash: asBytes(o.validatorSetHash, `${path}.validatorSetHash`, 32),
    proposer: asPublicKey(o.proposer, `${path}.proposer`),
  };
}

function decodeBytes(bytes: Uint8Array, what: string, limit: number): Canonical {
  if (!(bytes instanceof Uint8Array)) throw new LedgerError('LEDGER_MALFORMED', 'expected bytes');
  if (bytes.length > limit) {
    throw new LedgerError('LEDGER_TOO_LARGE', `${what} is ${bytes.length} bytes, limit ${limit}`);
  }
  try {
    return decodeCanonical(bytes);
  } catch (error) {
    throw new LedgerError('LEDGER_MALFORMED', `${what}: ${(error as Error).message}`);
  }
}

export function decodeHeader(bytes: Uint8Array): BlockHeader {
  return parseHeader(decodeBytes(bytes, 'header', 1024), 'header');
}

/**
 * Transactions this node decoded already (its mempool), by transaction hash. A hit is used
 * only when its canonical bytes equal the block's bytes, so a lookup can save work but never
 * change what a block decodes to.
 */
export type KnownTransactions = (txHash: Uint8Array) => Transaction | undefined;

/**
 * Decodes a block: size limits, canonical bytes, header shape, every transaction decodable
 * (see decodeTransaction) and the tx root matching. Throws LedgerError. With `known`, a
 * transaction whose bytes equal a known one's is that object instead of a fresh decoding
 * (the same value, minus the work).
 */
export function decodeBlock(bytes: Uint8Array, known?: KnownTransactions): Block {
  const o = asObject(decodeBytes(bytes, 'block', MAX_BLOCK_BYTES), 'block', ['header', 'txs']);
  const header = parseHeader(o.header, 'block.header');
  const hashes: Uint8Array[] = [];
  const txs = asList(
    o.txs,
    'block.txs',
    { min: 0, max: MAX_BLOCK_TXS },
    (value, path): Transaction => {
      if (!(value instanceof Uint8Array)) throw invalid(path, 'expected transaction bytes');
      if (value.length > MAX_TX_BYTES) {
        throw invalid(path, 'transaction too large', 'LEDGER_TOO_LARGE');
      }
      const hash = transactionHashOfBytes(value);
      hashes.push(hash);
      const hit = known?.(hash);
      const tx =
        hit !== undefined && bytesEqual(encodeTransaction(hit), value)
          ? hit
          : decodeTransaction(value);
      rememberTransactionHash(tx, hash);
      return tx;
    },
    // Equal hashes are equal bytes: cheaper than keying by the bytes themselves.
    () => toHex(hashes[hashes.length - 1]!),
  );
  if (!bytesEqual(header.txRoot, merkleRoot(hashes))) {
    throw new LedgerError(
      'LEDGER_BLOCK_INVALID',
      'block.header.txRoot does not match its transactions',
    );
  }
  const block = Object.freeze({ header: Object.freeze(header), txs: Object.freeze(txs) });
  rootMatches.add(block);
  return block;
}

export interface ExpectedParent {
  readonly chainId: string;
  readonly height: number;
  readonly hash: Uint8Array;
  readonly time: number;
  /** State root after the parent executed. */
  readonly stateRoot: Uint8Array;
  /** Hash of the validator set that must order the block. */
  readonly validatorSetHash: Uint8Array;
}

/**
 * What replicas check before voting for a proposal, besides the clock bound only the node
 * knows: it extends the parent, time does not go back, roots and validator set match, and
 * the proposer belongs to that set (the caller passes the set's keys).
 */
export function checkBlockAgainstParent(
  block: Block,
  parent: ExpectedParent,
  validatorKeys: readonly Uint8Array[],
): void {
  const h = block.header;
  const problem =
    h.chainId !== parent.chainId
      ? 'chainId differs from the chain'
      : h.height !== parent.height + 1
        ? `height must be ${parent.height + 1}`
        : !bytesEqual(h.parentHash, parent.hash)
          ? 'parentHash is not the parent header hash'
          : h.time < parent.time
            ? 'time is before the parent time'
            : !bytesEqual(h.stateRoot, parent.stateRoot)
              ? "stateRoot is not the parent's resulting state root"
              : !bytesEqual(h.validatorSetHash, parent.validatorSetHash)
                ? 'validatorSetHash is not the current validator set'
                : !validatorKeys.some((key) => bytesEqual(key, h.proposer))
                  ? 'proposer is not a validator'
                  : !rootMatches.has(block) && !bytesEqual(h.txRoot, transactionsRoot(block.txs))
                    ? 'txRoot does not match the transactions'
                    : undefined;
  if (problem !== undefined) {
    throw new LedgerError('LEDGER_BLOCK_INVALID', `block ${h.height}: ${problem}`);
  }
}
