import { bytesEqual, type Canonical, type Signer, toHex } from '@medchain/crypto';
import {
  decodeTransaction,
  encodeTransaction,
  expectedNonce,
  findValidatorSet,
  getOrganization,
  LedgerError,
  organizationValidators,
  signerRoleRefusal,
  signTransaction,
  stateKeys,
  type TxKind,
  transactionHash,
  type Validator,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytes,
  Chain,
  expectAllOk,
  genesisDoc,
  type OrgFixture,
  org,
  signer,
  world,
} from './helpers.js';

const rotate = (oldKey: Signer, newKey: Signer) => ({
  oldKey: oldKey.publicKey,
  newKey: newKey.publicKey,
});

/** A transaction with the signer's next committed nonce, not counted by the chain's pending nonces. */
const probe = (chain: Chain, from: Signer, kind: TxKind, body: object) =>
  signTransaction(
    {
      chainId: chain.doc.chainId,
      kind,
      body: body as Canonical,
      signer: from.publicKey,
      nonce: expectedNonce(chain.state, from.publicKey),
    },
    from,
  );

/** Admission's verdict on the committed state: what the mempool would answer. */
function admission(chain: Chain, from: Signer, kind: TxKind, body: object) {
  const tx = decodeTransaction(encodeTransaction(probe(chain, from, kind, body)));
  return signerRoleRefusal(chain.state, tx, chain.time)?.code;
}

