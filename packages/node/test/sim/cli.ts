import { parseArgs } from 'node:util';
import { describeCampaign, formatNodeSimFailure, runNodeCampaign } from './campaign.js';
import { describeNodeSimParams, type NodeSimOverrides, nodeSimParams } from './params.js';
import { shellFactory } from './shell.js';
import { runNodeSimulation } from './simulation.js';

/**
 * pnpm sim:node --seed S             replay one run of the node-level simulation, with its trace
 * pnpm sim:node --runs N [--start S]  a campaign of N seeded runs (seeds S..S+N-1)
 * Options: --n 7 (fix the validator count), --set name=value (fix any parameter, e.g.
 * --set lossRate=0.3 --set partitions=true), --quiet.
 */
const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    runs: { type: 'string' },
    start: { type: 'string', default: '1' },
    n: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    quiet: { type: 'boolean', default: false },
  },
});

const overrides: NodeSimOverrides = Object.fromEntries([
  ...(values.n === undefined ? [] : [['n', Number(values.n)]]),
  ...values.set.map((pair) => {
    const [name, value] = pair.split('=') as [string, string];
    return [name, value === 'true' ? true : value === 'false' ? false : Number(value)];
  }),
]);

if (values.seed !== undefined) {
  const params = nodeSimParams(Number(values.seed), overrides);
  console.log(describeNodeSimParams(params));
  const result = await runNodeSimulation(params, shellFactory, { verbose: !values.quiet });
  for (const line of result.trace) console.log(line);
  console.log(
    `heights ${result.heights.join(',')}, ${result.acks} acks, ${result.crashes} crashes, ${result.events} events, settled ${result.settledAfterMs ?? '-'} ms after faults`,
  );
  if (result.violations.length > 0) {
    console.log(formatNodeSimFailure(result));
    process.exitCode = 1;
  } else {
    console.log('OK: no violations');
  }
} else {
  const runs = Number(values.runs ?? '1000');
  const start = Number(values.start);
  const report = await runNodeCampaign(start, runs, {
    overrides,
    onFailure: (result) => console.log(formatNodeSimFailure(result)),
    onProgress: (done, partial) => {
      if (!values.quiet && done % 100 === 0) console.log(describeCampaign(start, partial));
    },
  });
  console.log(describeCampaign(start, report));
  if (report.failures.length > 0) process.exitCode = 1;
}
