/**
 * Redraws the charts of a bench report (after a change to the chart), next to it.
 * Usage: npx tsx --tsconfig tsconfig.test.json devnet/bench/replot.ts DIR/report.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chartOfRun } from '../src/bench/chart.js';
import type { BenchReport } from '../src/bench/command.js';

const [file] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: replot.ts DIR/report.json');
const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
for (const run of report.runs) {
  const chart = run.chart ?? `${run.label}.svg`;
  writeFileSync(join(dirname(file), chart), chartOfRun(run));
  console.log(join(dirname(file), chart));
}
