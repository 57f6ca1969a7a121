import { ClientError } from '@medchain/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asCliError, EXIT } from '../src/util/errors.js';

/** What fetch throws when TLS refuses the node's certificate (undici wraps the socket error). */
const tlsFailure = (code: string) =>
  Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });

describe('client errors as the CLI reports them', () => {
  it('a node not reached, or not trusted, is exit 3 with a hint', () => {
    const down = asCliError(new ClientError('NODE_UNREACHABLE', 'cannot reach the node'));
    expect(down).toMatchObject({ code: 'NODE_UNREACHABLE', exitCode: EXIT.unreachable });
    expect(down.hint).toContain('--node');
    for (const code of ['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
      const untrusted = asCliError(
        new ClientError('NODE_UNREACHABLE', 'cannot reach the node', { cause: tlsFailure(code) }),
      );
      expect(untrusted).toMatchObject({
        code: 'NODE_CERTIFICATE_UNTRUSTED',
        exitCode: EXIT.unreachable,
      });
      expect(untrusted.hint).toContain('--ca');
    }
    const slow = asCliError(
      new ClientError('TIMEOUT', 'no answer', { cause: new Error('aborted') }),
    );
    expect(slow).toMatchObject({ code: 'NODE_UNREACHABLE', exitCode: EXIT.unreachable });
  });

  it('a receipt not in time, a refused key, a failed receipt are exit 1 with the code kept', () => {
    expect(asCliError(new ClientError('TIMEOUT', 'tx not committed'))).toMatchObject({
      code: 'COMMIT_TIMEOUT',
      exitCode: EXIT.failed,
    });
    const unsigned = asCliError(new ClientError('SIGNATURE_MISSING', 'GET /x', { status: 401 }));
    expect(unsigned).toMatchObject({ code: 'SIGNATURE_MISSING', exitCode: EXIT.failed });
    expect(unsigned.hint).toContain('--key');
    const forbidden = asCliError(new ClientError('FORBIDDEN', 'GET /x', { status: 403 }));
    expect(forbidden.hint).toContain("the patient's key");
    const denied = asCliError(
      new ClientError('RECORD_ACCESS_DENIED', 'denied', {
        status: 403,
        details: { reason: 'NO_CONSENT', logTx: 'ab'.repeat(32) },
      }),
    );
    expect(denied).toMatchObject({ exitCode: EXIT.failed, details: { reason: 'NO_CONSENT' } });
    expect(denied.hint).toBeUndefined();
    const receipt = { kind: 'patient.register', receipt: { code: 'PATIENT_EXISTS' } };
    expect(
      asCliError(new ClientError('PATIENT_EXISTS', 'failed', { details: receipt })),
    ).toMatchObject({ code: 'PATIENT_EXISTS', exitCode: EXIT.failed, details: receipt });
    expect(asCliError(new ClientError('INVALID_ARGUMENT', 'bad'))).toMatchObject({
      exitCode: EXIT.usage,
    });
  });

  it('any client error becomes a CliError with an exit code and its message', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.string(),
        fc.option(fc.integer({ min: 400, max: 599 }), { nil: undefined }),
        (code, message, status) => {
          const error = asCliError(
            new ClientError(code, message, status === undefined ? {} : { status }),
          );
          expect([EXIT.failed, EXIT.usage, EXIT.unreachable]).toContain(error.exitCode);
          expect(error.message).toBe(message);
          if (!['NODE_UNREACHABLE', 'TIMEOUT'].includes(code)) expect(error.code).toBe(code);
        },
      ),
    );
  });
});
