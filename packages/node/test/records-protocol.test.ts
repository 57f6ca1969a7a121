import { randomBytes } from 'node:crypto';
import { ClientError, openServedRecord, signAccessRequest } from '@medchain/client';
import {
  type Canonical,
  encodeCanonical,
  encodeEnvelope,
  Signer,
  sealEnvelope,
  sha256,
  toHex,
  utf8,
} from '@medchain/crypto';
import {
  type AccessRequest,
  accessRequestDigest,
  encodeServedRecord,
  recordCommitment,
  recordEnvelopeContext,
  type ServedRecord,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAnswer,
  decodeSignedRequest,
  encodeAnswer,
  encodeSignedRequest,
  RecordError,
} from '../src/index.js';

const requesterSeed = sha256(utf8('records-protocol:requester'));
const custodianSeed = sha256(utf8('records-protocol:custodian'));
const requester = new Signer(requesterSeed);
const custodian = new Signer(custodianSeed);
const content = utf8('{"resourceType":"Observation","status":"final"}');

function request(extra: Partial<AccessRequest> = {}): AccessRequest {
  return {
    recordId: sha256(utf8('record')),
    requester: requester.publicKey,
    action: 'access',
    purpose: 'TREAT',
    time: 1_700_000_000_000,
    nonce: new Uint8Array(16).fill(7),
    ...extra,
  };
}

/** Sealed as the custodian serves it; `{content}` alone is a version anchored by plain sha256. */
const sealServed = (req: AccessRequest, served: ServedRecord, senderSeed = custodianSeed) =>
  sealEnvelope({
    senderSeed,
    recipient: req.requester,
    context: recordEnvelopeContext(req),
    payload: encodeServedRecord(served),
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
  });
const seal = (req: AccessRequest, payload = content, senderSeed = custodianSeed) =>
  sealServed(req, { content: payload }, senderSeed);

/** The node's RecordError code, or the client's ClientError code (openServedRecord). */
const codeOf = (run: () => unknown): string => {
  try {
    run();
    return 'none';
  } catch (error) {
    const coded = error instanceof RecordError || error instanceof ClientError;
    return coded ? error.code : `foreign: ${String(error)}`;
  }
};

