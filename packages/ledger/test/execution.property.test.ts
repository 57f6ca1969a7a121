import { type Canonical, type Signer, toHex } from '@medchain/crypto';
import {
  auditTrail,
  type Block,
  CONSENT_ACTIONS,
  DELEGATE_RELATIONS,
  EMERGENCY_REASONS,
  getAuditAccumulator,
  isCompleteAuditTrail,
  MAX_PAGE_SIZE,
  PROVIDER_ROLES,
  PURPOSES,
  recordId,
  signTransaction,
  stateKeys,
  type Transaction,
  TX_KINDS,
  type TxKind,
  transactionHash,
  verifyStateProof,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytes, Chain, DAY, genesisDoc, HOUR, org, signedRequest, signer } from './helpers.js';

/**
 * Random transaction sequences: signers, kinds and bodies drawn from small pools of real
 * identities (so rules get past their first check often), plus garbage bodies, wrong nonces
 * and wrong chain ids. Each run is replayed on a second fresh chain.
 */
const orgs = [org('p1'), org('p2'), org('p3')];
const providers = Array.from({ length: 6 }, (_, i) => signer(`prop-provider-${i}`));
const patients = Array.from({ length: 4 }, (_, i) => signer(`prop-patient-${i}`));
const signers: Signer[] = [
  ...orgs.flatMap((o) => [o.admin, o.validator]),
  ...providers,
  ...patients,
  signer('stranger'),
];

interface Step {
  readonly signer: number;
  readonly kind: number;
  readonly picks: readonly number[];
  readonly envelope: 'ok' | 'nonce' | 'chain' | 'garbage';
}

const step = fc.record({
  signer: fc.nat(signers.length - 1),
  kind: fc.nat(TX_KINDS.length - 1),
  picks: fc.array(fc.nat(1000), { minLength: 12, maxLength: 12 }),
  envelope: fc.constantFrom<Step['envelope']>(
    'ok',
    'ok',
    'ok',
    'ok',
    'ok',
    'nonce',
    'chain',
    'garbage',
  ),
});

/** Default 40 runs; `LEDGER_PROPERTY_RUNS=2000 LEDGER_PROPERTY_SEED=<n>` for a long campaign. */
const RUNS = Number(process.env.LEDGER_PROPERTY_RUNS ?? 40);

const blocksArb = fc.array(fc.array(step, { minLength: 1, maxLength: 8 }), {
  minLength: 1,
  maxLength: 6,
});

/** Known ids grow as transactions run, so later steps can refer to earlier results. */
interface Pools {
  recordIds: Uint8Array[];
  consentIds: Uint8Array[];
  proposalIds: Uint8Array[];
}

