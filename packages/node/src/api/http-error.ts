import { CodedError } from '@medchain/crypto';

/** An error the API answers with a status and a code (never a 5xx for bad input). */
export class HttpError extends CodedError {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}
