import { join } from 'node:path';
import { Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  accessRequestDigest,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  decideAccess,
  decodeBlock,
  encodeBlock,
  encodeTransaction,
  executeBlock,
  expectedNonce,
  headerHash,
  initGenesisState,
  isRequestSignatureValid,
  MemoryStore,
  parseGenesis,
  recordId,
  requestSignatureOf,
  signTransaction,
  type Transaction,
  type TxKind,
  transactionHash,
  validatorSetHash,
  verifyTransactionSignature,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Chain,
  createLogger,
  createMetrics,
  Database,
  Mempool,
  type MempoolOptions,
} from '../src/index.js';
import { counterValue } from './cluster-harness.js';
import { tempDir } from './helpers.js';

const CHAIN_ID = 'medchain-mempool-test';
const T0 = 1_750_000_000_000;
const signer = (label: string) => new Signer(sha256(utf8(`mempool-test:${label}`)));

/** A genesis state and a mempool over it, with a counting signature verifier. */
function setup({
  headTime = () => Number.NEGATIVE_INFINITY,
  ...overrides
}: Partial<MempoolOptions> & { headTime?: () => number } = {}) {
  const store = new MemoryStore();
  const state = new AuthenticatedState(store);
  const validator = signer('validator');
  const doc = parseGenesis({
    chainId: CHAIN_ID,
    genesisTime: T0,
    organizations: [
      {
        id: sha256(utf8('org')),
        adminKeys: [signer('admin').publicKey],
        validatorKey: validator.publicKey,
        peerId: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
      },
    ],
    params: { ...DEFAULT_LEDGER_PARAMS },
    consensus: {},
  });
  const genesis = initGenesisState(state, doc);
  store.write(genesis.ops);
  const metrics = createMetrics();
  let verifications = 0;
  const committed = new Set<string>();
  const mempool = new Mempool({
    chainId: CHAIN_ID,
    maxTxs: 1_000,
    maxBytes: 1024 * 1024,
    maxTxBytes: 16 * 1024,
    head: {
      state,
      get lastTime() {
        return headTime();
      },
      hasTransaction: (hash) => committed.has(toHex(hash)),
    },
    metrics,
    verify: (tx) => {
      verifications++;
      return verifyTransactionSignature(tx);
    },
    ...overrides,
  });
  let height = 0;
  let parentHash = genesis.hash;
  /** Executes `txs` as the next block (signatures judged by the mempool) and tells the mempool. */
  const commit = (txs: readonly Transaction[]) => {
    height++;
    const block = buildBlock(
      {
        chainId: CHAIN_ID,
        height,
        time: T0 + height * 1000,
        parentHash,
        stateRoot: state.root(),
        validatorSetHash: validatorSetHash(genesis.validators),
        proposer: validator.publicKey,
      },
      txs,
    );
    let executionVerifications = 0;
    const result = executeBlock(state, block, {
      isSignatureValid: (tx, hash) => {
        if (mempool.isVerified(hash)) return true;
        executionVerifications++;
        return verifyTransactionSignature(tx);
      },
      isRequestSignatureValid: mempool.isRequestSignatureValid,
    });
    store.write(result.ops);
    parentHash = sha256(utf8(`block-${height}`));
    for (const tx of txs) committed.add(toHex(transactionHash(tx)));
    mempool.update(txs);
    return { receipts: result.receipts, executionVerifications };
  };
  return { mempool, metrics, commit, state, verifications: () => verifications };
}

function tx(from: Signer, nonce: number, chainId = CHAIN_ID): Transaction {
  return signTransaction(
    { chainId, kind: 'patient.register', body: {}, signer: from.publicKey, nonce },
    from,
  );
}

function signed(from: Signer, nonce: number, kind: TxKind, body: object): Transaction {
  return signTransaction(
    { chainId: CHAIN_ID, kind, body: body as never, signer: from.publicKey, nonce },
    from,
  );
}

/** A consent grant for `patient` to a provider, for a day from `time`. */
function grantFor(patient: Signer, grantee: Signer, time: number) {
  return {
    patient: patient.publicKey,
    grantee: { type: 'provider', id: grantee.publicKey },
    recordIds: [],
    resourceTypes: ['Observation'],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: time,
    validUntil: time + 86_400_000,
  };
}

