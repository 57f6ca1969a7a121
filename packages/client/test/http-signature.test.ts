import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { keyPairFromSeed, Signer, sign, toHex, utf8, verify } from '@medchain/crypto';
import fc from 'fast-check';
import { createSigner, createVerifier, httpbis } from 'http-message-signatures';
import {
  type InnerList,
  type Item,
  type Parameters,
  parseDictionary,
  serializeDictionary,
} from 'structured-headers';
import { describe, expect, it } from 'vitest';
import {
  contentDigest,
  type ReceivedRequest,
  RequestSignatureError,
  type RequestSignatureErrorCode,
  type RequestToSign,
  signatureBase,
  signRequest,
  verifyRequestSignature,
} from '../src/http-signature.js';

const b64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

// RFC 9421 Appendix B.1.4, "Example Ed25519 Test Key" (test-key-ed25519): SPKI and PKCS#8
// DER in base64; the raw key and seed are their last 32 bytes.
const RFC_PUBLIC_SPKI = 'MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=';
const RFC_PRIVATE_PKCS8 = 'MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF';
const RFC_PUBLIC_KEY = b64(RFC_PUBLIC_SPKI).slice(-32);
const RFC_SEED = b64(RFC_PRIVATE_PKCS8).slice(-32);

// RFC 9421 Appendix B.2, the test request (only the fields B.2.6 covers are needed, plus its
// Content-Digest, which checks that the body below is the RFC's body byte for byte).
const RFC_REQUEST = {
  method: 'POST',
  path: '/foo',
  query: 'param=Value&Pet=dog',
  authority: 'example.com',
  headers: {
    host: 'example.com',
    date: 'Tue, 20 Apr 2021 02:07:55 GMT',
    'content-type': 'application/json',
    'content-digest':
      'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
    'content-length': '18',
  } as Record<string, string>,
  body: '{"hello": "world"}',
};

// RFC 9421 Appendix B.2.6, "Signing a Request Using ed25519".
const RFC_B26_SIGNATURE_INPUT =
  'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
const RFC_B26_SIGNATURE =
  'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:';
const RFC_B26_BASE = [
  '"date": Tue, 20 Apr 2021 02:07:55 GMT',
  '"@method": POST',
  '"@path": /foo',
  '"@authority": example.com',
  '"content-type": application/json',
  '"content-length": 18',
  '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
].join('\n');

function rfcComponent(name: string): string | undefined {
  if (name === '@method') return RFC_REQUEST.method;
  if (name === '@path') return RFC_REQUEST.path;
  if (name === '@authority') return RFC_REQUEST.authority;
  if (name === '@query') return `?${RFC_REQUEST.query}`;
  return RFC_REQUEST.headers[name];
}

describe('RFC 9421 B.2.6 and RFC 9530 vectors', () => {
  it('the test key: the seed derives the published public key', () => {
    expect(toHex(keyPairFromSeed(RFC_SEED).publicKey)).toBe(toHex(RFC_PUBLIC_KEY));
  });

  it('builds the signature base byte for byte, and the RFC signature verifies', () => {
    const covered = parseDictionary(RFC_B26_SIGNATURE_INPUT).get('sig-b26') as InnerList;
    const base = signatureBase(covered, rfcComponent);
    expect(base).toBe(RFC_B26_BASE);
    const signature = new Uint8Array(
      (parseDictionary(RFC_B26_SIGNATURE).get('sig-b26') as Item)[0] as ArrayBuffer,
    );
    expect(verify(RFC_PUBLIC_KEY, utf8(base), signature)).toBe(true);
    // Ed25519 is deterministic: signing the base with the RFC's key gives the RFC's bytes.
    expect(toHex(sign(RFC_SEED, utf8(base)))).toBe(toHex(signature));
    expect(verify(RFC_PUBLIC_KEY, utf8(`${base} `), signature)).toBe(false);
    // structured-headers writes back exactly the RFC's field values.
    expect(serializeDictionary(new Map([['sig-b26', covered]]))).toBe(RFC_B26_SIGNATURE_INPUT);
    expect(serializeDictionary(new Map([['sig-b26', [signature, new Map()] as Item]]))).toBe(
      RFC_B26_SIGNATURE,
    );
  });

  it('the B.2 body is the one its sha-512 Content-Digest names', () => {
    const digest = createHash('sha512').update(RFC_REQUEST.body).digest('base64');
    expect(RFC_REQUEST.headers['content-digest']).toBe(`sha-512=:${digest}:`);
  });

  it('Content-Digest of {"hello": "world"} is RFC 9530’s sha-256 value', () => {
    expect(contentDigest(utf8('{"hello": "world"}'))).toBe(
      'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
    );
  });
});

