import { bytesEqual, toHex } from '@medchain/crypto';
import {
  getOrganization,
  getProposal,
  memberIds,
  passThreshold,
  transactionHash,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { bytes, Chain, DAY, genesisDoc, org, signer, world } from './helpers.js';

describe('governance', () => {
  it('passes at ceil(2n/3) member votes', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(passThreshold)).toEqual([1, 2, 2, 3, 4, 4, 5, 7]);
  });

  it('founders come from genesis and form the validator set', () => {
    const { chain, orgs } = world();
    expect(memberIds(chain.state).map(toHex).sort()).toEqual(
      orgs.map((o) => toHex(o.spec.id)).sort(),
    );
    expect(
      validatorsFromState(chain.state)
        .map((v) => v.peerId)
        .sort(),
    ).toEqual(orgs.map((o) => o.spec.peerId).sort());
  });

  it('adds a member when two thirds vote yes and reports the new validator set', () => {
    const { chain, a, b } = world();
    const newcomer = org('st-d');
    const propose = chain.tx(a.admin, 'governance.propose', {
      change: { type: 'add', organization: newcomer.spec },
    });
    const first = chain.block([propose]);
    expect(first.receipts[0]!.code).toBe('OK');
    expect(first.validatorSetChange).toBeNull();
    const proposalId = transactionHash(propose);
    expect(getProposal(chain.state, proposalId)?.status).toBe('open');
    expect(chain.run(a.admin, 'governance.vote', { proposalId, approve: true }).code).toBe(
      'ALREADY_VOTED',
    );

    const result = chain.block([
      chain.tx(b.admin, 'governance.vote', { proposalId, approve: true }),
    ]);
    expect(result.receipts[0]!.code).toBe('OK');
    expect(getProposal(chain.state, proposalId)?.status).toBe('passed');
    expect(result.validatorSetChange?.validators).toHaveLength(4);
    expect(
      bytesEqual(
        result.validatorSetChange!.hash,
        validatorSetHash(validatorsFromState(chain.state)),
      ),
    ).toBe(true);
    expect(getOrganization(chain.state, newcomer.spec.id)?.status).toBe('member');
    // The new member acts at once, and later votes count it.
    const provider = signer('d/clinician');
    expect(
      chain.run(newcomer.admin, 'provider.register', {
        provider: provider.publicKey,
        role: 'clinician',
      }).code,
    ).toBe('OK');
    expect(chain.run(b.admin, 'governance.vote', { proposalId, approve: true }).code).toBe(
      'PROPOSAL_CLOSED',
    );
  });

  it('refuses proposals from non-admins and for taken ids or keys', () => {
    const { chain, a, b, p } = world();
    const newcomer = org('st-d');
    const add = (spec: object) => ({ change: { type: 'add', organization: spec } });
    expect(chain.run(p.admin, 'governance.propose', add(newcomer.spec)).code).toBe(
      'NOT_MEMBER_ADMIN',
    );
    expect(
      chain.run(a.admin, 'governance.propose', add({ ...newcomer.spec, id: b.spec.id })).code,
    ).toBe('ORG_EXISTS');
    expect(
      chain.run(
        a.admin,
        'governance.propose',
        add({ ...newcomer.spec, validatorKey: b.validator.publicKey }),
      ).code,
    ).toBe('KEY_IN_USE');
    expect(
      chain.run(
        a.admin,
        'governance.propose',
        add({ ...newcomer.spec, adminKeys: [p.nurse.publicKey] }),
      ).code,
    ).toBe('KEY_IN_USE');
    expect(
      chain.run(a.admin, 'governance.propose', add({ ...newcomer.spec, peerId: b.spec.peerId }))
        .code,
    ).toBe('KEY_IN_USE');
    expect(
      chain.run(a.admin, 'governance.propose', { change: { type: 'remove', orgId: bytes('x') } })
        .code,
    ).toBe('ORG_NOT_FOUND');
    expect(
      chain.run(a.admin, 'governance.vote', { proposalId: bytes('x'), approve: true }).code,
    ).toBe('PROPOSAL_NOT_FOUND');
  });

  it('removes a member: its admins and providers lose their powers', () => {
    const { chain, a, b, orgs, p } = world();
    const c = orgs[2]!;
    const propose = chain.tx(b.admin, 'governance.propose', {
      change: { type: 'remove', orgId: a.spec.id },
    });
    chain.block([propose]);
    const result = chain.block([
      chain.tx(c.admin, 'governance.vote', { proposalId: transactionHash(propose), approve: true }),
    ]);
    expect(result.receipts[0]!.code).toBe('OK');
    expect(result.validatorSetChange?.validators.map((v) => toHex(v.orgId)).sort()).toEqual(
      [b, c].map((o) => toHex(o.spec.id)).sort(),
    );
    expect(getOrganization(chain.state, a.spec.id)?.status).toBe('removed');
    expect(
      chain.run(a.admin, 'provider.register', { provider: signer('z').publicKey, role: 'nurse' })
        .code,
    ).toBe('NOT_ORG_ADMIN');
    expect(
      chain.run(p.admin, 'provider.register', { provider: signer('z').publicKey, role: 'nurse' })
        .code,
    ).toBe('NOT_ORG_ADMIN');
    // A removed org's id is never reused.
    expect(
      chain.run(b.admin, 'governance.propose', { change: { type: 'add', organization: a.spec } })
        .code,
    ).toBe('ORG_EXISTS');
  });

  it('rejects once enough members vote no, and closes at expiry', () => {
    const orgs = [org('o1'), org('o2'), org('o3'), org('o4')];
    const chain = new Chain(genesisDoc(orgs));
    const [o1, o2, o3, o4] = orgs as [
      (typeof orgs)[0],
      (typeof orgs)[0],
      (typeof orgs)[0],
      (typeof orgs)[0],
    ];
    const add = (label: string) =>
      chain.tx(o1.admin, 'governance.propose', {
        change: { type: 'add', organization: org(label).spec },
      });
    const rejected = add('x1');
    const expiring = add('x2');
    chain.block([rejected, expiring]);
    const id = transactionHash(rejected);
    chain.block([chain.tx(o2.admin, 'governance.vote', { proposalId: id, approve: false })]);
    expect(getProposal(chain.state, id)?.status).toBe('open');
    chain.block([chain.tx(o3.admin, 'governance.vote', { proposalId: id, approve: false })]);
    expect(getProposal(chain.state, id)?.status).toBe('rejected');
    expect(chain.run(o4.admin, 'governance.vote', { proposalId: id, approve: true }).code).toBe(
      'PROPOSAL_CLOSED',
    );
    const late = chain.time + 15 * DAY;
    expect(
      chain.run(
        o2.admin,
        'governance.vote',
        { proposalId: transactionHash(expiring), approve: true },
        late,
      ).code,
    ).toBe('PROPOSAL_CLOSED');
  });

  it('a single founder passes alone, but cannot remove itself', () => {
    const solo = org('solo');
    const chain = new Chain(genesisDoc([solo]));
    expect(
      chain.run(solo.admin, 'governance.propose', {
        change: { type: 'remove', orgId: solo.spec.id },
      }).code,
    ).toBe('LAST_MEMBER');
    const result = chain.block([
      chain.tx(solo.admin, 'governance.propose', {
        change: { type: 'add', organization: org('second').spec },
      }),
    ]);
    expect(result.receipts[0]!.code).toBe('OK');
    expect(result.validatorSetChange?.validators).toHaveLength(2);
  });
});
