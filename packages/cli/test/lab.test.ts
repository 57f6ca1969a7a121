import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, CliError } from '../src/index.js';
import { loadLab } from '../src/lab.js';

/**
 * The lab (`medchain devnet`, `medchain bench`) is @medchain/devnet, found at run time: loaded
 * for its own commands and the command list, never for an operator command; where it is not
 * installed, its commands say they are a development tool.
 */
describe('the lab in the operator CLI', () => {
  it('is loaded for devnet, bench and the command list, and not for operator commands', async () => {
    for (const argv of [['devnet', 'up'], ['--json', 'bench'], [], ['help']]) {
      expect(await loadLab(['node', 'medchain', ...argv]), argv.join(' ')).toBeTypeOf('function');
    }
    for (const argv of [
      ['keys', 'generate'],
      ['--json', 'status'],
      ['start', '--home', 'h'],
    ]) {
      expect(await loadLab(['node', 'medchain', ...argv]), argv.join(' ')).toBeUndefined();
    }
  });

  it('registers the lab commands it is given', async () => {
    const lab = await loadLab(['node', 'medchain', 'devnet']);
    const devnet = buildProgram(lab).commands.find((c) => c.name() === 'devnet')!;
    expect(devnet.commands.map((c) => c.name())).toEqual(
      expect.arrayContaining(['up', 'run', 'demo', 'chaos', 'down']),
    );
  });

  it('without the lab, devnet and bench fail with LAB_NOT_INSTALLED (exit 2), whatever follows', async () => {
    for (const argv of [
      ['devnet', 'up', '--dir', 'x'],
      ['bench', '--rate', '5'],
      ['devnet', '--help'],
    ]) {
      const program = buildProgram();
      program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
      const failure = await program.parseAsync(['node', 'medchain', ...argv]).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure, argv.join(' ')).not.toBeInstanceOf(CommanderError);
      expect(failure).toBeInstanceOf(CliError);
      expect(failure).toMatchObject({ code: 'LAB_NOT_INSTALLED', exitCode: 2 });
      expect((failure as CliError).message).toContain('development tool');
    }
  });
});
