/**
 * Parties as `did:key` (W3C CCG did:key method): `did:key:z` + base58btc(varint(0xed) || key),
 * the multicodec `ed25519-pub` code 0xed being the varint bytes ed 01. Only Ed25519 keys.
 */
import { fromHex } from '@medchain/crypto';
import { varint } from 'multiformats';
import { base58btc } from 'multiformats/bases/base58';
import { invalidArgument } from './errors.js';

const DID_KEY_PREFIX = 'did:key:';
/** Multicodec `ed25519-pub`. */
const ED25519_PUB = 0xed;
const CODEC_LENGTH = varint.encodingLength(ED25519_PUB);
const KEY_LENGTH = 32;

/** `did:key:z6Mk...` for a 32-byte Ed25519 public key (INVALID_ARGUMENT for other lengths). */
export function toDidKey(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== KEY_LENGTH) {
    throw invalidArgument('a did:key is made from a 32-byte Ed25519 public key');
  }
  const bytes = new Uint8Array(CODEC_LENGTH + KEY_LENGTH);
  varint.encodeTo(ED25519_PUB, bytes, 0);
  bytes.set(publicKey, CODEC_LENGTH);
  return DID_KEY_PREFIX + base58btc.encode(bytes);
}

/**
 * The Ed25519 public key a `did:key` names. Anything else (another method, multibase or key
 * type, a fragment, a wrong length) is a ClientError INVALID_ARGUMENT.
 */
export function fromDidKey(did: string): Uint8Array {
  if (typeof did !== 'string' || !did.startsWith(`${DID_KEY_PREFIX}z`)) {
    throw invalidArgument('not a did:key in base58btc (did:key:z...)');
  }
  let bytes: Uint8Array;
  try {
    bytes = base58btc.decode(did.slice(DID_KEY_PREFIX.length));
  } catch {
    throw invalidArgument('did:key: not base58btc');
  }
  let codec: number;
  let length: number;
  try {
    [codec, length] = varint.decode(bytes);
  } catch {
    throw invalidArgument('did:key: no multicodec prefix');
  }
  if (codec !== ED25519_PUB || length !== CODEC_LENGTH) {
    throw invalidArgument('did:key: only ed25519-pub (0xed) keys are medchain parties');
  }
  if (bytes.length !== CODEC_LENGTH + KEY_LENGTH) {
    throw invalidArgument('did:key: an ed25519-pub key is 32 bytes');
  }
  return bytes.slice(CODEC_LENGTH);
}

const HEX_KEY = /^[0-9a-f]{64}$/;

/**
 * A party's public key from text: 64 lowercase hex characters (the API's form) or a did:key.
 * Only the form is checked, not that the key is a valid curve point.
 */
export function parsePartyKey(text: string): Uint8Array {
  if (typeof text === 'string' && HEX_KEY.test(text)) return fromHex(text, KEY_LENGTH);
  if (typeof text === 'string' && text.startsWith(DID_KEY_PREFIX)) return fromDidKey(text);
  throw invalidArgument('a party key is 64 lowercase hex characters or a did:key');
}
