import { type Canonical, decodeCanonical, encodeCanonical } from '@medchain/crypto';
import type { AccessRequest } from './consent/bodies.js';
import { accessRequestDigest } from './consent/rules.js';
import { RECORD_SALT_BYTES } from './record-commitment.js';
import { asBytes, asObject, invalid } from './validate.js';

/**
 * The context a custodian seals a served record under and the requester opens it with: the
 * record and the exact request it answers, so an envelope cannot be passed off as the answer to
 * another request or for another record.
 */
export function recordEnvelopeContext(request: AccessRequest): Canonical {
  return { recordId: request.recordId, requestHash: accessRequestDigest(request) };
}

/**
 * What a custodian seals to the requester: the record's bytes and, when its anchor is a salted
 * commitment, the salt (it travels only inside the envelope). No salt means a version anchored
 * by its plain SHA-256.
 */
export interface ServedRecord {
  readonly content: Uint8Array;
  readonly salt?: Uint8Array;
}

/** The envelope's payload: canonical `{content, salt}`, or `{content}` without a salt. */
export function encodeServedRecord(record: ServedRecord): Uint8Array {
  return encodeCanonical(
    record.salt === undefined
      ? { content: record.content }
      : { content: record.content, salt: record.salt },
  );
}

/** Parses {@link encodeServedRecord}'s bytes; anything else is LEDGER_MALFORMED. */
export function decodeServedRecord(payload: Uint8Array): ServedRecord {
  let value: Canonical;
  try {
    value = decodeCanonical(payload);
  } catch (error) {
    throw invalid('payload', (error as Error).message);
  }
  const { content, salt } = asObject(value, 'payload', ['content'], ['salt']);
  if (!(content instanceof Uint8Array)) throw invalid('payload.content', 'expected bytes');
  if (salt === undefined) return { content };
  return { content, salt: asBytes(salt, 'payload.salt', RECORD_SALT_BYTES) };
}
