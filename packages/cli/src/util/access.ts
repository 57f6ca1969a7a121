import { type Canonical, encodeCanonical, type Signer, toHex } from '@medchain/crypto';
import {
  type AccessDecision,
  type AccessRequest,
  accessRequestDigest,
  type ConsentEntry,
  decideAccess,
  type KeyValueReader,
  MAX_PAGE_SIZE,
  stateKeys,
} from '@medchain/ledger';
import { type ApiClient, ApiError, type ApiJson } from './client.js';
import {
  consentFromJson,
  delegateFromJson,
  organizationFromJson,
  patientFromJson,
  providerFromJson,
  recordFromJson,
} from './entries.js';
import { CliError } from './errors.js';
import { entropy } from './keys.js';
import { type SendOptions, type SentTx, sendTransaction } from './tx.js';

export interface SignedAccessRequest {
  readonly request: AccessRequest;
  readonly requestSignature: Uint8Array;
}

/** What a requester signs and hands to the custodian (`medchain access request`). */
export function signAccessRequest(
  requester: Signer,
  fields: Omit<AccessRequest, 'requester' | 'nonce' | 'time'> & { time?: number },
): SignedAccessRequest {
  const request: AccessRequest = {
    recordId: fields.recordId,
    requester: requester.publicKey,
    action: fields.action,
    purpose: fields.purpose,
    time: fields.time ?? Date.now(),
    nonce: entropy(16),
    ...(fields.emergencyReason === undefined ? {} : { emergencyReason: fields.emergencyReason }),
  };
  return { request, requestSignature: requester.sign(accessRequestDigest(request)) };
}

/** 404 means "absent" for these point reads. */
async function optional(client: ApiClient, path: string): Promise<ApiJson | undefined> {
  try {
    return await client.get(path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

export async function allConsents(client: ApiClient, patient: string): Promise<ConsentEntry[]> {
  const consents: ConsentEntry[] = [];
  for (let offset: number | null = 0; offset !== null; ) {
    const page: ApiJson = await client.get(
      `/patients/${patient}/consents?offset=${offset}&limit=${MAX_PAGE_SIZE}`,
    );
    consents.push(...page.items.map(consentFromJson));
    offset = page.nextOffset;
  }
  return consents;
}

/**
 * The ledger's own access rule (`decideAccess`), run over a snapshot of exactly the entries it
 * reads, fetched through the API. Execution re-runs the rule at block time; if the state moved
 * in between, the access.log receipt says DECISION_MISMATCH.
 */
export async function decideThroughApi(
  client: ApiClient,
  request: AccessRequest,
  time: number,
): Promise<AccessDecision> {
  const entries = new Map<string, Uint8Array>();
  const put = (key: Uint8Array, value: unknown) =>
    entries.set(toHex(key), encodeCanonical(value as Canonical));
  const requester = toHex(request.requester);
  const recordJson = await optional(client, `/records/${toHex(request.recordId)}`);
  if (recordJson !== undefined) {
    const record = recordFromJson(recordJson.record);
    put(stateKeys.record(record.id), record);
    const patient = toHex(record.patient);
    const [patientJson, delegateJson, providerJson] = await Promise.all([
      optional(client, `/patients/${patient}`),
      optional(client, `/patients/${patient}/delegates/${requester}`),
      optional(client, `/providers/${requester}`),
    ]);
    if (patientJson !== undefined)
      put(stateKeys.patient(record.patient), patientFromJson(patientJson));
    if (delegateJson !== undefined) {
      put(stateKeys.delegate(record.patient, request.requester), delegateFromJson(delegateJson));
    }
    if (providerJson !== undefined) {
      const provider = providerFromJson(providerJson);
      put(stateKeys.provider(provider.key), provider);
      const orgJson = await optional(client, `/organizations/${toHex(provider.org)}?limit=1`);
      if (orgJson !== undefined) {
        put(stateKeys.organization(provider.org), organizationFromJson(orgJson.organization));
      }
      const consents = patientJson === undefined ? [] : await allConsents(client, patient);
      for (const [type, id] of [
        ['provider', provider.key],
        ['organization', provider.org],
      ] as const) {
        const mine = consents.filter(
          (c) => c.grantee.type === type && toHex(c.grantee.id) === toHex(id),
        );
        for (const consent of mine) put(stateKeys.consent(consent.id), consent);
        put(
          stateKeys.granteeConsents(record.patient, type, id),
          mine.map((c) => c.id),
        );
      }
    }
  }
  const reader: KeyValueReader = { get: (key) => entries.get(toHex(key)) };
  return decideAccess(reader, {
    requester: request.requester,
    action: request.action,
    recordId: request.recordId,
    purpose: request.purpose,
    time,
    ...(request.emergencyReason === undefined ? {} : { emergencyReason: request.emergencyReason }),
  });
}

export interface LoggedAccess {
  readonly decision: AccessDecision;
  readonly tx: SentTx;
}

/**
 * The custodian's side: decide, then write the decision to the ledger (access.log, or
 * access.emergency for break-glass). Only a committed OK receipt counts as access granted.
 */
export async function logAccess(
  client: ApiClient,
  custodian: Signer,
  signed: SignedAccessRequest,
  options: SendOptions,
): Promise<LoggedAccess> {
  const decision = await decideThroughApi(client, signed.request, Date.now());
  requireRecordExists(decision);
  const body = {
    request: { ...signed.request },
    requestSignature: signed.requestSignature,
    decision: decision.decision,
    consentId: decision.consentId,
  };
  const kind = signed.request.emergencyReason === undefined ? 'access.log' : 'access.emergency';
  const tx = await sendTransaction(client, custodian, kind, body as unknown as Canonical, options);
  return { decision, tx };
}

export function describeDecision(decision: AccessDecision): string {
  if (decision.decision === 'deny') return `deny (${decision.reason})`;
  const consent = decision.consentId === null ? '' : ` ${toHex(decision.consentId)}`;
  return `permit (${decision.basis}${consent})`;
}

export function requireRecordExists(decision: AccessDecision): void {
  if (decision.decision === 'deny' && decision.reason === 'RECORD_NOT_FOUND') {
    throw new CliError('RECORD_NOT_FOUND', 'the node knows no such record', {
      hint: 'check the record id with `medchain query record ID`',
    });
  }
}
