/**
 * Execution throughput: transactions executed per second by `executeBlock`, in blocks of
 * 1,000, on a state that already holds many patients. Signing happens before the clock
 * starts; the node's path passes signature verdicts from the mempool (`isSignatureValid`,
 * `isRequestSignatureValid`), the fallback verifies every signature during execution.
 * Sizes (registered patients): LEDGER_BENCH_PATIENTS=1000,100000 (the default).
 */
import { performance } from 'node:perf_hooks';
import {
  accessRequestDigest,
  decideAccess,
  type ExecutionOptions,
  type Transaction,
  transactionHash,
} from '../src/index.js';
import {
  ADMITTED_VERDICTS,
  type BenchChain,
  BLOCK_TXS,
  chunks,
  grantBlocks,
  key,
  populatedChain,
  seed,
} from './support/chain.js';

const MEASURED_BLOCKS = 3;

function buildWorld(patientCount: number) {
  const world = populatedChain(patientCount);
  const { chain } = world;
  const agent = key('bench/agent');
  chain.execute(
    chain.block([
      chain.tx(chain.admin, 'provider.register', { provider: agent.publicKey, role: 'admin' }),
    ]),
    { isSignatureValid: () => true },
  );
  return { ...world, agent };
}

/**
 * Measures CPU time (user + system) of this process rather than wall time: the benchmark
 * machine is shared, and CPU time is what a node spends per transaction.
 */
function measure(
  label: string,
  chain: BenchChain,
  blocks: Transaction[][],
  options: ExecutionOptions,
): void {
  let txCount = 0;
  let cpuMicros = 0;
  let wallMs = 0;
  for (const txs of blocks) {
    const block = chain.block(txs);
    for (const tx of txs) transactionHash(tx); // hashing is the mempool's work, done on admission
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    chain.execute(block, options);
    const cpu = process.cpuUsage(cpuStart);
    wallMs += performance.now() - wallStart;
    cpuMicros += cpu.user + cpu.system;
    txCount += txs.length;
  }
  const perSecond = Math.round(txCount / (cpuMicros / 1e6));
  console.log(
    `| ${label} | ${txCount} | ${perSecond.toLocaleString('en-US')} | ${(cpuMicros / txCount).toFixed(0)} | ${((wallMs * 1000) / txCount).toFixed(0)} |`,
  );
}

export function run(): void {
  const sizes = (process.env.LEDGER_BENCH_PATIENTS ?? '1000,100000').split(',').map(Number);
  for (const size of sizes) {
    const setupStart = performance.now();
    const w = buildWorld(size);
    const keys = w.chain.store.size;
    console.log(
      `\n${size.toLocaleString('en-US')} patients (${keys.toLocaleString('en-US')} stored entries, setup ${((performance.now() - setupStart) / 1000).toFixed(1)} s)\n`,
    );
    console.log('| workload | txs | tx/s (per CPU second) | CPU µs/tx | wall µs/tx |');
    console.log('|---|---|---|---|---|');
    const count = BLOCK_TXS * MEASURED_BLOCKS;
    const pick = (i: number) => i % w.patients.length;
    const grants = (offset: number) => grantBlocks(w, offset, count);
    const verdicts = ADMITTED_VERDICTS;
    // Warm-up, not reported: the first blocks after a large setup pay for its garbage.
    for (const txs of grants(2 * count)) w.chain.execute(w.chain.block(txs), verdicts);
    measure('consent.grant, verdicts from mempool', w.chain, grants(0), verdicts);
    measure('consent.grant, verify in execution', w.chain, grants(count), {});
    const logs = (offset: number) =>
      chunks(
        Array.from({ length: count }, (_, i) => {
          const request = {
            recordId: w.records[pick(i)]!,
            requester: w.clinician.publicKey,
            action: 'access',
            purpose: 'TREAT',
            time: w.chain.time + 1000,
            nonce: seed(`request-${offset + i}`).slice(0, 16),
          } as const;
          const requestSignature = w.clinician.sign(accessRequestDigest(request));
          const consentId = consentFor(w, request.recordId);
          return w.chain.tx(w.agent, 'access.log', {
            request,
            requestSignature,
            decision: 'permit',
            consentId,
          });
        }),
        BLOCK_TXS,
      );
    measure('access.log (decision re-checked), verdicts from mempool', w.chain, logs(0), verdicts);
    measure(
      'access.log (decision re-checked), tx verdict only: request signature verified in execution',
      w.chain,
      logs(2 * count),
      { isSignatureValid: () => true },
    );
    measure(
      'access.log (decision re-checked), verify both signatures in execution',
      w.chain,
      logs(count),
      {},
    );
  }
}

/** The consent the custodian names: what decideAccess finds at the next block's time. */
function consentFor(w: ReturnType<typeof buildWorld>, record: Uint8Array): Uint8Array {
  const decision = decideAccess(w.chain.state, {
    requester: w.clinician.publicKey,
    action: 'access',
    recordId: record,
    purpose: 'TREAT',
    time: w.chain.time + 1000,
  });
  if (decision.consentId === null) throw new Error('bench: no consent for the access request');
  return decision.consentId;
}
