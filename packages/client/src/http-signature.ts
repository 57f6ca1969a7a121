/**
 * The medchain request-signature profile: HTTP Message Signatures (RFC 9421, `ed25519`) over
 * method, authority, path, query and, with a body, its Content-Digest (RFC 9530). The
 * dictionaries are written and read by `structured-headers`; the signature base is built here.
 * Browser-safe: no `node:` imports, hashing and verification come from @medchain/crypto.
 */
import {
  bytesEqual,
  CodedError,
  fromHex,
  isAcceptablePublicKeyCached,
  sha256,
  toHex,
  utf8,
  verify,
} from '@medchain/crypto';
import {
  type Dictionary,
  type InnerList,
  type Item,
  type Parameters,
  parseDictionary,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
} from 'structured-headers';

const SIGNATURE_LABEL = 'medchain';
const SIGNATURE_ALG = 'ed25519';
const SIGNATURE_TAG = 'medchain-v1';
/** Longest allowed `expires - created`, in seconds. */
export const MAX_SIGNATURE_VALIDITY_SECONDS = 300;
const DEFAULT_SIGNATURE_VALIDITY_SECONDS = 60;
/** How far `created` may be ahead of the verifier's clock, in seconds. */
export const SIGNATURE_CLOCK_SKEW_SECONDS = 30;

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const KEY_ID_PATTERN = /^[0-9a-f]{64}$/;
const PARAMETER_ORDER = ['created', 'expires', 'nonce', 'keyid', 'alg', 'tag'] as const;
const COMPONENTS = ['@method', '@authority', '@path', '@query'] as const;
const DIGEST_COMPONENT = 'content-digest';

export interface RequestSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface RequestToSign {
  readonly method: string;
  /** Absolute URL, exactly as the request will be sent. */
  readonly url: string;
  readonly body?: Uint8Array;
}

export interface SignOptions {
  /** ms since the epoch. */
  readonly now: number;
  /** 16..64 characters of [A-Za-z0-9_-], random per request. */
  readonly nonce: string;
  /** Default 60, at most 300. */
  readonly validitySeconds?: number;
}

export interface ReceivedRequest {
  readonly method: string;
  /** The Host header value. */
  readonly authority: string;
  readonly path: string;
  /** Raw query without '?', '' if none. */
  readonly query: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body?: Uint8Array;
}

export interface VerifiedRequest {
  readonly keyId: Uint8Array;
  readonly created: number;
  readonly expires: number;
  readonly nonce: string;
}

export type RequestSignatureErrorCode =
  | 'SIGNATURE_MISSING'
  | 'SIGNATURE_MALFORMED'
  | 'SIGNATURE_PROFILE'
  | 'SIGNATURE_EXPIRED'
  | 'SIGNATURE_NOT_YET_VALID'
  | 'SIGNATURE_BAD_KEY'
  | 'SIGNATURE_INVALID'
  | 'DIGEST_MISSING'
  | 'DIGEST_MISMATCH';

export class RequestSignatureError extends CodedError<RequestSignatureErrorCode> {
  override readonly name = 'RequestSignatureError';
}

function fail(code: RequestSignatureErrorCode, message: string): never {
  throw new RequestSignatureError(code, message);
}

/** `sha-256=:<base64 of SHA-256(body)>:` (RFC 9530). */
export function contentDigest(body: Uint8Array): string {
  return serializeDictionary(new Map([['sha-256', [sha256(body), new Map()]]]));
}

/**
 * The RFC 9421 §2.5 signature base: one `"<component>": <value>` line per covered component,
 * then `"@signature-params": <the inner list serialized>`, joined by LF with none at the end.
 * `value` resolves a component identifier to its value (undefined when the message lacks it).
 */
export function signatureBase(
  covered: InnerList,
  value: (component: string) => string | undefined,
): string {
  const lines: string[] = [];
  for (const item of covered[0]) {
    const name = item[0];
    if (typeof name !== 'string' || item[1].size > 0) {
      fail('SIGNATURE_PROFILE', 'covered components must be plain strings');
    }
    const v = value(name);
    if (v === undefined) fail('SIGNATURE_PROFILE', `the message has no ${name}`);
    // A line break inside a value would let one component's value forge the next line.
    if (/[\r\n]/.test(v)) fail('SIGNATURE_MALFORMED', `${name} holds a line break`);
    lines.push(`${serializeItem(item)}: ${v}`);
  }
  lines.push(`"@signature-params": ${serializeInnerList(covered)}`);
  return lines.join('\n');
}

/** Component values of the profile, from the parts both sides see. */
function componentValues(
  method: string,
  authority: string,
  path: string,
  query: string,
  digest: string | undefined,
): (component: string) => string | undefined {
  return (component) => {
    switch (component) {
      case '@method':
        return method;
      case '@authority':
        return authority.toLowerCase();
      case '@path':
        return path === '' ? '/' : path;
      case '@query':
        return `?${query}`;
      case DIGEST_COMPONENT:
        return digest;
      default:
        return undefined;
    }
  };
}

