/**
 * Mempool admission's role check: `signerRoleRefusal` per transaction (body parse + the
 * kind's role check, state reads only), on a state holding many patients with a record each.
 * Transactions are signed and decoded before the clock starts, as the mempool has them.
 * Sizes (registered patients): LEDGER_BENCH_PATIENTS (default 1000,20000 here).
 */
import type { Signer } from '@medchain/crypto';
import {
  accessRequestDigest,
  decodeTransaction,
  encodeTransaction,
  signerRoleRefusal,
  type Transaction,
} from '../src/index.js';
import { DAY, key, populatedChain, seed } from './support/chain.js';

const SAMPLES = 5_000;
const ROUNDS = 7;

function world(patients: number) {
  const { chain, clinician, patients: people, records } = populatedChain(patients);
  const tx = chain.tx.bind(chain);
  return {
    state: chain.state,
    time: chain.time,
    tx,
    validator: chain.validator,
    clinician,
    people,
    records,
  };
}

/**
 * CPU time (user + system) per check, the best of ROUNDS rounds: the bench machine is shared,
 * and the least disturbed round is the closest to the check's own cost.
 */
function measure(
  label: string,
  w: ReturnType<typeof world>,
  txs: Transaction[],
  refused: boolean,
): void {
  const decoded = txs.map((t) => decodeTransaction(encodeTransaction(t)));
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    let refusals = 0;
    const start = process.cpuUsage();
    for (const t of decoded) if (signerRoleRefusal(w.state, t, w.time) !== undefined) refusals++;
    const cpu = process.cpuUsage(start);
    best = Math.min(best, (cpu.user + cpu.system) / decoded.length);
    if (refusals !== (refused ? decoded.length : 0)) {
      throw new Error(`bench ${label}: ${refusals} of ${decoded.length} refused`);
    }
  }
  console.log(`| ${label} | ${refused ? 'refused' : 'admitted'} | ${best.toFixed(2)} |`);
}

export function run(): void {
  const sizes = (process.env.LEDGER_BENCH_PATIENTS ?? '1000,20000').split(',').map(Number);
  for (const size of sizes) {
    const w = world(size);
    console.log(`\n${size.toLocaleString('en-US')} patients\n`);
    console.log('| transaction | verdict | CPU µs per check |');
    console.log('|---|---|---|');
    const at = (i: number) => i % w.people.length;
    const grant = (by: Signer, patient: Signer) =>
      w.tx(by, 'consent.grant', {
        patient: patient.publicKey,
        grantee: { type: 'provider', id: w.clinician.publicKey },
        recordIds: [],
        resourceTypes: ['Observation'],
        actions: ['access'],
        purposes: ['TREAT'],
        validFrom: w.time,
        validUntil: w.time + DAY,
      });
    const n = Array.from({ length: SAMPLES }, (_, i) => i);
    measure(
      'consent.grant by the patient',
      w,
      n.map((i) => grant(w.people[at(i)]!, w.people[at(i)]!)),
      false,
    );
    measure(
      "consent.grant for someone else's patient",
      w,
      n.map((i) => grant(w.people[at(i)]!, w.people[at(i + 1)]!)),
      true,
    );
    measure(
      'access.log by the custodian node',
      w,
      n.map((i) => {
        const request = {
          recordId: w.records[at(i)]!,
          requester: w.clinician.publicKey,
          action: 'access',
          purpose: 'TREAT',
          time: w.time,
          nonce: seed(`n${i}`).slice(0, 16),
        } as const;
        return w.tx(w.validator, 'access.log', {
          request,
          requestSignature: w.clinician.sign(accessRequestDigest(request)),
          decision: 'deny',
          consentId: null,
        });
      }),
      false,
    );
    measure(
      'patient.register by a new key',
      w,
      n.map((i) => w.tx(key(`admission/new-${i}`), 'patient.register', {})),
      false,
    );
    measure(
      'provider.register by a stranger',
      w,
      n.map((i) =>
        w.tx(key(`admission/stranger-${i}`), 'provider.register', {
          provider: key(`admission/p-${i}`).publicKey,
          role: 'nurse',
        }),
      ),
      true,
    );
  }
}
