import type { FhirResource } from '@medchain/ledger';
import { FHIR_JSON } from './outcome.js';
import type { SearchParam } from './search.js';

/** What one resource type supports, as the CapabilityStatement states it. */
export interface ResourceCapability {
  readonly type: string;
  readonly profile?: string;
  readonly supportedProfiles?: readonly string[];
  readonly interactions: ReadonlyArray<'read' | 'search-type' | 'create'>;
  readonly searchParams: readonly SearchParam[];
  readonly searchRevIncludes?: readonly string[];
  readonly documentation: string;
}

const SIGNATURE_DOC =
  'Every request except GET /metadata carries an HTTP Message Signature (RFC 9421, medchain ' +
  'profile: Ed25519 over @method, @authority, @path, @query, content-digest (RFC 9530) when a body ' +
  'is sent, with created, expires, nonce and keyid = the signing public key in hex; see the node ' +
  "API README). The key's standing on the ledger (patient, delegate, grantee provider or " +
  'organization, ...) decides what it may read: 401 without a valid signature, 403 without the ' +
  'standing. Unknown search parameters are ignored unless the request says Prefer: handling=strict.';

/**
 * The CapabilityStatement served at GET /metadata: exactly the interactions, search parameters,
 * formats and security this endpoint implements.
 */
export function capabilityStatement(options: {
  readonly base: string;
  /** The latest block's time (the statement's date is when the node's data last changed). */
  readonly date: string;
  readonly resources: readonly ResourceCapability[];
  readonly operations: ReadonlyArray<{ readonly name: string; readonly definition: string }>;
}): FhirResource {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: options.date,
    publisher: 'medchain',
    kind: 'instance',
    software: { name: 'medchain node' },
    implementation: { description: 'medchain FHIR R4 endpoint', url: options.base },
    fhirVersion: '4.0.1',
    format: [FHIR_JSON, 'json', 'application/json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Consents and audit entries from the ledger, read-only except Consent create (import). ' +
          'Searches by GET or POST _search (form body) page in ledger order; Bundle links carry an opaque cursor.',
        security: { cors: true, description: SIGNATURE_DOC },
        resource: options.resources.map((r) => ({
          type: r.type,
          ...(r.profile === undefined ? {} : { profile: r.profile }),
          ...(r.supportedProfiles === undefined
            ? {}
            : { supportedProfile: [...r.supportedProfiles] }),
          documentation: r.documentation,
          interaction: r.interactions.map((code) => ({ code })),
          versioning: 'no-version',
          readHistory: false,
          updateCreate: false,
          conditionalCreate: false,
          conditionalRead: 'not-supported',
          conditionalUpdate: false,
          conditionalDelete: 'not-supported',
          ...(r.searchRevIncludes === undefined
            ? {}
            : { searchRevInclude: [...r.searchRevIncludes] }),
          ...(r.searchParams.length === 0
            ? {}
            : {
                searchParam: r.searchParams.map((p) => ({
                  name: p.name,
                  definition: p.definition,
                  type: p.type,
                  documentation: `${p.documentation} (${p.expression})`,
                })),
              }),
        })),
        ...(options.operations.length === 0
          ? {}
          : {
              operation: options.operations.map((o) => ({
                name: o.name,
                definition: o.definition,
              })),
            }),
      },
    ],
  };
}