function coveredList(hasBody: boolean, params: Parameters): InnerList {
  const names: string[] = hasBody ? [...COMPONENTS, DIGEST_COMPONENT] : [...COMPONENTS];
  return [names.map((name): Item => [name, new Map()]), params];
}

/**
 * The headers to add: `signature-input`, `signature` and, when there is a body,
 * `content-digest`. Throws RequestSignatureError SIGNATURE_PROFILE for a bad nonce, validity
 * or URL, or when the signer returns anything but 64 bytes.
 */
export async function signRequest(
  request: RequestToSign,
  signer: RequestSigner,
  options: SignOptions,
): Promise<Record<string, string>> {
  const validity = options.validitySeconds ?? DEFAULT_SIGNATURE_VALIDITY_SECONDS;
  if (
    !Number.isSafeInteger(validity) ||
    validity < 1 ||
    validity > MAX_SIGNATURE_VALIDITY_SECONDS
  ) {
    fail(
      'SIGNATURE_PROFILE',
      `validitySeconds must be an integer in 1..${MAX_SIGNATURE_VALIDITY_SECONDS}`,
    );
  }
  if (!NONCE_PATTERN.test(options.nonce)) {
    fail('SIGNATURE_PROFILE', 'nonce must be 16..64 characters of [A-Za-z0-9_-]');
  }
  if (!Number.isFinite(options.now)) fail('SIGNATURE_PROFILE', 'now must be a number (ms)');
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    fail('SIGNATURE_PROFILE', 'url must be absolute');
  }
  if (!(signer.publicKey instanceof Uint8Array) || signer.publicKey.length !== 32) {
    fail('SIGNATURE_PROFILE', "the signer's public key must be 32 bytes");
  }
  const keyId = toHex(signer.publicKey);
  const created = Math.floor(options.now / 1000);
  const params: Parameters = new Map<string, string | number>([
    ['created', created],
    ['expires', created + validity],
    ['nonce', options.nonce],
    ['keyid', keyId],
    ['alg', SIGNATURE_ALG],
    ['tag', SIGNATURE_TAG],
  ]);
  const body = request.body;
  const hasBody = body !== undefined && body.length > 0;
  const headers: Record<string, string> = {};
  if (hasBody) headers['content-digest'] = contentDigest(body);
  const covered = coveredList(hasBody, params);
  const base = signatureBase(
    covered,
    // URL.search is '' both without a query and for a bare '?': either way '@query' is '?'.
    componentValues(
      request.method,
      url.host,
      url.pathname,
      url.search.slice(1),
      headers['content-digest'],
    ),
  );
  const signature = await signer.sign(utf8(base));
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    fail('SIGNATURE_PROFILE', 'the signer must return a 64-byte Ed25519 signature');
  }
  headers['signature-input'] = serializeDictionary(new Map([[SIGNATURE_LABEL, covered]]));
  headers.signature = serializeDictionary(new Map([[SIGNATURE_LABEL, [signature, new Map()]]]));
  return headers;
}

/** One field value: repeated lines are combined with ", " (RFC 9110 §5.3), OWS trimmed. */
function header(request: ReceivedRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (value === undefined) return undefined;
  return (typeof value === 'string' ? value : value.join(', ')).trim();
}

function parse(text: string, what: string, code: RequestSignatureErrorCode): Dictionary {
  try {
    return parseDictionary(text);
  } catch {
    fail(code, `${what} is not a structured-field dictionary`);
  }
}

function isInnerList(member: Item | InnerList): member is InnerList {
  return Array.isArray(member[0]);
}

/** The profile's parameters, checked in order and type. */
function readParameters(params: Parameters): {
  created: number;
  expires: number;
  nonce: string;
  keyid: string;
} {
  const names = [...params.keys()];
  if (names.length !== PARAMETER_ORDER.length || names.some((n, i) => n !== PARAMETER_ORDER[i])) {
    fail(
      'SIGNATURE_PROFILE',
      `parameters must be exactly ${PARAMETER_ORDER.join(', ')}, in this order`,
    );
  }
  const created = params.get('created');
  const expires = params.get('expires');
  const nonce = params.get('nonce');
  const keyid = params.get('keyid');
  if (!Number.isSafeInteger(created) || !Number.isSafeInteger(expires)) {
    fail('SIGNATURE_PROFILE', 'created and expires must be integers');
  }
  if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) {
    fail('SIGNATURE_PROFILE', 'nonce must be a string of 16..64 characters of [A-Za-z0-9_-]');
  }
  if (typeof keyid !== 'string') fail('SIGNATURE_PROFILE', 'keyid must be a string');
  if (params.get('alg') !== SIGNATURE_ALG)
    fail('SIGNATURE_PROFILE', `alg must be "${SIGNATURE_ALG}"`);
  if (params.get('tag') !== SIGNATURE_TAG)
    fail('SIGNATURE_PROFILE', `tag must be "${SIGNATURE_TAG}"`);
  return { created: created as number, expires: expires as number, nonce, keyid };
}

