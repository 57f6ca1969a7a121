import { consentsOfPatient, decideAccess } from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY, grantBody, world } from './helpers.js';

/**
 * Consent belongs to the patient: no provider (any role, any hospital, the record's own
 * custodian included), no hospital admin and no would-be delegate can grant it in the
 * patient's name. rules.test.ts checks one other patient; here every non-patient actor of the
 * test consortium tries, with fast-check choosing the grant's shape.
 */
describe('a provider cannot grant consent for a patient', () => {
  it('every non-patient signer gets NOT_PATIENT_OR_DELEGATE, and no consent or access follows', () => {
    const { chain, a, b, p, alice, guardian, aliceRecord } = world();
    const actors = [
      ...Object.values(p),
      a.admin,
      b.admin,
      guardian, // not (yet) a delegate
    ];
    const grantees = [
      ...Object.values(p).map((provider) => ({
        type: 'provider' as const,
        id: provider.publicKey,
      })),
      { type: 'organization' as const, id: a.spec.id },
      { type: 'organization' as const, id: b.spec.id },
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...actors),
        fc.constantFrom(...grantees),
        fc.subarray(['access', 'use', 'disclose', 'collect', 'correct'] as const, { minLength: 1 }),
        fc.subarray(['TREAT', 'ETREAT', 'HRESCH', 'PUBHLTH'] as const, { minLength: 1 }),
        fc.boolean(),
        (actor, grantee, actions, purposes, byRecord) => {
          const receipt = chain.run(
            actor,
            'consent.grant',
            grantBody(alice, grantee, chain.time, {
              actions: [...actions],
              purposes: [...purposes],
              ...(byRecord ? { recordIds: [aliceRecord], resourceTypes: [] } : {}),
              validUntil: chain.time + 30 * DAY,
            }),
          );
          expect(receipt.code).toBe('NOT_PATIENT_OR_DELEGATE');
        },
      ),
      { numRuns: 60 },
    );
    expect(consentsOfPatient(chain.state, chain.history, alice.publicKey).total).toBe(0);
    // The providers who tried to grant themselves access still have none.
    for (const provider of [p.nurse, p.clinician, p.bClinician]) {
      const decision = decideAccess(chain.state, {
        recordId: aliceRecord,
        requester: provider.publicKey,
        action: 'access',
        purpose: 'TREAT',
        time: chain.time,
      });
      expect(decision).toMatchObject({ decision: 'deny', reason: 'NO_CONSENT' });
    }
  });
});
