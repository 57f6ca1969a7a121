import { assertLength, bytesEqual, concatBytes } from './bytes.js';
import { isAcceptablePublicKey, keyPairFromSeed, PUBLIC_KEY_LENGTH } from './ed25519.js';
import { type Canonical, decodeCanonical, encodeCanonical } from './encoding.js';
import { CryptoError } from './errors.js';
import { taggedHash } from './hash.js';
import * as platform from './platform/node.js';
import {
  X25519_KEY_LENGTH,
  x25519,
  x25519PublicKey,
  x25519PublicKeyFromEd25519,
  x25519SecretFromEd25519Seed,
} from './x25519.js';

/**
 * A payload encrypted to one recipient, with the sender authenticated (record sharing).
 * Both parties use their Ed25519 identity keys, converted to X25519 (see README).
 *
 *   dh1 = X25519(ephemeral, recipient)      fresh per envelope: the payload stays secret
 *                                           even if the sender's key leaks later
 *   dh2 = X25519(sender, recipient)         only the sender (or the recipient) can compute
 *                                           it: the recipient knows who sealed the envelope
 *   key || nonce = HKDF-SHA256(dh1 || dh2, info = H_EnvelopeKey(header))
 *   ciphertext = AES-256-GCM(payload, aad = canonical(header + context))
 *
 * The header (version, sender, recipient, ephemeral) is bound by both the key derivation and
 * the AAD, so swapping any of them, or opening under another context, fails authentication.
 * This is HPKE's "auth" mode in spirit (RFC 9180), not its wire format.
 */
export type Envelope = {
  readonly version: 1;
  /** Sender's Ed25519 public key. */
  readonly sender: Uint8Array;
  /** Recipient's Ed25519 public key. */
  readonly recipient: Uint8Array;
  /** Ephemeral X25519 public key. */
  readonly ephemeral: Uint8Array;
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  readonly ciphertext: Uint8Array;
};

export interface SealArgs {
  readonly senderSeed: Uint8Array;
  readonly recipient: Uint8Array;
  /** What the payload is for (e.g. the record id and request hash); the opener must name the same. */
  readonly context: Canonical;
  readonly payload: Uint8Array;
  /** Supplies the 32-byte ephemeral secret. */
  readonly randomBytes: (length: number) => Uint8Array;
}

export interface OpenArgs {
  readonly recipientSeed: Uint8Array;
  readonly context: Canonical;
  /** When given, the envelope must come from this Ed25519 key. */
  readonly sender?: Uint8Array;
}

export interface Opened {
  readonly sender: Uint8Array;
  readonly payload: Uint8Array;
}

const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
const ENVELOPE_KEYS = ['ciphertext', 'ephemeral', 'recipient', 'sender', 'version'];

function authError(why: string): CryptoError {
  return new CryptoError('CRYPTO_ENVELOPE_AUTH', `envelope did not authenticate: ${why}`);
}

function formatError(why: string): CryptoError {
  return new CryptoError('CRYPTO_ENVELOPE_FORMAT', `malformed envelope: ${why}`);
}

interface Keys {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly aad: Uint8Array;
}

function deriveKeys(
  dh1: Uint8Array,
  dh2: Uint8Array,
  header: Omit<Envelope, 'ciphertext'>,
  context: Canonical,
): Keys {
  const headerFields = {
    version: header.version,
    sender: header.sender,
    recipient: header.recipient,
    ephemeral: header.ephemeral,
  };
  const info = taggedHash('EnvelopeKey', encodeCanonical(headerFields));
  const okm = platform.hkdfSha256(
    concatBytes(dh1, dh2),
    new Uint8Array(0),
    info,
    KEY_LENGTH + NONCE_LENGTH,
  );
  return {
    key: okm.subarray(0, KEY_LENGTH),
    nonce: okm.subarray(KEY_LENGTH),
    aad: encodeCanonical({ ...headerFields, context }),
  };
}

/**
 * Encrypts `payload` to `recipient` (an acceptable Ed25519 public key, else
 * CRYPTO_BAD_PUBLIC_KEY). Each envelope draws a fresh 32-byte ephemeral secret from
 * `randomBytes`: reusing one would reuse the AES-GCM key and nonce.
 */
