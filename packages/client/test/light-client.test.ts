import {
  type CommitCertificate,
  commitCertificateSigningHash,
  quorumSize,
} from '@medchain/consensus';
import { fromHex, type Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  findValidatorSet,
  stateKeys,
  type Validator,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerBackend, signer } from '../../node/test/api-chain.js';
import { ClientError, KeySigner, MedchainClient, type RequestSigner } from '../src/index.js';
import { seedOf, startNode } from './node-harness.js';

/**
 * The api-chain ledger, certified the way consensus decides: block h by the validator set the
 * state defined after h-2 (VALIDATOR_SET_CHANGE_DELAY), so a governance change shows up in the
 * certificates two blocks later. `honest: false` certifies with the genesis set instead.
 */
class GovernedBackend extends LedgerBackend {
  readonly validatorSigners = new Map<string, Signer>();
  /** setsAfter[h]: the set the state defines after block h (0 = genesis). */
  readonly setsAfter: Validator[][] = [validatorsFromState(this.ledger)];
  honest = true;

  constructor() {
    super();
    for (const org of this.orgs)
      this.validatorSigners.set(toHex(org.validator.publicKey), org.validator);
  }

  override commit() {
    const stored = super.commit();
    this.setsAfter.push(validatorsFromState(this.ledger));
    return stored;
  }

  override certify(height: number, digest: Uint8Array): CommitCertificate {
    const deciding = this.setsAfter[Math.max(0, height - 2)]!;
    // Dishonest: the genesis set, its retired members first (a quorum of it is not of the set).
    const isMember = (v: Validator) =>
      deciding.some((m) => toHex(m.publicKey) === toHex(v.publicKey));
    const set = this.honest
      ? deciding
      : [...this.setsAfter[0]!].sort((x, y) => Number(isMember(x)) - Number(isMember(y)));
    const unsigned = { height, view: 0, digest, votes: [] };
    const hash = commitCertificateSigningHash(this.doc.chainId, unsigned);
    const votes = set.slice(0, quorumSize(set.length)).map((v) => {
      const key = this.validatorSigners.get(toHex(v.publicKey))!;
      return { from: key.publicKey, signature: key.sign(hash) };
    });
    return { ...unsigned, votes };
  }
}

const peerIdOf = (label: string) =>
  `12D3KooW${[...sha256(utf8(`light:${label}`))].map((b) => '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'[b % 58]).join('')}`;

describe('light client', () => {
  let node: Awaited<ReturnType<typeof startNode>>;
  let backend: GovernedBackend;
  const alice = new KeySigner(seedOf('patient/alice'));
  let consentId = '';

  beforeAll(async () => {
    backend = new GovernedBackend();
    node = await startNode({ backend, commitEveryMs: 10 });
    const as = (key: RequestSigner) => new MedchainClient({ url: node.url, signer: key });
    await as(alice).sendTransaction('patient.register', {});
    const grant = await as(alice).sendTransaction('consent.grant', {
      patient: alice.publicKey,
      grantee: { type: 'organization', id: backend.orgs[1]!.id },
      recordIds: [],
      resourceTypes: ['Observation'],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: backend.time,
      validUntil: backend.time + 86_400_000,
    });
    consentId = grant.hash;
    // Governance: st-a proposes adding st-e, st-b and st-c approve (3 of 4 pass); some blocks
    // later st-a proposes removing st-d, st-b, st-c and st-e approve (4 of 5).
    const e = { admin: signer('st-e/admin'), validator: signer('st-e/validator') };
    backend.validatorSigners.set(toHex(e.validator.publicKey), e.validator);
    const [a, b, c, d] = backend.orgs;
    const govern = async (change: object, voters: Signer[]) => {
      const proposal = await as(a!.admin).sendTransaction('governance.propose', {
        change,
      } as never);
      for (const voter of voters) {
        await as(voter).sendTransaction('governance.vote', {
          proposalId: fromHex(proposal.hash),
          approve: true,
        });
      }
    };
    await govern(
      {
        type: 'add',
        organization: {
          id: sha256(utf8('org:st-e')),
          adminKeys: [e.admin.publicKey],
          validatorKey: e.validator.publicKey,
          peerId: peerIdOf('st-e'),
        },
      },
      [b!.admin, c!.admin],
    );
    expect(validatorsFromState(backend.ledger)).toHaveLength(5);
    for (let i = 0; i < 9; i++) backend.commit();
    await govern({ type: 'remove', orgId: d!.id }, [b!.admin, c!.admin, e.admin]);
    expect(validatorsFromState(backend.ledger)).toHaveLength(4);
    // A few more blocks, so the proofs' headers are certified by the last set.
    for (let i = 0; i < 7; i++) backend.commit();
  });
  afterAll(async () => {
    await node.close();
  });

  it('proves a consent and an audit count across validator-set changes', async () => {
    const client = new MedchainClient({ url: node.url, signer: alice });
    const light = client.lightClient(backend.doc);
    const proven = await light.proveConsent(consentId);
    expect(proven.check.verified).toBe(true);
    expect(proven.check.anchoredBy).toBe('commit certificate');
    expect(toHex(proven.value!.id)).toBe(consentId);
    expect(light.validatorSetChanges).toBe(2);
    expect(await light.proveAuditLength(alice.publicKey)).toBe(0);
    // An absent audit entry is proven absent.
    expect((await light.proveAuditEntry(alice.publicKey, 0)).value).toBeUndefined();
    // The latest header is certified by the last set: st-a, st-b, st-c and st-e.
    const latest = await client.header(backend.height);
    const last = backend.setsAfter.at(-1)!.map((v) => toHex(v.publicKey));
    expect(latest.certificate?.votes.every((v) => last.includes(v.from))).toBe(true);
    expect(last).not.toContain(toHex(backend.orgs[3]!.validator.publicKey));
  });

  it('refuses a proof whose value was changed, and a chain certified by the wrong set', async () => {
    const client = new MedchainClient({ url: node.url, signer: alice });
    const key = stateKeys.consent(fromHex(consentId));
    const answer = await client.stateProof(key);
    const light = client.lightClient(backend.doc);
    const forged = { ...answer, value: `${answer.value!.slice(0, -2)}00` };
    const check = await light.checkStateProof(forged, key);
    expect(check.verified).toBe(false);
    expect(check.steps.filter((s) => !s.ok)).toHaveLength(1);
    // From here on blocks are certified by the genesis set, which no longer decides.
    backend.honest = false;
    backend.commit();
    const error = await client
      .lightClient(backend.doc)
      .proveConsent(consentId)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('PROOF_INVALID');
    backend.honest = true;
    backend.commit();
    backend.commit();
  });

  it("finds the next validator set from a certified hash (ledger's findValidatorSet)", () => {
    const before = backend.setsAfter[0]!;
    const after = backend.setsAfter.at(-1)!;
    const found = findValidatorSet(before, after, validatorSetHash(after));
    expect(found && toHex(validatorSetHash(found))).toBe(toHex(validatorSetHash(after)));
    expect(findValidatorSet(before, [], validatorSetHash(after))).toBeUndefined();
  });
});
