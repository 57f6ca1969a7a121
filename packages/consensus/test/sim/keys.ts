import { concatBytes, sha256, toHex, utf8 } from '@medchain/crypto';
import type { ConsensusSigner, SignatureVerifier } from '../../src/index.js';

/**
 * Cheap signatures that are still sound inside the simulator: a signature is
 * sha256(secret || message) and only the verifier (the "laws of physics") knows every secret.
 * A byzantine node is handed its own signer only, so it cannot sign for an honest node.
 */
export class SimSigner implements ConsensusSigner {
  readonly publicKey: Uint8Array;

  constructor(private readonly secret: Uint8Array) {
    this.publicKey = sha256(concatBytes(utf8('sim-public-key'), secret));
  }

  sign(message: Uint8Array): Uint8Array {
    return sha256(concatBytes(this.secret, message));
  }
}

export class SimVerifier implements SignatureVerifier {
  private readonly secrets = new Map<string, Uint8Array>();

  register(secret: Uint8Array): SimSigner {
    const signer = new SimSigner(secret);
    this.secrets.set(toHex(signer.publicKey), secret);
    return signer;
  }

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const secret = this.secrets.get(toHex(publicKey));
    if (secret === undefined || signature.length !== 32) return false;
    const expected = sha256(concatBytes(secret, message));
    for (let i = 0; i < 32; i++) if (expected[i] !== signature[i]) return false;
    return true;
  }
}

/** Deterministic keys for node `index` of a test (secrets derived from the index). */
export function simKeys(count: number): { verifier: SimVerifier; signers: SimSigner[] } {
  const verifier = new SimVerifier();
  const signers: SimSigner[] = [];
  for (let i = 0; i < count; i++) {
    signers.push(verifier.register(sha256(utf8(`sim-secret-${i}`))));
  }
  return { verifier, signers };
}
