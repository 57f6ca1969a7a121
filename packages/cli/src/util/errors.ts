import { ClientError } from '@medchain/client';
import { CodedError } from '@medchain/crypto';

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
/** `details`: extra machine-readable detail for `--json` output (e.g. a failed receipt). */
export class CliError extends CodedError {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(
    code: string,
    message: string,
    options: { exitCode?: ExitCode; hint?: string; details?: unknown } = {},
  ) {
    super(code, message, { details: options.details });
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.hint = options.hint;
  }
}

export function usageError(message: string, hint?: string): CliError {
  return new CliError(
    'USAGE',
    message,
    hint === undefined ? { exitCode: EXIT.usage } : { exitCode: EXIT.usage, hint },
  );
}

/** TLS errors (Node's codes) that mean the node's certificate is not one this CLI trusts. */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The innermost `code` of an error's cause chain (fetch wraps the socket's error). */
function rootCode(error: unknown): string | undefined {
  let code: string | undefined;
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (typeof e.code === 'string') code = e.code;
    e = e.cause as typeof e;
  }
  return code;
}

const UNREACHABLE_HINT = `is it running? start it with \`medchain start --home DIR\`, or point to another node with --node URL or $MEDCHAIN_NODE`;

/**
 * The one mapping of the client's typed errors to what the CLI reports: the node's own code is
 * kept; a node that cannot be reached (down, refused, no answer in time, a certificate this CLI
 * does not trust) is exit 3, a bad argument exit 2, everything else exit 1, each with a hint.
 */
function fromClientError(error: ClientError): CliError {
  const { code, status, message, details } = error;
  const keep = (options: { exitCode?: ExitCode; hint?: string } = {}) =>
    new CliError(code, message, { ...options, ...(details === undefined ? {} : { details }) });
  if (code === 'NODE_UNREACHABLE') {
    const cause = rootCode(error.cause);
    if (cause !== undefined && CERTIFICATE_ERRORS.has(cause)) {
      return new CliError(
        'NODE_CERTIFICATE_UNTRUSTED',
        `${message}: its TLS certificate is not one this CLI trusts`,
        {
          exitCode: EXIT.unreachable,
          hint: 'pass the CA that signed it with --ca FILE or $MEDCHAIN_CA (a `devnet up --tls` devnet: DIR/tls/ca.pem)',
        },
      );
    }
    return keep({ exitCode: EXIT.unreachable, hint: UNREACHABLE_HINT });
  }
  if (code === 'TIMEOUT') {
    // A request without an answer carries the aborted fetch as its cause; a receipt wait does not.
    if (error.cause !== undefined) {
      return new CliError('NODE_UNREACHABLE', message, {
        exitCode: EXIT.unreachable,
        hint: UNREACHABLE_HINT,
      });
    }
    return new CliError('COMMIT_TIMEOUT', message, {
      hint: 'check later with `medchain query tx HASH`; is the network making blocks (`medchain status`)?',
    });
  }
  if (code === 'INVALID_ARGUMENT') return keep({ exitCode: EXIT.usage });
  if (code === 'BAD_ANSWER') return keep({ hint: 'is --node a medchain node API?' });
  if (code === 'RECORD_NOT_FOUND' && status === undefined) {
    return keep({ hint: 'check the record id with `medchain query record ID --key KEYSTORE`' });
  }
  if (status === 401) {
    return keep({
      hint:
        code === 'SIGNATURE_MISSING'
          ? 'this read is about a party: sign it with --key KEYSTORE (see `medchain query --help`)'
          : code === 'SIGNATURE_EXPIRED' || code === 'SIGNATURE_NOT_YET_VALID'
            ? "check this machine's clock: request signatures are valid for a minute"
            : 'the node refused the request signature; sign with a keystore written by `medchain keys generate`',
    });
  }
  if (status === 403 && code !== 'RECORD_ACCESS_DENIED') {
    return keep({
      hint: "the key you signed with may not read this: a patient's data takes the patient's key or a live delegate's (a provider's for consents naming them), blocks a member organization's admin key",
    });
  }
  if (status === 404)
    return keep({ hint: 'check the id or key; the node only knows committed state' });
  return keep();
}

/** Errors from the other packages carry a `code`; keep it, and treat them as failed operations. */
export function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ClientError) return fromClientError(error);
  const err = error as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : 'INTERNAL';
  const message = typeof err?.message === 'string' ? err.message : String(error);
  return new CliError(code, message);
}
