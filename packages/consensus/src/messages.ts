import {
  type Canonical,
  CryptoError,
  decodeCanonical,
  encodeCanonical,
  taggedHash,
} from '@medchain/crypto';
import { ConsensusError } from './errors.js';
import type {
  CheckpointCertificate,
  CommitCertificate,
  ConsensusMessage,
  PreparedCertificate,
  SignedMessage,
  ViewChangeProof,
  Vote,
} from './types.js';

export const DIGEST_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 32;
/** Signatures are opaque to the core (the verifier is injected); this only bounds their size. */
export const MAX_SIGNATURE_LENGTH = 128;
/** No certificate or view-change set is larger than the largest validator set we accept. */
export const MAX_VALIDATORS = 1024;

type Fields = Record<string, unknown>;

function malformed(why: string): ConsensusError {
  return new ConsensusError('CONSENSUS_MALFORMED_MESSAGE', `malformed consensus message: ${why}`);
}

export function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function expectKeys(value: unknown, keys: readonly string[], what: string): Fields {
  if (!isRecord(value)) throw malformed(`${what} must be a map`);
  const present = Object.keys(value);
  if (present.length !== keys.length || !keys.every((key) => Object.hasOwn(value, key))) {
    throw malformed(`${what} must have exactly the fields ${keys.join(', ')}`);
  }
  return value;
}

export function expectHeight(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw malformed(`${what} must be an integer >= 1`);
  }
  return value as number;
}

export function expectView(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw malformed(`${what} must be an integer >= 0`);
  }
  return value as number;
}

