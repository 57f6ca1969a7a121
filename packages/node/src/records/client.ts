import {
  bytesEqual,
  type Envelope,
  openEnvelope,
  type Signer,
  sha256,
  toHex,
} from '@medchain/crypto';
import { type AccessRequest, accessRequestDigest } from '@medchain/ledger';
import { RecordError } from './errors.js';
import { envelopeContext, type SignedAccessRequest } from './protocol.js';

/** Signs an access request with the requester's key (a clinician's keystore in the CLI or app). */
export function signAccessRequest(signer: Signer, request: AccessRequest): SignedAccessRequest {
  if (!bytesEqual(signer.publicKey, request.requester)) {
    throw new RecordError(
      'RECORD_BAD_REQUEST',
      'the request must name the signing key as requester',
    );
  }
  return { request, signature: signer.sign(accessRequestDigest(request)) };
}

export interface OpenRecordArgs {
  readonly request: AccessRequest;
  readonly envelope: Envelope;
  /** The requester's Ed25519 seed: only it opens the envelope. */
  readonly recipientSeed: Uint8Array;
  /** The custodian organization's validator key, from the ledger: the only acceptable sealer. */
  readonly custodianKey: Uint8Array;
  /** The content hash anchored on the ledger (current version). */
  readonly anchoredHash: Uint8Array;
}

/**
 * The requester's last step: opens the envelope (sealed by the custodian's node key, for this
 * record and this request) and checks the content against the anchored hash. Any failure is
 * RECORD_VERIFY_FAILED and yields no bytes.
 */
export function openServedRecord(args: OpenRecordArgs): Uint8Array {
  let payload: Uint8Array;
  try {
    payload = openEnvelope(args.envelope, {
      recipientSeed: args.recipientSeed,
      context: envelopeContext(args.request),
      sender: args.custodianKey,
    }).payload;
  } catch (error) {
    throw new RecordError(
      'RECORD_VERIFY_FAILED',
      `the record did not open: ${(error as Error).message}`,
    );
  }
  const hash = sha256(payload);
  if (!bytesEqual(hash, args.anchoredHash)) {
    throw new RecordError(
      'RECORD_VERIFY_FAILED',
      `content hash ${toHex(hash)} is not the anchored ${toHex(args.anchoredHash)}`,
    );
  }
  return payload;
}
