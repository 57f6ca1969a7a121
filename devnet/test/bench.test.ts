import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, json, tempDir } from '../../packages/cli/test/helpers.js';
import { renderChart } from '../src/bench/chart.js';
import { summarize } from '../src/bench/stats.js';

/** Tags of an XML document balance (a small well-formedness check: no parser dependency). */
function parseXml(text: string): { root: string; ids: Map<string, string> } {
  const stack: string[] = [];
  const ids = new Map<string, string>();
  let root = '';
  for (const match of text.matchAll(
    /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g,
  )) {
    const [, closing, name, attributes, selfClosing] = match;
    if (closing === '/') {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    if (stack.length === 0 && root !== '') throw new Error('two root elements');
    if (root === '') root = name!;
    const id = /\sid="([^"]*)"/.exec(attributes!);
    const d = /\sd="([^"]*)"/.exec(attributes!);
    if (id !== null) ids.set(id[1]!, d?.[1] ?? '');
    if (selfClosing !== '/') stack.push(name!);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  // Nothing that looks like a tag may be left unmatched by the pattern above.
  const tags = text.match(/</g)?.length ?? 0;
  const matched = [...text.matchAll(/<\/?[a-zA-Z][\w:-]*(?:\s+[\w:-]+="[^"<]*")*\s*\/?>/g)].length;
  if (tags !== matched) throw new Error(`${tags - matched} malformed tags`);
  return { root, ids };
}

const point = fc.record({
  txs: fc.nat(100_000),
  p50: fc.option(fc.double({ min: 0, max: 1e5, noNaN: true }), { nil: null }),
  p99: fc.option(fc.double({ min: 0, max: 1e5, noNaN: true }), { nil: null }),
});

describe('bench chart and statistics', () => {
  it('any series renders to a well-formed SVG with the three series', () => {
    fc.assert(
      fc.property(
        fc.array(point, { maxLength: 120 }),
        fc.nat(10),
        fc.string(),
        (points, warmupS, title) => {
          const series = points.map((p, t) => ({ t, ...p }));
          const svg = renderChart({ title, subtitle: 's & <t>', series, warmupS });
          const { root, ids } = parseXml(svg);
          expect(root).toBe('svg');
          expect([...ids.keys()].sort()).toEqual(['series-p50', 'series-p99', 'series-txs']);
          expect(ids.get('series-txs')!.split('L').length).toBe(Math.max(1, series.length));
          expect(svg).not.toContain('NaN');
        },
      ),
    );
  });

  it('percentiles are ordered and taken from the data', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1 }), (values) => {
        const s = summarize(values);
        expect(s.count).toBe(values.length);
        expect(s.p50).toBeLessThanOrEqual(s.p90);
        expect(s.p90).toBeLessThanOrEqual(s.p99);
        expect(s.p99).toBeLessThanOrEqual(s.max);
        expect(values).toContain(s.p50);
        expect(s.max).toBe(Math.max(...values));
      }),
    );
  });
});

describe('medchain bench (a short run on its own 1-validator devnet)', () => {
  const out = tempDir('bench');
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes a well-formed report and a chart with throughput and latency series', async () => {
    const run = await cli(
      [
        'bench',
        '--validators',
        '1',
        '--rate',
        '100',
        '--duration',
        '3s',
        '--warmup',
        '1s',
        '--clients',
        '20',
        '--clinicians',
        '3',
        '--out',
        out,
        '--cpu-profile',
        join(out, 'profiles'),
        '--json',
      ],
      { timeoutMs: 85_000 },
    );
    expect(run.code, run.stderr).toBe(0);
    const report = json<{
      version: number;
      calibration: {
        verifyPerSecond: number;
        cores: number;
        boundTxPerSecond: Record<string, number>;
      };
      machine: { loadAverageAtStart: number[] };
      sweep: { kind: string };
      runs: {
        label: string;
        validators: number;
        chart: string;
        txPerSecond: number;
        blocksPerSecond: number;
        latencyMs: Record<string, number>;
        nodes: {
          name: string;
          cpuCores: number | null;
          cpuUsPerTx: number | null;
          rssMaxMb: number;
        }[];
        series: { t: number; txs: number; p50: number | null; p99: number | null }[];
        receipts: Record<string, number>;
        boundTxPerSecond: number;
        fractionOfBound: number;
        cpuProfileDir?: string;
      }[];
    }>(run);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toEqual(report);
    expect(report.version).toBe(1);
    expect(report.sweep.kind).toBe('none');
    expect(report.calibration.verifyPerSecond).toBeGreaterThan(0);
    expect(Object.keys(report.calibration.boundTxPerSecond)).toEqual(['1']);
    expect(report.machine.loadAverageAtStart).toHaveLength(3);
    expect(report.runs).toHaveLength(1);
    const [result] = report.runs;
    expect(result!.validators).toBe(1);
    expect(Object.keys(result!.latencyMs).sort()).toEqual(
      ['count', 'max', 'mean', 'p50', 'p90', 'p99'].sort(),
    );
    for (const key of ['txPerSecond', 'blocksPerSecond', 'boundTxPerSecond', 'fractionOfBound']) {
      expect(typeof (result as unknown as Record<string, unknown>)[key]).toBe('number');
    }
    expect(result!.nodes).toHaveLength(1);
    expect(result!.nodes[0]!.name).toBe('hospital-a');
    expect(result!.nodes[0]!.rssMaxMb).toBeGreaterThan(0);
    expect(result!.series.map((s) => s.t)).toEqual([0, 1, 2, 3]);
    // Every receipt of the run was observed on the event stream.
    expect(Object.values(result!.receipts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // The validator ran under the profiler and wrote its profile as the bench stopped it.
    expect(result!.cpuProfileDir).toBe(join(out, 'profiles', result!.label));
    const profileDir = join(result!.cpuProfileDir!, 'hospital-a');
    // One file per thread (from source, tsx's loader has one); the main thread's id is 0.
    const profiles = readdirSync(profileDir).filter((name) => /\.0\.\d+\.cpuprofile$/.test(name));
    expect(profiles).toHaveLength(1);
    const profile = JSON.parse(readFileSync(join(profileDir, profiles[0]!), 'utf8')) as {
      nodes: { callFrame: { url: string; functionName: string } }[];
      samples: number[];
    };
    expect(profile.samples.length).toBeGreaterThan(0);
    // It sampled the node's own code (the workspace's packages), not only Node's.
    expect(profile.nodes.some((n) => n.callFrame.url.includes('/packages/node/'))).toBe(true);
    const chartPath = join(out, result!.chart);
    expect(existsSync(chartPath)).toBe(true);
    const { root, ids } = parseXml(readFileSync(chartPath, 'utf8'));
    expect(root).toBe('svg');
    for (const id of ['series-txs', 'series-p50', 'series-p99']) expect(ids.get(id)).toMatch(/^M/);
  }, 90_000);
});
