import { toHex, utf8 } from '@medchain/crypto';
import {
  auditEntryToFhir,
  type ConsentTerms,
  consentToFhir,
  type FhirResource,
  readFhirConsent,
  readFhirConsentR5,
  transactionHash,
  withConsentTransaction,
} from '@medchain/ledger';
import { type ApiClient, DEFAULT_RECEIPT_TIMEOUT_MS, orUndefined } from './api.js';
import { ClientError } from './errors.js';
import { type RequestSigner, signRequest } from './http-signature.js';
import { type AuditEntryJson, auditFromJson, type ConsentJson, consentFromJson } from './json.js';
import { requestNonce } from './random.js';
import { nextNonce, noteNonceUsed, signTransaction } from './transactions.js';

/** Where a node serves FHIR R4. */
export const FHIR_R4_PATH = '/fhir/r4';

/** A FHIR R4 Bundle of type `collection`: resources gathered for export, not a transaction. */
export interface FhirCollection {
  readonly resourceType: 'Bundle';
  readonly type: 'collection';
  /** When the bundle was assembled (ISO 8601). */
  readonly timestamp: string;
  readonly total: number;
  readonly entry: readonly { readonly resource: FhirResource }[];
}

export function fhirCollection(
  resources: readonly FhirResource[],
  now = Date.now(),
): FhirCollection {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: new Date(now).toISOString(),
    total: resources.length,
    entry: resources.map((resource) => ({ resource })),
  };
}

/**
 * The resource types of the records the entries reference, each read once up front (the ledger's
 * mappers are synchronous); a record the reading key may not see is left without a type.
 */
async function recordTypes(api: ApiClient, ids: readonly Uint8Array[]) {
  const types = new Map<string, string>();
  for (const id of new Set(ids.map(toHex))) {
    const answer = await api.record(id, { limit: 1 }).catch(() => undefined);
    if (answer !== undefined) types.set(id, answer.record.resourceType);
  }
  return (id: Uint8Array) => types.get(toHex(id));
}

/** The head block's time (its certified header), so "active" means what the ledger says now. */
async function headTime(api: ApiClient): Promise<number> {
  const { height } = await api.status();
  if (height === 0) return Date.now();
  return (await orUndefined(api.header(height)))?.header.time ?? Date.now();
}

/**
 * Consents as FHIR R4 Consents (the ledger's `consentToFhir`), as the ledger stands now: its
 * head time decides which are active, and the records they name are read for their types.
 */
export async function consentsToFhir(
  api: ApiClient,
  consents: readonly ConsentJson[],
): Promise<FhirResource[]> {
  const entries = consents.map(consentFromJson);
  const [time, resourceTypeOf] = await Promise.all([
    headTime(api),
    recordTypes(
      api,
      entries.flatMap((c) => c.recordIds),
    ),
  ]);
  return entries.map((consent) => consentToFhir(consent, { time, resourceTypeOf }));
}

/**
 * Audit entries as FHIR R4 AuditEvents (the ledger's `auditEntryToFhir`, IHE BALP), the records
 * they name read for their types.
 */
export async function auditToFhir(
  api: ApiClient,
  audit: readonly AuditEntryJson[],
): Promise<FhirResource[]> {
  const entries = audit.map(auditFromJson);
  const resourceTypeOf = await recordTypes(
    api,
    entries.flatMap((e) => e.recordIds ?? [e.recordId]),
  );
  return entries.map((entry) => auditEntryToFhir(entry, { resourceTypeOf }));
}

export interface ConsentSignOptions {
  /** Sign the grant with this key (the patient's or a live delegate's) instead of the client's signer. */
  readonly signer?: RequestSigner;
  /** Use this nonce instead of asking the node. */
  readonly nonce?: number;
  /** The Consent's FHIR version: R4 (`4.0`, the default) or R5 (`5.0`). */
  readonly fhirVersion?: '4.0' | '5.0';
}

export interface SignedConsent {
  /** The Consent with the `urn:medchain:fhir:consent-transaction` extension: what is posted. */
  readonly resource: FhirResource;
  /** The consent.grant body the Consent maps to (what was signed). */
  readonly terms: ConsentTerms;
  /** The transaction's hash: the id the consent will have on the ledger. */
  readonly hash: string;
  readonly signer: string;
  readonly nonce: number;
}

/**
 * Maps a FHIR R4 (or R5) Consent to the consent.grant it stands for (the ledger's
 * `readFhirConsent` / `readFhirConsentR5`, which the node runs too), signs that transaction with the patient's or a delegate's key and
 * returns the Consent carrying signer, nonce and signature. A Consent medchain cannot hold is a
 * ClientError `FHIR_CONSENT_UNSUPPORTED` whose details are the issues (element and reason).
 */