const SEED = new Uint8Array(32).fill(7);
const signer = new Signer(SEED);
const KEY_HEX = toHex(signer.publicKey);
const NOW = 1_800_000_000_000;
const NONCE = 'n0nce-0123456789_abc';

function received(request: RequestToSign, headers: Record<string, string>): ReceivedRequest {
  const url = new URL(request.url);
  return {
    method: request.method,
    authority: url.host,
    path: url.pathname,
    query: url.search.slice(1),
    headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  };
}

const POST: RequestToSign = {
  method: 'POST',
  url: 'http://127.0.0.1:8080/v1/tx?wait=1',
  body: utf8('{"tx":"00"}'),
};
const GET: RequestToSign = { method: 'GET', url: 'http://127.0.0.1:8080/v1/patients/ab/audit' };

async function signed(request: RequestToSign = POST, now = NOW): Promise<ReceivedRequest> {
  return received(request, await signRequest(request, signer, { now, nonce: NONCE }));
}

function codeOf(request: ReceivedRequest, now = NOW): RequestSignatureErrorCode | 'OK' {
  const result = verifyRequestSignature(request, { now });
  return result instanceof RequestSignatureError ? result.code : 'OK';
}

const withHeaders = (request: ReceivedRequest, headers: Record<string, string | undefined>) => ({
  ...request,
  headers: { ...request.headers, ...headers },
});

type ParamValue = string | number;

/**
 * A Signature-Input with any components and parameters, validly signed by `signer` over the
 * profile's component values: so a refusal below is the profile's, not a bad signature's.
 */
function forge(
  request: ReceivedRequest,
  components: readonly string[],
  params: readonly [string, ParamValue][],
): ReceivedRequest {
  const covered: InnerList = [
    components.map((name): Item => [name, new Map()]),
    new Map(params) as Parameters,
  ];
  const value = (name: string) =>
    name === '@method'
      ? request.method
      : name === '@authority'
        ? request.authority
        : name === '@path'
          ? request.path
          : name === '@query'
            ? `?${request.query}`
            : (request.headers[name] as string | undefined);
  const signature = signer.sign(utf8(signatureBase(covered, value)));
  return withHeaders(request, {
    'signature-input': serializeDictionary(new Map([['medchain', covered]])),
    signature: serializeDictionary(new Map([['medchain', [signature, new Map()] as Item]])),
  });
}

const created = Math.floor(NOW / 1000);
const PARAMS: [string, ParamValue][] = [
  ['created', created],
  ['expires', created + 60],
  ['nonce', NONCE],
  ['keyid', KEY_HEX],
  ['alg', 'ed25519'],
  ['tag', 'medchain-v1'],
];
const COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest'];
const replaced = (name: string, value: ParamValue) =>
  PARAMS.map(([n, v]): [string, ParamValue] => [n, n === name ? value : v]);

