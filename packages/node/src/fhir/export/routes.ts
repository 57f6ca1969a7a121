import { createReadStream } from 'node:fs';
import { encodeCanonical, sha256 } from '@medchain/crypto';
import { RESOURCE_TYPE_PATTERN } from '@medchain/ledger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { identify, type Subject } from '../../api/auth.js';
import { FhirError, operationOutcome } from '../outcome.js';
import { ledgerTime } from '../resources.js';
import type { FhirContext, FhirRouteSet } from '../rest.js';
import { handlingOf, type Query, queryValues } from '../search.js';
import { ERRORS_FILE, ExportError, type ExportJob, type ExportJobs, parseSince } from './jobs.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers application/fhir+ndjson: FHIR JSON content negotiation does not apply. */
    ndjson?: boolean;
  }
}

/** The export's routes under /fhir/r4 and their rows in the authorization table. */
export const EXPORT_ROUTES = {
  kickOff: { method: 'GET', path: '/$export', access: 'fhirExportKickOff' },
  status: { method: 'GET', path: '/bulkstatus/:id', access: 'fhirExportStatus' },
  cancel: { method: 'DELETE', path: '/bulkstatus/:id', access: 'fhirExportCancel' },
  file: { method: 'GET', path: '/bulkfiles/:id/:name', access: 'fhirExportFile' },
} as const;

const NDJSON = 'application/fhir+ndjson';
const OUTPUT_FORMATS = new Set([NDJSON, 'application/ndjson', 'ndjson']);
/** Kick-off parameters this server implements; `_format` is the endpoint's own. */
const SUPPORTED = new Set(['_outputFormat', '_type', '_since', '_format']);
const BULK_EXPORT = 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export';

/** A kick-off parameter's value (a repeated one joined, as comma-separated values). */
const one = (query: Query, name: string) => queryValues(query, name).join(',');

/**
 * The FHIR Bulk Data (v2) research export as a route set of the FHIR endpoint: kick-off
 * (`GET /fhir/r4/$export`, `Prefer: respond-async`), status (`GET .../bulkstatus/<id>`: 202 with
 * X-Progress, then 200 and the manifest), cancel or delete (`DELETE` the same URL), and the
 * ndjson files. Only an active researcher's key may kick off; only that key may poll, cancel
 * and download its export (request signatures and the authorization table, like every route).
 */
