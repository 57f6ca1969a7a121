import { type Canonical, decodeCanonical, encodeCanonical } from '@medchain/crypto';
import type { AccessRequest } from './consent/bodies.js';
import { accessRequestDigest } from './consent/rules.js';
import { LedgerError } from './errors.js';
import { RECORD_SALT_BYTES } from './record-commitment.js';

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
  const malformed = (why: string) =>
    new LedgerError('LEDGER_MALFORMED', `not a served record payload: ${why}`);
  let value: Canonical;
  try {
    value = decodeCanonical(payload);
  } catch (error) {
    throw malformed((error as Error).message);
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  ) {
    throw malformed('not a map');
  }
  const { content, salt, ...extra } = value as Record<string, Canonical>;
  if (Object.keys(extra).length > 0) throw malformed(`unknown field ${Object.keys(extra)[0]}`);
  if (!(content instanceof Uint8Array)) throw malformed('content must be bytes');
  if (salt === undefined) return { content };
  if (!(salt instanceof Uint8Array) || salt.length !== RECORD_SALT_BYTES) {
    throw malformed(`salt must be ${RECORD_SALT_BYTES} bytes`);
  }
  return { content, salt };
}
