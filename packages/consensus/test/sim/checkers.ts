import { bytesEqual, toHex } from '@medchain/crypto';
import {
  type CheckpointCertificate,
  type CommittedBlock,
  type ConsensusApplication,
  type Proposal,
  type SignatureVerifier,
  VALIDATOR_SET_CHANGE_DELAY,
  verifyCheckpointCertificate,
  verifyCommitCertificate,
} from '../../src/index.js';
import { decodeBlock, SimState } from './app.js';

export type ViolationKind =
  | 'agreement'
  | 'prefix'
  | 'validity'
  | 'doubleVote'
  | 'checkpoint'
  | 'evidence'
  | 'liveness'
  | 'exception';

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
}

/** What the checkers read from a finished run. */
export interface RunRecord {
  readonly chainId: string;
  readonly application: ConsensusApplication;
  readonly verifier: SignatureVerifier;
  readonly genesisValidators: readonly Uint8Array[];
  keyOf(index: number): Uint8Array;
  /** Each honest node's applied blocks (its store) and its last stable checkpoint. */
  readonly honestLogs: readonly {
    readonly node: number;
    readonly blocks: readonly CommittedBlock[];
    readonly stable: CheckpointCertificate | null;
  }[];
  /** Every block anyone proposed, by digest hex. */
  readonly proposals: ReadonlyMap<string, Proposal>;
}

/**
 * Safety checkers, run after every simulation:
 * - prefix: each honest log holds heights 1..k with no gap;
 * - agreement: no two honest nodes committed different blocks at one height (with prefix, the
 *   logs are prefixes of one another);
 * - validity: every committed block was proposed by someone, passes the application's rules,
 *   and carries a commit certificate of a quorum of the validators of its height;
 * - checkpoint: every stable checkpoint names the state root of the committed chain.
 */
export function checkSafety(run: RunRecord): Violation[] {
  const violations: Violation[] = [];
  const checked = new WeakSet<object>();
  const byHeight = new Map<number, { node: number; digest: string }>();
  for (const log of run.honestLogs) {
    log.blocks.forEach((block, i) => {
      if (block.height !== i + 1) {
        violations.push({
          kind: 'prefix',
          detail: `n${log.node} has height ${block.height} at position ${i + 1}`,
        });
      }
      const digest = toHex(block.proposal.digest);
      const first = byHeight.get(block.height);
      if (first === undefined) byHeight.set(block.height, { node: log.node, digest });
      else if (first.digest !== digest) {
        violations.push({
          kind: 'agreement',
          detail: `h=${block.height}: n${first.node} committed ${first.digest.slice(0, 8)}, n${log.node} committed ${digest.slice(0, 8)}`,
        });
      }
    });
  }
  for (const log of run.honestLogs) {
    violations.push(...checkValidity(run, log.node, log.blocks, checked));
    if (log.stable !== null) violations.push(...checkCheckpoint(run, log.node, log.stable));
  }
  return violations;
}

function checkValidity(
  run: RunRecord,
  node: number,
  blocks: readonly CommittedBlock[],
  checked: WeakSet<object>,
): Violation[] {
  const violations: Violation[] = [];
  const schedule: { fromHeight: number; validators: readonly Uint8Array[] }[] = [
    { fromHeight: 1, validators: run.genesisValidators },
  ];
  const bad = (height: number, why: string) =>
    violations.push({ kind: 'validity', detail: `n${node} h=${height}: ${why}` });
  for (const block of blocks) {
    const { height, proposal, certificate } = block;
    const validators = schedule.findLast((entry) => entry.fromHeight <= height)!.validators;
    const next = decodeBlock(proposal.payload)?.validators;
    if (next !== undefined) {
      schedule.push({
        fromHeight: height + VALIDATOR_SET_CHANGE_DELAY,
        validators: next.map((i) => run.keyOf(i)),
      });
    }
    // Logs share block objects (a synced block is the source's): check each object once.
    if (checked.has(block)) continue;
    checked.add(block);
    if (!run.proposals.has(toHex(proposal.digest))) bad(height, 'block was never proposed');
    if (!bytesEqual(run.application.digestOf(proposal.payload), proposal.digest)) {
      bad(height, 'digest does not match payload');
    }
    if (!run.application.validateProposal(height, proposal.payload)) {
      bad(height, 'block breaks the application rules');
    }
    if (
      certificate.height !== height ||
      !bytesEqual(certificate.digest, proposal.digest) ||
      !verifyCommitCertificate(run.chainId, certificate, validators, run.verifier)
    ) {
      bad(height, 'no valid commit certificate of a quorum');
    }
  }
  return violations;
}

function checkCheckpoint(run: RunRecord, node: number, stable: CheckpointCertificate): Violation[] {
  // The reference chain must itself be gap-free (a gap is reported as a prefix violation).
  const reference = run.honestLogs.find(
    (log) =>
      log.blocks.length >= stable.height && log.blocks.every((block, i) => block.height === i + 1),
  );
  if (reference === undefined) return [];
  const state = new SimState();
  let schedule: readonly Uint8Array[] = run.genesisValidators;
  const pending: { fromHeight: number; validators: readonly Uint8Array[] }[] = [];
  for (const block of reference.blocks.slice(0, stable.height)) {
    const result = state.apply(block.height, block.proposal.payload, (i) => run.keyOf(i));
    if (result.nextValidators !== undefined) {
      pending.push({
        fromHeight: block.height + VALIDATOR_SET_CHANGE_DELAY,
        validators: result.nextValidators,
      });
    }
  }
  for (const entry of pending) if (entry.fromHeight <= stable.height) schedule = entry.validators;
  const violations: Violation[] = [];
  if (!bytesEqual(state.root, stable.stateRoot)) {
    violations.push({
      kind: 'checkpoint',
      detail: `n${node}: stable checkpoint at ${stable.height} names a state root the chain does not have`,
    });
  }
  if (!verifyCheckpointCertificate(run.chainId, stable, schedule, run.verifier)) {
    violations.push({
      kind: 'checkpoint',
      detail: `n${node}: stable checkpoint at ${stable.height} lacks a quorum of valid signatures`,
    });
  }
  return violations;
}