describe('organization.rotate-key', () => {
  it("an admin rotates its organization's validator key: the set changes, the old key is retired", () => {
    const { chain, a } = world();
    const fresh = signer('a/validator-2');
    const result = chain.block([
      chain.tx(a.admin, 'organization.rotate-key', rotate(a.validator, fresh)),
    ]);
    expectAllOk(result.receipts);
    const change = result.validatorSetChange!;
    expect(change.validators.some((v) => bytesEqual(v.publicKey, fresh.publicKey))).toBe(true);
    expect(change.validators.some((v) => bytesEqual(v.publicKey, a.validator.publicKey))).toBe(
      false,
    );
    expect(bytesEqual(change.hash, validatorSetHash(validatorsFromState(chain.state)))).toBe(true);
    const entry = getOrganization(chain.state, a.spec.id)!;
    expect(toHex(entry.validatorKey)).toBe(toHex(fresh.publicKey));
    expect(entry.formerValidatorKeys?.map(toHex)).toEqual([toHex(a.validator.publicKey)]);
    expect(chain.state.get(stateKeys.validatorKey(a.validator.publicKey))).toBeUndefined();
    expect(chain.state.get(stateKeys.retiredKey(a.validator.publicKey))).toBeDefined();
    // The peer id stays: the node keeps its libp2p identity through a rotation.
    expect(change.validators.find((v) => bytesEqual(v.orgId, a.spec.id))?.peerId).toBe(
      a.spec.peerId,
    );
  });

  it('the old validator key no longer acts for the custodian; the new one does', () => {
    const { chain, a, p, alice, aliceRecord } = world();
    const fresh = signer('a/validator-2');
    expectAllOk([chain.run(a.admin, 'organization.rotate-key', rotate(a.validator, fresh))]);
    const grant = chain.tx(alice, 'consent.grant', {
      patient: alice.publicKey,
      grantee: { type: 'provider', id: p.nurse.publicKey },
      recordIds: [aliceRecord],
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: chain.time,
      validUntil: chain.time + 86_400_000,
    });
    expectAllOk(chain.block([grant]).receipts);
    const log = (from: Signer, n: string) =>
      chain.run(from, 'access.log', {
        request: {
          recordId: aliceRecord,
          requester: p.nurse.publicKey,
          action: 'access',
          purpose: 'TREAT',
          time: chain.time + 1000,
          nonce: bytes(n, 16),
        },
        requestSignature: new Uint8Array(64),
        decision: 'permit',
        consentId: transactionHash(grant),
      }).code;
    expect(log(a.validator, 'r1')).toBe('NOT_CUSTODIAN_AGENT');
    // Past the role check: the zero request signature is what fails, not the signer.
    expect(log(fresh, 'r2')).toBe('BAD_REQUEST_SIGNATURE');
  });

  it("rotates an admin key, its own or another's: the old key is refused at admission and in execution", () => {
    const second = signer('a/admin-2');
    const a: OrgFixture = {
      ...org('st-a'),
      spec: { ...org('st-a').spec, adminKeys: [org('st-a').admin.publicKey, second.publicKey] },
    };
    const chain = new Chain(genesisDoc([a, org('st-b')]));
    const replacement = signer('a/admin-3');
    // The second admin retires the first (say it was stolen): no set change.
    const result = chain.block([
      chain.tx(second, 'organization.rotate-key', rotate(a.admin, replacement)),
    ]);
    expectAllOk(result.receipts);
    expect(result.validatorSetChange).toBeNull();
    const body = { provider: signer('a/nurse-x').publicKey, role: 'nurse' };
    expect(admission(chain, a.admin, 'provider.register', body)).toBe('NOT_ORG_ADMIN');
    expect(chain.run(a.admin, 'provider.register', body).code).toBe('NOT_ORG_ADMIN');
    expect(
      chain.run(a.admin, 'governance.propose', {
        change: { type: 'remove', orgId: org('st-b').spec.id },
      }).code,
    ).toBe('NOT_MEMBER_ADMIN');
    expect(admission(chain, replacement, 'provider.register', body)).toBeUndefined();
    expect(chain.run(replacement, 'provider.register', body).code).toBe('OK');
    // An admin rotates its own key too.
    const own = signer('a/admin-4');
    expect(chain.run(second, 'organization.rotate-key', rotate(second, own)).code).toBe('OK');
    expect(getOrganization(chain.state, a.spec.id)!.adminKeys.map(toHex)).toEqual(
      [replacement, own].map((s) => toHex(s.publicKey)),
    );
    expect(chain.run(second, 'organization.rotate-key', rotate(own, signer('x'))).code).toBe(
      'NOT_MEMBER_ADMIN',
    );
  });

  it("who may rotate: only an admin key of the organization, and only the organization's own keys", () => {
    const { chain, a, b, p, alice } = world();
    const fresh = signer('fresh');
    // An admin provider, a validator key, a patient, a stranger: not admin keys.
    for (const who of [p.admin, a.validator, alice, signer('stranger')]) {
      expect(chain.run(who, 'organization.rotate-key', rotate(a.validator, fresh)).code).toBe(
        'NOT_MEMBER_ADMIN',
      );
    }
    // Another organization's admin cannot touch a's keys.
    expect(chain.run(b.admin, 'organization.rotate-key', rotate(a.validator, fresh)).code).toBe(
      'KEY_NOT_FOUND',
    );
    expect(chain.run(b.admin, 'organization.rotate-key', rotate(a.admin, fresh)).code).toBe(
      'KEY_NOT_FOUND',
    );
    expect(chain.run(a.admin, 'organization.rotate-key', rotate(p.nurse, fresh)).code).toBe(
      'KEY_NOT_FOUND',
    );
    // A removed member's admin can rotate nothing.
    const c = org('st-c');
    const proposal = chain.tx(a.admin, 'governance.propose', {
      change: { type: 'remove', orgId: c.spec.id },
    });
    expectAllOk(
      chain.block([
        proposal,
        chain.tx(b.admin, 'governance.vote', {
          proposalId: transactionHash(proposal),
          approve: true,
        }),
      ]).receipts,
    );
    expect(chain.run(c.admin, 'organization.rotate-key', rotate(c.validator, fresh)).code).toBe(
      'NOT_MEMBER_ADMIN',
    );
  });

  it('the new key must be free: never an organization, provider or retired key', () => {
    const { chain, a, b, p } = world();
    const code = (newKey: Uint8Array) =>
      chain.run(a.admin, 'organization.rotate-key', { oldKey: a.validator.publicKey, newKey }).code;
    for (const taken of [a.validator, a.admin, b.admin, b.validator, p.clinician]) {
      expect(code(taken.publicKey)).toBe('KEY_IN_USE');
    }
    const fresh = signer('a/validator-2');
    expect(code(fresh.publicKey)).toBe('OK');
    // The retired key can never come back, as a validator, an admin or a provider.
    expect(chain.run(a.admin, 'organization.rotate-key', rotate(fresh, a.validator)).code).toBe(
      'KEY_IN_USE',
    );
    expect(chain.run(a.admin, 'organization.rotate-key', rotate(a.admin, a.validator)).code).toBe(
      'KEY_IN_USE',
    );
    expect(
      chain.run(a.admin, 'provider.register', { provider: a.validator.publicKey, role: 'nurse' })
        .code,
    ).toBe('KEY_IN_USE');
    expect(
      chain.run(a.admin, 'governance.propose', {
        change: {
          type: 'add',
          organization: { ...org('st-d').spec, validatorKey: a.validator.publicKey },
        },
      }).code,
    ).toBe('KEY_IN_USE');
  });

  it('bad bodies: refused at decoding, and as MALFORMED_BODY if executed', () => {
    const { chain, a } = world();
    const malformed = (body: object) => {
      const tx = probe(chain, a.admin, 'organization.rotate-key', body);
      try {
        decodeTransaction(encodeTransaction(tx));
        return 'decoded';
      } catch (error) {
        return error instanceof LedgerError ? error.code : 'threw';
      }
    };
    const notAPoint = new Uint8Array(32).fill(0xff); // not a valid Ed25519 encoding
    for (const body of [
      {},
      { oldKey: a.validator.publicKey },
      { oldKey: a.validator.publicKey, newKey: bytes('short', 31) },
      { oldKey: a.validator.publicKey, newKey: notAPoint },
      { oldKey: a.validator.publicKey, newKey: signer('n').publicKey, role: 'validator' },
      { oldKey: 'a.validator', newKey: signer('n').publicKey },
    ]) {
      expect(malformed(body)).toBe('LEDGER_MALFORMED');
    }
    // A block may still carry one (the proposer's mempool is not trusted): a failed receipt.
    const receipt = chain.run(a.admin, 'organization.rotate-key', {
      oldKey: a.validator.publicKey,
      newKey: notAPoint,
    });
    expect(receipt.code).toBe('MALFORMED_BODY');
    expect(
      chain.run(a.admin, 'organization.rotate-key', { oldKey: a.validator.publicKey }).code,
    ).toBe('MALFORMED_BODY');
    expect(getOrganization(chain.state, a.spec.id)!.validatorKey).toEqual(a.validator.publicKey);
  });

  it('replay: the same bytes fail on their nonce, a re-signed copy finds the key gone', () => {
    const { chain, a } = world();
    const tx = chain.tx(a.admin, 'organization.rotate-key', rotate(a.validator, signer('v2')));
    expectAllOk(chain.block([tx]).receipts);
    const entry = getOrganization(chain.state, a.spec.id);
    expect(chain.block([tx]).receipts[0]!.code).toBe('BAD_NONCE');
    expect(getOrganization(chain.state, a.spec.id)).toEqual(entry);
    expect(
      chain.run(a.admin, 'organization.rotate-key', rotate(a.validator, signer('v2'))).code,
    ).toBe('KEY_NOT_FOUND');
    expect(getOrganization(chain.state, a.spec.id)!.validatorKey).toEqual(signer('v2').publicKey);
  });
});