describe('signRequest / verifyRequestSignature', () => {
  it('signs the profile and verifies it, with and without a body', async () => {
    const post = await signed(POST);
    expect(post.headers['signature-input']).toBe(
      `medchain=("@method" "@authority" "@path" "@query" "content-digest");created=${created};expires=${created + 60};nonce="${NONCE}";keyid="${KEY_HEX}";alg="ed25519";tag="medchain-v1"`,
    );
    expect(post.headers['content-digest']).toBe(contentDigest(POST.body!));
    expect(verifyRequestSignature(post, { now: NOW })).toEqual({
      keyId: signer.publicKey,
      created,
      expires: created + 60,
      nonce: NONCE,
    });
    const get = await signed(GET);
    expect(get.headers['content-digest']).toBeUndefined();
    expect(get.headers['signature-input']).toMatch(
      /^medchain=\("@method" "@authority" "@path" "@query"\);/,
    );
    expect(codeOf(get)).toBe('OK');
    // An empty body is no body.
    expect(codeOf(await signed({ ...GET, body: new Uint8Array(0) }))).toBe('OK');
  });

  it('accepts a RequestSigner that signs asynchronously (WebCrypto-style)', async () => {
    const asyncSigner = {
      publicKey: signer.publicKey,
      sign: async (m: Uint8Array) => signer.sign(m),
    };
    const headers = await signRequest(POST, asyncSigner, { now: NOW, nonce: NONCE });
    expect(codeOf(received(POST, headers))).toBe('OK');
  });

  it('refuses bad options when signing, with a code', async () => {
    const bad = [
      { now: NOW, nonce: 'short' },
      { now: NOW, nonce: `${NONCE}!` },
      { now: NOW, nonce: NONCE, validitySeconds: 301 },
      { now: NOW, nonce: NONCE, validitySeconds: 0 },
      { now: Number.NaN, nonce: NONCE },
    ];
    for (const options of bad) {
      await expect(signRequest(POST, signer, options)).rejects.toMatchObject({
        code: 'SIGNATURE_PROFILE',
      });
    }
    await expect(
      signRequest({ ...POST, url: '/v1/tx' }, signer, { now: NOW, nonce: NONCE }),
    ).rejects.toMatchObject({ code: 'SIGNATURE_PROFILE' });
    const noKey = { publicKey: new Uint8Array(31), sign: (m: Uint8Array) => signer.sign(m) };
    await expect(signRequest(POST, noKey, { now: NOW, nonce: NONCE })).rejects.toMatchObject({
      code: 'SIGNATURE_PROFILE',
    });
    const short = { publicKey: signer.publicKey, sign: () => new Uint8Array(63) };
    await expect(signRequest(POST, short, { now: NOW, nonce: NONCE })).rejects.toMatchObject({
      code: 'SIGNATURE_PROFILE',
    });
  });

  it('missing and malformed headers', async () => {
    const ok = await signed();
    expect(codeOf(withHeaders(ok, { 'signature-input': undefined, signature: undefined }))).toBe(
      'SIGNATURE_MISSING',
    );
    expect(codeOf(withHeaders(ok, { signature: undefined }))).toBe('SIGNATURE_MISSING');
    expect(codeOf(withHeaders(ok, { 'signature-input': undefined }))).toBe('SIGNATURE_MISSING');
    expect(codeOf(withHeaders(ok, { 'signature-input': 'medchain=(' }))).toBe(
      'SIGNATURE_MALFORMED',
    );
    expect(codeOf(withHeaders(ok, { signature: 'medchain=:abc' }))).toBe('SIGNATURE_MALFORMED');
    expect(codeOf(withHeaders(ok, { signature: 'medchain=("a")' }))).toBe('SIGNATURE_MALFORMED');
    expect(codeOf(withHeaders(ok, { 'signature-input': 'medchain=1' }))).toBe(
      'SIGNATURE_MALFORMED',
    );
    const short = serializeDictionary(
      new Map([['medchain', [new Uint8Array(63), new Map()] as Item]]),
    );
    expect(codeOf(withHeaders(ok, { signature: short }))).toBe('SIGNATURE_MALFORMED');
  });

  it('wrong label, components, parameters, alg or tag: SIGNATURE_PROFILE', async () => {
    const ok = await signed();
    const relabel = (text: string) => text.replace(/^medchain=/, 'sig1=');
    expect(
      codeOf(
        withHeaders(ok, {
          'signature-input': relabel(ok.headers['signature-input'] as string),
          signature: relabel(ok.headers.signature as string),
        }),
      ),
    ).toBe('SIGNATURE_PROFILE');
    expect(codeOf(forge(ok, COMPONENTS, PARAMS))).toBe('OK');
    const profile: [readonly string[], [string, ParamValue][]][] = [
      [['@authority', '@method', '@path', '@query', 'content-digest'], PARAMS],
      [['@method', '@authority', '@path', 'content-digest'], PARAMS],
      [[...COMPONENTS, 'content-type'], PARAMS],
      [['@method', '@authority', '@path', '@query', 'content-digest', '@method'], PARAMS],
      [COMPONENTS, replaced('alg', 'ed25519-x')],
      [COMPONENTS, replaced('tag', 'medchain-v2')],
      [COMPONENTS, replaced('nonce', 'short')],
      [COMPONENTS, replaced('created', (created + 0.5) as number)],
      [COMPONENTS, PARAMS.slice(1)],
      [COMPONENTS, [...PARAMS.slice(1), PARAMS[0]!]],
      [COMPONENTS, [...PARAMS, ['extra', 'x']]],
      [COMPONENTS, replaced('expires', created + 301)],
      [COMPONENTS, replaced('expires', created)],
    ];
    const typed = withHeaders(ok, { 'content-type': 'application/json' });
    for (const [components, params] of profile) {
      expect(
        codeOf(forge(typed, components, params)),
        `${components} ${JSON.stringify(params)}`,
      ).toBe('SIGNATURE_PROFILE');
    }
    // A component with a parameter ("@query";req) is another component.
    const covered = ok.headers['signature-input'] as string;
    expect(
      codeOf(withHeaders(ok, { 'signature-input': covered.replace('"@query"', '"@query";req') })),
    ).toBe('SIGNATURE_PROFILE');
    // A token alg (unquoted) is not the string "ed25519".
    expect(
      codeOf(
        withHeaders(ok, { 'signature-input': covered.replace('alg="ed25519"', 'alg=ed25519') }),
      ),
    ).toBe('SIGNATURE_PROFILE');
  });

  it('time: expired, not yet valid, the 30 s skew and the 300 s window', async () => {
    const ok = await signed();
    expect(codeOf(ok, (created + 60) * 1000)).toBe('OK');
    expect(codeOf(ok, (created + 60) * 1000 + 1)).toBe('SIGNATURE_EXPIRED');
    expect(codeOf(ok, (created - 30) * 1000)).toBe('OK');
    expect(codeOf(ok, (created - 30) * 1000 - 1)).toBe('SIGNATURE_NOT_YET_VALID');
    expect(codeOf(forge(ok, COMPONENTS, replaced('expires', created + 300)))).toBe('OK');
    expect(codeOf(forge(ok, COMPONENTS, replaced('expires', created + 301)))).toBe(
      'SIGNATURE_PROFILE',
    );
  });

  it('bad keys: not hex, upper case, not an acceptable point', async () => {
    const ok = await signed();
    for (const keyid of [
      'zz'.repeat(32),
      KEY_HEX.toUpperCase(),
      KEY_HEX.slice(2),
      'ff'.repeat(32), // y >= p
      `01${'00'.repeat(31)}`, // the identity: small order
    ]) {
      expect(codeOf(forge(ok, COMPONENTS, replaced('keyid', keyid))), keyid).toBe(
        'SIGNATURE_BAD_KEY',
      );
    }
    // A valid point that did not sign.
    const other = toHex(keyPairFromSeed(new Uint8Array(32).fill(8)).publicKey);
    expect(codeOf(forge(ok, COMPONENTS, replaced('keyid', other)))).toBe('SIGNATURE_INVALID');
  });

  it('any change of the signature, method, authority, path, query or body is refused', async () => {
    const ok = await signed();
    const signature = new Uint8Array(
      (parseDictionary(ok.headers.signature as string).get('medchain') as Item)[0] as ArrayBuffer,
    );
    signature[10]! ^= 1;
    const flipped = serializeDictionary(new Map([['medchain', [signature, new Map()] as Item]]));
    expect(codeOf(withHeaders(ok, { signature: flipped }))).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, method: 'PUT' })).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, method: 'post' })).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, authority: '127.0.0.1:8081' })).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, authority: 'LOCALHOST:8080' })).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, path: '/v1/tx/' })).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, query: '' })).toBe('SIGNATURE_INVALID');
    expect(codeOf({ ...ok, query: 'wait=2' })).toBe('SIGNATURE_INVALID');
    const body = utf8('{"tx":"01"}');
    expect(codeOf({ ...ok, body })).toBe('DIGEST_MISMATCH');
    // Body and digest changed together: the signature covers the digest.
    expect(codeOf(withHeaders({ ...ok, body }, { 'content-digest': contentDigest(body) }))).toBe(
      'SIGNATURE_INVALID',
    );
    expect(codeOf(withHeaders(ok, { 'content-digest': 'sha-256=(' }))).toBe('DIGEST_MISMATCH');
    expect(codeOf(withHeaders(ok, { 'content-digest': 'sha-512=:AAAA:' }))).toBe('DIGEST_MISMATCH');
  });

  it('the digest is present exactly when there is a body', async () => {
    const post = await signed(POST);
    expect(codeOf(withHeaders(post, { 'content-digest': undefined }))).toBe('DIGEST_MISSING');
    const { body: _dropped, ...withoutBody } = post;
    expect(codeOf(withoutBody)).toBe('DIGEST_MISMATCH');
    const get = await signed(GET);
    expect(codeOf({ ...get, body: utf8('x') })).toBe('DIGEST_MISSING');
    expect(
      codeOf(
        withHeaders({ ...get, body: utf8('x') }, { 'content-digest': contentDigest(utf8('x')) }),
      ),
    ).toBe('SIGNATURE_PROFILE');
    expect(codeOf(withHeaders(get, { 'content-digest': contentDigest(utf8('x')) }))).toBe(
      'DIGEST_MISMATCH',
    );
  });

  it('repeated header lines are combined as HTTP combines them', async () => {
    const ok = await signed();
    const input = ok.headers['signature-input'] as string;
    expect(
      codeOf(withHeaders(ok, { 'signature-input': [input, 'other=("@method")'] as never })),
    ).toBe('OK');
  });

  it('arbitrary header strings never throw and never verify', () => {
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(
        'medchain=',
        'medchain=()',
        'medchain=:AA==:',
        'medchain=("@method");created=1',
      ),
    );
    fc.assert(
      fc.property(
        fc.option(text),
        fc.option(text),
        fc.option(text),
        fc.option(fc.uint8Array({ maxLength: 32 })),
        (input, signature, digest, body) => {
          const headers: Record<string, string> = {};
          if (input !== null) headers['signature-input'] = input;
          if (signature !== null) headers.signature = signature;
          if (digest !== null) headers['content-digest'] = digest;
          const request: ReceivedRequest = {
            method: 'POST',
            authority: 'x',
            path: '/',
            query: '',
            headers,
            ...(body === null ? {} : { body }),
          };
          expect(verifyRequestSignature(request, { now: NOW })).toBeInstanceOf(
            RequestSignatureError,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sign then verify round-trips for arbitrary paths, queries and bodies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        fc.webPath(),
        fc.option(fc.webQueryParameters()),
        fc.option(fc.uint8Array({ maxLength: 256 })),
        async (method, path, query, body) => {
          const request: RequestToSign = {
            method,
            url: `https://node.example:8443${path}${query === null ? '' : `?${query}`}`,
            ...(body === null ? {} : { body }),
          };
          expect(codeOf(await signed(request))).toBe('OK');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('interoperability with http-message-signatures (an independent RFC 9421 library)', () => {
  const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(signer.publicKey) };
  const privateKey = createPrivateKey({ key: { ...jwk, d: b64url(SEED) }, format: 'jwk' });
  const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
  const url = 'http://127.0.0.1:8080/v1/tx?wait=1';
  const body = utf8('{"tx":"00"}');

  it('it verifies a request signRequest signed', async () => {
    const headers = await signRequest({ method: 'POST', url, body }, signer, {
      now: Date.now(),
      nonce: NONCE,
    });
    const keyLookup = async () => ({
      id: KEY_HEX,
      algs: ['ed25519'],
      verify: createVerifier(publicKey, 'ed25519'),
    });
    const verifyWith = (h: Record<string, string>) =>
      httpbis.verifyMessage(
        {
          keyLookup,
          requiredFields: ['@method', '@authority', '@path', '@query', 'content-digest'],
        },
        { method: 'POST', url, headers: h },
      );
    expect(await verifyWith(headers)).toBe(true);
    const other = contentDigest(utf8('{"tx":"01"}'));
    expect(await verifyWith({ ...headers, 'content-digest': other })).toBe(false);
  });

  it('we verify a request it signed for the medchain profile', async () => {
    const now = Date.now();
    const digest = contentDigest(body);
    const signedRequest = await httpbis.signMessage(
      {
        key: createSigner(privateKey, 'ed25519', KEY_HEX),
        name: 'medchain',
        fields: ['@method', '@authority', '@path', '@query', 'content-digest'],
        params: ['created', 'expires', 'nonce', 'keyid', 'alg', 'tag'],
        paramValues: {
          created: new Date(now),
          expires: new Date(now + 60_000),
          nonce: NONCE,
          tag: 'medchain-v1',
        },
      },
      { method: 'POST', url, headers: { 'content-digest': digest } },
    );
    const headers = Object.fromEntries(
      Object.entries(signedRequest.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
    );
    const request: ReceivedRequest = {
      method: 'POST',
      authority: '127.0.0.1:8080',
      path: '/v1/tx',
      query: 'wait=1',
      headers,
      body,
    };
    expect(verifyRequestSignature(request, { now })).toEqual({
      keyId: signer.publicKey,
      created: Math.floor(now / 1000),
      expires: Math.floor(now / 1000) + 60,
      nonce: NONCE,
    });
    expect(codeOf({ ...request, path: '/v1/tx2' }, now)).toBe('SIGNATURE_INVALID');
  });
});
