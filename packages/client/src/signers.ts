import {
  generateKeyPair,
  keyPairFromSeed,
  PUBLIC_KEY_LENGTH,
  SEED_LENGTH,
  sign,
} from '@medchain/crypto';
import { ClientError, invalidArgument } from './errors.js';
import type { RequestSigner } from './http-signature.js';
import { randomBytes } from './random.js';

/** A WebCrypto key (typed without the DOM library, so the package's types need neither DOM nor node). */
export type WebCryptoKey = Parameters<typeof globalThis.crypto.subtle.sign>[1];
export interface WebCryptoKeyPair {
  readonly publicKey: WebCryptoKey;
  readonly privateKey: WebCryptoKey;
}

/**
 * Every signer here is the request-signature contract's `RequestSigner` ({publicKey, sign}); the
 * same signer signs transactions and access requests.
 *
 * A signer whose seed is held in memory (a decrypted keystore, a CLI key). Only a seed can open
 * a sealed record envelope, so record reads need this kind of signer.
 */
export class KeySigner implements RequestSigner {
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;

  constructor(seed: Uint8Array) {
    if (!(seed instanceof Uint8Array) || seed.length !== SEED_LENGTH) {
      throw invalidArgument(`an Ed25519 seed is ${SEED_LENGTH} bytes`);
    }
    this.#seed = seed.slice();
    this.publicKey = keyPairFromSeed(this.#seed).publicKey;
  }

  /** A fresh key from the platform's CSPRNG. */
  static generate(): KeySigner {
    return new KeySigner(generateKeyPair(randomBytes).seed);
  }

  /** The seed, for writing a keystore or opening a record envelope. */
  get seed(): Uint8Array {
    return this.#seed.slice();
  }

  sign(message: Uint8Array): Uint8Array {
    return sign(this.#seed, message);
  }
}

/**
 * A signer over a WebCrypto Ed25519 key pair. Generated non-extractable, the private key never
 * leaves the platform's key store (a browser app can keep it in IndexedDB without exposing it to
 * script); it cannot open record envelopes (that needs the seed).
 */
export class WebCryptoSigner implements RequestSigner {
  private constructor(
    readonly publicKey: Uint8Array,
    readonly privateKey: WebCryptoKey,
  ) {}

  /** True when the platform's WebCrypto implements Ed25519 (Node >= 20, recent browsers). */
  static async isSupported(): Promise<boolean> {
    try {
      await WebCryptoSigner.generate();
      return true;
    } catch {
      return false;
    }
  }

  /** A new key pair; `extractable` false (the default) keeps the private key inside WebCrypto. */
  static async generate(options: { extractable?: boolean } = {}): Promise<WebCryptoSigner> {
    const subtle = globalThis.crypto?.subtle;
    if (subtle === undefined) throw new ClientError('UNSUPPORTED', 'no WebCrypto on this platform');
    const pair = (await subtle.generateKey({ name: 'Ed25519' }, options.extractable ?? false, [
      'sign',
      'verify',
    ])) as WebCryptoKeyPair;
    return WebCryptoSigner.fromKeyPair(pair);
  }

  /** Wraps an existing pair (for example one stored in IndexedDB). */
  static async fromKeyPair(pair: WebCryptoKeyPair): Promise<WebCryptoSigner> {
    const raw = new Uint8Array(await globalThis.crypto.subtle.exportKey('raw', pair.publicKey));
    if (raw.length !== PUBLIC_KEY_LENGTH) {
      throw invalidArgument('not an Ed25519 public key');
    }
    return new WebCryptoSigner(raw, pair.privateKey);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(
      await globalThis.crypto.subtle.sign({ name: 'Ed25519' }, this.privateKey, message),
    );
  }
}

/**
 * A new signer for an app: a non-extractable WebCrypto key where the platform has Ed25519, else
 * an in-memory seed signed with crypto's implementation (noble in browsers).
 */
export async function generateSigner(): Promise<RequestSigner> {
  try {
    return await WebCryptoSigner.generate();
  } catch {
    return KeySigner.generate();
  }
}
