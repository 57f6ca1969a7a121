import { bytesEqual, toHex } from '@medchain/crypto';
import type { OrganizationEntry } from './model.js';
import { type Validator, validatorSetHash } from './validators.js';

/** Organizations added, removed or re-keyed between two consecutive sets that the search tries. */
export const MAX_VALIDATOR_CHANGES_PER_BLOCK = 2;

/**
 * Every validator an organization has been in a set as: its validator key now and each one it
 * rotated away from, all with its peer id (a rotation keeps the peer id). The universe of
 * findValidatorSet is made of these, so past sets holding a retired key are found too.
 */
export function organizationValidators(org: OrganizationEntry): Validator[] {
  return [org.validatorKey, ...(org.formerValidatorKeys ?? [])].map((publicKey) => ({
    orgId: org.id,
    publicKey,
    peerId: org.peerId,
  }));
}

const identity = (v: Validator) => `${toHex(v.orgId)}:${toHex(v.publicKey)}`;

/**
 * The set `from` with up to `maxChanges` changes whose validatorSetHash is `target`, or
 * undefined. A change removes a member of `from`, adds an organization of `universe`, or
 * replaces a member's key by another key of the same organization in `universe` (a rotation).
 * A header names only the hash of the next validator set; whoever follows the chain (state
 * sync, a light client) finds its members among the organizations it knows, and the hash makes
 * any match the right one.
 */
export function findValidatorSet(
  from: readonly Validator[],
  universe: readonly Validator[],
  target: Uint8Array,
  maxChanges = MAX_VALIDATOR_CHANGES_PER_BLOCK,
): Validator[] | undefined {
  const inFrom = new Set(from.map(identity));
  const seen = new Set(inFrom);
  const toggles: Validator[] = [...from];
  for (const v of universe) {
    const id = identity(v);
    if (!seen.has(id)) {
      seen.add(id);
      toggles.push(v);
    }
  }
  const toggled = (indexes: readonly number[]): Validator[] => {
    const byOrg = new Map(from.map((v) => [toHex(v.orgId), v]));
    for (const i of indexes) {
      const v = toggles[i]!;
      const org = toHex(v.orgId);
      // A member of `from` toggles out; any other key of an organization toggles in, replacing
      // the key that organization has in the set if any.
      if (inFrom.has(identity(v))) byOrg.delete(org);
      else byOrg.set(org, v);
    }
    return [...byOrg.values()];
  };
  const search = (start: number, chosen: number[]): Validator[] | undefined => {
    if (chosen.length > 0) {
      const candidate = toggled(chosen);
      if (candidate.length > 0 && bytesEqual(validatorSetHash(candidate), target)) return candidate;
    }
    if (chosen.length === maxChanges) return undefined;
    for (let i = start; i < toggles.length; i++) {
      const found = search(i + 1, [...chosen, i]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return search(0, []);
}
