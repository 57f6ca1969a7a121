import { cpuUsage } from 'node:process';
import { accessRequestDigest, encodeTransaction, type Transaction } from '@medchain/ledger';
import { CHAIN_ID, DAY, key, populatedChain, seed } from '../../ledger/bench/support/chain.js';
import { createMetrics, Mempool } from '../src/index.js';

/*
 * CPU per transaction of mempool admission (`Mempool.admit`: decode, hash, nonce, the
 * signer's role, signature verify) for the `medchain bench` mix, on a state holding many
 * patients with a record each. No network or disk. Usage:
 *   TSX_TSCONFIG_PATH=tsconfig.test.json npx tsx packages/node/bench/admission.ts [patients=2000] [rounds=5]
 */

const patients = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 5);
const { chain, clinician, patients: people, records } = populatedChain(patients);
const { state, validator, orgId } = chain;
const now = chain.time;
/** Signs from the committed state on: a round's transactions are never committed. */
const sign = chain.tx.bind(chain);

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
    chain.nonces.clear();
    const wire = round(r);
    // A fresh pool per round over the same committed state: the nonces stay in the window.
    const mempool = new Mempool({
      chainId: CHAIN_ID,
      maxTxs: 1_000_000,
      maxBytes: 1 << 30,
      maxTxBytes: 64 * 1024,
      nonceWindow: 1_000_000,
      maxPerSigner: 1_000_000,
      maxPerAddress: 1_000_000,
      head: { state, lastTime: now, hasTransaction: () => false },
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
