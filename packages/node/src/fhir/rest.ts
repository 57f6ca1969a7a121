import { fromHex } from '@medchain/crypto';
import { BalpProfile, type FhirResource, getConsent } from '@medchain/ledger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { consentSubject, type Subject } from '../api/auth.js';
import type { AccessKey } from '../api/authorization.js';
import type { ApiBackend } from '../api/backend.js';
import type { Logger } from '../logger.js';
import { capabilityStatement, type ResourceCapability } from './capability.js';
import {
  FHIR_JSON,
  FhirError,
  fhirErrorHandler,
  operationOutcome,
  outcomeOfError,
  sendOutcome,
} from './outcome.js';
import {
  AUDIT_EVENT_PARAMS,
  auditCandidates,
  auditResource,
  CONSENT_PARAMS,
  consentCandidates,
  consentResource,
  findAuditEntry,
  findTarget,
  hashId,
  type LedgerTarget,
  ledgerTime,
  provenanceOf,
} from './resources.js';
import {
  type Candidate,
  handlingOf,
  type ParsedSearch,
  pageOfMatches,
  parseSearch,
  type Query,
  queryValues,
  referenceValue,
  type SearchParam,
  searchUrl,
  splitValues,
} from './search.js';

/** Where the FHIR R4 endpoint is mounted. */
export const FHIR_BASE = '/fhir/r4';

/** The endpoint's own routes and their rows in the authorization table. */
export const FHIR_ROUTES = [
  { method: 'GET', path: '/metadata', access: 'fhirMetadata' },
  { method: 'GET', path: '/Consent', access: 'fhirSearchConsent' },
  { method: 'GET', path: '/Consent/:id', access: 'fhirReadConsent' },
  { method: 'GET', path: '/AuditEvent', access: 'fhirSearchAuditEvent' },
  { method: 'GET', path: '/AuditEvent/:id', access: 'fhirReadAuditEvent' },
  { method: 'GET', path: '/Provenance/:id', access: 'fhirReadProvenance' },
  // FHIR: a server that searches by GET also searches by POST to _search (a form body).
  { method: 'POST', path: '/Consent/_search', access: 'fhirSearchConsent' },
  { method: 'POST', path: '/AuditEvent/_search', access: 'fhirSearchAuditEvent' },
] as const satisfies ReadonlyArray<{ method: string; path: string; access: AccessKey }>;

/**
 * The API's request guard (server.ts) for one row of the authorization table: verifies the
 * request signature, resolves the subject with `subject` (after the signature, so a 404 there
 * needs a signed request), and decides by the signer's standings.
 */