function checkDigest(body: Uint8Array, digest: string): void {
  const entry = parse(digest, 'Content-Digest', 'DIGEST_MISMATCH').get('sha-256');
  if (entry === undefined || isInnerList(entry) || !(entry[0] instanceof ArrayBuffer)) {
    fail('DIGEST_MISMATCH', 'Content-Digest has no sha-256 byte sequence');
  }
  if (!bytesEqual(new Uint8Array(entry[0]), sha256(body))) {
    fail('DIGEST_MISMATCH', 'Content-Digest does not match the body');
  }
}

function verifyOrThrow(request: ReceivedRequest, now: number): VerifiedRequest {
  const input = header(request, 'signature-input');
  const signatureField = header(request, 'signature');
  if (input === undefined || signatureField === undefined) {
    fail('SIGNATURE_MISSING', 'the request needs Signature-Input and Signature headers');
  }
  const member = parse(input, 'Signature-Input', 'SIGNATURE_MALFORMED').get(SIGNATURE_LABEL);
  const signed = parse(signatureField, 'Signature', 'SIGNATURE_MALFORMED').get(SIGNATURE_LABEL);
  if (member === undefined || signed === undefined) {
    fail('SIGNATURE_PROFILE', `no signature labelled ${SIGNATURE_LABEL}`);
  }
  if (!isInnerList(member)) fail('SIGNATURE_MALFORMED', 'Signature-Input must hold an inner list');
  if (isInnerList(signed) || !(signed[0] instanceof ArrayBuffer) || signed[0].byteLength !== 64) {
    fail('SIGNATURE_MALFORMED', 'Signature must hold a 64-byte byte sequence');
  }
  const { created, expires, nonce, keyid } = readParameters(member[1]);
  if (created >= expires || expires - created > MAX_SIGNATURE_VALIDITY_SECONDS) {
    fail(
      'SIGNATURE_PROFILE',
      `need created < expires <= created + ${MAX_SIGNATURE_VALIDITY_SECONDS}`,
    );
  }
  const components = member[0].map((item) => item[0]);
  const withDigest = components.length === COMPONENTS.length + 1;
  const expected = withDigest ? [...COMPONENTS, DIGEST_COMPONENT] : COMPONENTS;
  if (
    components.length !== expected.length ||
    components.some((name, i) => name !== expected[i]) ||
    member[0].some((item) => item[1].size > 0)
  ) {
    fail(
      'SIGNATURE_PROFILE',
      `covered components must be ${COMPONENTS.join(' ')} [content-digest]`,
    );
  }
  if (!KEY_ID_PATTERN.test(keyid)) fail('SIGNATURE_BAD_KEY', 'keyid must be 64 lowercase hex');
  const keyId = fromHex(keyid, 32);
  if (!isAcceptablePublicKeyCached(keyId)) {
    fail('SIGNATURE_BAD_KEY', 'keyid is not an acceptable Ed25519 public key');
  }
  if (now > expires * 1000) fail('SIGNATURE_EXPIRED', 'the signature has expired');
  if (created * 1000 > now + SIGNATURE_CLOCK_SKEW_SECONDS * 1000) {
    fail('SIGNATURE_NOT_YET_VALID', 'the signature was created in the future');
  }
  const body = request.body !== undefined && request.body.length > 0 ? request.body : undefined;
  const digest = header(request, DIGEST_COMPONENT);
  if (body === undefined) {
    if (withDigest || digest !== undefined) {
      fail('DIGEST_MISMATCH', 'Content-Digest is signed or present but the request has no body');
    }
  } else {
    if (digest === undefined) fail('DIGEST_MISSING', 'a request with a body needs Content-Digest');
    if (!withDigest) fail('SIGNATURE_PROFILE', 'a request with a body must sign content-digest');
    checkDigest(body, digest);
  }
  const base = signatureBase(
    member,
    componentValues(request.method, request.authority, request.path, request.query, digest),
  );
  if (!verify(keyId, utf8(base), new Uint8Array(signed[0]))) {
    fail('SIGNATURE_INVALID', 'the signature does not verify');
  }
  return { keyId, created, expires, nonce };
}

/**
 * Checks a received request against the profile. Never throws for bad input: returns the
 * verified request or the error. Replay (a (keyid, nonce) pair seen before) is the caller's job.
 */
export function verifyRequestSignature(
  request: ReceivedRequest,
  options: { readonly now: number },
): VerifiedRequest | RequestSignatureError {
  try {
    return verifyOrThrow(request, options.now);
  } catch (error) {
    if (error instanceof RequestSignatureError) return error;
    return new RequestSignatureError('SIGNATURE_MALFORMED', 'the request could not be read');
  }
}
