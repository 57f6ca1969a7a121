import { describe, expect, it } from 'vitest';
import { CodedError, CryptoError, fromHex } from '../src/index.js';

class SampleError extends CodedError<'SAMPLE_A' | 'SAMPLE_B', { readonly at: number }> {
  override readonly name = 'SampleError';
}

describe('CodedError', () => {
  it('carries code, message, details and cause, with its subclass name', () => {
    const cause = new Error('underneath');
    const error = new SampleError('SAMPLE_A', 'went wrong', { details: { at: 3 }, cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(CodedError);
    expect(error).toBeInstanceOf(SampleError);
    expect(error.name).toBe('SampleError');
    expect(error.code).toBe('SAMPLE_A');
    expect(error.message).toBe('went wrong');
    expect(error.details).toEqual({ at: 3 });
    expect(error.cause).toBe(cause);
    expect(String(error)).toBe('SampleError: went wrong');
    expect(error.stack).toContain('SampleError: went wrong');
  });

  it('serializes to name, code, message and details only when they are set', () => {
    expect(JSON.parse(JSON.stringify(new SampleError('SAMPLE_B', 'no details')))).toEqual({
      name: 'SampleError',
      code: 'SAMPLE_B',
      message: 'no details',
    });
    const withDetails = new SampleError('SAMPLE_A', 'x', { details: { at: 1 } });
    expect(JSON.parse(JSON.stringify({ error: withDetails }))).toEqual({
      error: { name: 'SampleError', code: 'SAMPLE_A', message: 'x', details: { at: 1 } },
    });
    expect('cause' in new SampleError('SAMPLE_A', 'no cause')).toBe(false);
  });

  it('is what CryptoError is, and what the package throws', () => {
    let thrown: unknown;
    try {
      fromHex('zz');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CryptoError);
    expect(thrown).toBeInstanceOf(CodedError);
    expect(thrown).toMatchObject({ name: 'CryptoError', code: 'CRYPTO_BAD_HEX' });
  });
});
