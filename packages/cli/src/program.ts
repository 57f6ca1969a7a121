import { Command, CommanderError } from 'commander';
import { registerBackup } from './cmds/backup/index.js';
import { registerExport } from './cmds/export/index.js';
import { registerGenesis } from './cmds/genesis/index.js';
import { registerInit } from './cmds/init/index.js';
import { registerKeys } from './cmds/keys/index.js';
import { registerPeers } from './cmds/peers/index.js';
import { registerQuery } from './cmds/query/index.js';
import { registerRecord } from './cmds/record/index.js';
import { registerStart } from './cmds/start/index.js';
import { registerStatus } from './cmds/status/index.js';
import { registerTx } from './cmds/tx/index.js';
import { registerUpgrade } from './cmds/upgrade/index.js';
import { type LabRegistration, loadLab, registerLabAbsent } from './lab.js';
import { asCliError, EXIT } from './util/errors.js';
import { Output } from './util/output.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the operation failed (transaction rejected or failed, the node refused the key, proof invalid,
     not found, wrong passphrase)
  2  usage error (unknown command or option, bad value, missing file, a read without --key)
  3  the node could not be reached (down, refused, timed out, certificate not trusted)

Environment:
  MEDCHAIN_NODE        node API URL (instead of --node)
  MEDCHAIN_CA          PEM file of the CA the node's https certificate must chain to (instead of --ca)
  MEDCHAIN_PASSPHRASE  keystore passphrase for automation (instead of a prompt)`;

/**
 * The operator commands, and the lab's (`devnet`, `bench`) from `lab` when given (see lab.ts),
 * otherwise their stand-ins.
 */
export function buildProgram(lab: LabRegistration = registerLabAbsent): Command {
  const program = new Command('medchain')
    .description(
      'Operate medchain nodes: keys, node homes, genesis, transactions, queries (devnet and bench: the lab, from a source checkout)',
    )
    .version('0.1.0')
    .option('--json', 'print results as JSON (errors as JSON on stderr)')
    .exitOverride()
    .showHelpAfterError('(add --help for usage and an example)')
    .addHelpText('after', EXIT_CODES_HELP);
  program.configureOutput({ outputError: (text, write) => write(text) });
  for (const register of [
    registerKeys,
    registerInit,
    registerGenesis,
    registerPeers,
    registerStart,
    registerBackup,
    registerUpgrade,
    registerStatus,
    registerTx,
    registerQuery,
    registerRecord,
    registerExport,
    lab,
  ]) {
    register(program);
  }
  return program;
}

/** Runs the command line; resolves with the exit code (never throws). */
export async function run(argv: readonly string[]): Promise<number> {
  try {
    const program = buildProgram(await loadLab(argv));
    await program.parseAsync(argv as string[]);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander printed the message already (and help, where asked).
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const cliError = asCliError(error);
    new Output(argv.includes('--json')).error(cliError);
    return cliError.exitCode;
  }
}
