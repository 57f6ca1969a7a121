import {
  MAX_SIGNATURE_VALIDITY_SECONDS,
  SIGNATURE_CLOCK_SKEW_SECONDS,
  verifyRequestSignature,
} from '@medchain/client';
import {
  bytesEqual,
  CodedError,
  decodeCanonical,
  decodeStoredCanonical,
  LruCache,
  toHex,
} from '@medchain/crypto';
import {
  type ConsentEntry,
  type Grantee,
  getConsent,
  getDelegate,
  getOrganization,
  getProvider,
  getRecord,
  type KeyValueReader,
  type ProviderEntry,
  stateKeys,
} from '@medchain/ledger';
import {
  allows,
  type Policy,
  STATE_TABLE_ACCESS,
  type Standing,
  type StateTable,
} from './authorization.js';

/**
 * Request authentication: the medchain profile of HTTP Message Signatures (RFC 9421 with an
 * RFC 9530 Content-Digest, verified by @medchain/client), a bounded replay cache, and the
 * key's standings resolved from committed state. Authorization itself is the pure table in
 * authorization.ts.
 */

/** A refusal: 401 (not authenticated), 403 (authenticated, not allowed), 503 (cannot check now). */
export class AuthError extends CodedError {
  override readonly name = 'AuthError';