export type Authorize = (
  access: AccessKey,
  subject: (request: FastifyRequest) => Subject | Promise<Subject>,
) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** What routes registered under /fhir/r4 get (the endpoint's own, the import's, the export's). */
export interface FhirContext {
  readonly backend: ApiBackend;
  readonly logger: Logger;
  readonly authorize: Authorize;
  /** The key whose request signature the guard verified (after `authorize`'s preHandler). */
  readonly signerOf: (request: FastifyRequest) => Uint8Array | undefined;
  /** The absolute base URL the request reached (`http://host:port/fhir/r4`). */
  readonly baseOf: (request: FastifyRequest) => string;
}

/**
 * More routes under /fhir/r4, registered inside the endpoint's scope so they share its content
 * negotiation, OperationOutcome errors and 404/405 answers. Resource types they add must be
 * described in `capabilities` so GET /metadata states them.
 */
export interface FhirRouteSet {
  readonly capabilities?: readonly ResourceCapability[];
  /** Operations on the system level (e.g. `$export`), by name and definition URL. */
  readonly operations?: ReadonlyArray<{ readonly name: string; readonly definition: string }>;
  register(instance: FastifyInstance, context: FhirContext): void | Promise<void>;
}

export interface FhirApiOptions {
  readonly backend: ApiBackend;
  readonly logger: Logger;
  readonly authorize: Authorize;
  readonly signerOf: (request: FastifyRequest) => Uint8Array | undefined;
  /** Keeps a body's bytes for the request-signature check (its Content-Digest covers them). */
  readonly keepBody: (request: FastifyRequest, body: Buffer) => void;
  readonly routeSets?: readonly FhirRouteSet[];
}

/** FHIR R4 JSON media types a client may ask for (`_format` and Accept). */
const FORMATS: Readonly<Record<string, string>> = {
  json: FHIR_JSON,
  [FHIR_JSON]: FHIR_JSON,
  'application/json': 'application/json',
};

/** The media type to answer with, from `_format` (which wins) or Accept; 406 if none fits. */
export function negotiate(format: readonly string[], accept: string | undefined): string {
  if (format.length > 0) {
    const chosen = format.length === 1 ? FORMATS[format[0]!.trim()] : undefined;
    if (chosen === undefined) {
      throw new FhirError(
        406,
        'FORMAT_NOT_ACCEPTABLE',
        `_format ${JSON.stringify(format.join(','))} is not served here: use json, ${FHIR_JSON} or application/json`,
        'not-supported',
        ['_format'],
      );
    }
    return chosen;
  }
  if (accept === undefined || accept.trim() === '') return FHIR_JSON;
  const ranges = accept.split(',').map((range) => {
    const [type, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const param = (name: string) =>
      params
        .find((p) => p.startsWith(`${name}=`))
        ?.slice(name.length + 1)
        .replace(/"/g, '');
    return { type: type!, q: Number(param('q') ?? '1'), fhirVersion: param('fhirversion') };
  });
  const acceptable = ranges
    .filter((r) => r.q > 0 && (r.fhirVersion === undefined || /^4\.0(\.\d+)?$/.test(r.fhirVersion)))
    .sort((a, b) => b.q - a.q);
  for (const range of acceptable) {
    if (range.type === FHIR_JSON || range.type === '*/*' || range.type === 'application/*') {
      return FHIR_JSON;
    }
    if (range.type === 'application/json') return 'application/json';
  }
  throw new FhirError(
    406,
    'FORMAT_NOT_ACCEPTABLE',
    `Accept ${JSON.stringify(accept)}: this endpoint serves ${FHIR_JSON} (FHIR 4.0) or application/json only`,
    'not-supported',
  );
}

const idParam = (request: FastifyRequest) => (request.params as { id: string }).id;

/** Parameters by name, without a prototype: `constructor` or `__proto__` is just a name. */
const parameterMap = (): Record<string, string[]> => Object.create(null);

/** Adds values under a parameter name (a repeated parameter keeps every value). */
function addValues(into: Record<string, string[]>, name: string, values: readonly string[]) {
  into[name] = [...(into[name] ?? []), ...values];
}

/**
 * The FHIR R4 REST endpoint (see src/fhir/README.md), a fastify plugin for the /fhir/r4
 * prefix. Every route goes through the API's request signature and authorization table.
 */
export function fhirApi(options: FhirApiOptions) {
  const { backend, logger, authorize } = options;
  const routeSets = options.routeSets ?? [];
  const baseOf = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? 'localhost'}${FHIR_BASE}`;
  const context: FhirContext = { backend, logger, authorize, signerOf: options.signerOf, baseOf };
  const answerTypes = new WeakMap<FastifyRequest, string>();
  /** Per request: what the guard resolved, so the handler does not read it twice. */
  const resolved = new WeakMap<FastifyRequest, unknown>();
  const searches = new WeakMap<FastifyRequest, { search: ParsedSearch; patient: Uint8Array }>();

  const resources: ResourceCapability[] = [
    {
      type: 'Consent',
      documentation:
        "A patient's consents on the ledger (scope patient-privacy, one permit provision). Search needs patient=.",
      interactions: ['read', 'search-type'],
      searchParams: CONSENT_PARAMS,
      searchRevIncludes: ['Provenance:target'],
    },
    {
      type: 'AuditEvent',
      documentation:
        "Every access decision the ledger logged about a patient's records (IHE BALP shapes). Search needs patient=.",
      interactions: ['read', 'search-type'],
      searchParams: AUDIT_EVENT_PARAMS,
      searchRevIncludes: ['Provenance:target'],
      supportedProfiles: [BalpProfile.authZConsent, BalpProfile.disclosureSource],
    },
    {
      type: 'Provenance',
      documentation:
        'Read Provenance/<id> for Consent/<id> or AuditEvent/<id>: the block and transaction that hold it and the block commit certificate.',
      interactions: ['read'],
      searchParams: [],
    },
  ];
  // A route set may add interactions to a type served here (Consent create): one entry per type.
  for (const added of routeSets.flatMap((set) => set.capabilities ?? [])) {
    const i = resources.findIndex((r) => r.type === added.type);
    if (i < 0) resources.push(added);
    else {
      const own = resources[i]!;
      resources[i] = {
        ...own,
        interactions: [...own.interactions, ...added.interactions],
        documentation: `${own.documentation} ${added.documentation}`,
      };
    }
  }

  /** Form bodies of POST _search, by request. */
  const forms = new WeakMap<FastifyRequest, Record<string, string[]>>();
  /** A search's parameters: the URL's, and for POST _search also the form body's. */
  const queryOf = (request: FastifyRequest): Query => {
    const query = request.query as Query;
    if (request.method !== 'POST' || request.body === undefined) return query;
    const form = forms.get(request);
    if (form === undefined) {
      throw new FhirError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'POST _search takes its parameters as application/x-www-form-urlencoded',
        'not-supported',
      );
    }
    const merged = parameterMap();
    for (const [name, values] of [...Object.entries(query), ...Object.entries(form)]) {
      addValues(merged, name, [values ?? []].flat());
    }
    return merged;
  };

  /** The patient a search is about: exactly one `patient` value (the authorization subject). */
  const searchOf = (request: FastifyRequest, params: readonly SearchParam[]) => {
    const cached = searches.get(request);
    if (cached !== undefined) return cached;
    const query = queryOf(request);
    const base = baseOf(request);
    const search = parseSearch(query, params, {
      handling: handlingOf(request.headers.prefer),
      base,
      revincludes: ['Provenance:target'],
    });
    const values = queryValues(query, 'patient').flatMap(splitValues);
    if (values.length !== 1) {
      throw new FhirError(
        400,
        'SEARCH_PATIENT_REQUIRED',
        'a search names exactly one patient (patient=Patient/<key hex>)',
        'required',
        ['patient'],
      );
    }
    const key = referenceValue('patient', values[0]!, ['Patient'], base).slice('Patient/'.length);
    if (!/^[0-9a-f]{64}$/.test(key)) {
      throw new FhirError(
        400,
        'SEARCH_PARAM_INVALID',
        'patient: a patient is Patient/<public key, 64 hex digits>',
        'invalid',
        ['patient'],
      );
    }
    const patient = fromHex(key);
    const parsed = { search, patient };
    searches.set(request, parsed);
    return parsed;
  };

  /** The one value of a reference parameter, if it names one of `types` (a narrower subject). */
  const single = (request: FastifyRequest, name: string, types: readonly string[]) => {
    const values = queryValues(queryOf(request), name).flatMap(splitValues);
    if (values.length !== 1) return undefined;
    const ref = referenceValue(name, values[0]!, types, baseOf(request));
    const [type, id] = ref.split('/') as [string, string];
    return /^[0-9a-f]{64}$/.test(id) ? { type, id: hashId(type, id) } : undefined;
  };

  async function bundle(
    request: FastifyRequest,
    resourceType: string,
    search: ParsedSearch,
    candidates: Iterable<Candidate<LedgerTarget>>,
  ): Promise<FhirResource> {
    const base = baseOf(request);
    const page = pageOfMatches(candidates, search);
    const cursor =
      search.after !== undefined
        ? (['_after', search.after] as const)
        : search.before !== undefined
          ? (['_before', search.before] as const)
          : undefined;
    const link = [{ relation: 'self', url: searchUrl(base, resourceType, search.used, cursor) }];
    if (page.next !== undefined) {
      link.push({
        relation: 'next',
        url: searchUrl(base, resourceType, search.used, ['_after', page.next]),
      });
    }
    if (page.previous !== undefined) {
      link.push({
        relation: 'previous',
        url: searchUrl(base, resourceType, search.used, ['_before', page.previous]),
      });
    }
    const entry: unknown[] = page.matches.map(({ resource }) => ({
      fullUrl: `${base}/${resourceType}/${resource.id as string}`,
      resource,
      search: { mode: 'match' },
    }));
    if (search.revincludeProvenance) {
      for (const { source } of page.matches) {
        const provenance = await provenanceOf(backend, source);
        if (provenance !== undefined) {
          entry.push({
            fullUrl: `${base}/Provenance/${provenance.id as string}`,
            resource: provenance,
            search: { mode: 'include' },
          });
        }
      }
    }
    if (search.ignored.length > 0) {
      entry.push({
        resource: operationOutcome([
          {
            severity: 'warning',
            code: 'not-supported',
            errorCode: 'SEARCH_PARAM_UNKNOWN',
            diagnostics: `ignored unknown search parameters: ${search.ignored.join(', ')}`,
            expression: search.ignored,
          },
        ]),
        search: { mode: 'outcome' },
      });
    }
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: page.total,
      link,
      ...(entry.length === 0 ? {} : { entry }),
    };
  }

  const targetSubject = (target: LedgerTarget): Subject =>
    target.type === 'Consent'
      ? consentSubject(target.consent)
      : { patient: target.entry.patient, key: target.entry.requester };

  const notFound = (resourceType: string, id: string) =>
    new FhirError(404, 'RESOURCE_NOT_FOUND', `${resourceType}/${id} is not known here`);

  return async (instance: FastifyInstance): Promise<void> => {
    instance.setErrorHandler(fhirErrorHandler(logger));

    // Content negotiation first: a client that cannot read FHIR JSON gets 406 before anything.
    instance.addHook('onRequest', async (request) => {
      if (request.routeOptions.config?.ndjson === true) return;
      const query = request.query as Query;
      answerTypes.set(request, negotiate(queryValues(query, '_format'), request.headers.accept));
    });
    instance.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'buffer' },
      (request, body, done) => {
        if (!request.routeOptions.url?.endsWith('/_search')) {
          done(
            new FhirError(415, 'UNSUPPORTED_MEDIA_TYPE', 'only POST _search takes a form body'),
            undefined,
          );
          return;
        }
        options.keepBody(request, body as Buffer);
        const fields = parameterMap();
        for (const [name, value] of new URLSearchParams((body as Buffer).toString('utf8'))) {
          addValues(fields, name, [value]);
        }
        forms.set(request, fields);
        done(null, fields);
      },
    );
    instance.addHook('onSend', async (request, reply, payload) => {
      const current = String(reply.getHeader('content-type') ?? '');
      if (current === '' || /^application\/(fhir\+)?json/.test(current)) {
        reply.header('content-type', `${answerTypes.get(request) ?? FHIR_JSON}; charset=utf-8`);
      }
      return payload;
    });

    const paths: Array<{ pattern: RegExp; methods: string[] }> = [];
    instance.addHook('onRoute', (route) => {
      const pattern = new RegExp(`^${route.url.replace(/:[A-Za-z]+/g, '[^/]+')}$`);
      let known = paths.find((p) => p.pattern.source === pattern.source);
      if (known === undefined) {
        known = { pattern, methods: [] };
        paths.push(known);
      }
      known.methods.push(...[route.method].flat());
    });
    instance.setNotFoundHandler(async (request, reply) => {
      const path = request.url.split('?', 1)[0]!;
      const known = paths.find((p) => p.pattern.test(path));
      if (known !== undefined) {
        const allow = known.methods.join(', ');
        const { outcome } = outcomeOfError(
          new FhirError(
            405,
            'METHOD_NOT_ALLOWED',
            `${request.method} is not supported here; use ${allow}`,
          ),
        );
        return sendOutcome(reply.header('allow', allow), 405, outcome);
      }
      const type = path.slice(FHIR_BASE.length + 1).split('/', 1)[0] ?? '';
      const supported = resources.map((r) => r.type);
      throw new FhirError(
        404,
        'RESOURCE_TYPE_NOT_SUPPORTED',
        supported.includes(type)
          ? `${request.method} ${path.slice(FHIR_BASE.length)} is not an interaction this endpoint supports`
          : `resource type ${JSON.stringify(type)} is not served here (supported: ${supported.join(', ')})`,
        'not-supported',
      );
    });

    const route = (
      spec: (typeof FHIR_ROUTES)[number],
      subject: (request: FastifyRequest) => Subject | Promise<Subject>,
      handler: (request: FastifyRequest) => Promise<FhirResource>,
    ) =>
      instance.route({
        method: spec.method,
        url: spec.path,
        config: { access: spec.access },
        preHandler: authorize(spec.access, subject),
        handler: async (request) => handler(request),
      });

    route(
      FHIR_ROUTES[0],
      () => ({}),
      async (request) => {
        const time = await ledgerTime(backend);
        return capabilityStatement({
          base: baseOf(request),
          date: new Date(time).toISOString(),
          resources,
          operations: routeSets.flatMap((set) => set.operations ?? []),
        });
      },
    );

    const consentSearch = [
      (request: FastifyRequest): Subject => {
        const { patient } = searchOf(request, CONSENT_PARAMS);
        const actor = single(request, 'actor', ['Practitioner', 'Organization']);
        return actor === undefined
          ? { patient }
          : {
              patient,
              grantee: {
                type: actor.type === 'Practitioner' ? 'provider' : 'organization',
                id: actor.id,
              },
            };
      },
      async (request: FastifyRequest) => {
        const { search, patient } = searchOf(request, CONSENT_PARAMS);
        const time = await ledgerTime(backend);
        return bundle(
          request,
          'Consent',
          search,
          consentCandidates(backend.state(), backend.history(), patient, time),
        );
      },
    ] as const;
    route(FHIR_ROUTES[1], ...consentSearch);
    route(FHIR_ROUTES[6], ...consentSearch);

    // A consent is one state read by its id (no audit trail to search, as findTarget would).
    const consentOf = (request: FastifyRequest) => {
      const cached = resolved.get(request) as LedgerTarget | undefined;
      if (cached?.type === 'Consent') return cached.consent;
      const id = idParam(request);
      const consent = getConsent(backend.state(), hashId('Consent', id));
      if (consent === undefined) throw notFound('Consent', id);
      resolved.set(request, { type: 'Consent', consent });
      return consent;
    };
    route(
      FHIR_ROUTES[2],
      (request) => consentSubject(consentOf(request)),
      async (request) =>
        consentResource(backend.state(), consentOf(request), await ledgerTime(backend)),
    );

    const auditSearch = [
      (request: FastifyRequest): Subject => {
        const { patient } = searchOf(request, AUDIT_EVENT_PARAMS);
        const agent = single(request, 'agent', [
          'Practitioner',
          'Organization',
          'Patient',
          'RelatedPerson',
        ]);
        return agent?.type === 'Practitioner' ? { patient, key: agent.id } : { patient };
      },
      async (request: FastifyRequest) => {
        const { search, patient } = searchOf(request, AUDIT_EVENT_PARAMS);
        return bundle(
          request,
          'AuditEvent',
          search,
          auditCandidates(backend.state(), backend.history(), patient),
        );
      },
    ] as const;
    route(FHIR_ROUTES[3], ...auditSearch);
    route(FHIR_ROUTES[7], ...auditSearch);

    const auditOf = async (request: FastifyRequest) => {
      const cached = resolved.get(request) as LedgerTarget | undefined;
      if (cached?.type === 'AuditEvent') return cached.entry;
      const id = idParam(request);
      const entry = await findAuditEntry(backend, hashId('AuditEvent', id));
      if (entry === undefined) throw notFound('AuditEvent', id);
      resolved.set(request, { type: 'AuditEvent', entry });
      return entry;
    };
    route(
      FHIR_ROUTES[4],
      async (request) => targetSubject({ type: 'AuditEvent', entry: await auditOf(request) }),
      async (request) => auditResource(backend.state(), await auditOf(request)),
    );

    const provenanceTarget = async (request: FastifyRequest) => {
      const cached = resolved.get(request) as LedgerTarget | undefined;
      if (cached !== undefined) return cached;
      const id = idParam(request);
      const target = await findTarget(backend, hashId('Provenance', id));
      if (target === undefined) throw notFound('Provenance', id);
      resolved.set(request, target);
      return target;
    };
    route(
      FHIR_ROUTES[5],
      async (request) => targetSubject(await provenanceTarget(request)),
      async (request) => {
        const provenance = await provenanceOf(backend, await provenanceTarget(request));
        // Committed but its block not certified yet: there is nothing to verify against.
        if (provenance === undefined) throw notFound('Provenance', idParam(request));
        return provenance;
      },
    );

    for (const set of routeSets) await set.register(instance, context);
  };
}
