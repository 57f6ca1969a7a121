import { bytesEqual } from '@medchain/crypto';
import {
  isRequestSignatureValid,
  type RequestSignature,
  requestSignatureOf,
} from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { grantBody, signedRequest, world } from './helpers.js';

function sameBytes(a: RequestSignature, b: RequestSignature): boolean {
  return (
    bytesEqual(a.digest, b.digest) &&
    bytesEqual(a.requester, b.requester) &&
    bytesEqual(a.signature, b.signature)
  );
}

describe('requestSignatureOf: what admission checks ahead of execution', () => {
  it('gives exactly the arguments execution passes to isRequestSignatureValid', () => {
    const asked: RequestSignature[] = [];
    const w = world({
      isRequestSignatureValid: (digest, requester, signature) => {
        asked.push({ digest, requester, signature });
        return isRequestSignatureValid(digest, requester, signature);
      },
    });
    const log = w.chain.tx(w.a.admin, 'access.log', {
      ...signedRequest(w.p.bClinician, w.aliceRecord, w.chain.time + 1000),
      decision: 'deny',
      consentId: null,
    });
    const emergency = w.chain.tx(w.p.clinician, 'access.emergency', {
      ...signedRequest(w.p.emergency, w.aliceRecord, w.chain.time + 1000, {
        purpose: 'ETREAT',
        emergencyReason: 'life-threatening',
      }),
      decision: 'permit',
      consentId: null,
    });
    const receipts = w.chain.block([log, emergency], w.chain.time + 1000).receipts;
    expect(receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
    expect(asked).toHaveLength(2);
    expect(sameBytes(requestSignatureOf(log)!, asked[0]!)).toBe(true);
    expect(sameBytes(requestSignatureOf(emergency)!, asked[1]!)).toBe(true);
  });

  it('is undefined for kinds without an inner signature', () => {
    const w = world();
    const grant = w.chain.tx(
      w.alice,
      'consent.grant',
      grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time),
    );
    expect(requestSignatureOf(grant)).toBeUndefined();
  });

  it('isRequestSignatureValid is the default check: the signature over exactly that digest', () => {
    const w = world();
    const { request, requestSignature } = signedRequest(w.p.nurse, w.aliceRecord, w.chain.time);
    const tx = w.chain.tx(w.a.admin, 'access.log', {
      request,
      requestSignature,
      decision: 'deny',
      consentId: null,
    });
    const { digest, requester, signature } = requestSignatureOf(tx)!;
    expect(isRequestSignatureValid(digest, requester, signature)).toBe(true);
    const otherDigest = digest.slice();
    otherDigest[0]! ^= 1;
    expect(isRequestSignatureValid(otherDigest, requester, signature)).toBe(false);
    expect(isRequestSignatureValid(digest, w.p.clinician.publicKey, signature)).toBe(false);
  });
});