  constructor(
    readonly status: 401 | 403 | 429 | 503,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * The longest a nonce must be remembered: the profile's longest validity plus the allowed clock
 * skew, plus one second for the per-second buckets' rounding.
 */
export const REPLAY_WINDOW_SECONDS =
  MAX_SIGNATURE_VALIDITY_SECONDS + SIGNATURE_CLOCK_SKEW_SECONDS + 1;
export const DEFAULT_REPLAY_CACHE_SIZE = 100_000;

/**
 * (keyid, nonce) pairs seen, each until its signature's `expires`. It never evicts a pair that
 * could still be replayed: only insertions count and a lookup does not change recency, so the
 * LRU order is insertion order, and new pairs are refused (503 REPLAY_CACHE_FULL) while
 * `capacity` insertions fell inside the last REPLAY_WINDOW_SECONDS. Below that, of the
 * `capacity` pairs held, the oldest (the one evicted) was inserted more than a window ago, so
 * its signature has expired. Replays are not counted, and the server admits a pair only for a
 * request it is about to serve (after the role decision and the per-key limit), so neither
 * replaying one captured request nor signing with keys that hold no role fills the window.
 */
export class ReplayCache {
  readonly #seen: LruCache<true>;
  readonly #counts = new Uint32Array(REPLAY_WINDOW_SECONDS);
  #inWindow = 0;
  #second = 0;

  constructor(readonly capacity: number = DEFAULT_REPLAY_CACHE_SIZE) {
    this.#seen = new LruCache(capacity);
  }

  /** Records the pair; 'replayed' if it was seen, 'full' if it cannot be held safely now. */
  admit(keyId: string, nonce: string, nowMs: number): 'ok' | 'replayed' | 'full' {
    this.#advance(Math.floor(nowMs / 1000));
    const id = `${keyId}:${nonce}`;
    if (this.#seen.peek(id) !== undefined) return 'replayed';
    if (this.#inWindow >= this.capacity) return 'full';
    this.#seen.set(id, true);
    this.#count();
    return 'ok';
  }

  #count(): void {
    this.#counts[this.#second % REPLAY_WINDOW_SECONDS]! += 1;
    this.#inWindow += 1;
  }

  /** Drops the per-second counts that left the window. */
  #advance(second: number): void {
    if (second <= this.#second) return;
    const last = Math.min(second, this.#second + REPLAY_WINDOW_SECONDS);
    for (let s = this.#second + 1; s <= last; s++) {
      const slot = s % REPLAY_WINDOW_SECONDS;
      this.#inWindow -= this.#counts[slot]!;
      this.#counts[slot] = 0;
    }
    this.#second = second;
  }
}

/** The roles a key holds on the ledger, whatever the route (committed state). */
export interface KeyIdentity {
  readonly key: Uint8Array;
  readonly patient: boolean;
  /** Active, and its organization is a member. */
  readonly provider: ProviderEntry | undefined;
  /** The member organization this key is an admin key of. */
  readonly adminOf: Uint8Array | undefined;
  /** The member organization this key is the validator key of. */
  readonly validatorOf: Uint8Array | undefined;
}

function isMember(state: KeyValueReader, orgId: Uint8Array): boolean {
  return getOrganization(state, orgId)?.status === 'member';
}

function memberOrgOfIndex(state: KeyValueReader, indexKey: Uint8Array): Uint8Array | undefined {
  const raw = state.get(indexKey);
  if (raw === undefined) return undefined;
  const orgId = decodeStoredCanonical(raw) as Uint8Array;
  return isMember(state, orgId) ? orgId : undefined;
}

export function identify(state: KeyValueReader, key: Uint8Array): KeyIdentity {
  const provider = getProvider(state, key);
  return {
    key,
    patient: state.get(stateKeys.patient(key)) !== undefined,
    provider: provider?.status === 'active' && isMember(state, provider.org) ? provider : undefined,
    adminOf: memberOrgOfIndex(state, stateKeys.adminKey(key)),
    validatorOf: memberOrgOfIndex(state, stateKeys.validatorKey(key)),
  };
}

/** A key any route could know: the ledger gives it a role of its own. */
function isRegistered(identity: KeyIdentity): boolean {
  return (
    identity.patient ||
    identity.provider !== undefined ||
    identity.adminOf !== undefined ||
    identity.validatorOf !== undefined
  );
}

/** What a request is about, as far as access goes. */
export interface Subject {
  readonly patient?: Uint8Array;
  readonly key?: Uint8Array;
  readonly org?: Uint8Array;
  /** The custodian organization of the record the request is about. */
  readonly custodian?: Uint8Array;
  readonly grantee?: Grantee;
}

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a !== undefined && b !== undefined && bytesEqual(a, b);

/** The organization the node's validator key belongs to, if it is a member. */
export function organizationOfValidator(
  state: KeyValueReader,
  validatorKey: Uint8Array,
): Uint8Array | undefined {
  return memberOrgOfIndex(state, stateKeys.validatorKey(validatorKey));
}

/**
 * The key's standings relative to the subject. `now` is the node's clock (ms): delegations
 * are live strictly before their expiry, as in the ledger's rules.
 */
export function standingsOf(
  state: KeyValueReader,
  identity: KeyIdentity,
  subject: Subject,
  ownOrg: Uint8Array | undefined,
  now: number,
): Set<Standing> {
  const out = new Set<Standing>();
  const { key, provider, adminOf } = identity;
  if (subject.patient !== undefined) {
    if (bytesEqual(subject.patient, key)) out.add('patient');
    else {
      const delegation = getDelegate(state, subject.patient, key);
      if (delegation !== undefined && now < delegation.expiresAt) out.add('delegate');
    }
  }
  if (same(subject.key, key)) out.add('self');
  const { grantee } = subject;
  if (grantee !== undefined) {
    const named =
      grantee.type === 'provider'
        ? bytesEqual(grantee.id, key)
        : same(adminOf, grantee.id) || same(provider?.org, grantee.id);
    if (named) out.add('grantee');
  }
  if (same(adminOf, subject.org)) out.add('org-admin');
  if (same(provider?.org, subject.org)) out.add('org-provider');
  if (same(adminOf, subject.custodian) || same(provider?.org, subject.custodian)) {
    out.add('record-custodian');
  }
  if (same(adminOf, ownOrg)) out.add('own-org-admin');
  if (same(provider?.org, ownOrg)) out.add('own-org-provider');
  if (adminOf !== undefined) out.add('member-admin');
  if (identity.validatorOf !== undefined) out.add('validator');
  if (isRegistered(identity)) out.add('registered');
  return out;
}

// ---- subjects read from state ----

export function consentSubject(consent: ConsentEntry | undefined): Subject {
  return consent === undefined ? {} : { patient: consent.patient, grantee: consent.grantee };
}

export function recordSubject(state: KeyValueReader, recordId: Uint8Array): Subject {
  const record = getRecord(state, recordId);
  return record === undefined
    ? {}
    : { patient: record.patient, org: record.custodian, custodian: record.custodian };
}

const isBytes = (value: unknown, length?: number): value is Uint8Array =>
  value instanceof Uint8Array && (length === undefined || value.length === length);

/**
 * The table a raw state key belongs to and the subject of the entry it names. Keys are the
 * canonical encoding of [table, ...parts] (ledger `stateKeys`); anything else is 'unknown'.
 */
export function stateKeyAccess(
  state: KeyValueReader,
  key: Uint8Array,
): { table: StateTable; policy: Policy; subject: Subject } {
  let parts: unknown;
  try {
    parts = decodeCanonical(key);
  } catch {
    parts = undefined;
  }
  const unknown = { table: 'unknown' as const, policy: STATE_TABLE_ACCESS.unknown, subject: {} };
  if (!Array.isArray(parts) || typeof parts[0] !== 'string') return unknown;
  const table = parts[0];
  if (!Object.hasOwn(STATE_TABLE_ACCESS, table)) return unknown;
  const known = table as StateTable;
  const a = parts[1];
  const b = parts[2];
  const subject = ((): Subject | undefined => {
    switch (known) {
      case 'patient':
      case 'audit-acc':
        return isBytes(a) ? { patient: a } : undefined;
      case 'delegate':
        return isBytes(a) && isBytes(b) ? { patient: a, key: b } : undefined;
      case 'record':
        return isBytes(a) ? recordSubject(state, a) : undefined;
      case 'consent':
        return isBytes(a) ? consentSubject(getConsent(state, a)) : undefined;
      case 'grantee-consents': {
        const id = parts[3];
        return isBytes(a) && (b === 'provider' || b === 'organization') && isBytes(id)
          ? { patient: a, grantee: { type: b, id } }
          : undefined;
      }
      case 'nonce':
      case 'access-nonce':
        return isBytes(a) ? { key: a } : undefined;
      default:
        return {};
    }
  })();
  if (subject === undefined) return unknown;
  return { table: known, policy: STATE_TABLE_ACCESS[known], subject };
}

// ---- the request signature ----

export interface SignedRequestFacts {
  readonly method: string;
  /** The Host header (the authority the client signed). */
  readonly authority: string;
  /** The request target as received: path and raw query. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The exact body bytes received; undefined without a body. */
  readonly body: Uint8Array | undefined;
}

export interface AuthenticatorOptions {
  /** The node's clock (ms). */
  readonly now: () => number;
  readonly replayCacheSize?: number;
}

/** A request signature that verified; its nonce is not remembered until `admit`. */
export interface VerifiedRequest {
  readonly keyId: Uint8Array;
  readonly nonce: string;
}

/** Verifies request signatures and remembers their nonces. */
export class Authenticator {
  readonly replay: ReplayCache;

  constructor(private readonly options: AuthenticatorOptions) {
    this.replay = new ReplayCache(options.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE);
  }

  /** The verified key and nonce, or a 401 AuthError. Nothing is remembered yet. */
  verify(request: SignedRequestFacts): VerifiedRequest {
    const question = request.url.indexOf('?');
    const verified = verifyRequestSignature(
      {
        method: request.method,
        authority: request.authority,
        path: question < 0 ? request.url : request.url.slice(0, question),
        query: question < 0 ? '' : request.url.slice(question + 1),
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
      },
      { now: this.options.now() },
    );
    if (verified instanceof Error) throw new AuthError(401, verified.code, verified.message);
    return { keyId: verified.keyId, nonce: verified.nonce };
  }

  /**
   * Remembers the nonce, or refuses a replay (401) or a saturated cache (503). Called only for
   * a request that passed the role decision: a key with no role never takes a cache slot.
   */
  admit(verified: VerifiedRequest): void {
    switch (this.replay.admit(toHex(verified.keyId), verified.nonce, this.options.now())) {
      case 'replayed':
        throw new AuthError(401, 'SIGNATURE_REPLAYED', 'this signature nonce was already used');
      case 'full':
        throw new AuthError(
          503,
          'REPLAY_CACHE_FULL',
          'too many signed requests to remember their nonces; retry shortly',
        );
      default:
    }
  }
}

/**
 * The decision for a verified key: pass, 401 KEY_UNKNOWN for a key that holds no role at all
 * (not even the one the route is about), or 403 FORBIDDEN.
 */
export function decide(policy: Policy, standings: ReadonlySet<Standing>): void {
  if (allows(policy, standings)) return;
  if (standings.size === 0) {
    throw new AuthError(401, 'KEY_UNKNOWN', 'the signing key has no role on this ledger');
  }
  throw new AuthError(403, 'FORBIDDEN', 'the signing key may not use this route');
}
