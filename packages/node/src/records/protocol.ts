import {
  type Canonical,
  decodeCanonical,
  decodeEnvelope,
  type Envelope,
  encodeCanonical,
  encodeEnvelope,
  verify,
} from '@medchain/crypto';
import { type AccessRequest, accessRequestDigest, parseAccessRequest } from '@medchain/ledger';
import { RecordError, type RecordErrorCode } from './errors.js';

/** Largest record the vault stores and the protocol carries (1 MiB records and room above). */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;
export const RECORDS_MAX_REQUEST_BYTES = 4 * 1024;
/** A sealed record, its envelope header and the answer's other fields. */
export const RECORDS_MAX_RESPONSE_BYTES = MAX_RECORD_BYTES + 64 * 1024;

/** What travels requester -> custodian: the request exactly as the requester signed it. */
export interface SignedAccessRequest {
  readonly request: AccessRequest;
  /** Ed25519 by `request.requester` over accessRequestDigest(request). */
  readonly signature: Uint8Array;
}

/** The custodian's answer. Only `served` carries record bytes, sealed to the requester. */
export type RecordAnswer =
  | {
      readonly status: 'served';
      /** The committed access.log / access.emergency transaction that allowed this. */
      readonly logTx: Uint8Array;
      readonly version: number;
      readonly contentHash: Uint8Array;
      readonly resourceType: string;
      readonly envelope: Envelope;
    }
  | { readonly status: 'denied'; readonly logTx: Uint8Array; readonly reason: string }
  | { readonly status: 'error'; readonly code: RecordErrorCode; readonly message: string };

function requestCanonical(request: AccessRequest): Canonical {
  return { ...request };
}

export function encodeSignedRequest(signed: SignedAccessRequest): Uint8Array {
  return encodeCanonical({
    request: requestCanonical(signed.request),
    signature: signed.signature,
  });
}

function bad(message: string): RecordError {
  return new RecordError('RECORD_BAD_REQUEST', message);
}

/**
 * Parses a signed request (wire bytes or the API's decoded JSON) and checks the requester's
 * signature: RECORD_BAD_REQUEST on any failure.
 */
export function checkSignedRequest(value: unknown): SignedAccessRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('expected {request, signature}');
  }
  const { request: rawRequest, signature } = value as Record<string, unknown>;
  let request: AccessRequest;
  try {
    request = parseAccessRequest(rawRequest, 'request');
  } catch (error) {
    throw bad((error as Error).message);
  }
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw bad('signature must be 64 bytes');
  }
  if (!verify(request.requester, accessRequestDigest(request), signature)) {
    throw bad("the requester's signature over the request does not verify");
  }
  return { request, signature };
}

export function decodeSignedRequest(bytes: Uint8Array): SignedAccessRequest {
  let value: Canonical;
  try {
    value = decodeCanonical(bytes);
  } catch (error) {
    throw bad(`not a canonical request: ${(error as Error).message}`);
  }
  return checkSignedRequest(value);
}

export function encodeAnswer(answer: RecordAnswer): Uint8Array {
  if (answer.status !== 'served') return encodeCanonical({ ...answer });
  return encodeCanonical({ ...answer, envelope: encodeEnvelope(answer.envelope) });
}

export function decodeAnswer(bytes: Uint8Array): RecordAnswer {
  const broken = (why: string) =>
    new RecordError('RECORD_VERIFY_FAILED', `the custodian's answer is malformed: ${why}`);
  let value: Record<string, unknown>;
  try {
    value = decodeCanonical(bytes) as Record<string, unknown>;
  } catch (error) {
    throw broken((error as Error).message);
  }
  if (typeof value !== 'object' || value === null) throw broken('not an object');
  const bytes32 = (field: unknown, name: string) => {
    if (!(field instanceof Uint8Array) || field.length !== 32) throw broken(`${name}`);
    return field;
  };
  switch (value.status) {
    case 'served': {
      if (!(value.envelope instanceof Uint8Array)) throw broken('envelope');
      if (typeof value.version !== 'number' || typeof value.resourceType !== 'string') {
        throw broken('version or resourceType');
      }
      let envelope: Envelope;
      try {
        envelope = decodeEnvelope(value.envelope);
      } catch (error) {
        throw broken((error as Error).message);
      }
      return {
        status: 'served',
        logTx: bytes32(value.logTx, 'logTx'),
        version: value.version,
        contentHash: bytes32(value.contentHash, 'contentHash'),
        resourceType: value.resourceType,
        envelope,
      };
    }
    case 'denied':
      if (typeof value.reason !== 'string') throw broken('reason');
      return { status: 'denied', logTx: bytes32(value.logTx, 'logTx'), reason: value.reason };
    case 'error':
      if (typeof value.code !== 'string' || typeof value.message !== 'string') {
        throw broken('error');
      }
      return { status: 'error', code: value.code as RecordErrorCode, message: value.message };
    default:
      throw broken('unknown status');
  }
}
