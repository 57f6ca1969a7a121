import { CodedError } from '@medchain/crypto';
import type { FhirResource } from '@medchain/ledger';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError } from '../api/auth.js';
import { HttpError } from '../api/http-error.js';
import type { Logger } from '../logger.js';
import { RECORD_HTTP_STATUS, RecordError } from '../records/errors.js';

/** The FHIR media type every answer under /fhir/r4 is sent as. */
export const FHIR_JSON = 'application/fhir+json';

/** Code system of medchain's own error codes, carried in OperationOutcome.issue.details. */
export const ERROR_CODE_SYSTEM = 'urn:medchain:error-code';

/** FHIR R4 IssueSeverity. */
export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

/** FHIR R4 IssueType (the codes this node uses). */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'not-found'
  | 'deleted'
  | 'too-costly'
  | 'business-rule'
  | 'conflict'
  | 'exception'
  | 'transient'
  | 'throttled'
  | 'informational';

export interface OutcomeIssue {
  readonly severity: IssueSeverity;
  readonly code: IssueType;
  readonly diagnostics?: string;
  /** medchain's error code (e.g. CONSENT_NOT_FOUND), as issue.details. */
  readonly errorCode?: string;
  /** FHIRPath of the element or search parameter at fault. */
  readonly expression?: readonly string[];
}

/** An OperationOutcome resource with these issues. */
export function operationOutcome(issues: readonly OutcomeIssue[]): FhirResource {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map(({ severity, code, diagnostics, errorCode, expression }) => ({
      severity,
      code,
      ...(errorCode === undefined
        ? {}
        : { details: { coding: [{ system: ERROR_CODE_SYSTEM, code: errorCode }] } }),
      ...(diagnostics === undefined ? {} : { diagnostics }),
      ...(expression === undefined ? {} : { expression: [...expression] }),
    })),
  };
}

/**
 * An error the FHIR endpoint answers with: the HTTP status, the FHIR issue type and medchain's
 * code. Handlers throw it; `fhirErrorHandler` turns it (and every other error) into an
 * OperationOutcome.
 */
export class FhirError extends CodedError {
  override readonly name = 'FhirError';

  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Defaults to the status's usual issue type (`issueTypeOf`). */
    readonly issueType: IssueType = issueTypeOf(status),
    readonly expression?: readonly string[],
  ) {
    super(code, message);
  }
}

/** The IssueType an HTTP status usually stands for (FHIR's http page, "Managing Return Content"). */
export function issueTypeOf(status: number): IssueType {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 405:
    case 406:
    case 415:
      return 'not-supported';
    case 409:
    case 412:
      return 'conflict';
    case 410:
      return 'deleted';
    case 413:
      return 'too-costly';
    case 422:
      return 'processing';
    case 429:
      return 'throttled';
    case 503:
      return 'transient';
    default:
      return status >= 500 ? 'exception' : 'invalid';
  }
}

const FASTIFY_CODES: Record<string, { readonly status: number; readonly code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'BAD_REQUEST' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
};

/**
 * The status and OperationOutcome an error answers with. Errors a client caused keep their
 * 4xx; anything else is a 500 whose outcome says nothing about the internals.
 */
export function outcomeOfError(error: unknown): {
  readonly status: number;
  readonly outcome: FhirResource;
  /** True for a 5xx: the caller should log it. */
  readonly internal: boolean;
} {
  const answer = (
    status: number,
    errorCode: string,
    diagnostics: string,
    code: IssueType = issueTypeOf(status),
    expression?: readonly string[],
  ) => ({
    status,
    outcome: operationOutcome([
      {
        severity: 'error',
        code,
        errorCode,
        diagnostics,
        ...(expression === undefined ? {} : { expression }),
      },
    ]),
    internal: status >= 500,
  });
  if (error instanceof FhirError) {
    return answer(error.status, error.code, error.message, error.issueType, error.expression);
  }
  if (error instanceof HttpError || error instanceof AuthError) {
    return answer(error.status, error.code, error.message);
  }
  if (error instanceof RecordError) {
    return answer(RECORD_HTTP_STATUS[error.code], error.code, error.message);
  }
  const fastifyError = error as Partial<FastifyError> | undefined;
  if (fastifyError?.validation !== undefined) {
    return answer(400, 'BAD_REQUEST', fastifyError.message ?? 'invalid request');
  }
  const known = fastifyError?.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (known !== undefined) {
    return answer(known.status, known.code, fastifyError?.message ?? known.code);
  }
  const status = fastifyError?.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return answer(status, 'BAD_REQUEST', fastifyError?.message ?? 'bad request');
  }
  return answer(500, 'INTERNAL', 'internal error');
}

/** Sends an OperationOutcome with its status as `application/fhir+json`. */
export function sendOutcome(reply: FastifyReply, status: number, outcome: FhirResource) {
  return reply.code(status).header('content-type', `${FHIR_JSON}; charset=utf-8`).send(outcome);
}

/**
 * A fastify error handler for the /fhir/r4 prefix: every error becomes an OperationOutcome
 * with the right status; 5xx are logged (their details stay in the log, not the answer).
 */
export function fhirErrorHandler(logger: Logger) {
  return async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, outcome, internal } = outcomeOfError(error);
    if (internal) {
      logger.error(
        { err: error, method: request.method, route: request.routeOptions.url },
        'fhir api error',
      );
    }
    return sendOutcome(reply, status, outcome);
  };
}
