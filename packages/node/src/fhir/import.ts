import { bytesEqual, toHex } from '@medchain/crypto';
import {
  type ConsentReading,
  encodeTransaction,
  type FhirIssue,
  getConsent,
  grantRefusal,
  type Receipt,
  readConsentTransaction,
  readFhirConsent,
  readFhirConsentR5,
  TRANSACTION_EXTENSION,
  type Transaction,
  transactionHash,
  verifyTransactionSignature,
} from '@medchain/ledger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessKey } from '../api/authorization.js';
import type { ApiBackend } from '../api/backend.js';
import { REJECTION_STATUS } from '../api/server.js';
import { FhirError, type IssueType, operationOutcome, sendOutcome } from './outcome.js';
import { consentResource, ledgerTime } from './resources.js';
import type { FhirRouteSet } from './rest.js';

/** The row of the authorization table POST /fhir/r4/Consent answers to. */
export const CONSENT_CREATE_ACCESS = 'fhirCreateConsent' satisfies AccessKey;

/** How long the import waits for the grant's block before answering 202 Accepted. */
export const DEFAULT_IMPORT_WAIT_MS = 30_000;

export interface ConsentImportRouteOptions {
  /** The node's clock (ms): a grant whose window has ended by now is refused before submitting. */
  readonly now?: () => number;
  readonly waitMs?: number;
}

const EXTENSION_PATH = `Consent.extension('${TRANSACTION_EXTENSION}')`;

/** The OperationOutcome of an import refusal: 400 for malformed FHIR, 422 for what cannot be a grant. */
function refusal(issues: readonly FhirIssue[]): { status: number; errorCode: string } {
  const malformed = issues.some((issue) => issue.code === 'structure' || issue.code === 'value');
  return malformed
    ? { status: 400, errorCode: 'FHIR_CONSENT_INVALID' }
    : { status: 422, errorCode: 'FHIR_CONSENT_UNSUPPORTED' };
}

function sendIssues(reply: FastifyReply, issues: readonly FhirIssue[], answer = refusal(issues)) {
  const { status, errorCode } = answer;
  return sendOutcome(
    reply,
    status,
    operationOutcome(
      issues.map((issue) => ({
        severity: 'error',
        code: issue.code,
        errorCode,
        diagnostics: issue.diagnostics,
        expression: [issue.expression],
      })),
    ),
  );
}

/**
 * Reads the body as the FHIR version its Content-Type declares: R4 (this endpoint's, the
 * default) or R5 (`application/fhir+json; fhirVersion=5.0`); another version is 415.
 */
function readBody(request: FastifyRequest): ConsentReading {
  const type = String(request.headers['content-type'] ?? '');
  const version = /;\s*fhirversion\s*=\s*"?([^";\s]+)"?/i.exec(type)?.[1];
  if (version === undefined || /^4\.0(\.\d+)?$/.test(version)) return readFhirConsent(request.body);
  if (/^5\.0(\.\d+)?$/.test(version)) return readFhirConsentR5(request.body);
  throw new FhirError(
    415,
    'FHIR_VERSION_UNSUPPORTED',
    `fhirVersion=${version}: a Consent is imported as FHIR 4.0 or 5.0`,
    'not-supported',
  );
}

/** Where in the Consent each of the grant rule's refusals points, and how FHIR calls it. */
const GRANT_REFUSALS: Record<string, { status: number; type: IssueType; expression: string }> = {
  NOT_PATIENT_OR_DELEGATE: { status: 403, type: 'forbidden', expression: 'Consent.patient' },
  PATIENT_NOT_FOUND: { status: 422, type: 'business-rule', expression: 'Consent.patient' },
  GRANTEE_NOT_FOUND: { status: 422, type: 'business-rule', expression: 'Consent.provision.actor' },
  BAD_WINDOW: { status: 422, type: 'business-rule', expression: 'Consent.provision.period' },
  WINDOW_TOO_LONG: {
    status: 422,
    type: 'business-rule',
    expression: 'Consent.provision.period.end',
  },
  SCOPE_INVALID: { status: 422, type: 'business-rule', expression: 'Consent.provision.data' },
};

/** The receipt of `hash` once a block commits it, or undefined after `waitMs`. */
function receiptOf(backend: ApiBackend, hash: Uint8Array, waitMs: number) {
  let unsubscribe = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const receipt = new Promise<Receipt | undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), waitMs);
    unsubscribe = backend.subscribe((event) => {
      const found = event.receipts.find((r) => bytesEqual(r.txHash, hash));
      if (found !== undefined) resolve(found);
    });
  });
  return {
    receipt,
    stop: () => {
      clearTimeout(timer);
      unsubscribe();
    },
  };
}

/**
 * POST /fhir/r4/Consent: a FHIR R4 Consent that carries the consent.grant transaction's signer,
 * nonce and signature in the `urn:medchain:fhir:consent-transaction` extension (see
 * docs/PROTOCOL.md). The node maps the Consent to the grant's body exactly as the client did
 * (`readFhirConsent`), rebuilds the transaction with its chain id, checks the signature, asks
 * the grant rule on committed state (so a grant that would fail is refused, not committed with a
 * failed receipt), submits it and waits for its block: 201 Created with Location and the
 * Consent as the node exports it. The node never signs: without the grantor's signature
 * nothing is submitted. An R5 Consent may be posted as `application/fhir+json; fhirVersion=5.0`
 * (`readFhirConsentR5`); the answer is the R4 Consent the endpoint serves.
 * Refusals are OperationOutcomes naming the element: 400 malformed, 422
 * not a grant medchain can hold (or a grant the ledger would refuse), 403 a signer who may not
 * act for the patient, 409 a used nonce; 202 if the block takes longer than `waitMs`.
 */
