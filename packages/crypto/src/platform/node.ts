/**
 * The primitives on Node: OpenSSL through `node:crypto`, libsodium through sodium-native for
 * Ed25519 verification where it loads, and Buffer's native helpers. This is
 * the default; bundlers targeting browsers swap this file for `./browser.ts` through the
 * package.json `browser` field (README: "Platforms"). Callers have already checked lengths and
 * types; these functions only compute. `./contract.ts` holds both files to one shape.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  hash as nodeHash,
  sign as nodeSign,
  verify as nodeVerify,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';
import { createRequire } from 'node:module';
import { nobleBackend } from '../ed25519-reference.js';
import type { Ed25519Backend, ScryptOptions } from './contract.js';

export type SigningKey = KeyObject;

/**
 * Node's native hex and latin1 encoders, called on the array itself. Reading `.buffer` of a
 * small Uint8Array moves it off V8's heap for good, so these helpers never touch it: hashes
 * and keys are compared and printed on every hot path. Concatenating two characters per byte
 * cost 6x more per Map key (a rope string, flattened and hashed later).
 */
const { hexSlice, latin1Slice, latin1Write } = Buffer.prototype as unknown as {
  hexSlice(this: Uint8Array, start: number, end: number): string;
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  latin1Write(this: Uint8Array, text: string, offset: number, length: number): number;
};

export function toHex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('toHex expects a Uint8Array');
  return hexSlice.call(bytes, 0, bytes.length);
}

/** Each byte as one UTF-16 code unit (latin1): a lossless Map key, cheaper than hex. Not text. */
export function binaryString(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('binaryString expects a Uint8Array');
  return latin1Slice.call(bytes, 0, bytes.length);
}

/**
 * V8 keeps a typed array of up to this many bytes on its own heap. Handing one to a native
 * writer (latin1Write) first moves its bytes off the heap into a malloc'd store: 460-900 ns
 * per 32-64-byte array here, and one more array buffer for every scavenge to sweep, where a
 * plain loop takes 80-160 ns and leaves the array on the heap.
 */
const ON_HEAP_BYTES = 64;

/** `bytes` (a fresh array of `text.length`) filled from a binary string. */
function writeBinary(bytes: Uint8Array, text: string): Uint8Array {
  if (text.length <= ON_HEAP_BYTES) {
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  } else {
    latin1Write.call(bytes, text, 0, text.length);
  }
  return bytes;
}

/** The bytes of a `binaryString`, in a fresh array of their own (never a view into Buffer's pool). */
export function fromBinaryString(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('fromBinaryString expects a string');
  return writeBinary(new Uint8Array(text.length), text);
}

/** `hex` is known to be even-length lowercase hex. */
export function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Lexicographic byte order: the one order used wherever bytes must be sorted. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** For secrets; `a` and `b` have the same length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(a, b);
}

/**
 * Plain SHA-256, for interoperable digests (FHIR content hashes, test vectors), and the one
 * way to a digest as bytes. The digest lands in an array on V8's heap: node:crypto's Buffer
 * output is a malloc'd store that a copy leaves behind for the scavenger, its 'binary'
 * (latin1) string one heap object (~350 ns per digest against ~740 ns).
 */
export function sha256(data: Uint8Array): Uint8Array {
  return writeBinary(new Uint8Array(32), nodeHash('sha256', data, 'binary'));
}

export function sha512(data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeHash('sha512', data, 'buffer'));
}

/** Inputs up to this size are assembled in one reused buffer instead of a fresh concat. */
const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

const binaryViews: Buffer[] = [];

function scratchView(length: number): Buffer {
  // One view per input length, reused: the state tree hashes millions of same-length inputs.
  let view = binaryViews[length];
  if (view === undefined) {
    view = scratch.subarray(0, length);
    if (length <= 1024) binaryViews[length] = view;
  }
  return view;
}

