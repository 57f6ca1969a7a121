// Preload for any node process (`NODE_OPTIONS=--import=<this file>`, which the devnet's
// validators inherit): V8's sampling heap profiler over a window of the process's life, written
// to HEAP_SAMPLING_DIR/<pid>.heapprofile. HEAP_SAMPLING_PROMOTED=1 drops objects the young
// generation collected, so what is left is what was promoted (the old generation's intake).
// Summarise with `npx tsx devnet/bench/heap-summary.ts FILE`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const dir = process.env.HEAP_SAMPLING_DIR ?? '/tmp/heap-sampling';
const delayMs = Number(process.env.HEAP_SAMPLING_DELAY_S ?? 25) * 1000;
const spanMs = Number(process.env.HEAP_SAMPLING_SPAN_S ?? 20) * 1000;
const session = new Session();
session.connect();
setTimeout(() => {
  const options = {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: process.env.HEAP_SAMPLING_PROMOTED !== '1',
  };
  session.post('HeapProfiler.startSampling', options, (error) => {
    if (error) return;
    setTimeout(() => {
      session.post('HeapProfiler.stopSampling', (stopError, result) => {
        if (stopError) return;
        mkdirSync(dir, { recursive: true });
        writeFileSync(`${dir}/${process.pid}.heapprofile`, JSON.stringify(result.profile));
      });
    }, spanMs).unref();
  });
}, delayMs).unref();