export function sealEnvelope(args: SealArgs): Envelope {
  const { senderSeed, recipient, context, payload, randomBytes } = args;
  if (!(payload instanceof Uint8Array)) throw formatError('payload must be a Uint8Array');
  const recipientU = x25519PublicKeyFromEd25519(recipient);
  const sender = keyPairFromSeed(senderSeed).publicKey;
  const ephemeralSecret = randomBytes(X25519_KEY_LENGTH);
  assertLength(ephemeralSecret, X25519_KEY_LENGTH, 'ephemeral secret');
  const header = {
    version: 1,
    sender,
    recipient: new Uint8Array(recipient),
    ephemeral: x25519PublicKey(ephemeralSecret),
  } as const;
  const keys = deriveKeys(
    x25519(ephemeralSecret, recipientU),
    x25519(x25519SecretFromEd25519Seed(senderSeed), recipientU),
    header,
    context,
  );
  const ciphertext = platform.aes256GcmSeal(keys.key, keys.nonce, keys.aad, payload);
  return { ...header, ciphertext };
}

function bytesField(value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw formatError(`${what} must be bytes`);
  if (length !== undefined && value.length !== length) {
    throw formatError(`${what} must be ${length} bytes`);
  }
  return value;
}

/** Checks an envelope's shape (CRYPTO_ENVELOPE_FORMAT), e.g. one decoded by a peer. */
export function assertEnvelope(value: unknown): asserts value is Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw formatError('not an object');
  }
  const keys = Object.keys(value).sort();
  if (keys.length !== ENVELOPE_KEYS.length || keys.some((key, i) => key !== ENVELOPE_KEYS[i])) {
    throw formatError(`fields must be exactly ${ENVELOPE_KEYS.join(', ')}`);
  }
  const fields = value as Record<string, unknown>;
  if (fields.version !== 1) throw formatError(`unsupported version ${String(fields.version)}`);
  bytesField(fields.sender, 'sender', PUBLIC_KEY_LENGTH);
  bytesField(fields.recipient, 'recipient', PUBLIC_KEY_LENGTH);
  bytesField(fields.ephemeral, 'ephemeral', X25519_KEY_LENGTH);
  const ciphertext = bytesField(fields.ciphertext, 'ciphertext');
  if (ciphertext.length < TAG_LENGTH) throw formatError('ciphertext shorter than its tag');
}

/**
 * Decrypts an envelope addressed to the holder of `recipientSeed`. Any mismatch (another
 * recipient, another sender, another context, any changed byte) is CRYPTO_ENVELOPE_AUTH;
 * a wrong shape is CRYPTO_ENVELOPE_FORMAT.
 */
export function openEnvelope(envelope: unknown, args: OpenArgs): Opened {
  assertEnvelope(envelope);
  const { recipientSeed, context, sender: expectedSender } = args;
  const recipient = keyPairFromSeed(recipientSeed).publicKey;
  if (!bytesEqual(envelope.recipient, recipient)) throw authError('addressed to another key');
  if (expectedSender !== undefined && !bytesEqual(envelope.sender, expectedSender)) {
    throw authError('sealed by another key than expected');
  }
  if (!isAcceptablePublicKey(envelope.sender)) throw authError('sender key is not acceptable');
  const recipientSecret = x25519SecretFromEd25519Seed(recipientSeed);
  let dh1: Uint8Array;
  try {
    dh1 = x25519(recipientSecret, envelope.ephemeral);
  } catch {
    throw authError('ephemeral key is of small order');
  }
  const dh2 = x25519(recipientSecret, x25519PublicKeyFromEd25519(envelope.sender));
  const keys = deriveKeys(dh1, dh2, envelope, context);
  const payload = platform.aes256GcmOpen(keys.key, keys.nonce, keys.aad, envelope.ciphertext);
  if (payload === null) throw authError('ciphertext, header or context was changed');
  return { sender: new Uint8Array(envelope.sender), payload };
}

/** Canonical bytes of an envelope, for the wire or for storage. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encodeCanonical(envelope);
}

/** Parses {@link encodeEnvelope}'s bytes; anything else is CRYPTO_ENVELOPE_FORMAT. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let value: Canonical;
  try {
    value = decodeCanonical(bytes);
  } catch (error) {
    throw formatError((error as Error).message);
  }
  assertEnvelope(value);
  return value;
}
