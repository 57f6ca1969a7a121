import type {
  CommitCertificate,
  HardState,
  PreparedCertificate,
  SignedMessage,
  Vote,
} from '@medchain/consensus';
import { type Canonical, decodeCanonical, encodeCanonical } from '@medchain/crypto';
import { type HistoryItem, RECEIPT_CODES, type Receipt } from '@medchain/ledger';
import { NodeError } from '../errors.js';

/*
 * Byte forms of what the node stores that no pure package encodes: receipts, commit
 * certificates, the chain head, and WAL records. All canonical msgpack. Stored values are
 * read back with shape checks: a damaged database gives NODE_DB_BAD_VALUE, never a crash.
 */

type Fields = Record<string, unknown>;

function bad(what: string): NodeError {
  return new NodeError('NODE_DB_BAD_VALUE', `stored ${what} is malformed`);
}

function decodeFields(bytes: Uint8Array, what: string): Fields {
  let value: unknown;
  try {
    value = decodeCanonical(bytes);
  } catch {
    throw bad(what);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(what);
  return value as Fields;
}

function bytesField(value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) {
    throw bad(what);
  }
  return value;
}

function intField(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw bad(what);
  return value as number;
}

/**
 * A receipt as stored, with what its transaction added to the history (BlockResult.history):
 * the source the history index is rebuilt from. `history` is omitted when empty.
 */
export function encodeReceipt(receipt: Receipt, history: readonly HistoryItem[] = []): Uint8Array {
  return encodeCanonical({
    txHash: receipt.txHash,
    code: receipt.code,
    message: receipt.message,
    ...(history.length === 0 ? {} : { history: history as unknown as Canonical }),
  });
}

/** The history stored with a receipt (empty when none). Only this node wrote it. */
export function decodeReceiptHistory(bytes: Uint8Array): HistoryItem[] {
  const { history } = decodeFields(bytes, 'receipt');
  if (history === undefined) return [];
  if (!Array.isArray(history)) throw bad('receipt history');
  return history as HistoryItem[];
}

export function decodeReceipt(bytes: Uint8Array): Receipt {
  const o = decodeFields(bytes, 'receipt');
  if (!RECEIPT_CODES.includes(o.code as Receipt['code']) || typeof o.message !== 'string') {
    throw bad('receipt');
  }
  return {
    txHash: bytesField(o.txHash, 'receipt', 32),
    code: o.code as Receipt['code'],
    message: o.message,
  };
}

function votesCanonical(votes: readonly Vote[]): Canonical {
  return votes.map((vote) => ({ from: vote.from, signature: vote.signature }));
}

function parseVotes(value: unknown, what: string): Vote[] {
  if (!Array.isArray(value)) throw bad(what);
  return value.map((vote: Fields) => {
    if (typeof vote !== 'object' || vote === null) throw bad(what);
    return { from: bytesField(vote.from, what, 32), signature: bytesField(vote.signature, what) };
  });
}

function certificateCanonical(certificate: CommitCertificate): Canonical {
  return {
    height: certificate.height,
    view: certificate.view,
    digest: certificate.digest,
    votes: votesCanonical(certificate.votes),
  };
}

export function encodeCertificate(certificate: CommitCertificate): Uint8Array {
  return encodeCanonical(certificateCanonical(certificate));
}

export function decodeCertificate(bytes: Uint8Array): CommitCertificate {
  const o = decodeFields(bytes, 'certificate');
  return {
    height: intField(o.height, 'certificate'),
    view: intField(o.view, 'certificate'),
    digest: bytesField(o.digest, 'certificate', 32),
    votes: parseVotes(o.votes, 'certificate'),
  };
}

/** The last stored block, kept in the meta bucket and written in the block's own batch. */
export interface ChainHead {
  readonly height: number;
  /** Header hash of the block at `height` (the genesis hash at 0). */
  readonly hash: Uint8Array;
  readonly time: number;
  /** State root after executing the block at `height`. */
  readonly stateRoot: Uint8Array;
  /** Validator keys the block chose, when it changed the set (consensus is told again after a restart). */
  readonly nextValidators: readonly Uint8Array[] | null;
}

export function encodeHead(head: ChainHead): Uint8Array {
  return encodeCanonical({
    height: head.height,
    hash: head.hash,
    time: head.time,
    stateRoot: head.stateRoot,
    nextValidators: head.nextValidators === null ? null : [...head.nextValidators],
  });
}

export function decodeHead(bytes: Uint8Array): ChainHead {
  const o = decodeFields(bytes, 'chain head');
  const next = o.nextValidators;
  if (next !== null && !Array.isArray(next)) throw bad('chain head');
  return {
    height: intField(o.height, 'chain head'),
    hash: bytesField(o.hash, 'chain head', 32),
    time: intField(o.time, 'chain head'),
    stateRoot: bytesField(o.stateRoot, 'chain head', 32),
    nextValidators: next === null ? null : next.map((key) => bytesField(key, 'chain head', 32)),
  };
}

// --- WAL records: the core's hard state, and this node's own signed votes. ---------------

