import type { PointReport } from './point.js';

/** One second of a run, as charted. */
export interface ChartPoint {
  readonly t: number;
  readonly txs: number;
  readonly p50: number | null;
  readonly p99: number | null;
}

export interface ChartInput {
  readonly title: string;
  readonly subtitle: string;
  readonly series: readonly ChartPoint[];
  /** Seconds of warmup at the start (shaded). */
  readonly warmupS: number;
  /** When a validator was killed, seconds from the start (a marked line). */
  readonly crashAtS?: number;
}

const WIDTH = 960;
const PANEL_HEIGHT = 220;
const LEFT = 80;
const RIGHT = 30;
const TOP = 70;
const GAP = 70;
const COLORS = { txs: '#2b6cb0', p50: '#2f855a', p99: '#c53030' };

/** 1, 2 or 5 times a power of ten, so that about `count` ticks cover `max`. */
function tickStep(max: number, count: number): number {
  const raw = Math.max(max, 1e-9) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Throughput (committed tx per second) above, commit latency p50 and p99 per second below, on
 * one time axis: plain SVG, no dependencies. Series elements carry ids (`series-txs`,
 * `series-p50`, `series-p99`) so tests and scripts can find them.
 */
export function renderChart(input: ChartInput): string {
  const { series } = input;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const seconds = Math.max(1, series.length);
  const x = (t: number) => LEFT + (t / seconds) * plotWidth;
  const parts: string[] = [];
  const height = TOP + 2 * PANEL_HEIGHT + GAP + 60;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(`${input.title}: ${input.subtitle}`)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="28" font-size="18" font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="${LEFT}" y="48" fill="#4a5568">${escapeXml(input.subtitle)}</text>`,
  );

  const panel = (
    top: number,
    label: string,
    max: number,
    lines: { id: string; color: string; name: string; values: (number | null)[] }[],
  ) => {
    const step = tickStep(max, 5);
    const yMax = Math.max(step, Math.ceil(max / step) * step);
    const y = (v: number) => top + PANEL_HEIGHT - (v / yMax) * PANEL_HEIGHT;
    if (input.warmupS > 0) {
      parts.push(
        `<rect x="${x(0)}" y="${top}" width="${x(input.warmupS) - x(0)}" height="${PANEL_HEIGHT}" fill="#edf2f7"/>`,
        `<text x="${x(0) + 4}" y="${top + 14}" fill="#718096">warmup</text>`,
      );
    }
    for (let v = 0; v <= yMax + 1e-9; v += step) {
      parts.push(
        `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e8f0"/>`,
        `<text x="${LEFT - 8}" y="${y(v) + 4}" text-anchor="end">${Number(v.toPrecision(6))}</text>`,
      );
    }
    const xStep = tickStep(seconds, 10);
    for (let t = 0; t <= seconds; t += xStep) {
      parts.push(
        `<line x1="${x(t)}" x2="${x(t)}" y1="${top + PANEL_HEIGHT}" y2="${top + PANEL_HEIGHT + 5}" stroke="#2d3748"/>`,
        `<text x="${x(t)}" y="${top + PANEL_HEIGHT + 18}" text-anchor="middle">${t}</text>`,
      );
    }
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#2d3748"/>`,
      `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${top + PANEL_HEIGHT}" y2="${top + PANEL_HEIGHT}" stroke="#2d3748"/>`,
      `<text transform="translate(${LEFT - 55} ${top + PANEL_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escapeXml(label)}</text>`,
      `<text x="${LEFT + plotWidth / 2}" y="${top + PANEL_HEIGHT + 34}" text-anchor="middle">time since start (s)</text>`,
    );
    if (input.crashAtS !== undefined) {
      parts.push(
        `<line x1="${x(input.crashAtS)}" x2="${x(input.crashAtS)}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#805ad5" stroke-dasharray="4 3"/>`,
        `<text x="${x(input.crashAtS) + 4}" y="${top + 28}" fill="#805ad5">validator killed</text>`,
      );
    }
    lines.forEach((line, i) => {
      // Each value is the second [t, t+1): drawn at its middle; gaps (no data) break the line.
      const segments: string[][] = [[]];
      line.values.forEach((v, t) => {
        if (v === null) segments.push([]);
        else segments[segments.length - 1]!.push(`${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`);
      });
      const d = segments
        .filter((s) => s.length > 0)
        .map((s) => `M${s.join(' L')}`)
        .join(' ');
      // Dots as well: a second with data between two empty ones is a path of one point.
      const dots = line.values
        .map((v, t) =>
          v === null
            ? ''
            : `<circle cx="${x(t + 0.5).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${line.color}"/>`,
        )
        .join('');
      parts.push(
        `<path id="series-${line.id}" d="${d}" fill="none" stroke="${line.color}" stroke-width="2"/>`,
        `<g class="points-${line.id}">${dots}</g>`,
        `<line x1="${LEFT + plotWidth - 150}" x2="${LEFT + plotWidth - 130}" y1="${top + 14 + i * 16}" y2="${top + 14 + i * 16}" stroke="${line.color}" stroke-width="2"/>`,
        `<text x="${LEFT + plotWidth - 124}" y="${top + 18 + i * 16}">${escapeXml(line.name)}</text>`,
      );
    });
  };

  const txs = series.map((s) => s.txs);
  panel(TOP, 'committed tx/s', Math.max(1, ...txs), [
    { id: 'txs', color: COLORS.txs, name: 'throughput', values: txs },
  ]);
  const p50 = series.map((s) => s.p50);
  const p99 = series.map((s) => s.p99);
  const latencyMax = Math.max(1, ...p99.map((v) => v ?? 0), ...p50.map((v) => v ?? 0));
  panel(TOP + PANEL_HEIGHT + GAP, 'commit latency (ms)', latencyMax, [
    { id: 'p50', color: COLORS.p50, name: 'p50 latency', values: p50 },
    { id: 'p99', color: COLORS.p99, name: 'p99 latency', values: p99 },
  ]);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The chart of one bench run, titled with its setting and result. */
export function chartOfRun(run: PointReport): string {
  const mode =
    run.mode.kind === 'open'
      ? `open loop at ${run.mode.rate} tx/s`
      : `closed loop, ${run.mode.window} in flight`;
  return renderChart({
    title: `medchain bench: ${run.label}`,
    subtitle: `${run.validators} validator${run.validators === 1 ? '' : 's'}, ${mode}; ${run.txPerSecond} tx/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; load average ${run.loadAverage[0]}`,
    series: run.series,
    warmupS: run.warmupS,
    ...(run.crash === undefined ? {} : { crashAtS: run.crash.atS }),
  });
}
