import { bytesEqual, toHex } from '@medchain/crypto';
import { ConsensusError } from './errors.js';
import {
  checkpointCertificateSigningHash,
  commitCertificateSigningHash,
  MAX_VALIDATORS,
  PUBLIC_KEY_LENGTH,
  voteSigningHash,
} from './messages.js';
import { faultTolerance, primaryIndex, quorumSize } from './quorum.js';
import type {
  CheckpointCertificate,
  CommitCertificate,
  PreparedCertificate,
  SignatureVerifier,
  Vote,
} from './types.js';

/** A validator set with its lookup index and thresholds. */
export class ValidatorSet {
  readonly keys: readonly Uint8Array[];
  readonly size: number;
  readonly faults: number;
  readonly quorum: number;
  private readonly index: Map<string, number>;

  constructor(keys: readonly Uint8Array[], quorumOf: (n: number) => number = quorumSize) {
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_VALIDATORS) {
      throw new ConsensusError(
        'CONSENSUS_BAD_VALIDATOR_SET',
        `a validator set has 1..${MAX_VALIDATORS} members`,
      );
    }
    this.index = new Map();
    for (const key of keys) {
      if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_LENGTH) {
        throw new ConsensusError('CONSENSUS_BAD_VALIDATOR_SET', 'validator keys are 32 bytes');
      }
      const hex = toHex(key);
      if (this.index.has(hex)) {
        throw new ConsensusError('CONSENSUS_BAD_VALIDATOR_SET', `duplicate validator ${hex}`);
      }
      this.index.set(hex, this.index.size);
    }
    this.keys = keys.map((key) => new Uint8Array(key));
    this.size = keys.length;
    this.faults = faultTolerance(this.size);
    this.quorum = quorumOf(this.size);
  }

  has(keyHex: string): boolean {
    return this.index.has(keyHex);
  }

  primary(height: number, view: number): Uint8Array {
    return this.keys[primaryIndex(height, view, this.size)]!;
  }
}

/**
 * Remembers signatures already checked, so a vote seen alone and again inside a certificate
 * or NEW-VIEW is verified once (an Ed25519 verify costs ~110 µs). Bounded: cleared when full.
 */
export class VerifiedSignatures {
  /** signature hex -> what it was verified for (a signature alone does not bind key and message). */
  private readonly seen = new Map<string, { publicKey: Uint8Array; hash: Uint8Array }>();

  constructor(
    private readonly verifier: SignatureVerifier,
    private readonly limit = 65_536,
  ) {}

  verify(publicKey: Uint8Array, hash: Uint8Array, signature: Uint8Array): boolean {
    const key = toHex(signature);
    const known = this.seen.get(key);
    if (
      known !== undefined &&
      bytesEqual(known.hash, hash) &&
      bytesEqual(known.publicKey, publicKey)
    ) {
      return true;
    }
    if (!this.verifier.verify(publicKey, hash, signature)) return false;
    if (this.seen.size >= this.limit) this.seen.clear();
    this.seen.set(key, { publicKey, hash });
    return true;
  }
}

/** True when `votes` holds at least a quorum of distinct members of `set`, each signing `hash`. */
export function verifyQuorumVotes(
  votes: readonly Vote[],
  hash: Uint8Array,
  set: ValidatorSet,
  signatures: VerifiedSignatures,
): boolean {
  if (votes.length < set.quorum) return false;
  const signers = new Set<string>();
  for (const vote of votes) {
    const from = toHex(vote.from);
    if (!set.has(from) || signers.has(from)) return false;
    if (!signatures.verify(vote.from, hash, vote.signature)) return false;
    signers.add(from);
  }
  return true;
}

export function verifyPreparedCertificate(
  chainId: string,
  height: number,
  certificate: PreparedCertificate,
  set: ValidatorSet,
  signatures: VerifiedSignatures,
): boolean {
  const hash = voteSigningHash(chainId, 'prepare', height, certificate.view, certificate.digest);
  return verifyQuorumVotes(certificate.votes, hash, set, signatures);
}

/**
 * Checks a commit certificate against the validator set of its height: what a light client or
 * a syncing node runs before trusting a block. Never throws.
 */
export function verifyCommitCertificate(
  chainId: string,
  certificate: CommitCertificate,
  validators: readonly Uint8Array[] | ValidatorSet,
  verifier: SignatureVerifier | VerifiedSignatures,
): boolean {
  return verifyCertificate(
    () => commitCertificateSigningHash(chainId, certificate),
    certificate.votes,
    validators,
    verifier,
  );
}

/** Checks a stable-checkpoint certificate against the validator set of its height. Never throws. */
export function verifyCheckpointCertificate(
  chainId: string,
  certificate: CheckpointCertificate,
  validators: readonly Uint8Array[] | ValidatorSet,
  verifier: SignatureVerifier | VerifiedSignatures,
): boolean {
  return verifyCertificate(
    () => checkpointCertificateSigningHash(chainId, certificate),
    certificate.votes,
    validators,
    verifier,
  );
}

/** A quorum of valid votes over the signing hash; malformed input of any kind is simply `false`. */
function verifyCertificate(
  signingHash: () => Uint8Array,
  votes: CommitCertificate['votes'],
  validators: readonly Uint8Array[] | ValidatorSet,
  verifier: SignatureVerifier | VerifiedSignatures,
): boolean {
  try {
    const set = validators instanceof ValidatorSet ? validators : new ValidatorSet(validators);
    const signatures =
      verifier instanceof VerifiedSignatures ? verifier : new VerifiedSignatures(verifier);
    return verifyQuorumVotes(votes, signingHash(), set, signatures);
  } catch {
    return false;
  }
}
