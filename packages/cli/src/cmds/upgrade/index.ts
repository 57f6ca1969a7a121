import { resolve } from 'node:path';
import type { Command } from 'commander';
import { example, outputOf } from '../../util/common.js';
import { CliError } from '../../util/errors.js';
import { nodePackage } from '../../util/node-package.js';
import { fields } from '../../util/output.js';
import { nodeRunning } from '../backup/snapshot.js';

export function registerUpgrade(program: Command): void {
  example(
    program
      .command('upgrade')
      .description(
        "migrate a stopped node's home to this release's data format, one version's step after another (docs/UPGRADE.md); back it up first",
      )
      .requiredOption('--home <dir>', 'the node home'),
    'medchain backup --home ./hospital-a --out a.mcbak && medchain upgrade --home ./hospital-a',
  ).action(async (options: { home: string }, cmd: Command) => {
    const node = await nodePackage();
    const home = resolve(options.home);
    if (await nodeRunning(home)) {
      throw new CliError('NODE_RUNNING', `a node is running on ${home}`, {
        hint: 'stop it, then run the upgrade',
      });
    }
    const result = await node.migrateHome(home);
    outputOf(cmd).result(result, (r: typeof result) => [
      ...fields({ home: r.home, from: r.from, to: r.to }),
      ...(r.applied.length === 0
        ? ['already at this format: nothing to do']
        : r.applied.map((step, i) => `step ${i + 1}: ${step}`)),
    ]);
  });
}