function bodyFor(
  kind: TxKind,
  from: Signer,
  picks: readonly number[],
  chain: Chain,
  pools: Pools,
): Canonical {
  let i = 0;
  const next = () => picks[i++ % picks.length]!;
  const pick = <T>(items: readonly T[]): T => items[next() % items.length]!;
  const key = () => pick([...providers, ...patients, ...orgs.map((o) => o.admin)]).publicKey;
  // Bias towards bodies that fit the signer, so rules get past their authority checks.
  const fits = () => next() % 4 > 0;
  const patient = () => (patients.includes(from) && fits() ? from : pick(patients)).publicKey;
  const providerIndex = providers.indexOf(from);
  const orgId = () =>
    (providerIndex >= 0 && fits() ? orgs[providerIndex % orgs.length]! : pick(orgs)).spec.id;
  const time = () => chain.time + pick([-DAY, 0, HOUR, 30 * DAY, 6 * 365 * DAY]);
  const id = (pool: Uint8Array[]) =>
    pool.length > 0 && next() % 4 > 0 ? pick(pool) : bytes(`x${next()}`);
  switch (kind) {
    case 'governance.propose':
      return next() % 2 === 0
        ? {
            change: {
              type: 'add',
              organization: org(`new-${next()}`).spec as unknown as Canonical,
            },
          }
        : { change: { type: 'remove', orgId: orgId() } };
    case 'governance.vote':
      return { proposalId: id(pools.proposalIds), approve: next() % 3 > 0 };
    case 'organization.rotate-key':
      return {
        oldKey: pick(orgs.flatMap((o) => [o.admin, o.validator])).publicKey,
        newKey: fits() ? signer(`rotated-${next()}`).publicKey : key(),
      };
    case 'provider.register':
      return { provider: key(), role: pick(PROVIDER_ROLES) };
    case 'provider.suspend':
      return { provider: key() };
    case 'patient.register':
      return {};
    case 'patient.delegate':
      return {
        patient: patient(),
        delegate: key(),
        relation: pick(DELEGATE_RELATIONS),
        expiresAt: time(),
      };
    case 'patient.undelegate':
      return { patient: patient(), delegate: key() };
    case 'patient.policy':
      return {
        patient: patient(),
        breakGlassOptOut: next() % 2 === 0,
        researchOptOut: next() % 2 === 0,
      };
    case 'record.anchor':
      return {
        patient: patient(),
        custodian: orgId(),
        resourceType: pick(['Observation', 'Condition']),
        contentHash: bytes(`content-${next()}`),
        nonce: bytes(`nonce-${next() % 20}`, 16),
      };
    case 'record.amend':
      return { recordId: id(pools.recordIds), contentHash: bytes(`content-${next()}`) };
    case 'record.erase':
      return { recordId: id(pools.recordIds) };
    case 'consent.grant':
      return {
        patient: patient(),
        grantee:
          next() % 2 === 0
            ? { type: 'provider', id: key() }
            : { type: 'organization', id: orgId() },
        recordIds: next() % 2 === 0 ? [id(pools.recordIds)] : [],
        resourceTypes: ['Observation'],
        actions: [pick(CONSENT_ACTIONS)],
        purposes: [pick(PURPOSES)],
        validFrom: chain.time,
        validUntil: time(),
      };
    case 'consent.revoke':
      return { consentId: id(pools.consentIds) };
    case 'access.log':
    case 'access.emergency': {
      const emergency = kind === 'access.emergency';
      const signed = signedRequest(pick(providers), id(pools.recordIds), time(), {
        action: pick(CONSENT_ACTIONS),
        purpose: emergency ? 'ETREAT' : pick(PURPOSES),
        ...(emergency ? { emergencyReason: pick(EMERGENCY_REASONS) } : {}),
      });
      return {
        ...(signed as unknown as { [k: string]: Canonical }),
        decision: next() % 2 === 0 ? 'permit' : 'deny',
        consentId: next() % 2 === 0 ? null : id(pools.consentIds),
      };
    }
    case 'research.release':
      return {
        study: key(),
        patient: patient(),
        consentId: id(pools.consentIds),
        recordIds: [id(pools.recordIds)],
        requestHash: bytes(`request-${next()}`),
      };
  }
}