function preparedCanonical(prepared: PreparedCertificate | null): Canonical {
  return prepared === null
    ? null
    : { view: prepared.view, digest: prepared.digest, votes: votesCanonical(prepared.votes) };
}

function ownVoteCanonical(vote: HardState['lastPrepare']): Canonical {
  return vote === null ? null : { view: vote.view, digest: vote.digest };
}

export function encodeHardStateRecord(hardState: HardState): Uint8Array {
  return encodeCanonical({
    kind: 'hardState',
    height: hardState.height,
    view: hardState.view,
    viewChanging: hardState.viewChanging,
    prepared: preparedCanonical(hardState.prepared),
    preparedPayload: hardState.preparedPayload,
    lastPrepare: ownVoteCanonical(hardState.lastPrepare),
    lastCommit: ownVoteCanonical(hardState.lastCommit),
    validatorSets: hardState.validatorSets.map((entry) => ({
      fromHeight: entry.fromHeight,
      validators: [...entry.validators],
    })),
    stableCheckpoint:
      hardState.stableCheckpoint === null
        ? null
        : {
            height: hardState.stableCheckpoint.height,
            stateRoot: hardState.stableCheckpoint.stateRoot,
            votes: votesCanonical(hardState.stableCheckpoint.votes),
          },
  });
}

/**
 * Own votes are logged without block payloads: the hard state already holds the payload that
 * matters after a restart (the prepared one), and a block per vote would bloat the log.
 */
export function encodeOwnVoteRecord(vote: SignedMessage): Uint8Array {
  const { type, height, from, signature } = vote;
  const fields: Record<string, Canonical> = { kind: 'vote', type, height, from, signature };
  if (vote.type === 'checkpoint') fields.stateRoot = vote.stateRoot;
  else fields.view = vote.view;
  if (vote.type === 'prepare' || vote.type === 'commit' || vote.type === 'preprepare') {
    fields.digest = vote.digest;
  }
  return encodeCanonical(fields);
}

export type WalRecord =
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | {
      readonly kind: 'vote';
      /** Only PREPARE and COMMIT votes are rebuilt: they carry no payload. */
      readonly vote: SignedMessage | null;
    };

function walBad(): NodeError {
  return new NodeError('NODE_WAL_CORRUPT', 'a WAL record is not a record this node writes');
}

function parseOwnVote(value: Fields): { view: number; digest: Uint8Array } | null {
  if (value === null) return null;
  return { view: intField(value.view, 'WAL vote'), digest: bytesField(value.digest, 'WAL', 32) };
}

/** Reads a WAL record; a checksummed record that does not parse is NODE_WAL_CORRUPT. */
export function decodeWalRecord(bytes: Uint8Array): WalRecord {
  let o: Fields;
  try {
    o = decodeFields(bytes, 'WAL record');
    if (o.kind === 'vote') {
      if (o.type !== 'prepare' && o.type !== 'commit') return { kind: 'vote', vote: null };
      return {
        kind: 'vote',
        vote: {
          type: o.type,
          height: intField(o.height, 'WAL vote'),
          view: intField(o.view, 'WAL vote'),
          digest: bytesField(o.digest, 'WAL vote', 32),
          from: bytesField(o.from, 'WAL vote', 32),
          signature: bytesField(o.signature, 'WAL vote'),
        },
      };
    }
    if (o.kind !== 'hardState' || typeof o.viewChanging !== 'boolean') throw walBad();
    const prepared = o.prepared as Fields | null;
    const stable = o.stableCheckpoint as Fields | null;
    if (!Array.isArray(o.validatorSets)) throw walBad();
    const hardState: HardState = {
      height: intField(o.height, 'WAL'),
      view: intField(o.view, 'WAL'),
      viewChanging: o.viewChanging,
      prepared:
        prepared === null
          ? null
          : {
              view: intField(prepared.view, 'WAL'),
              digest: bytesField(prepared.digest, 'WAL', 32),
              votes: parseVotes(prepared.votes, 'WAL'),
            },
      preparedPayload:
        o.preparedPayload === null ? null : bytesField(o.preparedPayload, 'WAL payload'),
      lastPrepare: parseOwnVote(o.lastPrepare as Fields),
      lastCommit: parseOwnVote(o.lastCommit as Fields),
      validatorSets: o.validatorSets.map((entry: Fields) => {
        if (!Array.isArray(entry.validators)) throw walBad();
        return {
          fromHeight: intField(entry.fromHeight, 'WAL'),
          validators: entry.validators.map((key) => bytesField(key, 'WAL', 32)),
        };
      }),
      stableCheckpoint:
        stable === null
          ? null
          : {
              height: intField(stable.height, 'WAL'),
              stateRoot: bytesField(stable.stateRoot, 'WAL', 32),
              votes: parseVotes(stable.votes, 'WAL'),
            },
    };
    return { kind: 'hardState', hardState };
  } catch (error) {
    if (error instanceof NodeError && error.code === 'NODE_WAL_CORRUPT') throw error;
    throw walBad();
  }
}