describe('records protocol messages', () => {
  it('a signed request round-trips, and any change to it or its signature is refused', async () => {
    const fields = {
      recordId: sha256(utf8('record')),
      action: 'access',
      purpose: 'ETREAT',
      emergencyReason: 'life-threatening',
      time: 1_700_000_000_000,
    } as const;
    const signed = await signAccessRequest(requester, fields);
    expect(decodeSignedRequest(encodeSignedRequest(signed))).toEqual(signed);
    const changed = { ...signed, request: { ...signed.request, purpose: 'HRESCH' as const } };
    expect(codeOf(() => decodeSignedRequest(encodeSignedRequest(changed)))).toBe(
      'RECORD_BAD_REQUEST',
    );
    // A valid signature, by another key than the requester's.
    const other = custodian.sign(accessRequestDigest(signed.request));
    const swapped = { request: signed.request, signature: other };
    expect(codeOf(() => decodeSignedRequest(encodeSignedRequest(swapped)))).toBe(
      'RECORD_BAD_REQUEST',
    );
  });

  it('arbitrary bytes are a RECORD_BAD_REQUEST / RECORD_VERIFY_FAILED, never another throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(codeOf(() => decodeSignedRequest(bytes))).toBe('RECORD_BAD_REQUEST');
        expect(['RECORD_VERIFY_FAILED', 'none']).toContain(codeOf(() => decodeAnswer(bytes)));
      }),
      { numRuns: 500 },
    );
    const shapes: Canonical[] = [
      {},
      { request: 1, signature: 2 },
      [1, 2],
      { request: {}, signature: new Uint8Array(64) },
    ];
    for (const shape of shapes) {
      expect(codeOf(() => decodeSignedRequest(encodeCanonical(shape)))).toBe('RECORD_BAD_REQUEST');
    }
  });

  it('every answer kind round-trips', () => {
    const req = request();
    const answers = [
      {
        status: 'served',
        logTx: sha256(utf8('tx')),
        version: 2,
        contentHash: sha256(content),
        resourceType: 'Observation',
        envelope: seal(req),
      },
      { status: 'denied', logTx: sha256(utf8('tx')), reason: 'NO_CONSENT' },
      { status: 'error', code: 'RECORD_REQUEST_STALE', message: 'too old' },
    ] as const;
    for (const answer of answers) expect(decodeAnswer(encodeAnswer(answer))).toEqual(answer);
  });

  it('the requester accepts only the anchored bytes, sealed by the custodian, for this very request', () => {
    const req = request();
    const args = {
      request: req,
      recipientSeed: requesterSeed,
      custodianKey: custodian.publicKey,
      anchoredHash: sha256(content),
    };
    expect(toHex(openServedRecord({ ...args, envelope: encodeEnvelope(seal(req)) }))).toBe(
      toHex(content),
    );
    const tampered = utf8('{"resourceType":"Observation","status":"amended"}');
    expect(
      codeOf(() => openServedRecord({ ...args, envelope: encodeEnvelope(seal(req, tampered)) })),
    ).toBe('RECORD_VERIFY_FAILED');
    const byStranger = seal(req, content, sha256(utf8('stranger')));
    expect(codeOf(() => openServedRecord({ ...args, envelope: encodeEnvelope(byStranger) }))).toBe(
      'RECORD_VERIFY_FAILED',
    );
    const forAnotherRequest = seal(request({ nonce: new Uint8Array(16).fill(8) }));
    expect(
      codeOf(() => openServedRecord({ ...args, envelope: encodeEnvelope(forAnotherRequest) })),
    ).toBe('RECORD_VERIFY_FAILED');
    const flipped = seal(req);
    flipped.ciphertext[3]! ^= 1;
    expect(codeOf(() => openServedRecord({ ...args, envelope: encodeEnvelope(flipped) }))).toBe(
      'RECORD_VERIFY_FAILED',
    );
  });

  it('a salted anchor opens only with its own salt and content, sealed inside the envelope', () => {
    const req = request();
    const salt = sha256(utf8('records-protocol:salt'));
    const anchor = recordCommitment(salt, content);
    const open = (served: ServedRecord) =>
      openServedRecord({
        request: req,
        recipientSeed: requesterSeed,
        custodianKey: custodian.publicKey,
        anchoredHash: anchor,
        envelope: encodeEnvelope(sealServed(req, served)),
      });
    expect(toHex(open({ content, salt }))).toBe(toHex(content));
    const otherSalt = sha256(utf8('records-protocol:other salt'));
    const tampered = utf8('{"resourceType":"Observation","status":"amended"}');
    // No salt (the legacy check, sha256 of the content), another salt, other content: refused.
    for (const served of [{ content }, { content, salt: otherSalt }, { content: tampered, salt }]) {
      expect(codeOf(() => open(served))).toBe('RECORD_VERIFY_FAILED');
    }
    // The salt is not in the envelope's clear fields or its ciphertext as is.
    const wire = encodeEnvelope(sealServed(req, { content, salt }));
    expect(Buffer.from(wire).includes(Buffer.from(salt))).toBe(false);
    // A raw payload (not the served-record map) does not open either.
    const raw = sealEnvelope({
      senderSeed: custodianSeed,
      recipient: req.requester,
      context: recordEnvelopeContext(req),
      payload: content,
      randomBytes: (n) => new Uint8Array(randomBytes(n)),
    });
    expect(
      codeOf(() =>
        openServedRecord({
          request: req,
          recipientSeed: requesterSeed,
          custodianKey: custodian.publicKey,
          anchoredHash: sha256(content),
          envelope: encodeEnvelope(raw),
        }),
      ),
    ).toBe('RECORD_VERIFY_FAILED');
  });
});
