import { type CliError, EXIT } from './errors.js';

/**
 * Every command prints through one Output: human text by default, one JSON document on stdout
 * with `--json` (and errors as JSON on stderr), so scripts never parse prose.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** The command's result: `human` renders it as text, or the value itself is printed as JSON. */
  result(value: unknown, human: (value: never) => string | string[]): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      return;
    }
    const text = human(value as never);
    this.stdout.write(`${Array.isArray(text) ? text.join('\n') : text}\n`);
  }

  /** Progress for humans, on stderr so stdout stays the result (silent with --json). */
  progress(line: string): void {
    if (!this.json) this.stderr.write(`${line}\n`);
  }

  error(error: CliError): void {
    if (this.json) {
      const body: Record<string, unknown> = { code: error.code, message: error.message };
      if (error.hint !== undefined) body.hint = error.hint;
      if (error.details !== undefined) body.details = error.details;
      this.stderr.write(`${JSON.stringify({ error: body, exitCode: error.exitCode })}\n`);
      return;
    }
    this.stderr.write(`error: ${error.message}\n`);
    if (error.hint !== undefined) this.stderr.write(`hint: ${error.hint}\n`);
    if (error.exitCode === EXIT.failed && error.code !== 'INTERNAL') {
      this.stderr.write(`(code ${error.code})\n`);
    }
  }
}

/** `key: value` lines with aligned values. */
export function fields(entries: Record<string, unknown>): string[] {
  const width = Math.max(...Object.keys(entries).map((key) => key.length));
  return Object.entries(entries).map(
    ([key, value]) =>
      `${`${key}:`.padEnd(width + 1)} ${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
}

/** A plain text table: header row, then one row per item. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