export async function signConsent(
  api: ApiClient,
  consent: unknown,
  options: ConsentSignOptions = {},
): Promise<SignedConsent> {
  const reading =
    options.fhirVersion === '5.0' ? readFhirConsentR5(consent) : readFhirConsent(consent);
  if (!reading.ok) {
    throw new ClientError(
      'FHIR_CONSENT_UNSUPPORTED',
      reading.issues.map((i) => `${i.expression}: ${i.diagnostics}`).join('; '),
      { details: reading.issues },
    );
  }
  const signer = options.signer ?? api.signer;
  if (signer === undefined) throw new ClientError('INVALID_ARGUMENT', 'signing needs a signer');
  const nonce = options.nonce ?? (await nextNonce(api, signer));
  const tx = await signTransaction(signer, {
    chainId: await api.chainId(),
    kind: 'consent.grant',
    body: reading.terms,
    nonce,
  });
  return {
    resource: withConsentTransaction(consent as FhirResource, {
      signer: signer.publicKey,
      nonce,
      signature: tx.signature,
    }),
    terms: reading.terms,
    hash: toHex(transactionHash(tx)),
    signer: toHex(signer.publicKey),
    nonce,
  };
}

export interface ImportedConsent {
  /** 201: committed; 202: in the mempool, not yet in a block when the node answered. */
  readonly status: 201 | 202;
  /** The Consent's URL on the node (its id is the grant's transaction hash). */
  readonly location: string;
  readonly id: string;
  /** The Consent as the node exports it (201), or the node's OperationOutcome (202). */
  readonly resource: FhirResource;
}

const NONCE_RETRIES = 8;

/** An OperationOutcome answer as a ClientError: the first issue's medchain code, all issues as details. */
async function outcomeError(response: Response): Promise<ClientError> {
  const text = await response.text();
  let outcome: {
    issue?: Array<{ diagnostics?: string; details?: { coding?: Array<{ code?: string }> } }>;
  };
  try {
    outcome = JSON.parse(text);
  } catch {
    return new ClientError('BAD_ANSWER', `POST Consent: ${response.status} ${text.slice(0, 200)}`, {
      status: response.status,
    });
  }
  const first = outcome.issue?.[0];
  const retryAfter = Number(response.headers.get('retry-after'));
  return new ClientError(
    first?.details?.coding?.[0]?.code ?? 'BAD_ANSWER',
    (outcome.issue ?? []).map((i) => i.diagnostics ?? '').join('; '),
    {
      status: response.status,
      details: outcome,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
    },
  );
}

/**
 * Imports a FHIR R4 (or, with `fhirVersion: '5.0'`, R5) Consent into the ledger: signs the grant it maps to (`signConsent`) and
 * POSTs the Consent to the node's `/fhir/r4/Consent`, the request itself signed (RFC 9421) by
 * the client's signer (the patient or a live delegate of the Consent's patient). Resolves when
 * the node answers 201 (committed) or 202 (pending); refusals are ClientErrors with the node's
 * code (`BAD_SIGNATURE`, `BAD_WINDOW`, `FHIR_CONSENT_UNSUPPORTED`, ...) and the OperationOutcome
 * as details. A used nonce (409) is retried with the next one unless `nonce` was given.
 */
export async function importConsent(
  api: ApiClient,
  consent: unknown,
  options: ConsentSignOptions & { readonly fetch?: typeof fetch } = {},
): Promise<ImportedConsent> {
  const requester = api.signer;
  if (requester === undefined) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      'POST Consent is a signed request: the client needs a signer',
    );
  }
  const url = `${api.url}${FHIR_R4_PATH}/Consent`;
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let nonce = options.nonce;
  for (let attempt = 0; ; attempt++) {
    const signed = await signConsent(api, consent, {
      ...options,
      ...(nonce === undefined ? {} : { nonce }),
    });
    const body = utf8(JSON.stringify(signed.resource));
    const headers = {
      // The body's FHIR version travels as the media type's parameter; answers are R4.
      'content-type': `application/fhir+json; fhirVersion=${options.fhirVersion ?? '4.0'}`,
      accept: 'application/fhir+json',
      ...(await signRequest({ method: 'POST', url, body }, requester, {
        now: api.now(),
        nonce: requestNonce(),
      })),
    };
    let response: Response;
    try {
      response = await send(url, {
        method: 'POST',
        headers,
        body: body as NonNullable<RequestInit['body']>,
        // The node answers once the grant's block is committed.
        signal: AbortSignal.timeout(api.timeoutMs + DEFAULT_RECEIPT_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ClientError('NODE_UNREACHABLE', `cannot POST a Consent to ${api.url}`, {
        cause: error,
      });
    }
    if (response.status === 201 || response.status === 202) {
      noteNonceUsed(api, signed.signer, signed.nonce);
      const location =
        response.headers.get('location') ?? response.headers.get('content-location') ?? '';
      return {
        status: response.status,
        location,
        id: signed.hash,
        resource: (await response.json()) as FhirResource,
      };
    }
    const error = await outcomeError(response);
    const stale = error.code === 'BAD_NONCE' || error.code === 'DUPLICATE';
    if (!stale || options.nonce !== undefined || attempt >= NONCE_RETRIES) throw error;
    nonce = signed.nonce + 1;
  }
}