export function researchExportRoutes(jobs: ExportJobs): FhirRouteSet {
  return {
    operations: [{ name: 'export', definition: BULK_EXPORT }],
    register: (instance: FastifyInstance, context: FhirContext) => {
      const { backend, authorize, signerOf, baseOf } = context;
      const jobOf = (request: FastifyRequest): ExportJob => {
        const { id } = request.params as { id: string };
        const job = jobs.get(id);
        if (job === undefined) {
          throw new FhirError(404, 'EXPORT_NOT_FOUND', `no export ${id} (finished ones expire)`);
        }
        return job;
      };
      /** The export's own study key: the only one with standing `self`. */
      const studyOfJob = (request: FastifyRequest): Subject => ({
        key: jobOf(request).kickOff.study,
      });
      const statusUrl = (request: FastifyRequest, job: ExportJob) =>
        `${baseOf(request)}/bulkstatus/${job.id}`;

      instance.route({
        ...route(EXPORT_ROUTES.kickOff),
        // `self` only for an active researcher: the study is the signer itself.
        preHandler: authorize(EXPORT_ROUTES.kickOff.access, (request) => {
          const key = signerOf(request);
          const researcher =
            key !== undefined && identify(backend.state(), key).provider?.role === 'researcher';
          return researcher ? { key } : {};
        }),
        handler: async (request, reply) => {
          const query = request.query as Query;
          const prefer = request.headers.prefer;
          if (![prefer ?? []].flat().some((p) => /(^|[,;\s])respond-async($|[,;\s])/.test(p))) {
            throw new FhirError(
              400,
              'EXPORT_ASYNC_REQUIRED',
              'a bulk export is asynchronous: send Prefer: respond-async',
              'required',
            );
          }
          const unknown = Object.keys(query).filter((name) => !SUPPORTED.has(name));
          if (unknown.length > 0 && handlingOf(prefer) === 'strict') {
            throw new FhirError(
              400,
              'EXPORT_PARAM_UNSUPPORTED',
              `unsupported kick-off parameters: ${unknown.join(', ')}`,
              'not-supported',
              unknown,
            );
          }
          const format = one(query, '_outputFormat');
          if (format !== '' && !OUTPUT_FORMATS.has(format)) {
            throw new FhirError(
              400,
              'EXPORT_FORMAT_UNSUPPORTED',
              `_outputFormat ${JSON.stringify(format)}: only ${NDJSON} is written`,
              'not-supported',
              ['_outputFormat'],
            );
          }
          const types = one(query, '_type')
            .split(',')
            .map((type) => type.trim())
            .filter((type) => type !== '');
          const badType = types.find((type) => !RESOURCE_TYPE_PATTERN.test(type));
          if (badType !== undefined) {
            throw new FhirError(
              400,
              'EXPORT_BAD_TYPE',
              `_type: ${JSON.stringify(badType)} is not a resource type`,
              'value',
              ['_type'],
            );
          }
          const sinceText = one(query, '_since');
          const since = sinceText === '' ? undefined : parseSince(sinceText);
          if (sinceText !== '' && since === undefined) {
            throw new FhirError(400, 'EXPORT_BAD_SINCE', '_since must be a FHIR instant', 'value', [
              '_since',
            ]);
          }
          const url = `${request.protocol}://${request.headers.host ?? ''}${request.url}`;
          const header = (name: string) => [request.headers[name] ?? []].flat().join(', ');
          const requestHash = sha256(
            encodeCanonical({
              method: request.method,
              url,
              signatureInput: header('signature-input'),
              signature: header('signature'),
            }),
          );
          let job: ExportJob;
          try {
            job = jobs.start({
              study: signerOf(request)!,
              url,
              requestHash,
              types,
              ...(since === undefined ? {} : { since }),
              transactionTime: await ledgerTime(backend),
            });
          } catch (error) {
            if (error instanceof ExportError && error.code === 'EXPORT_BUSY') {
              reply.header('retry-after', '30');
              throw new FhirError(429, error.code, error.message, 'throttled');
            }
            throw error;
          }
          reply.code(202).header('content-location', statusUrl(request, job));
          return operationOutcome([
            {
              severity: 'information',
              code: 'informational',
              diagnostics: `export ${job.id} started; poll ${statusUrl(request, job)}`,
            },
          ]);
        },
      });

      instance.route({
        ...route(EXPORT_ROUTES.status),
        preHandler: authorize(EXPORT_ROUTES.status.access, studyOfJob),
        handler: async (request, reply) => {
          const job = jobOf(request);
          if (job.status === 'running') {
            reply
              .code(202)
              .header('x-progress', `${job.released} of ${job.planned} patients released`)
              .header('retry-after', '1');
            return reply.send();
          }
          if (job.status !== 'complete') {
            throw new FhirError(
              500,
              'EXPORT_FAILED',
              `the export failed: ${job.failure ?? job.status}`,
            );
          }
          const base = baseOf(request);
          const fileUrl = (name: string) => `${base}/bulkfiles/${job.id}/${name}`;
          reply.header('content-type', 'application/json; charset=utf-8');
          return {
            transactionTime: new Date(job.kickOff.transactionTime).toISOString(),
            request: job.kickOff.url,
            requiresAccessToken: true,
            output: [...job.files.values()]
              .sort((a, b) => a.type.localeCompare(b.type))
              .map((file) => ({ type: file.type, url: fileUrl(file.name), count: file.count })),
            error:
              job.errors.length === 0
                ? []
                : [
                    {
                      type: 'OperationOutcome',
                      url: fileUrl(ERRORS_FILE),
                      count: job.errors.length,
                    },
                  ],
          };
        },
      });

      instance.route({
        ...route(EXPORT_ROUTES.cancel),
        preHandler: authorize(EXPORT_ROUTES.cancel.access, studyOfJob),
        handler: async (request, reply) => {
          await jobs.remove(jobOf(request).id);
          reply.code(202);
          return operationOutcome([
            { severity: 'information', code: 'informational', diagnostics: 'export deleted' },
          ]);
        },
      });

      instance.route({
        ...route(EXPORT_ROUTES.file),
        config: { access: EXPORT_ROUTES.file.access, ndjson: true },
        preHandler: authorize(EXPORT_ROUTES.file.access, studyOfJob),
        handler: async (request, reply: FastifyReply) => {
          const { name } = request.params as { name: string };
          let file: { path: string; size: number };
          try {
            file = await jobs.file(jobOf(request).id, name);
          } catch (error) {
            if (error instanceof ExportError) throw new FhirError(404, error.code, error.message);
            throw error;
          }
          reply.header('content-type', NDJSON).header('content-length', String(file.size));
          return reply.send(createReadStream(file.path));
        },
      });
    },
  };
}

function route(spec: (typeof EXPORT_ROUTES)[keyof typeof EXPORT_ROUTES]) {
  return { method: spec.method, url: spec.path, config: { access: spec.access } };
}