/** A patient's transaction `nonce`: the first registers it, the later ones set its policy. */
function step(from: Signer, nonce: number): Transaction {
  return nonce === 1
    ? tx(from, 1)
    : signed(from, nonce, 'patient.policy', {
        patient: from.publicKey,
        breakGlassOptOut: nonce % 2 === 0,
        researchOptOut: false,
      });
}

const bytes = (t: Transaction) => encodeTransaction(t);

describe('mempool admission', () => {
  it('verifies a signature once: execution of its block verifies nothing again', () => {
    const { mempool, commit, verifications } = setup();
    const txs = Array.from({ length: 20 }, (_, i) => tx(signer(`p${i}`), 1));
    for (const t of txs) expect(mempool.admit(bytes(t), 'api').accepted).toBe(true);
    expect(verifications()).toBe(20);
    const { receipts, executionVerifications } = commit(mempool.reap(100, 1 << 20));
    expect(receipts.map((r) => r.code)).toEqual(Array(20).fill('OK'));
    expect(executionVerifications).toBe(0);
    expect(mempool.size).toBe(0);
  });

  it("verifies an access.log's request signature once, and answers execution for those bytes only", () => {
    let requestChecks = 0;
    const { mempool, commit, state } = setup({
      verifyRequest: (digest, requester, signature) => {
        requestChecks++;
        return isRequestSignatureValid(digest, requester, signature);
      },
    });
    const admin = signer('admin');
    const clinician = signer('clinician');
    const alice = signer('alice');
    const custodian = sha256(utf8('org'));
    const nonce = sha256(utf8('record')).slice(0, 16);
    const anchor = {
      patient: alice.publicKey,
      custodian,
      resourceType: 'Observation',
      contentHash: sha256(utf8('content')),
      nonce,
    };
    for (const txs of [
      [
        signed(admin, 1, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }),
        tx(alice, 1),
      ],
      [signed(clinician, 1, 'record.anchor', anchor)],
    ]) {
      for (const t of txs) expect(mempool.admit(bytes(t), 'api').accepted).toBe(true);
      expect(commit(mempool.reap(10, 1 << 20)).receipts.every((r) => r.code === 'OK')).toBe(true);
    }
    const time = T0 + 3000; // the next block's (setup's commit: T0 + height * 1000)
    const request = {
      recordId: recordId(custodian, alice.publicKey, nonce),
      requester: clinician.publicKey,
      action: 'access',
      purpose: 'TREAT',
      time,
      nonce: sha256(utf8('request')).slice(0, 16),
    } as const;
    const { decision, consentId } = decideAccess(state, { ...request });
    const log = signed(admin, 2, 'access.log', {
      request,
      requestSignature: clinician.sign(accessRequestDigest(request)),
      decision,
      consentId,
    });
    expect(mempool.admit(bytes(log), 'api').accepted).toBe(true);
    expect(requestChecks).toBe(1);
    const { digest, requester, signature } = requestSignatureOf(log)!;
    expect(mempool.isRequestSignatureValid(digest, requester, signature)).toBe(true);
    expect(requestChecks).toBe(1);
    // Any other bytes (a block with an access.log this node never admitted) are checked.
    const other = signature.slice();
    other[0]! ^= 1;
    expect(mempool.isRequestSignatureValid(digest, requester, other)).toBe(false);
    expect(requestChecks).toBe(2);
    expect(commit(mempool.reap(10, 1 << 20)).receipts.map((r) => r.code)).toEqual(['OK']);
    expect(requestChecks).toBe(2);
  });

  it('refuses bad input with a code per reason, and counts each reason', async () => {
    const { mempool, metrics, commit } = setup({ maxTxs: 3, nonceWindow: 5 });
    const alice = signer('alice');
    const forged = { ...tx(alice, 1), signature: new Uint8Array(64).fill(9) };
    const cases: Array<[Uint8Array, string]> = [
      [Uint8Array.of(0xc1, 0x00), 'MALFORMED'],
      [new Uint8Array(17 * 1024), 'TOO_LARGE'],
      [bytes(tx(alice, 1, 'another-chain')), 'WRONG_CHAIN'],
      [bytes(forged), 'BAD_SIGNATURE'],
      [bytes(tx(alice, 9)), 'BAD_NONCE'],
    ];
    for (const [raw, code] of cases) {
      expect(mempool.admit(raw, 'gossip')).toMatchObject({ accepted: false, code });
    }
    expect(mempool.admit(bytes(tx(alice, 1)), 'api').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(alice, 1)), 'gossip')).toMatchObject({ code: 'DUPLICATE' });
    expect(mempool.admit(bytes(tx(signer('b'), 1)), 'api').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(signer('c'), 1)), 'api').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(signer('d'), 1)), 'api')).toMatchObject({ code: 'MEMPOOL_FULL' });
    commit(mempool.reap(10, 1 << 20));
    expect(mempool.size).toBe(0);
    // Committed: the same bytes are a duplicate, a new tx with the used nonce is a bad nonce.
    expect(mempool.admit(bytes(tx(alice, 1)), 'api')).toMatchObject({ code: 'DUPLICATE' });
    const reused = signTransaction(
      { chainId: CHAIN_ID, kind: 'patient.register', body: {}, signer: alice.publicKey, nonce: 1 },
      { sign: () => new Uint8Array(64).fill(3) } as unknown as Signer,
    );
    expect(mempool.admit(bytes(reused), 'api')).toMatchObject({ code: 'BAD_NONCE' });
    for (const code of ['MALFORMED', 'TOO_LARGE', 'WRONG_CHAIN', 'BAD_SIGNATURE', 'MEMPOOL_FULL']) {
      expect(await counterValue(metrics.mempool.rejected, { reason: code })).toBe(1);
    }
    expect(await counterValue(metrics.mempool.rejected, { reason: 'DUPLICATE' })).toBe(2);
    expect(await counterValue(metrics.mempool.rejected, { reason: 'BAD_NONCE' })).toBe(2);
    expect(await counterValue(metrics.mempool.admitted, { source: 'api' })).toBe(3);
  });

  it('refuses a second transaction for a pending nonce and bounds bytes', () => {
    const { mempool } = setup({ maxBytes: 1024 + 200, maxTxBytes: 1024 });
    const alice = signer('alice');
    expect(mempool.admit(bytes(tx(alice, 1)), 'api').accepted).toBe(true);
    const other = signTransaction(
      {
        chainId: CHAIN_ID,
        kind: 'patient.policy',
        body: { patient: alice.publicKey, breakGlassOptOut: true, researchOptOut: false },
        signer: alice.publicKey,
        nonce: 1,
      },
      alice,
    );
    expect(mempool.admit(bytes(other), 'api')).toMatchObject({
      accepted: false,
      code: 'BAD_NONCE',
    });
    let full = false;
    for (let i = 0; i < 20 && !full; i++) {
      const result = mempool.admit(bytes(tx(signer(`fill${i}`), 1)), 'api');
      full = !result.accepted && result.code === 'MEMPOOL_FULL';
    }
    expect(full).toBe(true);
    expect(mempool.bytes).toBeLessThanOrEqual(1024 + 200);
  });
  it('bounds the transactions one signer may have pending', () => {
    const { mempool } = setup({ maxPerSigner: 4 });
    const alice = signer('alice');
    // Nonces 2..5 wait for a nonce 1 that may never come; the fifth is refused.
    for (let nonce = 2; nonce <= 5; nonce++) {
      expect(mempool.admit(bytes(tx(alice, nonce)), 'api').accepted).toBe(true);
    }
    expect(mempool.admit(bytes(tx(alice, 6)), 'api')).toMatchObject({ code: 'RATE_LIMITED' });
    expect(mempool.admit(bytes(tx(signer('bob'), 1)), 'api').accepted).toBe(true);
    expect(mempool.reap(10, 1 << 20).map((t) => toHex(t.signer))).toEqual([
      toHex(signer('bob').publicKey),
    ]);
  });
});

