import { bytesEqual, toHex } from '@medchain/crypto';
import { type Validator, validatorSetHash } from './validators.js';

/** Organizations added or removed between two consecutive sets that the search tries. */
export const MAX_VALIDATOR_CHANGES_PER_BLOCK = 2;

/**
 * The set `from` with up to `maxChanges` organizations of `universe` added or members removed
 * whose validatorSetHash is `target`, or undefined. A header names only the hash of the next
 * validator set; whoever follows the chain (state sync, a light client) finds its members among
 * the organizations it knows, and the hash makes any match the right one.
 */
export function findValidatorSet(
  from: readonly Validator[],
  universe: readonly Validator[],
  target: Uint8Array,
  maxChanges = MAX_VALIDATOR_CHANGES_PER_BLOCK,
): Validator[] | undefined {
  const inFrom = new Set(from.map((v) => toHex(v.orgId)));
  const seen = new Set(inFrom);
  const toggles: Validator[] = [...from];
  for (const v of universe) {
    const id = toHex(v.orgId);
    if (!seen.has(id)) {
      seen.add(id);
      toggles.push(v);
    }
  }
  const toggled = (indexes: readonly number[]): Validator[] => {
    const flip = new Set(indexes.map((i) => toHex(toggles[i]!.orgId)));
    return [
      ...from.filter((v) => !flip.has(toHex(v.orgId))),
      ...indexes.map((i) => toggles[i]!).filter((v) => !inFrom.has(toHex(v.orgId))),
    ];
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
