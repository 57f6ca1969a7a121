import { duration, example, integer, outputOf, table } from '@medchain/cli';
import { type Command, Option } from 'commander';
import { assertVerdict, type ChaosOptions, type ChaosReport, runChaos } from './chaos.js';
import { parseBasePort } from './up.js';

export function registerChaos(devnet: Command): void {
  example(
    devnet
      .command('chaos')
      .description(
        'run a new devnet under steady load while a seeded schedule kills (-9) and restarts validators (the primary every third fault), freezes them (SIGSTOP/CONT), tears their WAL tails and restarts them with a skewed clock (within the drift tolerance, then back); then check through the API that no acknowledged transaction was lost and every node holds the same chain',
      )
      .option(
        '--dir <dir>',
        'devnet directory (replaced; default: a temporary one, removed on success)',
      )
      .option('--validators <n>', 'number of validators', integer(4, 26), 4)
      .option(
        '--base-port <port>',
        'first of 2n consecutive ports on 127.0.0.1 (default 0: ports the OS picks)',
        parseBasePort,
      )
      .option('--seed <n>', 'schedule seed (default: random, printed)', integer(0, 2 ** 31 - 1))
      .addOption(
        new Option('--duration <duration>', 'inject faults for this long')
          .default(180_000, '3m')
          .argParser(duration),
      )
      .option('--faults <n>', 'stop after this many faults (if before --duration)', integer(1))
      .option('--kills <n>', 'but go on until at least this many kills', integer(0))
      .option('--clients <n>', 'client keys submitting transactions', integer(1, 256), 8)
      .addOption(
        new Option('--liveness-bound <duration>', 'longest allowed recovery after a fault')
          .default(60_000, '60s')
          .argParser(duration),
      )
      .option('--out <file>', 'also write the report (JSON) here')
      .option(
        '--netns',
        'each validator in its own network namespace (root, iproute2), partitions added to the faults; falls back to process faults where unavailable',
      )
      .option(
        '--no-skew',
        'no clock skews among the faults (the schedule a seed gave before skews existed)',
      ),
    'medchain devnet chaos --seed 42 --faults 12',
    'medchain devnet chaos --duration 30m --kills 100 --seed 7 --out chaos-report.json',
    'sudo medchain devnet chaos --netns --faults 12',
  ).action(async (options: ChaosOptions, cmd: Command) => {
    const out = outputOf(cmd);
    const report = await runChaos(options, out);
    out.result(report, (r: ChaosReport) => [
      `seed ${r.seed}, schedule ${r.scheduleDigest}, ${r.validators} validators, ${Math.round(r.durationMs / 1000)} s, ${r.network}`,
      `faults: ${r.faults.length} (${r.kills} kills, ${r.primaryKills} of the primary; ${r.pauses} pauses; ${r.partitions} partitions; ${r.skews} clock skews; ${r.walDamaged} damaged WAL tails)`,
      `recovery: max ${r.maxRecoveryMs ?? '-'} ms (bound ${r.livenessBoundMs} ms), ${r.livenessFailures} over the bound`,
      ...(r.skews === 0
        ? []
        : [
            `clock skews: ${r.faults
              .map((f) => f.skew)
              .filter((k) => k !== null)
              .map((k) => `${k.clockOffsetMs} ms (led ${k.proposed} of ${k.turns} turns)`)
              .join(', ')}; proposals refused as ahead of a clock: ${r.timeRefusals}`,
          ]),
      `transactions acknowledged as committed: ${r.check.acknowledgedTxs}; chain compared to height ${r.check.comparedHeight} on every node (${r.check.committedTxs} txs, ${r.check.certificatesChecked} certificates, ${r.check.votesChecked} commit votes)`,
      ...table(
        ['node', 'height', 'state root'],
        r.check.nodes.map((n) => [n.name, String(n.height), n.stateRoot.slice(0, 16)]),
      ),
      `not covered: ${r.notCovered.join('; ')}`,
      r.ok
        ? 'verdict: OK'
        : `verdict: FAILED\n  ${[...r.check.violations, ...r.unexpectedExits.map((e) => `unexpected exit: ${e}`)].join('\n  ')}`,
    ]);
    assertVerdict(report);
  });
}
