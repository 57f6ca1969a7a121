import type { Canonical } from '@medchain/crypto';
import type { AccessRequest } from './consent/bodies.js';
import { accessRequestDigest } from './consent/rules.js';

/**
 * The context a custodian seals a served record under and the requester opens it with: the
 * record and the exact request it answers, so an envelope cannot be passed off as the answer to
 * another request or for another record.
 */
export function recordEnvelopeContext(request: AccessRequest): Canonical {
  return { recordId: request.recordId, requestHash: accessRequestDigest(request) };
}
