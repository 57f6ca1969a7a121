import { compareBytes, encodeCanonical, taggedHash } from '@medchain/crypto';
import type { OrganizationEntry } from './model.js';
import { readValue, stateKeys } from './schema.js';
import type { KeyValueReader } from './state/index.js';

/** One validator per member organization, all with equal voting power. */
export interface Validator {
  readonly orgId: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly peerId: string;
}

/** Sorted by public key: the order every node uses for the set and its hash. */
export function sortValidators(validators: readonly Validator[]): Validator[] {
  return [...validators].sort((a, b) => compareBytes(a.publicKey, b.publicKey));
}

/** taggedHash('ValidatorSet', canonical list of {orgId, peerId, publicKey} sorted by key). */
export function validatorSetHash(validators: readonly Validator[]): Uint8Array {
  return taggedHash(
    'ValidatorSet',
    encodeCanonical(
      sortValidators(validators).map((v) => ({
        orgId: v.orgId,
        publicKey: v.publicKey,
        peerId: v.peerId,
      })),
    ),
  );
}

export function memberIds(reader: KeyValueReader): Uint8Array[] {
  return readValue<Uint8Array[]>(reader, stateKeys.members()) ?? [];
}

/** The validator set the state defines: the validator key of every member organization. */
export function validatorsFromState(reader: KeyValueReader): Validator[] {
  return sortValidators(
    memberIds(reader).map((orgId) => {
      const org = readValue<OrganizationEntry>(reader, stateKeys.organization(orgId))!;
      return { orgId: org.id, publicKey: org.validatorKey, peerId: org.peerId };
    }),
  );
}