export function expectBytes(value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} must be bytes`);
  if (length !== undefined && value.length !== length) {
    throw malformed(`${what} must be ${length} bytes`);
  }
  return value;
}

function expectSignature(value: unknown, what: string): Uint8Array {
  const signature = expectBytes(value, what);
  if (signature.length === 0 || signature.length > MAX_SIGNATURE_LENGTH) {
    throw malformed(`${what} must be 1..${MAX_SIGNATURE_LENGTH} bytes`);
  }
  return signature;
}

export function expectList(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw malformed(`${what} must be a list`);
  if (value.length > MAX_VALIDATORS)
    throw malformed(`${what} has more than ${MAX_VALIDATORS} items`);
  return value;
}

function parseVote(value: unknown, what: string): Vote {
  const fields = expectKeys(value, ['from', 'signature'], what);
  return {
    from: expectBytes(fields.from, `${what}.from`, PUBLIC_KEY_LENGTH),
    signature: expectSignature(fields.signature, `${what}.signature`),
  };
}

export function parseVotes(value: unknown, what: string): Vote[] {
  return expectList(value, what).map((vote, i) => parseVote(vote, `${what}[${i}]`));
}

export function parsePrepared(value: unknown, what: string): PreparedCertificate | null {
  if (value === null) return null;
  const fields = expectKeys(value, ['digest', 'view', 'votes'], what);
  return {
    view: expectView(fields.view, `${what}.view`),
    digest: expectBytes(fields.digest, `${what}.digest`, DIGEST_LENGTH),
    votes: parseVotes(fields.votes, `${what}.votes`),
  };
}

function parseCommitCertificate(value: unknown, what: string): CommitCertificate {
  const fields = expectKeys(value, ['digest', 'height', 'view', 'votes'], what);
  return {
    height: expectHeight(fields.height, `${what}.height`),
    view: expectView(fields.view, `${what}.view`),
    digest: expectBytes(fields.digest, `${what}.digest`, DIGEST_LENGTH),
    votes: parseVotes(fields.votes, `${what}.votes`),
  };
}

function parseViewChangeProof(value: unknown, what: string): ViewChangeProof {
  const fields = expectKeys(value, ['from', 'prepared', 'signature'], what);
  return {
    from: expectBytes(fields.from, `${what}.from`, PUBLIC_KEY_LENGTH),
    signature: expectSignature(fields.signature, `${what}.signature`),
    prepared: parsePrepared(fields.prepared, `${what}.prepared`),
  };
}

const VOTE_FIELDS = ['digest', 'from', 'height', 'signature', 'type', 'view'];

/**
 * Checks that a value has exactly the shape of a consensus message and returns it typed
 * (the same object: the core treats messages as immutable, so callers must not mutate them).
 * Used on decoded wire bytes and on anything handed to `step()`, so garbage is never trusted.
 */
export function parseMessage(value: unknown): ConsensusMessage {
  checkMessage(value);
  return value as ConsensusMessage;
}

function checkMessage(value: unknown): ConsensusMessage {
  if (!isRecord(value)) throw malformed('message must be a map');
  switch (value.type) {
    case 'preprepare': {
      const f = expectKeys(value, [...VOTE_FIELDS, 'payload'], 'preprepare');
      const view = expectView(f.view, 'view');
      if (view !== 0) throw malformed('preprepare is only for view 0 (later views use newview)');
      return {
        type: 'preprepare',
        height: expectHeight(f.height, 'height'),
        view,
        digest: expectBytes(f.digest, 'digest', DIGEST_LENGTH),
        payload: expectBytes(f.payload, 'payload'),
        from: expectBytes(f.from, 'from', PUBLIC_KEY_LENGTH),
        signature: expectSignature(f.signature, 'signature'),
      };
    }
    case 'prepare':
    case 'commit': {
      const f = expectKeys(value, VOTE_FIELDS, value.type);
      return {
        type: value.type,
        height: expectHeight(f.height, 'height'),
        view: expectView(f.view, 'view'),
        digest: expectBytes(f.digest, 'digest', DIGEST_LENGTH),
        from: expectBytes(f.from, 'from', PUBLIC_KEY_LENGTH),
        signature: expectSignature(f.signature, 'signature'),
      };
    }
    case 'viewchange': {
      const f = expectKeys(
        value,
        ['from', 'height', 'payload', 'prepared', 'signature', 'type', 'view'],
        'viewchange',
      );
      const view = expectView(f.view, 'view');
      if (view < 1) throw malformed('viewchange must be for a view >= 1');
      const prepared = parsePrepared(f.prepared, 'prepared');
      const payload = f.payload === null ? null : expectBytes(f.payload, 'payload');
      if (prepared !== null && prepared.view >= view) {
        throw malformed('prepared certificate must be from an earlier view');
      }
      if (prepared === null && payload !== null) throw malformed('payload without prepared');
      return {
        type: 'viewchange',
        height: expectHeight(f.height, 'height'),
        view,
        prepared,
        payload,
        from: expectBytes(f.from, 'from', PUBLIC_KEY_LENGTH),
        signature: expectSignature(f.signature, 'signature'),
      };
    }
    case 'newview': {
      const f = expectKeys(value, [...VOTE_FIELDS, 'payload', 'viewChanges'], 'newview');
      const view = expectView(f.view, 'view');
      if (view < 1) throw malformed('newview must be for a view >= 1');
      return {
        type: 'newview',
        height: expectHeight(f.height, 'height'),
        view,
        viewChanges: expectList(f.viewChanges, 'viewChanges').map((proof, i) =>
          parseViewChangeProof(proof, `viewChanges[${i}]`),
        ),
        digest: expectBytes(f.digest, 'digest', DIGEST_LENGTH),
        payload: expectBytes(f.payload, 'payload'),
        from: expectBytes(f.from, 'from', PUBLIC_KEY_LENGTH),
        signature: expectSignature(f.signature, 'signature'),
      };
    }
    case 'checkpoint': {
      const f = expectKeys(
        value,
        ['from', 'height', 'signature', 'stateRoot', 'type'],
        'checkpoint',
      );
      return {
        type: 'checkpoint',
        height: expectHeight(f.height, 'height'),
        stateRoot: expectBytes(f.stateRoot, 'stateRoot', DIGEST_LENGTH),
        from: expectBytes(f.from, 'from', PUBLIC_KEY_LENGTH),
        signature: expectSignature(f.signature, 'signature'),
      };
    }
    case 'decision': {
      const f = expectKeys(value, ['certificate', 'payload', 'type'], 'decision');
      return {
        type: 'decision',
        payload: expectBytes(f.payload, 'payload'),
        certificate: parseCommitCertificate(f.certificate, 'certificate'),
      };
    }
    default:
      throw malformed(`unknown type ${JSON.stringify(String(value.type)).slice(0, 40)}`);
  }
}

/** Wire form: canonical msgpack of the message object (unsigned payloads included). */
export function encodeMessage(message: ConsensusMessage): Uint8Array {
  return encodeCanonical(message as unknown as Canonical);
}

/** Decodes wire bytes; anything that is not exactly a canonical consensus message is rejected. */
export function decodeMessage(bytes: Uint8Array): ConsensusMessage {
  let value: Canonical;
  try {
    value = decodeCanonical(bytes);
  } catch (error) {
    if (error instanceof CryptoError) throw malformed(error.message);
    throw error;
  }
  return parseMessage(value);
}

// --- What is signed. Every signature covers taggedHash('ConsensusMessage', canonical fields),
// with the chain id inside, so a vote can be replayed neither on another chain nor as another kind.

function signingHash(fields: { readonly [key: string]: Canonical }): Uint8Array {
  return taggedHash('ConsensusMessage', encodeCanonical(fields));
}

export type VotePhase = 'preprepare' | 'prepare' | 'commit';

export function voteSigningHash(
  chainId: string,
  phase: VotePhase,
  height: number,
  view: number,
  digest: Uint8Array,
): Uint8Array {
  return signingHash({ chain: chainId, type: phase, height, view, digest });
}

function preparedFields(prepared: PreparedCertificate | null): Canonical {
  if (prepared === null) return null;
  return {
    view: prepared.view,
    digest: prepared.digest,
    votes: prepared.votes.map((vote) => ({ from: vote.from, signature: vote.signature })),
  };
}

export function viewChangeSigningHash(
  chainId: string,
  height: number,
  view: number,
  prepared: PreparedCertificate | null,
): Uint8Array {
  return signingHash({
    chain: chainId,
    type: 'viewchange',
    height,
    view,
    prepared: preparedFields(prepared),
  });
}

export function newViewSigningHash(
  chainId: string,
  height: number,
  view: number,
  digest: Uint8Array,
  viewChanges: readonly ViewChangeProof[],
): Uint8Array {
  return signingHash({
    chain: chainId,
    type: 'newview',
    height,
    view,
    digest,
    viewChanges: viewChanges.map((proof) => ({
      from: proof.from,
      signature: proof.signature,
      prepared: preparedFields(proof.prepared),
    })),
  });
}

export function checkpointSigningHash(
  chainId: string,
  height: number,
  stateRoot: Uint8Array,
): Uint8Array {
  return signingHash({ chain: chainId, type: 'checkpoint', height, stateRoot });
}

/**
 * Messages are immutable once built, and one broadcast object reaches every core of a process
 * (the simulator) or is checked again inside certificates: hash each object once per chain.
 */
const signingHashes = new WeakMap<SignedMessage, { chainId: string; hash: Uint8Array }>();

/** The bytes the sender of a signed message signed. */
export function messageSigningHash(chainId: string, message: SignedMessage): Uint8Array {
  const cached = signingHashes.get(message);
  if (cached !== undefined && cached.chainId === chainId) return cached.hash;
  const hash = computeSigningHash(chainId, message);
  signingHashes.set(message, { chainId, hash });
  return hash;
}

function computeSigningHash(chainId: string, message: SignedMessage): Uint8Array {
  switch (message.type) {
    case 'preprepare':
    case 'prepare':
    case 'commit':
      return voteSigningHash(chainId, message.type, message.height, message.view, message.digest);
    case 'viewchange':
      return viewChangeSigningHash(chainId, message.height, message.view, message.prepared);
    case 'newview':
      return newViewSigningHash(
        chainId,
        message.height,
        message.view,
        message.digest,
        message.viewChanges,
      );
    case 'checkpoint':
      return checkpointSigningHash(chainId, message.height, message.stateRoot);
  }
}

export function commitCertificateSigningHash(
  chainId: string,
  certificate: CommitCertificate,
): Uint8Array {
  return voteSigningHash(
    chainId,
    'commit',
    certificate.height,
    certificate.view,
    certificate.digest,
  );
}

export function checkpointCertificateSigningHash(
  chainId: string,
  certificate: CheckpointCertificate,
): Uint8Array {
  return checkpointSigningHash(chainId, certificate.height, certificate.stateRoot);
}