describe('governance rekey: the members replace a member whose admin keys are lost or stolen', () => {
  it('passes by vote and replaces every key; the thief is locked out', () => {
    const { chain, a, b, orgs } = world();
    const c = orgs[2]!;
    // The thief holds a's only admin key and rotates it to one of its own.
    const thief = signer('thief');
    expectAllOk([chain.run(a.admin, 'organization.rotate-key', rotate(a.admin, thief))]);
    const admin = signer('a/recovered-admin');
    const validator = signer('a/recovered-validator');
    const rekey = {
      change: {
        type: 'rekey',
        orgId: a.spec.id,
        adminKeys: [admin.publicKey],
        validatorKey: validator.publicKey,
      },
    };
    const propose = chain.tx(b.admin, 'governance.propose', rekey);
    expectAllOk(chain.block([propose]).receipts);
    const result = chain.block([
      chain.tx(c.admin, 'governance.vote', { proposalId: transactionHash(propose), approve: true }),
    ]);
    expectAllOk(result.receipts);
    expect(result.validatorSetChange?.validators.map((v) => toHex(v.publicKey))).toContain(
      toHex(validator.publicKey),
    );
    const entry = getOrganization(chain.state, a.spec.id)!;
    expect(entry.adminKeys).toEqual([admin.publicKey]);
    expect(entry.formerValidatorKeys).toEqual([a.validator.publicKey]);
    expect(chain.run(thief, 'organization.rotate-key', rotate(thief, signer('t2'))).code).toBe(
      'NOT_MEMBER_ADMIN',
    );
    expect(
      chain.run(admin, 'provider.register', { provider: signer('n').publicKey, role: 'nurse' })
        .code,
    ).toBe('OK');
  });

  it('refuses a rekey of a non-member, with taken keys, or a validator key that is also an admin key', () => {
    const { chain, a, b } = world();
    const rekey = (orgId: Uint8Array, adminKeys: Uint8Array[], validatorKey: Uint8Array) =>
      chain.run(b.admin, 'governance.propose', {
        change: { type: 'rekey', orgId, adminKeys, validatorKey },
      }).code;
    const fresh = signer('fresh').publicKey;
    expect(rekey(bytes('no such org'), [fresh], signer('v').publicKey)).toBe('ORG_NOT_FOUND');
    expect(rekey(a.spec.id, [b.admin.publicKey], signer('v').publicKey)).toBe('KEY_IN_USE');
    expect(rekey(a.spec.id, [fresh], b.validator.publicKey)).toBe('KEY_IN_USE');
    expect(rekey(a.spec.id, [fresh], fresh)).toBe('KEY_IN_USE');
    // A key it holds keeps its role: its admin key cannot become its validator key.
    expect(rekey(a.spec.id, [fresh], a.admin.publicKey)).toBe('KEY_IN_USE');
    expect(rekey(a.spec.id, [a.validator.publicKey], signer('v').publicKey)).toBe('KEY_IN_USE');
    // Keeping the validator key: no set change once it passes (b's proposal needs c's vote).
    expect(rekey(a.spec.id, [a.admin.publicKey, fresh], a.validator.publicKey)).toBe('OK');
  });
});