describe('mempool reaping', () => {
  it('orders each signer by nonce, skips gaps and respects count and byte limits', () => {
    const { mempool } = setup();
    const alice = signer('alice');
    const bob = signer('bob');
    // Arrival order: alice 3, alice 2, bob 1, alice 1, bob 3 (bob 2 missing).
    for (const t of [tx(alice, 3), tx(alice, 2), tx(bob, 1), tx(alice, 1), tx(bob, 3)]) {
      expect(mempool.admit(bytes(t), 'gossip').accepted).toBe(true);
    }
    const order = (txs: readonly Transaction[]) =>
      txs.map((t) => `${toHex(t.signer) === toHex(alice.publicKey) ? 'a' : 'b'}${t.nonce}`);
    expect(order(mempool.reap(100, 1 << 20))).toEqual(['b1', 'a1', 'a2', 'a3']);
    expect(mempool.reap(2, 1 << 20)).toHaveLength(2);
    const one = bytes(tx(alice, 1)).length;
    expect(mempool.reap(100, one + 1)).toHaveLength(1);
  });

  it('after a commit, drops included transactions and those whose nonce got used', () => {
    const { mempool, commit } = setup();
    const alice = signer('alice');
    const first = tx(alice, 1);
    const rival = signTransaction(
      {
        chainId: CHAIN_ID,
        kind: 'patient.policy',
        body: { patient: alice.publicKey, breakGlassOptOut: true, researchOptOut: false },
        signer: alice.publicKey,
        nonce: 1,
      },
      alice,
    );
    expect(mempool.admit(bytes(rival), 'gossip').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(alice, 2)), 'gossip').accepted).toBe(true);
    // Another node's block carries `first` (never seen here) with nonce 1.
    commit([first]);
    expect(mempool.get(transactionHash(rival))).toBeUndefined();
    expect(mempool.size).toBe(1);
    expect(mempool.reap(10, 1 << 20).map((t) => t.nonce)).toEqual([2]);
  });

  it('property: whatever arrives in whatever order, reaped blocks never fail on nonces or signatures', () => {
    const signers = Array.from({ length: 4 }, (_, i) => signer(`prop${i}`));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 1, max: 6 }), fc.boolean()), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 8 }),
        (arrivals, blockSize) => {
          const { mempool, commit } = setup({ maxTxs: 25 });
          for (const [who, nonce, forge] of arrivals) {
            const t = tx(signers[who]!, nonce);
            const raw = bytes(forge ? { ...t, signature: new Uint8Array(64).fill(5) } : t);
            mempool.admit(raw, 'gossip');
            expect(mempool.size).toBeLessThanOrEqual(25);
          }
          for (let round = 0; round < 10 && mempool.size > 0; round++) {
            const { receipts } = commit(mempool.reap(blockSize, 1 << 20));
            for (const receipt of receipts) {
              expect(['BAD_NONCE', 'BAD_SIGNATURE']).not.toContain(receipt.code);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("a replica decodes proposals with its mempool's transactions", () => {
  const validator = signer('chain-validator');
  const genesis = parseGenesis({
    chainId: CHAIN_ID,
    genesisTime: T0,
    organizations: [
      {
        id: sha256(utf8('chain-org')),
        adminKeys: [signer('chain-admin').publicKey],
        validatorKey: validator.publicKey,
        peerId: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
      },
    ],
    params: { ...DEFAULT_LEDGER_PARAMS },
    consensus: {},
  });

  async function openReplica() {
    const dir = await tempDir('mempool-chain');
    const db = await Database.open(join(dir.path, 'db'));
    const metrics = createMetrics();
    const chain = await Chain.open({
      db,
      genesis,
      logger: createLogger({ level: 'silent' }),
      metrics,
      now: () => T0 + 1_000,
    });
    const mempool = new Mempool({
      chainId: CHAIN_ID,
      maxTxs: 1_000,
      maxBytes: 1 << 20,
      maxTxBytes: 16 * 1024,
      head: chain,
      metrics,
    });
    chain.usePool(mempool);
    /** A proposal as the primary's bytes arrive: a fresh payload, nothing cached for it. */
    const proposal = (txs: readonly Transaction[], txRoot?: Uint8Array) => {
      const block = buildBlock(
        {
          chainId: CHAIN_ID,
          height: 1,
          time: T0 + 500,
          parentHash: chain.lastHash,
          stateRoot: chain.stateRoot,
          validatorSetHash: validatorSetHash(chain.validators),
          proposer: validator.publicKey,
        },
        txs,
      );
      const header = txRoot === undefined ? block.header : { ...block.header, txRoot };
      return encodeBlock({ header, txs }).slice();
    };
    return {
      chain,
      mempool,
      proposal,
      close: async () => {
        await db.close();
        await dir.remove();
      },
    };
  }

  it('takes the pool objects for matching bytes, and decodes the same block as without them', async () => {
    const replica = await openReplica();
    try {
      const txs = ['p1', 'p2', 'p3'].map((label) => tx(signer(label), 1));
      for (const t of txs.slice(0, 2)) {
        expect(replica.mempool.admit(bytes(t), 'gossip').accepted).toBe(true);
      }
      const payload = replica.proposal(txs);
      expect(replica.chain.validateProposal(1, payload)).toBe(true);
      const decoded = replica.chain.decode(payload)!;
      expect(decoded.block.txs[0]).toBe(replica.mempool.get(transactionHash(txs[0]!)));
      expect(decoded.block.txs[1]).toBe(replica.mempool.get(transactionHash(txs[1]!)));
      expect(replica.mempool.get(transactionHash(txs[2]!))).toBeUndefined();
      expect(decoded.block).toEqual(decodeBlock(payload));
      expect(toHex(replica.chain.digestOf(payload))).toBe(
        toHex(headerHash(decodeBlock(payload).header)),
      );
    } finally {
      await replica.close();
    }
  });

  it('forgets a block decoded once it is committed: the core keeps only its payload', async () => {
    const replica = await openReplica();
    try {
      const txs = ['c1', 'c2'].map((label) => tx(signer(label), 1));
      for (const t of txs) expect(replica.mempool.admit(bytes(t), 'gossip').accepted).toBe(true);
      const payload = replica.proposal(txs);
      const decoded = replica.chain.decode(payload)!;
      expect(replica.chain.decode(payload)).toBe(decoded);
      const certificate = { height: 1, view: 0, digest: decoded.digest, votes: [] };
      const executed = await replica.chain.commitBlock(payload, certificate, {});
      expect(executed.block).toBe(decoded.block);
      // Asked again (a laggard's decision, say), the payload is decoded afresh, the same block.
      const again = replica.chain.decode(payload)!;
      expect(again).not.toBe(decoded);
      expect(again.block).toEqual(decoded.block);
    } finally {
      await replica.close();
    }
  });

  it('refuses a forged proposal although the pool holds every honest transaction', async () => {
    const replica = await openReplica();
    try {
      const alice = signer('forged-alice');
      const txs = [tx(alice, 1), tx(signer('forged-bob'), 1)];
      for (const t of txs) expect(replica.mempool.admit(bytes(t), 'gossip').accepted).toBe(true);
      const honestRoot = decodeBlock(replica.proposal(txs)).header.txRoot;
      // Bytes that differ from the pool's (another valid signature over other content) under
      // the honest tx root; then the honest transactions under a wrong root.
      const swapped = [tx(alice, 2), txs[1]!];
      for (const payload of [
        replica.proposal(swapped, honestRoot),
        replica.proposal(txs, sha256(utf8('wrong root'))),
      ]) {
        expect(replica.chain.decode(payload)).toBeNull();
        expect(replica.chain.validateProposal(1, payload)).toBe(false);
        expect(() => decodeBlock(payload)).toThrow(/txRoot/);
      }
      // The forgeries took nothing out of the pool.
      expect(replica.mempool.size).toBe(2);
    } finally {
      await replica.close();
    }
  });
});

describe('mempool hygiene', () => {
  it("refuses what the signer's role can never make succeed, with the executor's code, before verifying", async () => {
    const { mempool, metrics, commit, verifications } = setup();
    const admin = signer('admin');
    const clinician = signer('clinician');
    const alice = signer('alice');
    const stranger = signer('stranger');
    // A provider and a patient, committed.
    for (const t of [
      signed(admin, 1, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }),
      tx(alice, 1),
    ]) {
      expect(mempool.admit(bytes(t), 'api').accepted).toBe(true);
    }
    expect(commit(mempool.reap(10, 1 << 20)).receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
    const verified = verifications();
    const refused: Array<[Transaction, string]> = [
      [
        signed(stranger, 1, 'provider.register', { provider: stranger.publicKey, role: 'admin' }),
        'NOT_ORG_ADMIN',
      ],
      [
        signed(clinician, 1, 'governance.propose', {
          change: { type: 'remove', orgId: sha256(utf8('org')) },
        }),
        'NOT_MEMBER_ADMIN',
      ],
      [
        signed(stranger, 1, 'consent.grant', grantFor(alice, clinician, T0)),
        'NOT_PATIENT_OR_DELEGATE',
      ],
      [
        signed(clinician, 1, 'consent.grant', grantFor(alice, clinician, T0)),
        'NOT_PATIENT_OR_DELEGATE',
      ],
      [tx(alice, 2), 'PATIENT_EXISTS'],
    ];
    for (const [t, code] of refused) {
      expect(mempool.admit(bytes(t), 'api')).toMatchObject({ accepted: false, code });
      expect(mempool.admit(bytes(t), 'gossip')).toMatchObject({ accepted: false, code });
      expect(mempool.get(transactionHash(t))).toBeUndefined();
    }
    // Refused before the signature check: a stranger's spam costs no verification.
    expect(verifications()).toBe(verified);
    expect(mempool.size).toBe(0);
    expect(
      await counterValue(metrics.mempool.rejected, { reason: 'NOT_PATIENT_OR_DELEGATE' }),
    ).toBe(4);
    expect(await counterValue(metrics.mempool.rejected, { reason: 'NOT_ORG_ADMIN' })).toBe(2);
    // The same kinds by signers with the role, and a new key joining as a patient, go in.
    for (const t of [
      signed(admin, 2, 'provider.register', { provider: stranger.publicKey, role: 'nurse' }),
      signed(admin, 3, 'governance.propose', {
        change: { type: 'remove', orgId: sha256(utf8('org')) },
      }),
      signed(alice, 2, 'consent.grant', grantFor(alice, clinician, T0)),
      tx(signer('newcomer'), 1),
    ]) {
      expect(mempool.admit(bytes(t), 'api').accepted).toBe(true);
    }
  });

  it("judges a delegate's liveness at the last block's time", () => {
    let headTime = T0;
    const { mempool, commit } = setup({ headTime: () => headTime });
    const alice = signer('alice');
    const guardian = signer('guardian');
    const clinician = signer('admin');
    for (const t of [
      tx(alice, 1),
      signed(alice, 2, 'patient.delegate', {
        patient: alice.publicKey,
        delegate: guardian.publicKey,
        relation: 'guardian',
        expiresAt: T0 + 10_000,
      }),
    ]) {
      expect(mempool.admit(bytes(t), 'api').accepted).toBe(true);
    }
    expect(commit(mempool.reap(10, 1 << 20)).receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
    const grant = signed(guardian, 1, 'consent.grant', grantFor(alice, clinician, T0));
    headTime = T0 + 9_999;
    expect(mempool.admit(bytes(grant), 'api').accepted).toBe(true);
    const later = signed(guardian, 2, 'patient.policy', {
      patient: alice.publicKey,
      breakGlassOptOut: true,
      researchOptOut: false,
    });
    headTime = T0 + 10_000;
    expect(mempool.admit(bytes(later), 'api')).toMatchObject({ code: 'NOT_PATIENT_OR_DELEGATE' });
  });

  it('drops a transaction that waited the TTL behind a nonce gap, and counts it', async () => {
    let now = T0;
    const { mempool, metrics, commit } = setup({
      clock: { now: () => now },
      futureNonceTtlMs: 10_000,
    });
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map(signer) as [Signer, Signer, Signer];
    const waiting = [step(alice, 3), step(bob, 2), step(carol, 2), tx(alice, 1)];
    for (const t of waiting) expect(mempool.admit(bytes(t), 'api').accepted).toBe(true);
    now += 5_000;
    // Carol's gap closes before the TTL; alice's nonce 2 and bob's nonce 1 never come.
    expect(mempool.admit(bytes(tx(carol, 1)), 'api').accepted).toBe(true);
    now += 4_999;
    expect(mempool.expireFutureNonces()).toBe(0);
    now += 1;
    expect(mempool.expireFutureNonces()).toBe(2);
    expect(mempool.get(transactionHash(step(alice, 3)))).toBeUndefined();
    expect(mempool.get(transactionHash(step(bob, 2)))).toBeUndefined();
    expect(mempool.size).toBe(3);
    expect(await counterValue(metrics.mempool.expired)).toBe(2);
    // What could go in the next block never expires, however long it waits.
    now += 60_000;
    expect(mempool.expireFutureNonces()).toBe(0);
    expect(commit(mempool.reap(10, 1 << 20)).receipts.map((r) => r.code)).toEqual(
      Array(3).fill('OK'),
    );
    // Without an explicit sweep: admission, blocks and the proposal check expire on their own.
    expect(mempool.admit(bytes(step(bob, 5)), 'gossip').accepted).toBe(true);
    now += 10_000;
    expect(mempool.hasProposable()).toBe(false);
    expect(mempool.size).toBe(0);
    expect(await counterValue(metrics.mempool.expired)).toBe(3);
  });

  it('bounds pending transactions per API address (gossip is not counted) and per signer', async () => {
    const { mempool, metrics, commit } = setup({ maxPerAddress: 3, maxPerSigner: 2 });
    const one = '192.0.2.1';
    for (let i = 0; i < 3; i++) {
      expect(mempool.admit(bytes(tx(signer(`a${i}`), 1)), 'api', one).accepted).toBe(true);
    }
    expect(mempool.admit(bytes(tx(signer('a3'), 1)), 'api', one)).toMatchObject({
      accepted: false,
      code: 'RATE_LIMITED',
    });
    expect(mempool.admit(bytes(tx(signer('b0'), 1)), 'api', '192.0.2.2').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(signer('g0'), 1)), 'gossip', one).accepted).toBe(true);
    expect(mempool.pendingFromAddress(one)).toBe(3);
    // Per signer, whatever the source.
    const alice = signer('alice');
    expect(mempool.admit(bytes(tx(alice, 2)), 'gossip').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(alice, 3)), 'api', '192.0.2.3').accepted).toBe(true);
    expect(mempool.admit(bytes(tx(alice, 4)), 'gossip')).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await counterValue(metrics.mempool.limited, { limit: 'address' })).toBe(1);
    expect(await counterValue(metrics.mempool.limited, { limit: 'signer' })).toBe(1);
    expect(await counterValue(metrics.mempool.rejected, { reason: 'RATE_LIMITED' })).toBe(2);
    // Once committed, the address may submit again.
    commit(mempool.reap(100, 1 << 20));
    expect(mempool.pendingFromAddress(one)).toBe(0);
    expect(mempool.admit(bytes(tx(signer('a3'), 1)), 'api', one).accepted).toBe(true);
  });
});

