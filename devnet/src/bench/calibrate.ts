import { availableParallelism } from 'node:os';
import { randomBytes } from '@medchain/client';
import { Signer, sha256, utf8, verify } from '@medchain/crypto';

export interface Calibration {
  /** Ed25519 verifications per second on one core of this machine (node:crypto, cached keys). */
  readonly verifyPerSecond: number;
  readonly cores: number;
  readonly validators: number;
  /**
   * verifyPerSecond x cores / validators: every validator verifies every transaction once, so
   * with nothing else to do the devnet could not commit more than this.
   */
  readonly boundTxPerSecond: number;
}

/** Measures verification speed for about `ms` (distinct keys, each already imported once). */
export function calibrate(validators: number, ms = 1_000): Calibration {
  const signers = Array.from({ length: 64 }, () => new Signer(randomBytes(32)));
  const messages = signers.map((_, i) => sha256(utf8(`calibration ${i}`)));
  const signatures = signers.map((s, i) => s.sign(messages[i]!));
  for (let i = 0; i < signers.length; i++) {
    verify(signers[i]!.publicKey, messages[i]!, signatures[i]!); // warm the key cache and JIT
  }
  let done = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < signers.length; i++) {
      if (!verify(signers[i]!.publicKey, messages[i]!, signatures[i]!)) {
        throw new Error('calibration signature did not verify');
      }
    }
    done += signers.length;
    elapsed = performance.now() - start;
  }
  const verifyPerSecond = Math.round((done / elapsed) * 1000);
  const cores = availableParallelism();
  return {
    verifyPerSecond,
    cores,
    validators,
    boundTxPerSecond: Math.round((verifyPerSecond * cores) / validators),
  };
}
