/**
 * Growth with state: CPU µs per `consent.grant` (1,000-tx blocks, signature verdicts from the
 * mempool, `executeBlock` plus the store write) with the state commit measured apart, at
 * growing numbers of patients. Patients: LEDGER_GROWTH_PATIENTS=1000,20000 (the default;
 * setup executes two signed transactions per patient, about 20 ms each on a loaded machine).
 * For where the time goes, run it under `node --cpu-prof`.
 */
import { loadavg } from 'node:os';
import { ADMITTED_VERDICTS, grantBlocks, populatedChain, timeCommits } from './support/chain.js';

const WARM_UP_TXS = 2_000;
const MEASURED_TXS = 4_000;

function grow(patientCount: number): string {
  const setupStart = performance.now();
  const w = populatedChain(patientCount);
  const setupSeconds = (performance.now() - setupStart) / 1000;
  const entries = w.chain.store.size;
  const grants = (offset: number, count: number) => grantBlocks(w, offset, count);
  const verdicts = ADMITTED_VERDICTS;
  // Warm-up, not reported: the first blocks after a large setup pay for its garbage.
  for (const txs of grants(0, WARM_UP_TXS)) w.chain.execute(w.chain.block(txs), verdicts);
  const { state } = w.chain;
  const commitMicros = timeCommits(state);
  let micros = 0;
  const load = loadavg()[0]!;
  for (const txs of grants(WARM_UP_TXS, MEASURED_TXS)) {
    const block = w.chain.block(txs);
    const start = process.cpuUsage();
    w.chain.execute(block, verdicts);
    const used = process.cpuUsage(start);
    micros += used.user + used.system;
  }
  return [
    patientCount.toLocaleString('en-US'),
    entries.toLocaleString('en-US'),
    `${setupSeconds.toFixed(0)} s`,
    (micros / MEASURED_TXS).toFixed(0),
    (commitMicros() / MEASURED_TXS).toFixed(0),
    `${load.toFixed(1)}–${loadavg()[0]!.toFixed(1)}`,
  ].join(' | ');
}

export function run(): void {
  const sizes = (process.env.LEDGER_GROWTH_PATIENTS ?? '1000,20000').split(',').map(Number);
  console.log(
    '| patients | state entries after setup | setup | CPU µs per grant | of which state commit | load average |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const size of sizes) console.log(`| ${grow(size)} |`);
}
