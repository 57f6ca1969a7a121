import {
  auditFromJson,
  consentFromJson,
  delegateFromJson,
  organizationFromJson,
  patientFromJson,
  providerFromJson,
  recordFromJson,
} from '@medchain/client';
import { encodeCanonical } from '@medchain/crypto';
import {
  CONSENT_ACTIONS,
  DELEGATE_RELATIONS,
  EMERGENCY_REASONS,
  PROVIDER_ROLES,
  PURPOSES,
} from '@medchain/ledger';
import { toJson } from '@medchain/node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/**
 * The CLI runs the ledger's FHIR mappers (and the client the ledger's access rule) on entries
 * read as JSON from the API, put back into bytes by the client's `*FromJson`. These properties check that putting the bytes back gives exactly the entry the
 * ledger stored (same canonical bytes), for any entry: a missed bytes field would make the
 * rule compare hex text with bytes and decide wrongly.
 */

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const time = fc.integer({ min: 0, max: 2 ** 47 });
const subset = <T>(items: readonly T[]) => fc.subarray([...items], { minLength: 1 });

const consent = fc.record({
  id: bytes32,
  patient: bytes32,
  grantee: fc.record({
    type: fc.constantFrom('provider' as const, 'organization' as const),
    id: bytes32,
  }),
  recordIds: fc.array(bytes32, { maxLength: 4 }),
  resourceTypes: fc.array(fc.constantFrom('Observation', 'Condition', 'DocumentReference'), {
    maxLength: 3,
  }),
  actions: subset(CONSENT_ACTIONS),
  purposes: subset(PURPOSES),
  validFrom: time,
  validUntil: time,
  grantedBy: bytes32,
  createdAt: time,
  status: fc.constantFrom('active' as const, 'revoked' as const),
  revokedAt: fc.option(time, { nil: null }),
  revokedBy: fc.option(bytes32, { nil: null }),
});

const record = fc.record({
  id: bytes32,
  patient: bytes32,
  custodian: bytes32,
  resourceType: fc.constantFrom('Observation', 'Condition'),
  version: fc.integer({ min: 1, max: 1000 }),
  contentHash: bytes32,
  erased: fc.boolean(),
  createdAt: time,
  updatedAt: time,
});

const audit = fc.record({
  patient: bytes32,
  index: fc.nat(),
  recordId: bytes32,
  custodian: bytes32,
  requester: bytes32,
  action: fc.constantFrom(...CONSENT_ACTIONS),
  purpose: fc.constantFrom(...PURPOSES),
  decision: fc.constantFrom('permit' as const, 'deny' as const),
  consentId: fc.option(bytes32, { nil: null }),
  denyReason: fc.option(fc.constantFrom('NO_CONSENT', 'RECORD_ERASED'), { nil: null }),
  emergency: fc.boolean(),
  emergencyReason: fc.option(fc.constantFrom(...EMERGENCY_REASONS), { nil: null }),
  time,
  txHash: bytes32,
  requestHash: bytes32,
});

const cases = [
  ['consent', consent, consentFromJson],
  ['record', record, recordFromJson],
  ['audit entry', audit, auditFromJson],
  [
    'provider',
    fc.record({
      key: bytes32,
      org: bytes32,
      role: fc.constantFrom(...PROVIDER_ROLES),
      status: fc.constantFrom('active' as const, 'suspended' as const),
      registeredAt: time,
      suspendedAt: fc.option(time, { nil: null }),
    }),
    providerFromJson,
  ],
  [
    'patient',
    fc.record({
      key: bytes32,
      registeredAt: time,
      breakGlassOptOut: fc.boolean(),
      researchOptOut: fc.boolean(),
    }),
    patientFromJson,
  ],
  [
    'delegate',
    fc.record({
      patient: bytes32,
      delegate: bytes32,
      relation: fc.constantFrom(...DELEGATE_RELATIONS),
      grantedAt: time,
      expiresAt: time,
    }),
    delegateFromJson,
  ],
  [
    'organization',
    fc.record({
      id: bytes32,
      adminKeys: fc.array(bytes32, { minLength: 1, maxLength: 3 }),
      validatorKey: bytes32,
      peerId: fc.constant('12D3KooWQyMvCdKGEKZxN4zwE4wuzgQx9tTEepLYk5btDuXQDEEo'),
      status: fc.constantFrom('member' as const, 'removed' as const),
      since: time,
    }),
    organizationFromJson,
  ],
] as const;

describe('ledger entries from API JSON', () => {
  for (const [name, arbitrary, fromJson] of cases) {
    it(`${name}: comes back with the canonical bytes the ledger stored`, () => {
      fc.assert(
        fc.property(arbitrary as fc.Arbitrary<Record<string, unknown>>, (entry) => {
          const back = (fromJson as (json: unknown) => unknown)(
            JSON.parse(JSON.stringify(toJson(entry))),
          );
          expect(back).toEqual(entry);
          expect(encodeCanonical(back as never)).toEqual(encodeCanonical(entry as never));
        }),
        { numRuns: 200 },
      );
    });
  }
});
