import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, EXIT } from './util/errors.js';

/**
 * The lab — `medchain devnet …` and `medchain bench` — is the workspace package
 * `@medchain/devnet` (devnet/), not part of the operator CLI: the CLI only registers what that
 * package hands it. The package depends on this one (it lays out homes, keys and genesis with the
 * operator toolkit), so the CLI finds it at run time, by name: in a source checkout (tsx or
 * vitest, with the workspace's source paths) it is there; the installable artifact
 * (deploy/assemble.sh) leaves it out, and there the two commands say so.
 */
export type LabRegistration = (program: Command) => void;

/** Not a literal, so the CLI's build does not look for the lab's types (it builds first). */
const LAB_PACKAGE: string = '@medchain/devnet';
const LAB_COMMANDS = new Set(['devnet', 'bench']);

/** Commands the lab owns, with what each does (the help of the stand-in). */
const LAB_SUMMARY: Record<string, string> = {
  devnet: 'a local network of validator processes (development tool: needs a source checkout)',
  bench:
    'load a devnet and report throughput and latency (development tool: needs a source checkout)',
};

/**
 * The lab's registration when `argv` may need it (a lab command, or the command list of the
 * top-level help), and it is installed; undefined otherwise, so operator commands never pay
 * for loading it.
 */
export async function loadLab(argv: readonly string[]): Promise<LabRegistration | undefined> {
  const command = argv.slice(2).find((arg) => !arg.startsWith('-'));
  if (command !== undefined && command !== 'help' && !LAB_COMMANDS.has(command)) return undefined;
  try {
    const lab = (await import(LAB_PACKAGE)) as { registerLab: LabRegistration };
    return lab.registerLab;
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const missing = code === 'ERR_MODULE_NOT_FOUND' && String(message).includes(`'${LAB_PACKAGE}'`);
    if (missing) return undefined;
    throw error;
  }
}

/** Stand-ins for the lab's commands where it is not installed: they say what it is. */
export function registerLabAbsent(program: Command): void {
  for (const name of LAB_COMMANDS) {
    program
      .command(name)
      .description(LAB_SUMMARY[name]!)
      .argument('[args...]')
      .allowUnknownOption()
      .helpOption(false)
      .action(() => {
        throw new CliError(
          'LAB_NOT_INSTALLED',
          `medchain ${name} is a development tool (the @medchain/devnet package), not part of the installed medchain`,
          {
            exitCode: EXIT.usage,
            hint: `run it from a source checkout: pnpm install, then pnpm medchain ${name} …`,
          },
        );
      });
  }
}

/** The CLI's own entry file (src/main.ts under tsx, dist/main.js when built): what the lab spawns. */
export function cliMain(): string {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`./main.${ext}`, import.meta.url));
}
