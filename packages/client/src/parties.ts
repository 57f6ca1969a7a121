import { toHex } from '@medchain/crypto';
import { parsePartyKey } from './did-key.js';
import { invalidArgument } from './errors.js';

/** A party's Ed25519 public key: 32 bytes, 64 hex characters, or a `did:key`. */
export type PartyKey = Uint8Array | string;

/** A party key as bytes (INVALID_ARGUMENT for anything else). */
export function partyKeyBytes(key: PartyKey): Uint8Array {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw invalidArgument('a public key is 32 bytes');
    return key;
  }
  try {
    return parsePartyKey(key);
  } catch (error) {
    throw invalidArgument((error as Error).message);
  }
}

/** A party key as the API's 64 lowercase hex characters. */
export function partyKeyHex(key: PartyKey): string {
  return toHex(partyKeyBytes(key));
}

/** A 32-byte id (consent id, record id, tx hash, organization id) as bytes or hex. */
export function hashHex(id: string | Uint8Array): string {
  if (id instanceof Uint8Array) {
    if (id.length !== 32) throw invalidArgument('an id is 32 bytes');
    return toHex(id);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(id)) throw invalidArgument(`not a 32-byte hex id: ${id}`);
  return id.toLowerCase();
}
