import { requestNonce, signRequest } from '@medchain/client';
import { type Signer, utf8 } from '@medchain/crypto';
import { type ConsentEntry, consentToFhir, type FhirResource } from '@medchain/ledger';
import { Client } from 'fhir-kit-client';
import { expect } from 'vitest';
import { fhirSchemaErrors } from '../../ledger/test/fhir-schema.js';

/**
 * What the FHIR endpoint tests share: signing a request, an EHR's FHIR client that does, the
 * R4 schema check of every answer, and a Consent as a client imports it.
 */

/** The RFC 9421 headers that sign one request as `as`, now, with a fresh nonce. */
export function signedHeaders(
  as: Signer,
  method: string,
  url: string,
  body?: Uint8Array,
): Promise<Record<string, string>> {
  return signRequest({ method, url, ...(body === undefined ? {} : { body }) }, as, {
    now: Date.now(),
    nonce: requestNonce(),
  });
}

/** An EHR's FHIR client (fhir-kit-client) signing every request with `as` through its request hook. */
export function fhirClient(
  baseUrl: string,
  as?: Signer,
  customHeaders: Record<string, string> = {},
): Client {
  return new Client({
    baseUrl,
    customHeaders,
    ...(as === undefined
      ? {}
      : {
          requestSigner: async (url: string, init: RequestInit) => {
            const body = typeof init.body === 'string' ? utf8(init.body) : undefined;
            const headers = await signedHeaders(as, init.method ?? 'GET', url, body);
            for (const [name, value] of Object.entries(headers)) {
              (init.headers as Headers).set(name, value);
            }
          },
        }),
  });
}

type Resource = { readonly resourceType: string; readonly [element: string]: unknown };

/**
 * Schema errors of a resource and, for a Bundle, of each entry's resource. One known gap: the
 * schema's FHIRVersion enum predates R4's 4.0.1 technical correction (HL7's own 4.0.1
 * CapabilityStatement examples fail it the same way), so fhirVersion "4.0.1" is let through.
 */
function schemaErrors(resource: Resource): unknown[] {
  const errors = fhirSchemaErrors(resource).filter(
    (e) =>
      !(
        (e as { instancePath: string }).instancePath === '/fhirVersion' &&
        resource.fhirVersion === '4.0.1'
      ),
  );
  const entries =
    resource.resourceType === 'Bundle'
      ? ((resource.entry as { resource: Resource }[] | undefined) ?? [])
      : [];
  return [...errors, ...entries.flatMap((e) => schemaErrors(e.resource))];
}

/** Asserts a resource the endpoint returned (a Bundle with its entries) is valid against R4's schema. */
export function valid<T extends Resource>(resource: unknown): T {
  expect(schemaErrors(resource as Resource)).toEqual([]);
  return resource as T;
}

/**
 * A Consent as medchain exports it, from `patient` to the provider `provider` (Observation,
 * access, TREAT), running from a minute ago for a day unless `overrides` say otherwise; without
 * what the node sets when it stores one (id, dateTime, status), as a client sends it.
 */
export function consentToImport(
  patient: Uint8Array,
  provider: Uint8Array,
  overrides: Partial<ConsentEntry> = {},
): FhirResource {
  const now = Date.now();
  const exported = consentToFhir(
    {
      id: new Uint8Array(32),
      patient,
      grantee: { type: 'provider', id: provider },
      recordIds: [],
      resourceTypes: ['Observation'],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: now - 60_000,
      validUntil: now + 86_400_000,
      grantedBy: patient,
      createdAt: now,
      status: 'active',
      revokedAt: null,
      revokedBy: null,
      ...overrides,
    },
    { time: now, resourceTypeOf: () => 'Observation' },
  );
  const { id: _id, dateTime: _dateTime, status: _status, ...rest } = exported;
  return { ...rest, status: 'active' };
}