/** SHA-256 over `prefix || parts` (a tagged hash). */
export function sha256Prefixed(prefix: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  let length = prefix.length;
  for (const part of parts) length += part.length;
  if (length > SCRATCH_BYTES) return sha256(Buffer.concat([prefix, ...parts]));
  // Hashing is synchronous, so one module-level scratch buffer is never shared by two calls;
  // it spares the state tree an off-heap Buffer pool every few dozen hashes.
  scratch.set(prefix, 0);
  let offset = prefix.length;
  for (const part of parts) {
    scratch.set(part, offset);
    offset += part.length;
  }
  return sha256(scratchView(length));
}

/**
 * Digests as binary strings (one char per byte, like `binaryString`; Node's 'binary' is
 * latin1). node:crypto's string output is a V8 heap string: no off-heap Buffer for the result
 * and no copy out of it, which is most of a short hash's cost. The input is assembled in the
 * scratch buffer by plain loops.
 */
function putPart(part: Uint8Array | string, at: number): number {
  if (typeof part === 'string') {
    for (let i = 0; i < part.length; i++) scratch[at + i] = part.charCodeAt(i);
  } else {
    for (let i = 0; i < part.length; i++) scratch[at + i] = part[i]!;
  }
  return at + part.length;
}

export function sha256Binary(data: Uint8Array): string {
  return nodeHash('sha256', data, 'binary');
}

/** SHA-256 over `prefix || first || second`; string parts are binary strings. */
export function sha256PrefixedBinary(
  prefix: Uint8Array,
  first: Uint8Array | string,
  second: Uint8Array | string | undefined,
): string {
  const length = prefix.length + first.length + (second === undefined ? 0 : second.length);
  if (length > SCRATCH_BYTES) {
    const parts = [prefix, first, ...(second === undefined ? [] : [second])].map((part) =>
      typeof part === 'string' ? Buffer.from(part, 'latin1') : part,
    );
    return nodeHash('sha256', Buffer.concat(parts), 'binary');
  }
  let at = putPart(prefix, 0);
  at = putPart(first, at);
  if (second !== undefined) putPart(second, at);
  return nodeHash('sha256', scratchView(length), 'binary');
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Keys are imported as JWK, not DER: OpenSSL's DER decoder costs ~360 µs per private key and
 * ~75 µs per public key here, the raw-key path behind JWK ~45 µs and ~13 µs. For a private
 * key OpenSSL recomputes the public half from `d` and ignores `x` (the RFC 8032 known-answer
 * test pins this), so `x` is left empty rather than computed twice.
 */
export function ed25519SigningKey(seed: Uint8Array): SigningKey {
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: base64url(seed), x: '' },
    format: 'jwk',
  });
}

export function ed25519PublicKey(key: SigningKey): Uint8Array {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

export function ed25519Sign(key: SigningKey, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, key));
}

/** The libsodium calls used; sodium-native takes any Uint8Array view. */
interface Sodium {
  crypto_sign_verify_detached(
    signature: Uint8Array,
    message: Uint8Array,
    publicKey: Uint8Array,
  ): boolean;
  /** Throws unless `p` and `q` both decode to curve points. */
  crypto_core_ed25519_add(r: Uint8Array, p: Uint8Array, q: Uint8Array): void;
}

/**
 * sodium-native is an optional dependency with prebuilt binaries for the common platforms;
 * where it is missing or does not load, OpenSSL is the fastest verifier left.
 */
function loadSodium(): Sodium | null {
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return null;
  }
}

/**
 * libsodium's released line (1.0.18 to 1.0.21, which sodium-native bundles) checks exactly
 * the rule: canonical S, canonical A, neither A nor R of small order, cofactorless equation
 * compared on R's bytes. (Its unreleased master branch is cofactored: the shared vectors in
 * test/ed25519-vectors.test.ts fail if a sodium-native update brings that in.)
 */
