import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import {
  duration,
  example,
  integer,
  listOf,
  oneOf,
  outputOf,
  table,
  usageError,
} from '@medchain/cli';
import { MAX_BATCH_TXS } from '@medchain/node';
import { type Command, Option } from 'commander';
import { parseBasePort } from '../up.js';
import { calibrate } from './calibrate.js';
import { chartOfRun } from './chart.js';
import { type BenchOptions, type PointReport, runPoint, type SweepKind } from './point.js';

const SWEEPS = ['validators', 'batch', 'leader-crash'] as const;
const DEFAULT_SWEEP_VALUES: Record<SweepKind, number[]> = {
  validators: [1, 4, 7, 10, 16],
  batch: [250, 1000, 2000, 5000],
  'leader-crash': [],
};

export interface BenchReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: {
    readonly cpus: number;
    readonly model: string;
    readonly loadAverageAtStart: number[];
    readonly loadAverageAtEnd: number[];
  };
  readonly calibration: {
    readonly verifyPerSecond: number;
    readonly cores: number;
    /** verifyPerSecond x cores / validators, per validator count used. */
    readonly boundTxPerSecond: Record<string, number>;
  };
  readonly sweep: {
    readonly kind: SweepKind | 'none';
    readonly values: number[];
    /** validators sweep: per-node CPU per committed tx at n over the same at n = 1. */
    readonly replicationOverhead?: { validators: number; ratio: number | null }[];
  };
  readonly runs: PointReport[];
}