describe('following validator sets across rotations', () => {
  it("findValidatorSet finds a rotation (with a membership change in the same block) from organizations' former keys", () => {
    const { chain, a, b, orgs } = world();
    const before = validatorsFromState(chain.state);
    const d = org('st-d');
    const propose = chain.tx(a.admin, 'governance.propose', {
      change: { type: 'add', organization: d.spec },
    });
    const result = chain.block([
      propose,
      chain.tx(a.admin, 'organization.rotate-key', rotate(a.validator, signer('a/v2'))),
      chain.tx(b.admin, 'governance.vote', { proposalId: transactionHash(propose), approve: true }),
      chain.tx(b.admin, 'organization.rotate-key', rotate(b.validator, signer('b/v2'))),
    ]);
    expectAllOk(result.receipts);
    const after = result.validatorSetChange!;
    const universe = (): Validator[] =>
      [...orgs, d].flatMap((o) => organizationValidators(getOrganization(chain.state, o.spec.id)!));
    // Two rotations and an addition in one block are three changes: the search allows two.
    expect(findValidatorSet(before, universe(), after.hash)).toBeUndefined();
    expect(findValidatorSet(before, universe(), after.hash, 3)?.length).toBe(4);
    const again = chain.block([
      chain.tx(a.admin, 'organization.rotate-key', rotate(signer('a/v2'), signer('a/v3'))),
    ]);
    const found = findValidatorSet(after.validators, universe(), again.validatorSetChange!.hash);
    expect(found && bytesEqual(validatorSetHash(found), again.validatorSetChange!.hash)).toBe(true);
    // The set before the first rotation is still reachable from the one after it: a's former key
    // is in the universe (a light client following from genesis needs exactly that).
    expect(
      findValidatorSet(after.validators, universe(), validatorSetHash(before), 3),
    ).toBeDefined();
  });
});

