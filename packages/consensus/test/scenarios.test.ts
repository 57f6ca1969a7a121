import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

/**
 * Golden interaction tests (after etcd raft's testdata/*.txt): each file is a script of
 * `> command` lines, each followed by the trace it produces. The test replays the commands and
 * compares the whole file. UPDATE_GOLDEN=1 rewrites the files (then read the diff!).
 *
 * Commands: cluster n=N [K=k] [timeout=t] [byzantine=i:strategy,...] | deliver [rounds] | tick all|i,j [count] | crash i |
 * restart i | partition a,b | c,d | heal | byzantine i equivocate|silent | sync i from j |
 * status | stats i
 */
const dir = fileURLToPath(new URL('./testdata/', import.meta.url));

function run(script: string): string {
  const out: string[] = [];
  let cluster: Cluster | null = null;
  for (const line of script.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') {
      out.push(line);
      continue;
    }
    if (!line.startsWith('> ')) continue; // previous output: regenerated below
    out.push(line);
    const [command, ...args] = line.slice(2).trim().split(/\s+/);
    const nums = (text: string) => text.split(',').map(Number);
    const c = (): Cluster => {
      if (cluster === null) throw new Error('first command must be `cluster`');
      return cluster;
    };
    switch (command) {
      case 'cluster': {
        const opts = Object.fromEntries(args.map((a) => a.split('=') as [string, string]));
        const byzantine = new Map(
          (opts.byzantine ?? '')
            .split(',')
            .filter(Boolean)
            .map((spec) => spec.split(':'))
            .map(([i, strategy]) => [Number(i), strategy as 'equivocate']),
        );
        cluster = new Cluster({
          n: Number(opts.n),
          byzantine,
          checkpointInterval: Number(opts.K ?? 10),
          baseTimeoutTicks: Number(opts.timeout ?? 10),
        });
        break;
      }
      case 'deliver':
        for (let i = Number(args[0] ?? 1); i > 0; i--) c().deliver();
        break;
      case 'tick':
        c().tick(args[0] === 'all' ? 'all' : nums(args[0]!), Number(args[1] ?? 1));
        break;
      case 'crash':
        c().crash(Number(args[0]));
        break;
      case 'restart':
        c().restart(Number(args[0]));
        break;
      case 'partition':
        c().setPartition(args.join('').split('|').map(nums));
        break;
      case 'heal':
        c().heal();
        break;
      case 'byzantine':
        c().byzantine(Number(args[0]), args[1] as 'equivocate');
        c().trace.push(`n${args[0]} is byzantine (${args[1]})`);
        break;
      case 'sync': {
        const to = c().nodes[Number(args[0])]!;
        const from = c().nodes[Number(args[2])]!;
        const core = c().core(to.index);
        for (let h = core.currentHeight; h <= from.blocks.length; h++) {
          const block = from.blocks[h - 1]!;
          core.step({
            type: 'decision',
            payload: block.proposal.payload,
            certificate: block.certificate,
          });
          c().flush(to.index);
        }
        c().trace.push(
          `n${to.index} synced from n${from.index}: now at height ${core.currentHeight}`,
        );
        break;
      }
      case 'status':
        c().trace.push(...c().status());
        break;
      case 'stats': {
        const stats = c().core(Number(args[0])).stats();
        const dropped = Object.entries(stats.dropped).filter(([, count]) => count > 0);
        c().trace.push(
          `n${args[0]} dropped: ${dropped.map(([reason, count]) => `${reason}=${count}`).join(' ') || 'none'}`,
        );
        break;
      }
      default:
        throw new Error(`unknown command ${command}`);
    }
    out.push(...c().takeTrace());
  }
  return out.join('\n');
}

describe('scenario traces (golden files)', () => {
  const files = readdirSync(dir).filter((name) => name.endsWith('.txt'));
  it('has the classic scenarios', () => {
    expect(files.sort()).toEqual([
      'checkpoint-gc.txt',
      'equivocating-primary.txt',
      'normal-commit.txt',
      'partitioned-minority.txt',
      'primary-crash.txt',
    ]);
  });
  for (const name of files) {
    it(name, () => {
      const path = `${dir}${name}`;
      const script = readFileSync(path, 'utf8');
      const actual = run(script);
      if (process.env.UPDATE_GOLDEN) writeFileSync(path, actual);
      else expect(actual).toBe(script);
    });
  }
});