export function consentImport(options: ConsentImportRouteOptions = {}): FhirRouteSet {
  const now = options.now ?? Date.now;
  const waitMs = options.waitMs ?? DEFAULT_IMPORT_WAIT_MS;
  const readings = new WeakMap<FastifyRequest, ConsentReading>();
  return {
    capabilities: [
      {
        type: 'Consent',
        interactions: ['create'],
        searchParams: [],
        documentation:
          'Create (import): POST a Consent carrying the consent.grant its grantor signed (extension urn:medchain:fhir:consent-transaction); an R5 Consent with Content-Type fhirVersion=5.0. 201 once committed, or an OperationOutcome naming what cannot be a grant.',
      },
    ],
    register(instance, { backend, authorize, baseOf }) {
      instance.route({
        method: 'POST',
        url: '/Consent',
        config: { access: CONSENT_CREATE_ACCESS },
        // After the request signature: the Consent's patient is the subject of the standing.
        preHandler: authorize(CONSENT_CREATE_ACCESS, (request) => {
          const reading = readBody(request);
          readings.set(request, reading);
          const patient = reading.ok ? reading.terms.patient : reading.patient;
          if (patient === undefined) {
            // Without its patient there is no standing to decide on: refuse the Consent itself.
            const issues = reading.ok ? [] : reading.issues;
            const { status, errorCode } = refusal(issues);
            throw new FhirError(
              status,
              errorCode,
              issues.map((i) => `${i.expression}: ${i.diagnostics}`).join('; '),
              issues[0]?.code,
              issues.map((i) => i.expression),
            );
          }
          return { patient };
        }),
        handler: async (request, reply) => {
          const reading = readings.get(request) ?? readBody(request);
          if (!reading.ok) return sendIssues(reply, reading.issues);
          const carried = readConsentTransaction(request.body);
          // No signed transaction, nothing to submit: the request itself is incomplete.
          if (!carried.ok) {
            return sendIssues(reply, carried.issues, {
              status: 400,
              errorCode: 'TRANSACTION_MISSING',
            });
          }
          const { signer, nonce, signature } = carried.transaction;
          if (reading.grantor !== undefined && !bytesEqual(reading.grantor, signer)) {
            throw new FhirError(
              422,
              'GRANTOR_NOT_SIGNER',
              `the Consent names ${toHex(reading.grantor)} as its grantor but ${toHex(signer)} signed`,
              'business-rule',
              ['Consent.performer[0]'],
            );
          }
          const { chainId } = await backend.status();
          const tx: Transaction = {
            chainId,
            kind: 'consent.grant',
            body: reading.terms as unknown as Transaction['body'],
            signer,
            nonce,
            signature,
          };
          if (!verifyTransactionSignature(tx)) {
            throw new FhirError(
              400,
              'BAD_SIGNATURE',
              `the signature is not ${toHex(signer)}'s over the consent.grant this Consent maps to (chain ${chainId}, nonce ${nonce}): a different key, or a changed Consent`,
              'security',
              [`${EXTENSION_PATH}.extension('signature')`],
            );
          }
          const time = Math.max(now(), await ledgerTime(backend));
          const refused = grantRefusal(backend.state(), signer, reading.terms, time);
          if (refused !== undefined) {
            const where = GRANT_REFUSALS[refused.code] ?? {
              status: 422,
              type: 'business-rule' as const,
              expression: 'Consent',
            };
            throw new FhirError(where.status, refused.code, refused.message, where.type, [
              where.expression,
            ]);
          }
          const bytes = encodeTransaction(tx);
          // Listen before submitting: the block may come before submit returns.
          const waiting = receiptOf(backend, transactionHash(tx), waitMs);
          try {
            const submitted = await backend.submitTransaction(bytes, request.ip);
            if (!submitted.accepted) {
              const status = REJECTION_STATUS[submitted.code];
              if (status === 429 || status === 503) reply.header('retry-after', '1');
              throw new FhirError(status, submitted.code, submitted.message, undefined, [
                status === 409 ? `${EXTENSION_PATH}.extension('nonce')` : 'Consent',
              ]);
            }
            const id = toHex(submitted.hash);
            const location = `${baseOf(request)}/Consent/${id}`;
            const receipt = await waiting.receipt;
            if (receipt === undefined) {
              return sendOutcome(
                reply.header('content-location', location),
                202,
                operationOutcome([
                  {
                    severity: 'information',
                    code: 'informational',
                    errorCode: 'PENDING',
                    diagnostics: `consent.grant ${id} is in the mempool, not yet in a block: read ${location} later`,
                  },
                ]),
              );
            }
            if (receipt.code !== 'OK') {
              throw new FhirError(
                422,
                receipt.code,
                `consent.grant ${id} was committed and failed: ${receipt.message}`,
                'business-rule',
              );
            }
            const state = backend.state();
            const consent = getConsent(state, submitted.hash)!;
            reply.code(201).header('location', location);
            return consentResource(state, consent, await ledgerTime(backend));
          } finally {
            waiting.stop();
          }
        },
      });
    },
  };
}