/** Builds and executes blocks on `chain`, returning them for replay. */
function runRandom(chain: Chain, plan: readonly (readonly Step[])[]) {
  const pools: Pools = { recordIds: [], consentIds: [], proposalIds: [] };
  const blocks: Block[] = [];
  const receipts: string[][] = [];
  // Founders register the pool's providers first, so rules get past identity checks.
  const setup = providers.map((p, i) =>
    chain.tx(orgs[i % orgs.length]!.admin, 'provider.register', {
      provider: p.publicKey,
      role: PROVIDER_ROLES[i % 5]!,
    }),
  );
  const setupBlock = chain.nextBlock([
    ...setup,
    ...patients.map((p) => chain.tx(p, 'patient.register', {})),
  ]);
  receipts.push(chain.execute(setupBlock).receipts.map((r) => `${r.code}:${r.message}`));
  blocks.push(setupBlock);
  for (const steps of plan) {
    const txs: Transaction[] = steps.map((s) => {
      const from = signers[s.signer]!;
      const kind = TX_KINDS[s.kind]!;
      const body =
        s.envelope === 'garbage'
          ? { junk: bytes(`j${s.picks[0]}`) }
          : bodyFor(kind, from, s.picks, chain, pools);
      const tx = chain.tx(from, kind, body as object);
      const resigned =
        s.envelope === 'nonce'
          ? signTransaction({ ...tx, nonce: tx.nonce + 1 + (s.picks[1]! % 3) }, from)
          : s.envelope === 'chain'
            ? signTransaction({ ...tx, chainId: 'other' }, from)
            : tx;
      if (kind === 'consent.grant') pools.consentIds.push(transactionHash(resigned));
      if (kind === 'governance.propose') pools.proposalIds.push(transactionHash(resigned));
      return resigned;
    });
    const block = chain.nextBlock(txs);
    const result = chain.execute(block);
    expect(result.receipts).toHaveLength(txs.length);
    blocks.push(block);
    receipts.push(result.receipts.map((r) => `${r.code}:${r.message}`));
    // Learn record ids from the anchors that succeeded.
    txs.forEach((tx, i) => {
      if (tx.kind === 'record.anchor' && result.receipts[i]!.code === 'OK') {
        const body = tx.body as { patient: Uint8Array; custodian: Uint8Array; nonce: Uint8Array };
        pools.recordIds.push(recordId(body.custodian, body.patient, body.nonce));
      }
    });
  }
  return { blocks, receipts, pools };
}

describe('execution properties', () => {
  it('random transaction sequences never throw, replay to identical roots and receipts, and every touched entry proves', () => {
    fc.assert(
      fc.property(blocksArb, (plan) => {
        const first = new Chain(genesisDoc(orgs));
        const { blocks, receipts, pools } = runRandom(first, plan);
        // A second node: each header's state root must equal its own (executeBlock checks).
        const second = new Chain(genesisDoc(orgs));
        const replayed = blocks.map((b) =>
          second.execute(b).receipts.map((r) => `${r.code}:${r.message}`),
        );
        expect(replayed).toEqual(receipts);
        expect(toHex(second.state.root())).toBe(toHex(first.state.root()));
        // Each patient's trail, served from the history index, is whole against the state.
        for (const p of patients) {
          const trail = auditTrail(second.history, p.publicKey, { limit: MAX_PAGE_SIZE }).items;
          expect(isCompleteAuditTrail(trail, getAuditAccumulator(second.state, p.publicKey))).toBe(
            true,
          );
        }
        // Every entry the run touched proves against the root; a changed value does not.
        const root = second.state.root();
        const keys = [
          ...patients.map((p) => stateKeys.patient(p.publicKey)),
          ...patients.map((p) => stateKeys.auditAccumulator(p.publicKey)),
          ...pools.consentIds.map(stateKeys.consent),
          ...pools.recordIds.map(stateKeys.record),
        ];
        for (const key of keys) {
          const value = second.state.get(key);
          const proof = second.state.prove(key);
          expect(verifyStateProof(root, key, value, proof)).toBe(true);
          const changed =
            value === undefined
              ? Uint8Array.of(0)
              : Uint8Array.from(value, (b, i) => (i === 0 ? b ^ 1 : b));
          expect(verifyStateProof(root, key, changed, proof)).toBe(false);
        }
      }),
      { numRuns: RUNS, seed: Number(process.env.LEDGER_PROPERTY_SEED ?? 20261125) },
    );
  });

  it('some random transactions succeed and some fail, so the property is not vacuous', () => {
    const chain = new Chain(genesisDoc(orgs));
    const plan = fc.sample(blocksArb, { numRuns: 20, seed: 7 }).flat();
    const codes = runRandom(chain, plan)
      .receipts.flat()
      .map((r) => r.split(':')[0]);
    expect(codes.filter((c) => c === 'OK').length).toBeGreaterThan(10);
    expect(new Set(codes).size).toBeGreaterThan(12);
  });
});
