import type { Command, Option } from 'commander';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, EXIT, run } from '../src/index.js';

/**
 * The CLI's argument parsing, in process (`run(argv)`, what `main.ts` calls): whatever argv a
 * user types that is not a valid command line gets exit code 2 and a message, never a stack
 * trace and never an action. Every generated argv carries an unknown option right after the
 * command path, so no command ever runs (nothing is written, no node is asked).
 */

interface Leaf {
  readonly path: readonly string[];
  readonly options: readonly Option[];
}

function leaves(command: Command, path: readonly string[] = []): Leaf[] {
  if (command.commands.length === 0) return [{ path, options: command.options }];
  return command.commands.flatMap((sub) => leaves(sub, [...path, sub.name()]));
}

const LEAVES = leaves(buildProgram());
const TOP_LEVEL = new Set(buildProgram().commands.flatMap((c) => [c.name(), ...c.aliases()]));
/**
 * Tokens that legitimately end parsing with exit 0 (help, version, also as a short-flag cluster
 * like "-V x") or stop option parsing.
 */
const SPECIAL = new Set(['help', '--help', '--version', '--']);
const special = (arg: string) => SPECIAL.has(arg) || /^-[hV]/.test(arg);

let output = '';
beforeEach(() => {
  output = '';
  const capture = (chunk: unknown) => {
    output += String(chunk);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs argv and checks the contract: exit 2, a message, no stack trace. */
async function expectUsageError(args: readonly string[]): Promise<void> {
  output = '';
  const code = await run(['node', 'medchain', ...args]);
  const shown = `argv ${JSON.stringify(args)} gave exit ${code}:\n${output}`;
  expect(code, shown).toBe(EXIT.usage);
  expect(output.trim().length, shown).toBeGreaterThan(0);
  expect(output, shown).not.toMatch(/\n\s+at .+[(:]\d+/);
  expect(output, shown).not.toMatch(/TypeError|RangeError|ReferenceError|INTERNAL/);
}

const token = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ maxLength: 12 }).map((s) => `--${s}`),
  fc.string({ maxLength: 2 }).map((s) => `-${s}`),
  fc.constantFrom(
    '0',
    '-1',
    '1e309',
    '99999999999999999999',
    'NaN',
    '\u0000',
    '🩺',
    'x'.repeat(5000),
  ),
);
const tokens = fc.array(token, { maxLength: 6 }).map((list) => list.filter((t) => !special(t)));

describe('medchain argument parsing (fast-check)', () => {
  it('finds the command tree to fuzz', () => {
    expect(LEAVES.length).toBeGreaterThan(10);
    expect(LEAVES.some((leaf) => leaf.path.join(' ') === 'tx grant' || leaf.path[0] === 'tx')).toBe(
      true,
    );
  });

  it('an unknown first word is a usage error', async () => {
    await fc.assert(
      fc.asyncProperty(token, tokens, async (first, rest) => {
        fc.pre(!special(first) && !TOP_LEVEL.has(first) && first !== '--json');
        await expectUsageError([first, ...rest]);
      }),
      { numRuns: 150 },
    );
  });

  it('every command with garbage arguments and an unknown option is a usage error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...LEAVES),
        fc.string({ minLength: 1, maxLength: 10 }).filter((s) => /^[a-z]+$/.test(s)),
        tokens,
        async (leaf, unknown, rest) => {
          await expectUsageError([...leaf.path, `--zz-${unknown}`, ...rest]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every option value parser answers garbage with a usage error', async () => {
    const withValues = LEAVES.flatMap((leaf) =>
      leaf.options
        .filter((option) => option.required || option.optional)
        .map((option) => ({ leaf, flag: option.long ?? option.short! })),
    );
    expect(withValues.length).toBeGreaterThan(20);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...withValues),
        fc.oneof(token, fc.string({ unit: 'binary', maxLength: 40 })).filter((v) => !special(v)),
        async ({ leaf, flag }, value) => {
          // `--zz-unknown` comes first so that even an accepted value runs no action.
          await expectUsageError([...leaf.path, '--zz-unknown', flag, value]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a missing option value is a usage error naming the option', async () => {
    for (const leaf of LEAVES) {
      for (const option of leaf.options.filter((o) => o.required && o.long !== undefined)) {
        output = '';
        const code = await run(['node', 'medchain', ...leaf.path, option.long!]);
        expect(code, `${leaf.path.join(' ')} ${option.long}`).toBe(EXIT.usage);
        expect(output).toContain(option.long!);
        expect(output).not.toMatch(/\n\s+at .+[(:]\d+/);
      }
    }
  });
});
