import { bytesEqual, decodeStoredCanonical, toHex } from '@medchain/crypto';
import {
  AUDIT_CHAIN_START,
  type AuditEntry,
  auditChainStep,
  auditTrail,
  getAuditAccumulator,
  historyKeys,
  isCompleteAuditTrail,
  MemoryStore,
  recordHistory,
  stateKeys,
  transactionHash,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { grantBody, historyIndexWrites, signedRequest, world } from './helpers.js';

type World = ReturnType<typeof world>;

/** Hex of every state key the block's transactions wrote or deleted. */
function keysWrittenBy(w: World, run: () => void): Set<string> {
  const touched = new Set<string>();
  const realSet = w.chain.state.set.bind(w.chain.state);
  const realDelete = w.chain.state.delete.bind(w.chain.state);
  const spySet = vi.spyOn(w.chain.state, 'set').mockImplementation((key, value) => {
    touched.add(toHex(key));
    realSet(key, value);
  });
  const spyDelete = vi.spyOn(w.chain.state, 'delete').mockImplementation((key) => {
    touched.add(toHex(key));
    realDelete(key);
  });
  try {
    run();
  } finally {
    spySet.mockRestore();
    spyDelete.mockRestore();
  }
  return touched;
}

function nurseConsent(w: World): Uint8Array {
  const tx = w.chain.tx(
    w.alice,
    'consent.grant',
    grantBody(w.alice, { type: 'provider', id: w.p.nurse.publicKey }, w.chain.time),
  );
  expect(w.chain.block([tx]).receipts[0]!.code).toBe('OK');
  return transactionHash(tx);
}

/** Logs `n` accesses to alice's record (the nurse permitted, the other hospital denied). */
function logAccesses(w: World, consentId: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const permit = i % 2 === 0;
    const requester = permit ? w.p.nurse : w.p.bClinician;
    const body = {
      ...signedRequest(requester, w.aliceRecord, w.chain.time + 1000),
      decision: permit ? 'permit' : 'deny',
      consentId: permit ? consentId : null,
    };
    expect(w.chain.run(w.a.validator, 'access.log', body).code).toBe('OK');
  }
}

const trailOf = (w: World) => auditTrail(w.chain.history, w.alice.publicKey, { limit: 200 }).items;

describe('state keys a transaction changes', () => {
  it('a consent.grant writes 3: the signer nonce, the consent and the grantee index', () => {
    const w = world();
    const keys = keysWrittenBy(w, () => nurseConsent(w));
    const nurse = w.p.nurse.publicKey;
    expect(keys).toEqual(
      new Set(
        [
          stateKeys.nonce(w.alice.publicKey),
          stateKeys.consent(transactionHash(w.chain.blocks.at(-1)!.txs[0]!)),
          stateKeys.granteeConsents(w.alice.publicKey, 'provider', nurse),
        ].map(toHex),
      ),
    );
  });

  it('an access.log writes 3: the signer nonce, the request nonce and the audit accumulator', () => {
    const w = world();
    const consentId = nurseConsent(w);
    const body = {
      ...signedRequest(w.p.nurse, w.aliceRecord, w.chain.time + 1000),
      decision: 'permit',
      consentId,
    };
    const keys = keysWrittenBy(w, () => {
      expect(w.chain.run(w.a.validator, 'access.log', body).code).toBe('OK');
    });
    expect(keys).toEqual(
      new Set(
        [
          stateKeys.nonce(w.a.validator.publicKey),
          stateKeys.accessNonce(w.p.nurse.publicKey, body.request.nonce),
          stateKeys.auditAccumulator(w.alice.publicKey),
        ].map(toHex),
      ),
    );
  });
});

