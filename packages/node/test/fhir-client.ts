import { requestNonce, signRequest } from '@medchain/client';
import { type Signer, utf8 } from '@medchain/crypto';
import { Client } from 'fhir-kit-client';

/** What the FHIR endpoint tests share: signing a request, and an EHR's FHIR client that does. */

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
