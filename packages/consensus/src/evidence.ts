import { bytesEqual, toHex } from '@medchain/crypto';
import {
  checkpointSigningHash,
  DIGEST_LENGTH,
  MAX_SIGNATURE_LENGTH,
  PUBLIC_KEY_LENGTH,
  voteSigningHash,
} from './messages.js';
import type {
  Equivocation,
  EquivocationPhase,
  SignatureVerifier,
  SignedStatement,
} from './types.js';
import { ValidatorSet } from './validators.js';

const VOTE_PHASES: ReadonlySet<string> = new Set(['preprepare', 'prepare', 'commit']);

/** The bytes `evidence.validator` signed for one of its two statements. */
export function equivocationSigningHash(
  chainId: string,
  evidence: Pick<Equivocation, 'phase' | 'height' | 'view'>,
  statement: SignedStatement,
): Uint8Array {
  if (evidence.phase === 'checkpoint') {
    return checkpointSigningHash(chainId, evidence.height, statement.digest);
  }
  return voteSigningHash(
    chainId,
    evidence.phase,
    evidence.height,
    evidence.view ?? 0,
    statement.digest,
  );
}

/**
 * Checks equivocation evidence on its own, as a light client or a test checker would: the
 * validator is a member of `validators` (the set of the evidence's height), the two statements
 * differ, and both signatures verify over what that phase signs. Never throws: anything
 * malformed is simply `false`.
 */
export function verifyEquivocation(
  chainId: string,
  evidence: Equivocation,
  validators: readonly Uint8Array[] | ValidatorSet,
  verifier: SignatureVerifier,
): boolean {
  try {
    if (!wellFormed(evidence)) return false;
    const set = validators instanceof ValidatorSet ? validators : new ValidatorSet(validators);
    if (!set.has(toHex(evidence.validator))) return false;
    if (bytesEqual(evidence.first.digest, evidence.second.digest)) return false;
    return [evidence.first, evidence.second].every(
      (statement) =>
        verifier.verify(
          evidence.validator,
          equivocationSigningHash(chainId, evidence, statement),
          statement.signature,
        ) === true,
    );
  } catch {
    return false;
  }
}

function wellFormed(evidence: Equivocation): boolean {
  const phase: EquivocationPhase = evidence.phase;
  const viewOk =
    phase === 'checkpoint'
      ? evidence.view === null
      : VOTE_PHASES.has(phase) && Number.isSafeInteger(evidence.view) && evidence.view! >= 0;
  return (
    viewOk &&
    Number.isSafeInteger(evidence.height) &&
    evidence.height >= 1 &&
    isBytes(evidence.validator, PUBLIC_KEY_LENGTH) &&
    wellFormedStatement(evidence.first) &&
    wellFormedStatement(evidence.second)
  );
}

function wellFormedStatement(statement: SignedStatement): boolean {
  return (
    typeof statement === 'object' &&
    statement !== null &&
    isBytes(statement.digest, DIGEST_LENGTH) &&
    statement.signature instanceof Uint8Array &&
    statement.signature.length > 0 &&
    statement.signature.length <= MAX_SIGNATURE_LENGTH
  );
}

function isBytes(value: unknown, length: number): boolean {
  return value instanceof Uint8Array && value.length === length;
}