function libsodiumBackend(sodium: Sodium): Ed25519Backend {
  // N-API hands native code a pointer to an array's store, and a decoded signature or a
  // digest is a small array on V8's heap, moved to a malloc'd store of its own on the way
  // (one more array buffer per call for the scavenger). Copied into these instead; a
  // longer message is off the heap already. The key is the prepared copy, moved once.
  const signatureIn = new Uint8Array(new ArrayBuffer(64));
  const messageIn = new Uint8Array(new ArrayBuffer(ON_HEAP_BYTES));
  const messageViews = Array.from({ length: ON_HEAP_BYTES + 1 }, (_, n) =>
    messageIn.subarray(0, n),
  );
  return {
    name: 'libsodium',
    prepareKey: (publicKey) => (message, signature) => {
      signatureIn.set(signature);
      let input = message;
      if (message.length <= ON_HEAP_BYTES) {
        messageIn.set(message);
        input = messageViews[message.length]!;
      }
      return sodium.crypto_sign_verify_detached(signatureIn, input, publicKey);
    },
  };
}

/**
 * OpenSSL's equation is the rule's (cofactorless, compared on R's bytes); on its own it would
 * also accept small-order R, non-canonical or small-order A, which the pre-check refuses.
 */
const opensslBackend: Ed25519Backend = {
  name: 'openssl',
  prepareKey(publicKey) {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: base64url(publicKey) },
      format: 'jwk',
    });
    return (message, signature) => {
      try {
        return nodeVerify(null, message, key, signature);
      } catch {
        return false;
      }
    };
  },
};

const sodium = loadSodium();

/** Where crypto_core_ed25519_add writes its (unused) sum; calls are synchronous. */
const pointSum = new Uint8Array(32);

/**
 * libsodium's crypto_core_ed25519_add decodes both points (ge25519_frombytes: y taken mod p,
 * x's sign from the top bit) and checks each is on the curve; it refuses nothing else (no
 * canonical, small-order or subgroup check, unlike crypto_core_ed25519_is_valid_point, which
 * also refuses keys with a torsion component that the rule allows). About 7x faster than
 * noble's decompression here.
 */
export const ed25519PointDecodes =
  sodium === null
    ? null
    : (encoding: Uint8Array): boolean => {
        try {
          sodium.crypto_core_ed25519_add(pointSum, encoding, encoding);
          return true;
        } catch {
          return false;
        }
      };

/** Fastest first: `verify` uses the first; tests and the bench hold every one to the rule. */
export const ed25519Backends: readonly Ed25519Backend[] = [
  ...(sodium === null ? [] : [libsodiumBackend(sodium)]),
  opensslBackend,
  nobleBackend,
];

/**
 * RFC 7748 X25519(k, u): clamps k, ignores the top bit of u. `null` when u is of small order
 * (OpenSSL refuses it, or the result is all zero).
 */
export function x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Uint8Array | null {
  // JWK import for the same reason as for Ed25519: it skips OpenSSL's slow DER decoder.
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: base64url(scalar), x: '' },
    format: 'jwk',
  });
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: base64url(uCoordinate) },
    format: 'jwk',
  });
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    return null;
  }
  return shared.every((byte) => byte === 0) ? null : new Uint8Array(shared);
}

export function scrypt(
  passphrase: Uint8Array,
  salt: Uint8Array,
  params: ScryptOptions,
  length: number,
): Uint8Array {
  return new Uint8Array(scryptSync(passphrase, salt, length, params));
}

export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

const GCM_TAG_LENGTH = 16;

/** AES-256-GCM: ciphertext followed by the 16-byte tag. */
export function aes256GcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LENGTH });
  cipher.setAAD(aad);
  return new Uint8Array(
    Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]),
  );
}

/** The plaintext, or `null` when the tag does not authenticate (or `sealed` is shorter than it). */
export function aes256GcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, {
      authTagLength: GCM_TAG_LENGTH,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_LENGTH));
    return new Uint8Array(
      Buffer.concat([
        decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_LENGTH)),
        decipher.final(),
      ]),
    );
  } catch {
    return null;
  }
}
