import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { usageError } from './errors.js';

/** For automation: the passphrase itself, or a file holding it (first line). */
export const PASSPHRASE_ENV = 'MEDCHAIN_PASSPHRASE';
export const MIN_PASSPHRASE_LENGTH = 8;

export interface PassphraseOptions {
  /** `--passphrase-file`: wins over the environment. */
  readonly passphraseFile?: string | undefined;
}

export function readPassphraseFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(
      `cannot read passphrase file ${path}: ${(error as Error).message}`,
      'pass an existing file to --passphrase-file',
    );
  }
  const passphrase = text.split(/\r?\n/)[0] ?? '';
  if (passphrase === '') throw usageError(`passphrase file ${path} is empty`);
  return passphrase;
}

/** Reads a line from the terminal without echoing it. */
async function prompt(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/**
 * The passphrase from `--passphrase-file`, else $MEDCHAIN_PASSPHRASE, else a prompt when stdin
 * is a terminal. `confirm` asks twice (new keystores).
 */
export async function getPassphrase(
  options: PassphraseOptions,
  purpose: string,
  confirm = false,
): Promise<string> {
  if (options.passphraseFile !== undefined) return readPassphraseFile(options.passphraseFile);
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY) {
    throw usageError(
      `no passphrase for ${purpose}: stdin is not a terminal, so it cannot be asked for`,
      `set ${PASSPHRASE_ENV} or pass --passphrase-file FILE`,
    );
  }
  const first = await prompt(`Passphrase for ${purpose}: `);
  if (confirm) {
    const second = await prompt('Repeat the passphrase: ');
    if (first !== second) throw usageError('the two passphrases differ', 'run the command again');
  }
  return first;
}

/** New keystores only: refuse passphrases too short to resist guessing. */
export function checkNewPassphrase(passphrase: string): string {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw usageError(
      `the passphrase is too short (at least ${MIN_PASSPHRASE_LENGTH} characters)`,
      'choose a longer passphrase',
    );
  }
  return passphrase;
}