describe('property: random rotations agree with a model of who holds which key', () => {
  const founders = [org('r1'), org('r2'), org('r3')];
  const pool = Array.from({ length: 8 }, (_, i) => signer(`rot-pool-${i}`));
  const everyone = [...founders.flatMap((o) => [o.admin, o.validator]), ...pool];
  const step = fc.record({ signer: fc.nat(), oldKey: fc.nat(), newKey: fc.nat() });

  it('codes match the model, state indexes match the keys held, and replay gives the same roots', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(step, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        (plan) => {
          const chain = new Chain(genesisDoc(founders));
          const held = new Map(
            founders.map((o) => [
              toHex(o.spec.id),
              { admins: [toHex(o.admin.publicKey)], validator: toHex(o.validator.publicKey) },
            ]),
          );
          const used = new Set(everyone.slice(0, 6).map((s) => toHex(s.publicKey)));
          const blocks = [];
          const expected: string[] = [];
          for (const steps of plan) {
            const txs = steps.map((s) => {
              const from = everyone[s.signer % everyone.length]!;
              const oldKey = everyone[s.oldKey % everyone.length]!.publicKey;
              const newKey = everyone[s.newKey % everyone.length]!.publicKey;
              return chain.tx(from, 'organization.rotate-key', { oldKey, newKey });
            });
            // The model, in block order.
            for (const tx of txs) {
              const { oldKey, newKey } = tx.body as unknown as {
                oldKey: Uint8Array;
                newKey: Uint8Array;
              };
              const signerHex = toHex(tx.signer);
              const orgOf = [...held.entries()].find(([, keys]) => keys.admins.includes(signerHex));
              if (orgOf === undefined) {
                expected.push('NOT_MEMBER_ADMIN');
                continue;
              }
              const keys = orgOf[1];
              const oldHex = toHex(oldKey);
              const newHex = toHex(newKey);
              if (keys.validator !== oldHex && !keys.admins.includes(oldHex))
                expected.push('KEY_NOT_FOUND');
              else if (used.has(newHex)) expected.push('KEY_IN_USE');
              else {
                used.add(newHex);
                if (keys.validator === oldHex) keys.validator = newHex;
                else keys.admins = keys.admins.map((k) => (k === oldHex ? newHex : k));
                expected.push('OK');
              }
            }
            const block = chain.nextBlock(txs);
            blocks.push(block);
            chain.execute(block);
          }
          const replay = new Chain(genesisDoc(founders));
          const got: string[] = [];
          for (const block of blocks)
            got.push(...replay.execute(block).receipts.map((r) => r.code));
          expect(got).toEqual(expected);
          expect(replay.state.root()).toEqual(chain.state.root());
          // Indexes: every held key points at its organization, no retired key signs for anyone.
          for (const [orgHex, keys] of held) {
            const entry = getOrganization(
              chain.state,
              founders.find((o) => toHex(o.spec.id) === orgHex)!.spec.id,
            )!;
            expect(entry.adminKeys.map(toHex)).toEqual(keys.admins);
            expect(toHex(entry.validatorKey)).toBe(keys.validator);
          }
          const current = new Set([...held.values()].flatMap((k) => [...k.admins, k.validator]));
          for (const key of everyone) {
            const hex = toHex(key.publicKey);
            const indexed =
              chain.state.get(stateKeys.adminKey(key.publicKey)) !== undefined ||
              chain.state.get(stateKeys.validatorKey(key.publicKey)) !== undefined;
            expect(indexed).toBe(current.has(hex));
            expect(chain.state.get(stateKeys.retiredKey(key.publicKey)) !== undefined).toBe(
              used.has(hex) && !current.has(hex),
            );
          }
          expect(
            validatorsFromState(chain.state)
              .map((v) => toHex(v.publicKey))
              .sort(),
          ).toEqual([...held.values()].map((k) => k.validator).sort());
        },
      ),
      { numRuns: 40, seed: 20261206 },
    );
  });
});
