import { type CommitCertificate, verifyCommitCertificate } from '@medchain/consensus';
import { bytesEqual, decodeCanonical, verify } from '@medchain/crypto';
import {
  type Block,
  findValidatorSet,
  headerHash,
  type OrganizationEntry,
  organizationValidators,
  stateKeyHash,
  stateKeys,
  VALUE_PREFIX,
  type Validator,
  validatorSetHash,
} from '@medchain/ledger';
import { type SnapshotEntry, StateSyncError } from './snapshot-codec.js';

/*
 * Following validator-set changes from genesis to a snapshot height, light-client style.
 *
 * The set deciding height H is the one the state defines after H-2, and every header carries
 * the hash of the set its parent's state defines: header(H-1).validatorSetHash names the set
 * deciding H. So, from a set S known to decide lo+1 (header(lo) names it), a binary search over
 * headers finds the first header m naming another set; block m is still decided by S, so its
 * certificate must verify under S and its parent must be header m-1 naming S (a change left
 * out shows up there). Header m is then authentic, and so is the hash of the next set; the set
 * itself (orgId, key, peer id) is found among the organizations the snapshot holds (members and
 * removed ones alike: entries are never deleted) by adding or removing a few of them to S until
 * the hash matches. Nodes keep no past validator lists, but the hash chain makes any candidate
 * that matches the right one.
 */

/** Validator-set changes followed before giving up (each costs about log2(height) requests). */
export const MAX_VALIDATOR_SET_CHANGES = 256;

/**
 * Every organization entry in a snapshot, as validators (its validator key now and each one it
 * rotated away from: past sets hold those), each checked to sit at its own state key (so a
 * value that merely looks like one is not taken).
 */
export function organizationsInSnapshot(entries: readonly SnapshotEntry[]): Validator[] {
  const found: Validator[] = [];
  for (const [key, value] of entries) {
    if (key[0] !== VALUE_PREFIX) continue;
    let decoded: unknown;
    try {
      decoded = decodeCanonical(value);
    } catch {
      continue;
    }
    const org = decoded as Record<string, unknown> | null;
    if (
      typeof org !== 'object' ||
      org === null ||
      !(org.id instanceof Uint8Array) ||
      !(org.validatorKey instanceof Uint8Array) ||
      typeof org.peerId !== 'string' ||
      (org.status !== 'member' && org.status !== 'removed') ||
      !(
        org.formerValidatorKeys === undefined ||
        (Array.isArray(org.formerValidatorKeys) &&
          org.formerValidatorKeys.every((k) => k instanceof Uint8Array))
      ) ||
      !bytesEqual(stateKeyHash(stateKeys.organization(org.id)), key.subarray(1))
    ) {
      continue;
    }
    found.push(...organizationValidators(org as unknown as OrganizationEntry));
  }
  return found;
}

export interface CertifiedBlock {
  readonly block: Block;
  readonly certificate: CommitCertificate;
}

export interface FollowOptions {
  readonly chainId: string;
  /** The set known to decide height 2 and on until a header names another (genesis). */
  readonly known: readonly Validator[];
  /** Organizations the next sets are made of (organizationsInSnapshot). */
  readonly universe: readonly Validator[];
  /** Height h and its header's set hash (the set deciding h+1) to reach. */
  readonly height: number;
  readonly targetHash: Uint8Array;
  /** Consecutive blocks from `from` with their certificates (fewer if the peers lack them). */
  readonly fetchBlocks: (from: number, count: number) => Promise<readonly CertifiedBlock[]>;
}

/** The validator set deciding `height + 1`, followed from `known` through certified changes. */
export async function followValidatorSets(
  options: FollowOptions,
): Promise<{ validators: Validator[]; changes: number }> {
  const { height } = options;
  let set = [...options.known];
  let setHash = validatorSetHash(set);
  let lo = 1;
  const headerAt = async (at: number) => {
    const [found] = await options.fetchBlocks(at, 1);
    if (found === undefined || found.block.header.height !== at) {
      throw new StateSyncError('STATE_SYNC_UNAVAILABLE', `no peer served block ${at}`);
    }
    return found.block.header;
  };
  let changes = 0;
  for (; !bytesEqual(options.targetHash, setHash); changes++) {
    if (changes >= MAX_VALIDATOR_SET_CHANGES) {
      throw new StateSyncError(
        'STATE_SYNC_LIMIT',
        `more than ${MAX_VALIDATOR_SET_CHANGES} validator-set changes`,
      );
    }
    // Invariant: header(lo) names `set`; header(hi) names another one.
    let hi = height;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (bytesEqual((await headerAt(mid)).validatorSetHash, setHash)) lo = mid;
      else hi = mid;
    }
    const [parent, changed] = await options.fetchBlocks(lo, 2);
    if (parent === undefined || changed === undefined) {
      throw new StateSyncError('STATE_SYNC_UNAVAILABLE', `no peer served blocks ${lo}-${hi}`);
    }
    const { certificate } = changed;
    const header = changed.block.header;
    if (
      parent.block.header.height !== lo ||
      header.height !== hi ||
      !bytesEqual(header.parentHash, headerHash(parent.block.header)) ||
      !bytesEqual(parent.block.header.validatorSetHash, setHash) ||
      bytesEqual(header.validatorSetHash, setHash) ||
      certificate.height !== hi ||
      !bytesEqual(certificate.digest, headerHash(header)) ||
      !verifyCommitCertificate(
        options.chainId,
        certificate,
        set.map((v) => v.publicKey),
        { verify },
      )
    ) {
      throw new StateSyncError(
        'STATE_SYNC_REFUSED',
        `blocks ${lo}-${hi} are not a validator-set change certified by the set before it`,
      );
    }
    const next = findValidatorSet(set, options.universe, header.validatorSetHash);
    if (next === undefined) {
      throw new StateSyncError(
        'STATE_SYNC_VALIDATORS_CHANGED',
        `the validator set named by block ${hi} is not among the snapshot's organizations`,
      );
    }
    set = next;
    setHash = header.validatorSetHash;
    lo = hi;
  }
  return { validators: set, changes };
}
