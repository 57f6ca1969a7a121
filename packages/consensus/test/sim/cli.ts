import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { describeParams, type ParamOverrides, paramsFromSeed } from './params.js';
import { formatFailure, runSimulation } from './simulator.js';

/**
 * pnpm sim --seed S            replay one run, printing its trace
 * pnpm sim --runs N [--start S] a campaign of N seeded runs (seeds S..S+N-1)
 * Options: --n 4 (fix the validator count), --broken-quorum (prove the checkers fail),
 * --idle-work (every run with work coming and going), --key-rotations (honest validators rotate
 * their keys by block).
 */
const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    runs: { type: 'string' },
    start: { type: 'string', default: '1' },
    n: { type: 'string' },
    'broken-quorum': { type: 'boolean', default: false },
    'idle-work': { type: 'boolean', default: false },
    'key-rotations': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});

const overrides: ParamOverrides = {
  ...(values.n !== undefined ? { n: Number(values.n) } : {}),
  ...(values['broken-quorum'] ? { brokenQuorum: true } : {}),
  ...(values['idle-work'] ? { idleWork: true } : {}),
  ...(values['key-rotations'] ? { keyRotations: true } : {}),
};

if (values.seed !== undefined) {
  const params = paramsFromSeed(Number(values.seed), overrides);
  console.log(describeParams(params));
  const result = runSimulation(params, !values.quiet);
  for (const line of result.events) console.log(line);
  console.log(
    `heights ${result.minHeight}..${result.maxHeight}, ${result.delivered} messages, ${result.ticks} ticks, liveness after ${result.livenessTicksUsed ?? '-'} ticks, ${result.evidence} equivocations caught`,
  );
  if (result.violations.length > 0) {
    console.log(formatFailure(result));
    process.exitCode = 1;
  } else {
    console.log('OK: no violations');
  }
} else {
  const runs = Number(values.runs ?? '100');
  const start = Number(values.start);
  const began = performance.now();
  let failures = 0;
  let maxLiveness = 0;
  let heights = 0;
  let evidence = 0;
  let runsWithEvidence = 0;
  const byN = new Map<number, number>();
  const byKind = new Map<string, number>();
  for (let i = 0; i < runs; i++) {
    const params = paramsFromSeed(start + i, overrides);
    const result = runSimulation(params);
    byN.set(params.n, (byN.get(params.n) ?? 0) + 1);
    heights += result.maxHeight;
    evidence += result.evidence;
    if (result.evidence > 0) runsWithEvidence++;
    maxLiveness = Math.max(maxLiveness, result.livenessTicksUsed ?? 0);
    if (result.violations.length > 0) {
      failures++;
      for (const v of result.violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
      console.log(formatFailure(result));
    }
    if (!values.quiet && (i + 1) % 500 === 0) {
      // A full progress line, so a campaign cut short still reports what it covered.
      const seconds = ((performance.now() - began) / 1000).toFixed(0);
      const mix = [...byN]
        .sort((a, b) => a[0] - b[0])
        .map(([n, c]) => `${n}:${c}`)
        .join(' ');
      console.log(
        `${i + 1}/${runs} runs (seeds ${start}..${start + i}; n ${mix}), ${failures} failing, max liveness ticks ${maxLiveness}, ${seconds} s`,
      );
    }
  }
  const seconds = (performance.now() - began) / 1000;
  console.log(
    [
      `runs=${runs} seeds=${start}..${start + runs - 1}`,
      `n: ${[...byN]
        .sort((a, b) => a[0] - b[0])
        .map(([n, c]) => `${n}:${c}`)
        .join(' ')}`,
      `failing runs=${failures} ${[...byKind].map(([k, c]) => `${k}:${c}`).join(' ')}`,
      `committed heights (max per run) total=${heights}, max liveness ticks=${maxLiveness}`,
      `equivocations caught by honest nodes=${evidence} (in ${runsWithEvidence} runs)`,
      `time=${seconds.toFixed(1)} s (${((seconds * 1000) / runs).toFixed(1)} ms/run)`,
    ].join('\n'),
  );
  if (failures > 0) process.exitCode = 1;
}