function progressPrinter(json: boolean): { line: (text: string) => void; done: () => void } {
  const tty = process.stderr.isTTY === true && !json;
  let count = 0;
  return {
    line: (text) => {
      if (json) return;
      if (tty)
        process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`);
      else if (count++ % 5 === 0) process.stderr.write(`${text}\n`);
    },
    done: () => {
      if (tty) process.stderr.write('\n');
    },
  };
}

export function registerBench(program: Command): void {
  example(
    program
      .command('bench')
      .description(
        'load a devnet with signed consent traffic from many keys and report throughput, commit latency (submit to the block event), CPU and memory per node, with a chart',
      )
      .option('--dir <dir>', 'bench this running devnet (default: start one in a temp dir)')
      .option('--validators <n>', 'validators of the devnet it starts', integer(1, 26), 4)
      .option('--rate <tx/s>', 'open loop: submit at this rate (default 2500)', integer(1))
      .option(
        '--find-max',
        'closed loop: keep --window transactions uncommitted, as fast as it goes',
      )
      .option(
        '--window <n>',
        'uncommitted transactions kept in flight by --find-max',
        integer(1),
        2000,
      )
      .addOption(
        new Option('--duration <duration>', 'measured time')
          .default(30_000, '30s')
          .argParser(duration),
      )
      .addOption(
        new Option('--warmup <duration>', 'load before measuring')
          .default(5_000, '5s')
          .argParser(duration),
      )
      .option(
        '--clients <n>',
        'patients (each with its own key; clinicians are extra)',
        integer(1),
        1000,
      )
      .option('--clinicians <n>', 'clinicians per organization', integer(3), 8)
      .option('--max-txs <n>', 'most transactions to pre-sign for --find-max', integer(1), 120_000)
      .option(
        '--submit-batch <n>',
        `most transactions per POST: the due ones go out together in POST /v1/txs (1: one POST /v1/tx each; at most ${MAX_BATCH_TXS})`,
        integer(1, MAX_BATCH_TXS),
        256,
      )
      .option('--block-max-txs <n>', 'block size of the devnet it starts', integer(1), 2000)
      .option('--batch-time <ms>', 'block batching wait of the devnet it starts', integer(0), 50)
      .option(
        '--base-port <port>',
        'first of 2n consecutive ports of the devnet it starts (default 0: ports the OS picks)',
        parseBasePort,
      )
      .option(
        '--built',
        'the devnet it starts runs its validators from the build (`pnpm build` first), as installed, not from source under tsx',
      )
      .option(
        '--cpu-profile <dir>',
        'the validators of the devnets it starts write V8 CPU profiles into DIR/<run>/<node> as they stop (the profiler costs some throughput: compare profiled runs only with each other)',
      )
      .option('--out <dir>', 'where report.json and the charts go', 'bench-results')
      .addOption(
        new Option(
          '--sweep <kind>',
          'run several points: validators (1,4,7,10,16), batch (block sizes), leader-crash (kill the next primary halfway)',
        ).argParser(oneOf(SWEEPS)),
      )
      .option(
        '--sweep-values <list>',
        'values of the swept parameter (validators or block sizes)',
        listOf(integer(1)),
      ),
    'medchain bench --validators 4 --rate 2500 --duration 30s --out devnet/bench',
    'medchain bench --find-max --validators 4',
    'medchain bench --sweep validators --sweep-values 1,4,7 --rate 1000',
    'medchain bench --dir .devnet --rate 500 --duration 10s --json',
  ).action(async (options: BenchOptions, cmd: Command) => {
    const out = outputOf(cmd);
    if (options.rate !== undefined && options.findMax) {
      throw usageError(
        '--rate and --find-max exclude each other',
        'pick the open or the closed loop',
      );
    }
    if (
      options.dir !== undefined &&
      (options.sweep === 'validators' || options.sweep === 'batch')
    ) {
      throw usageError(`--sweep ${options.sweep} starts its own devnets: drop --dir`);
    }
    if (options.dir !== undefined && options.cpuProfile !== undefined) {
      throw usageError(
        '--cpu-profile is for the devnets bench starts; the one in --dir profiles as it was made',
        'make it with `medchain devnet up --cpu-profile DIR`',
      );
    }
    if (options.dir !== undefined && options.built) {
      throw usageError(
        '--built is for the devnet bench starts; the one in --dir runs what it was made with',
        'make it with `medchain devnet up --built`',
      );
    }
    const kind: SweepKind | 'none' = options.sweep ?? 'none';
    const values =
      kind === 'none' || kind === 'leader-crash'
        ? []
        : (options.sweepValues ?? DEFAULT_SWEEP_VALUES[kind]);
    if (kind === 'leader-crash' && options.dir === undefined && options.validators < 4) {
      throw usageError('a leader crash needs at least 4 validators (n = 3f + 1 with f = 1)');
    }
    const startedAt = new Date().toISOString();
    const loadAverageAtStart = loadavg();
    const outDir = resolve(options.out);
    mkdirSync(outDir, { recursive: true });
    const progress = progressPrinter(out.json);
    out.progress('Calibrating: ed25519 verifications per second on this machine...');
    const calibration = calibrate(options.validators);
    out.progress(`  ${calibration.verifyPerSecond} verify/s per core x ${calibration.cores} cores`);
    const points =
      kind === 'validators'
        ? values.map((v) => ({ validators: v, blockMaxTxs: options.blockMaxTxs }))
        : kind === 'batch'
          ? values.map((v) => ({ validators: options.validators, blockMaxTxs: v }))
          : [{ validators: options.validators, blockMaxTxs: options.blockMaxTxs }];
    const runs: PointReport[] = [];
    for (const point of points) {
      const report = await runPoint(
        options,
        point,
        {
          crash: kind === 'leader-crash',
          verifyPerSecond: calibration.verifyPerSecond,
          cores: calibration.cores,
        },
        out,
        progress.line,
      );
      progress.done();
      const chart = `${report.label}.svg`;
      writeFileSync(join(outDir, chart), chartOfRun(report));
      runs.push({ ...report, chart });
      out.progress(
        `${report.label}: ${report.txPerSecond} tx/s, p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms (chart ${join(outDir, chart)})`,
      );
    }
    const baseline = runs.find((r) => r.validators === 1);
    const perNodeUs = (r: PointReport) => {
      const known = r.nodes.map((n) => n.cpuUsPerTx).filter((v): v is number => v !== null);
      return known.length === 0 ? null : known.reduce((a, b) => a + b, 0) / known.length;
    };
    const report: BenchReport = {
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: {
        cpus: calibration.cores,
        model: cpus()[0]?.model ?? 'unknown',
        loadAverageAtStart,
        loadAverageAtEnd: loadavg(),
      },
      calibration: {
        verifyPerSecond: calibration.verifyPerSecond,
        cores: calibration.cores,
        boundTxPerSecond: Object.fromEntries(
          [...new Set(runs.map((r) => r.validators))].map((n) => [
            String(n),
            Math.round((calibration.verifyPerSecond * calibration.cores) / n),
          ]),
        ),
      },
      sweep: {
        kind,
        values,
        ...(kind === 'validators' && baseline !== undefined
          ? {
              replicationOverhead: runs.map((r) => {
                const at = perNodeUs(r);
                const base = perNodeUs(baseline);
                return {
                  validators: r.validators,
                  ratio: at === null || base === null ? null : Math.round((at / base) * 100) / 100,
                };
              }),
            }
          : {}),
      },
      runs,
    };
    writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    out.result(report, (r: BenchReport) => [
      `calibration: ${r.calibration.verifyPerSecond} ed25519 verify/s per core, ${r.calibration.cores} cores; load average ${r.machine.loadAverageAtStart.map((x) => x.toFixed(1)).join(' ')} at start`,
      ...[...new Set(r.runs.map((run) => run.network))].map((network) => `network: ${network}`),
      ...[...new Set(r.runs.map((run) => run.validatorCode))].map(
        (code) =>
          `validators run: ${code === 'build' ? 'the build (packages/cli/dist), plain node' : 'the source, under tsx'}`,
      ),
      ...r.runs
        .filter((run) => run.cpuProfileDir !== undefined)
        .map(
          (run) =>
            `${run.label}: profiled (the profiler costs throughput), CPU profiles in ${run.cpuProfileDir}`,
        ),
      ...table(
        [
          'run',
          'tx/s',
          'bound',
          '% bound',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          'blocks/s',
          'CPU µs/tx/node',
          'RSS MB',
        ],
        r.runs.map((run) => [
          run.label,
          String(run.txPerSecond),
          String(run.boundTxPerSecond),
          `${Math.round(run.fractionOfBound * 100)}%`,
          String(run.latencyMs.p50),
          String(run.latencyMs.p90),
          String(run.latencyMs.p99),
          String(run.latencyMs.max),
          String(run.blocksPerSecond),
          run.nodes.map((n) => n.cpuUsPerTx ?? '-').join('/'),
          run.nodes.map((n) => Math.round(n.rssMaxMb)).join('/'),
        ]),
      ),
      ...r.runs
        .filter((run) => run.crash !== undefined)
        .map(
          (run) =>
            `leader crash: killed ${run.crash!.node} at ${run.crash!.atS} s; next commit after ${run.crash!.firstCommitAfterMs} ms, longest gap after ${run.crash!.maxGapAfterMs} ms (before: ${run.crash!.maxGapBeforeMs} ms)`,
        ),
      ...(r.sweep.replicationOverhead ?? []).map(
        (o) =>
          `replication overhead at n=${o.validators}: ${o.ratio ?? '-'}x the per-node CPU per tx of n=1`,
      ),
      `report: ${join(outDir, 'report.json')}`,
    ]);
  });
}
