/**
 * Exit codes of `medchain` (documented in the README and in `medchain --help`):
 * 0 success; 1 the operation failed (transaction rejected or failed, proof did not verify,
 * wrong passphrase, not found, devnet did not come up); 2 usage error (unknown command or
 * option, bad argument value, missing file); 3 the node could not be reached (down, refused,
 * timed out).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports to the user: what went wrong, what to do, and the exit code. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  /** Extra machine-readable detail for `--json` output (e.g. a failed receipt). */
  readonly details: unknown;

  constructor(
    code: string,
    message: string,
    options: { exitCode?: ExitCode; hint?: string; details?: unknown } = {},
  ) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export function usageError(message: string, hint?: string): CliError {
  return new CliError(
    'USAGE',
    message,
    hint === undefined ? { exitCode: EXIT.usage } : { exitCode: EXIT.usage, hint },
  );
}

/** Errors from the other packages carry a `code`; keep it, and treat them as failed operations. */
export function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const err = error as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : 'INTERNAL';
  const message = typeof err?.message === 'string' ? err.message : String(error);
  return new CliError(code, message);
}
