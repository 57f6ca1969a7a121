import { type Canonical, decodeCanonical, encodeCanonical } from '@medchain/crypto';
import { ConsensusError } from './errors.js';
import {
  DIGEST_LENGTH,
  expectBytes,
  expectHeight,
  expectKeys,
  expectList,
  expectView,
  PUBLIC_KEY_LENGTH,
  parsePrepared,
  parseVotes,
} from './messages.js';
import type { CheckpointCertificate, HardState, OwnVote, ValidatorSetEntry } from './types.js';

/** Bytes for the node's WAL: canonical msgpack of the hard state. */
export function encodeHardState(state: HardState): Uint8Array {
  return encodeCanonical(state as unknown as Canonical);
}

/** Reads back what {@link encodeHardState} wrote; anything else is CONSENSUS_BAD_HARD_STATE. */
export function decodeHardState(bytes: Uint8Array): HardState {
  try {
    return parseHardState(decodeCanonical(bytes));
  } catch (error) {
    throw new ConsensusError(
      'CONSENSUS_BAD_HARD_STATE',
      `unreadable hard state: ${(error as Error).message}`,
    );
  }
}

function parseOwnVote(value: unknown, what: string): OwnVote | null {
  if (value === null) return null;
  const f = expectKeys(value, ['digest', 'view'], what);
  return {
    view: expectView(f.view, `${what}.view`),
    digest: expectBytes(f.digest, what, DIGEST_LENGTH),
  };
}

function parseValidatorSets(value: unknown): ValidatorSetEntry[] {
  const entries = expectList(value, 'validatorSets').map((entry, i) => {
    const f = expectKeys(entry, ['fromHeight', 'validators'], `validatorSets[${i}]`);
    return {
      fromHeight: expectHeight(f.fromHeight, 'fromHeight'),
      validators: expectList(f.validators, 'validators').map((key) =>
        expectBytes(key, 'validator', PUBLIC_KEY_LENGTH),
      ),
    };
  });
  if (entries.length === 0) throw new Error('no validator set');
  return entries;
}

function parseCheckpoint(value: unknown): CheckpointCertificate | null {
  if (value === null) return null;
  const f = expectKeys(value, ['height', 'stateRoot', 'votes'], 'stableCheckpoint');
  return {
    height: expectHeight(f.height, 'stableCheckpoint.height'),
    stateRoot: expectBytes(f.stateRoot, 'stableCheckpoint.stateRoot', DIGEST_LENGTH),
    votes: parseVotes(f.votes, 'stableCheckpoint.votes'),
  };
}

function parseHardState(value: unknown): HardState {
  const f = expectKeys(
    value,
    [
      'height',
      'lastCommit',
      'lastPrepare',
      'prepared',
      'preparedPayload',
      'stableCheckpoint',
      'validatorSets',
      'view',
      'viewChanging',
    ],
    'hard state',
  );
  if (typeof f.viewChanging !== 'boolean') throw new Error('viewChanging must be a boolean');
  const prepared = parsePrepared(f.prepared, 'prepared');
  const preparedPayload =
    f.preparedPayload === null ? null : expectBytes(f.preparedPayload, 'preparedPayload');
  if ((prepared === null) !== (preparedPayload === null)) {
    throw new Error('prepared certificate and its block go together');
  }
  return {
    height: expectHeight(f.height, 'height'),
    view: expectView(f.view, 'view'),
    viewChanging: f.viewChanging,
    prepared,
    preparedPayload,
    lastPrepare: parseOwnVote(f.lastPrepare, 'lastPrepare'),
    lastCommit: parseOwnVote(f.lastCommit, 'lastCommit'),
    validatorSets: parseValidatorSets(f.validatorSets),
    stableCheckpoint: parseCheckpoint(f.stableCheckpoint),
  };
}