describe('the audit accumulator', () => {
  it('counts and chains every entry of the trail, in order', () => {
    const w = world();
    expect(getAuditAccumulator(w.chain.state, w.alice.publicKey)).toBeUndefined();
    expect(isCompleteAuditTrail([], undefined)).toBe(true);
    logAccesses(w, nurseConsent(w), 3);
    const trail = trailOf(w);
    expect(trail.map((e) => e.index)).toEqual([0, 1, 2]);
    const accumulator = getAuditAccumulator(w.chain.state, w.alice.publicKey)!;
    expect(accumulator.count).toBe(3);
    const expected = trail.reduce((h, entry) => auditChainStep(h, entry), AUDIT_CHAIN_START);
    expect(bytesEqual(accumulator.hash, expected)).toBe(true);
    expect(isCompleteAuditTrail(trail, accumulator)).toBe(true);
    // The entry names its transaction and block time.
    const last = w.chain.blocks.at(-1)!;
    expect(bytesEqual(trail[2]!.txHash, transactionHash(last.txs[0]!))).toBe(true);
    expect(trail[2]!.time).toBe(last.header.time);
  });

  it('a failed access.log changes neither the accumulator nor the history', () => {
    const w = world();
    const consentId = nurseConsent(w);
    logAccesses(w, consentId, 1);
    const before = getAuditAccumulator(w.chain.state, w.alice.publicKey);
    const wrong = {
      ...signedRequest(w.p.bClinician, w.aliceRecord, w.chain.time + 1000),
      decision: 'permit',
      consentId,
    };
    const result = w.chain.block([w.chain.tx(w.a.validator, 'access.log', wrong)]);
    expect(result.receipts[0]!.code).toBe('DECISION_MISMATCH');
    expect(result.history).toEqual([[]]);
    expect(getAuditAccumulator(w.chain.state, w.alice.publicKey)).toEqual(before);
    expect(trailOf(w)).toHaveLength(1);
  });

  it('a served trail with an entry dropped, reordered, altered or added fails the check', () => {
    const w = world();
    logAccesses(w, nurseConsent(w), 5);
    const trail = trailOf(w);
    const accumulator = getAuditAccumulator(w.chain.state, w.alice.publicKey)!;
    type Tamper =
      | { kind: 'drop'; at: number }
      | { kind: 'swap'; at: number; with: number }
      | { kind: 'alter'; at: number; field: 'time' | 'decision' | 'requester' | 'index' }
      | { kind: 'duplicate'; at: number };
    const at = fc.nat({ max: trail.length - 1 });
    const tamper: fc.Arbitrary<Tamper> = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), at }),
      fc
        .record({ kind: fc.constant('swap' as const), at, with: at })
        .filter((t) => t.at !== t.with),
      fc.record({
        kind: fc.constant('alter' as const),
        at,
        field: fc.constantFrom(
          'time' as const,
          'decision' as const,
          'requester' as const,
          'index' as const,
        ),
      }),
      fc.record({ kind: fc.constant('duplicate' as const), at }),
    );
    const apply = (t: Tamper): AuditEntry[] => {
      const copy = [...trail];
      if (t.kind === 'drop') copy.splice(t.at, 1);
      else if (t.kind === 'duplicate') copy.splice(t.at, 0, copy[t.at]!);
      else if (t.kind === 'swap') [copy[t.at], copy[t.with]] = [copy[t.with]!, copy[t.at]!];
      else {
        const e = copy[t.at]!;
        copy[t.at] =
          t.field === 'time'
            ? { ...e, time: e.time + 1 }
            : t.field === 'index'
              ? { ...e, index: e.index + 1 }
              : t.field === 'decision'
                ? { ...e, decision: e.decision === 'permit' ? 'deny' : 'permit' }
                : {
                    ...e,
                    requester: Uint8Array.from(e.requester, (b, i) => (i === 0 ? b ^ 1 : b)),
                  };
      }
      return copy;
    };
    fc.assert(
      fc.property(tamper, (t) => {
        expect(isCompleteAuditTrail(apply(t), accumulator)).toBe(false);
      }),
      { seed: 20261206 },
    );
    expect(isCompleteAuditTrail(trail, accumulator)).toBe(true);
  });
});

describe('the history index', () => {
  it('pages the history that left the state: records, versions, consents, providers', () => {
    const w = world();
    nurseConsent(w);
    const record = w.chain.history.get(historyKeys.patientRecords(w.alice.publicKey).entry(0));
    expect(record).toBeDefined();
    expect(
      w.chain.state.get(historyKeys.patientRecords(w.alice.publicKey).entry(0)),
    ).toBeUndefined();
    expect(recordHistory(w.chain.history, w.aliceRecord).items.map((v) => v.version)).toEqual([1]);
  });

  it('appends to one list twice in a block, after what is indexed, and counts them all', () => {
    const store = new MemoryStore();
    const patient = new Uint8Array(32).fill(7);
    const ids = [1, 2, 3].map((n) => new Uint8Array(32).fill(n));
    const consent = (consentId: Uint8Array) => ({ type: 'consent' as const, patient, consentId });
    store.write(historyIndexWrites(store, [consent(ids[0]!)]));
    store.write(historyIndexWrites(store, [consent(ids[1]!), consent(ids[2]!)]));
    const keys = historyKeys.patientConsents(patient);
    expect(decodeStoredCanonical(store.get(keys.count)!)).toBe(3);
    expect([0, 1, 2].map((i) => decodeStoredCanonical(store.get(keys.entry(i))!))).toEqual(ids);
  });

  it('puts an audit entry at its accumulator index, leaving earlier positions empty', () => {
    const w = world();
    logAccesses(w, nurseConsent(w), 3);
    const [, , third] = trailOf(w);
    // A node whose history starts at a snapshot sees only the entries after it.
    const fresh = new MemoryStore();
    fresh.write(historyIndexWrites(fresh, [{ type: 'audit', entry: third! }]));
    expect(() => auditTrail(fresh, w.alice.publicKey)).toThrow(
      expect.objectContaining({ code: 'LEDGER_HISTORY_MISSING' }),
    );
    expect(auditTrail(fresh, w.alice.publicKey, { offset: 2 }).items).toEqual([third]);
  });

  it('indexes audit entries without reading the stored list length, and counts them right', () => {
    const w = world();
    logAccesses(w, nurseConsent(w), 5);
    const trail = trailOf(w);
    const store = new MemoryStore();
    let reads = 0;
    const counting = {
      get(key: Uint8Array) {
        reads++;
        return store.get(key);
      },
    };
    for (const [from, to] of [
      [0, 2],
      [2, 3],
      [3, 5],
    ] as const) {
      const items = trail.slice(from, to).map((entry) => ({ type: 'audit' as const, entry }));
      store.write(historyIndexWrites(counting, items));
    }
    expect(reads).toBe(0);
    const keys = historyKeys.patientAudit(w.alice.publicKey);
    expect(decodeStoredCanonical(store.get(keys.count)!)).toBe(5);
    expect(auditTrail(store, w.alice.publicKey).items).toEqual(trail);
  });
});
