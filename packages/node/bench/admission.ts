import { cpuUsage } from 'node:process';
import { Signer, sha256, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  accessRequestDigest,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  encodeTransaction,
  executeBlock,
  expectedNonce,
  initGenesisState,
  MemoryStore,
  recordId,
  signTransaction,
  type Transaction,
  type TxKind,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import { createMetrics, Mempool } from '../src/index.js';

/*
 * CPU per transaction of mempool admission (`Mempool.admit`: decode, hash, nonce, the
 * signer's role, signature verify) for the `medchain bench` mix, on a state holding many
 * patients with a record each. No network or disk. Usage:
 *   TSX_TSCONFIG_PATH=tsconfig.test.json npx tsx packages/node/bench/admission.ts [patients=2000] [rounds=5]
 */

const patients = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 5);
const chainId = 'medchain-bench';
const T0 = 1_750_000_000_000;
const DAY = 86_400_000;
const seed = (label: string) => sha256(utf8(`admission-bench:${label}`));
const key = (label: string) => new Signer(seed(label));

const store = new MemoryStore();
const state = new AuthenticatedState(store);
const admin = key('admin');
const validator = key('validator');
const orgId = seed('org');
const genesis = initGenesisState(state, {
  chainId,
  genesisTime: T0,
  organizations: [
    {
      id: orgId,
      adminKeys: [admin.publicKey],
      validatorKey: validator.publicKey,
      peerId: '12D3KooWBenchBenchBenchBench',
    },
  ],
  params: DEFAULT_LEDGER_PARAMS,
  consensus: {},
});
store.write(genesis.ops);
/** Transactions signed and not yet committed, per signer: a round starts again from zero. */
const pending = new Map<Signer, number>();
const sign = (from: Signer, kind: TxKind, body: object): Transaction => {
  const nonce = expectedNonce(state, from.publicKey) + (pending.get(from) ?? 0);
  pending.set(from, (pending.get(from) ?? 0) + 1);
  return signTransaction(
    { chainId, kind, body: body as never, signer: from.publicKey, nonce },
    from,
  );
};
let height = 0;
function execute(txs: Transaction[]): void {
  const validators = validatorsFromState(state);
  height++;
  const block = buildBlock(
    {
      chainId,
      height,
      time: T0 + height * 1000,
      parentHash: seed(`parent-${height}`),
      stateRoot: state.root(),
      validatorSetHash: validatorSetHash(validators),
      proposer: validators[0]!.publicKey,
    },
    txs,
  );
  store.write(executeBlock(state, block, { isSignatureValid: () => true }).ops);
  pending.clear();
}
const clinician = key('clinician');
execute([sign(admin, 'provider.register', { provider: clinician.publicKey, role: 'clinician' })]);
const people = Array.from({ length: patients }, (_, i) => key(`patient-${i}`));
const records = people.map((p, i) => recordId(orgId, p.publicKey, seed(`r${i}`).slice(0, 16)));
const setup = people.flatMap((patient, i) => [
  sign(patient, 'patient.register', {}),
  sign(clinician, 'record.anchor', {
    patient: patient.publicKey,
    custodian: orgId,
    resourceType: 'Observation',
    contentHash: seed(`c${i}`),
    nonce: seed(`r${i}`).slice(0, 16),
  }),
]);
for (let i = 0; i < setup.length; i += 1_000) execute(setup.slice(i, i + 1_000));
const now = T0 + height * 1000;

/** One `medchain bench` round per patient: new patient, grant, revoke, 2 access.log, anchor. */
function round(r: number): Uint8Array[] {
  return people.flatMap((patient, i) => {
    const grant = sign(patient, 'consent.grant', {
      patient: patient.publicKey,
      grantee: { type: 'provider', id: clinician.publicKey },
      recordIds: [records[i]!],
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: now,
      validUntil: now + DAY,
    });
    const log = (n: number) => {
      const request = {
        recordId: records[i]!,
        requester: clinician.publicKey,
        action: 'access',
        purpose: 'TREAT',
        time: now,
        nonce: seed(`request-${r}-${i}-${n}`).slice(0, 16),
      } as const;
      return sign(validator, 'access.log', {
        request,
        requestSignature: clinician.sign(accessRequestDigest(request)),
        decision: 'deny',
        consentId: null,
      });
    };
    return [
      sign(key(`new-${r}-${i}`), 'patient.register', {}),
      grant,
      sign(patient, 'consent.revoke', { consentId: seed(`pending-${r}-${i}`) }),
      log(0),
      log(1),
      sign(clinician, 'record.anchor', {
        patient: patient.publicKey,
        custodian: orgId,
        resourceType: 'Observation',
        contentHash: seed(`c-${r}-${i}`),
        nonce: seed(`anchor-${r}-${i}`).slice(0, 16),
      }),
    ].map((tx) => encodeTransaction(tx).slice());
  });
}

/** Best CPU µs per admitted transaction over `rounds` rounds, each with a fresh pool. */
function measure(verify: ((tx: Transaction) => boolean) | undefined): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    pending.clear();
    const wire = round(r);
    // A fresh pool per round over the same committed state: the nonces stay in the window.
    const mempool = new Mempool({
      chainId,
      maxTxs: 1_000_000,
      maxBytes: 1 << 30,
      maxTxBytes: 64 * 1024,
      nonceWindow: 1_000_000,
      maxPerSigner: 1_000_000,
      maxPerAddress: 1_000_000,
      state: () => state,
      headTime: () => now,
      isCommitted: () => false,
      metrics: createMetrics(),
      ...(verify === undefined ? {} : { verify }),
    });
    const start = cpuUsage();
    for (const raw of wire) {
      const result = mempool.admit(raw, 'api', '127.0.0.1');
      if (!result.accepted) throw new Error(`refused: ${result.code} ${result.message}`);
    }
    const cpu = cpuUsage(start);
    best = Math.min(best, (cpu.user + cpu.system) / wire.length);
  }
  return best;
}

const mix = `medchain bench mix, ${patients} patients, best of ${rounds} rounds`;
console.log(`admission (${mix}): ${measure(undefined).toFixed(1)} CPU us per tx`);
console.log(
  `admission without the signature check (${mix}): ${measure(() => true).toFixed(1)} CPU us per tx`,
);