describe('mempool: transactions behind a nonce gap', () => {
  it('holds at most a quarter of the pool, so the transactions that close gaps still get in', async () => {
    // Open-loop clients whose nonce 1 was refused MEMPOOL_FULL and retried after their nonce 2
    // got in: unbounded, such nonce-2s filled the pool, every nonce-1 was refused as full, and
    // the chain stalled until they expired.
    const { mempool, metrics, commit } = setup({ maxTxs: 8 });
    const patients = Array.from({ length: 8 }, (_, i) => signer(`gap${i}`));
    const seconds = patients.map((p) => mempool.admit(bytes(step(p, 2)), 'api'));
    expect(seconds.map((r) => r.accepted)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(seconds[2]).toMatchObject({ code: 'MEMPOOL_FULL' });
    expect(mempool.gapped).toBe(2);
    expect(mempool.hasProposable()).toBe(false);
    expect(await counterValue(metrics.mempool.limited, { limit: 'gapped' })).toBe(6);
    const firsts = patients.map((p) => mempool.admit(bytes(step(p, 1)), 'api').accepted);
    expect(firsts).toEqual([true, true, true, true, true, true, false, false]);
    expect(mempool.gapped).toBe(0);
    expect(await counterValue(metrics.mempool.gapped)).toBe(0);
    const { receipts } = commit(mempool.reap(100, 1 << 20));
    expect(receipts.map((r) => r.code)).toEqual(Array(8).fill('OK'));
    expect(mempool.size).toBe(0);
  });

  it('property: the gapped count is exact, and a full pool always has a transaction to propose', () => {
    const patients = Array.from({ length: 3 }, (_, i) => signer(`gap-prop${i}`));
    const action = fc.oneof(
      fc.record({ admit: fc.nat(2), nonce: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ block: fc.integer({ min: 1, max: 4 }) }),
      // A block from another node's pool: the patient's next transaction, unseen here.
      fc.record({ foreign: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 40 }), (actions) => {
        const { mempool, commit, state } = setup({ maxTxs: 8 });
        for (const a of actions) {
          if ('admit' in a) mempool.admit(bytes(step(patients[a.admit]!, a.nonce)), 'gossip');
          else if ('block' in a) commit(mempool.reap(a.block, 1 << 20));
          else {
            const patient = patients[a.foreign]!;
            commit([step(patient, expectedNonce(state, patient.publicKey))]);
          }
          // reap takes exactly the transactions that are not behind a gap.
          const proposable = mempool.reap(1_000, 1 << 30).length;
          expect(mempool.gapped).toBe(mempool.size - proposable);
          expect(mempool.gapped).toBeLessThanOrEqual(2);
          expect(mempool.hasProposable()).toBe(proposable > 0);
        }
      }),
      { numRuns: 100 },
    );
  });
});
