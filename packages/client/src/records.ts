import { decodeEnvelope, fromHex, openEnvelope, toHex, verify } from '@medchain/crypto';
import {
  type AccessDecision,
  type AccessRequest,
  accessRequestDigest,
  type ConsentAction,
  type DenyReason,
  decodeServedRecord,
  type EmergencyReason,
  matchesRecordAnchor,
  type Purpose,
  parseAccessRequest,
  RECORD_SALT_BYTES,
  recordCommitment,
  recordEnvelopeContext,
  recordId,
  type ServedRecord,
} from '@medchain/ledger';
import type { ApiClient } from './api.js';
import { ClientError } from './errors.js';
import type { RequestSigner } from './http-signature.js';
import type { FetchedRecordJson } from './json.js';
import { hashHex, type PartyKey, partyKeyBytes } from './parties.js';
import { randomBytes } from './random.js';
import type { KeySigner } from './signers.js';
import { type SendOptions, type SentTx, sendTransaction } from './transactions.js';

/** What a requester signs and hands to the custodian (through its own node). */
export interface SignedAccessRequest {
  readonly request: AccessRequest;
  /** Ed25519 by `request.requester` over accessRequestDigest(request). */
  readonly signature: Uint8Array;
}

export interface AccessRequestFields {
  readonly recordId: string | Uint8Array;
  readonly action: ConsentAction;
  readonly purpose: Purpose;
  /** Break-glass only (with purpose ETREAT): the request goes to access.emergency. */
  readonly emergencyReason?: EmergencyReason;
  /** The requester's clock (ms); default now. */
  readonly time?: number;
}

/** A fresh access request (random 16-byte nonce), signed by the requester. */
export async function signAccessRequest(
  requester: RequestSigner,
  fields: AccessRequestFields,
  now: () => number = Date.now,
): Promise<SignedAccessRequest> {
  const request: AccessRequest = {
    recordId: fromHex(hashHex(fields.recordId)),
    requester: requester.publicKey,
    action: fields.action,
    purpose: fields.purpose,
    time: fields.time ?? now(),
    nonce: randomBytes(16),
    ...(fields.emergencyReason === undefined ? {} : { emergencyReason: fields.emergencyReason }),
  };
  return { request, signature: await requester.sign(accessRequestDigest(request)) };
}

/** The API's JSON form of a signed request (POST /v1/records/:id/fetch). */
export function accessRequestJson(signed: SignedAccessRequest) {
  const { request } = signed;
  return {
    request: {
      recordId: toHex(request.recordId),
      requester: toHex(request.requester),
      action: request.action,
      purpose: request.purpose,
      time: request.time,
      nonce: toHex(request.nonce),
      ...(request.emergencyReason === undefined
        ? {}
        : { emergencyReason: request.emergencyReason }),
    },
    signature: toHex(signed.signature),
  };
}

/**
 * A signed access request from its JSON form ({request, signature}, bytes as hex, as the API takes
 * it; `requestSignature` is accepted for the CLI's request files), with the requester's signature
 * checked. INVALID_ARGUMENT otherwise.
 */
export function accessRequestFromJson(json: unknown): SignedAccessRequest {
  try {
    const { request, signature, requestSignature } = json as {
      request: Record<string, unknown>;
      signature?: string;
      requestSignature?: string;
    };
    const parsed = parseAccessRequest(
      {
        ...request,
        recordId: fromHex(String(request.recordId)),
        requester: fromHex(String(request.requester)),
        nonce: fromHex(String(request.nonce)),
      },
      'request',
    );
    const bytes = fromHex(String(signature ?? requestSignature));
    if (!verify(parsed.requester, accessRequestDigest(parsed), bytes)) {
      throw new Error("the requester's signature does not verify");
    }
    return { request: parsed, signature: bytes };
  } catch (error) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      `not a signed access request: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export interface OpenRecordArgs {
  readonly request: AccessRequest;
  /** encodeEnvelope bytes, as served. */
  readonly envelope: Uint8Array;
  /** The requester's Ed25519 seed: only it opens the envelope. */
  readonly recipientSeed: Uint8Array;
  /** The custodian organization's validator key: the only acceptable sealer. */
  readonly custodianKey: Uint8Array;
  /** The anchor (`contentHash`) the ledger holds for the current version. */
  readonly anchoredHash: Uint8Array;
}

/**
 * The requester's last step: opens the envelope (sealed by the custodian's node key, for this
 * record and this request), reads the content and its salt from it, and checks them against
 * the anchor: recordCommitment(salt, content), or sha256(content) when the custodian sent no
 * salt (a version anchored before salts). Any failure is RECORD_VERIFY_FAILED and yields no
 * bytes.
 */
export function openServedRecord(args: OpenRecordArgs): Uint8Array {
  let served: ServedRecord;
  try {
    const { payload } = openEnvelope(decodeEnvelope(args.envelope), {
      recipientSeed: args.recipientSeed,
      context: recordEnvelopeContext(args.request),
      sender: args.custodianKey,
    });
    served = decodeServedRecord(payload);
  } catch (error) {
    throw new ClientError(
      'RECORD_VERIFY_FAILED',
      `the record did not open: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!matchesRecordAnchor(args.anchoredHash, served.content, served.salt)) {
    throw new ClientError(
      'RECORD_VERIFY_FAILED',
      `the content${served.salt === undefined ? "'s sha256" : ' with its salt'} does not match the anchored ${toHex(args.anchoredHash)}`,
    );
  }
  return served.content;
}

export interface FetchedRecord {
  /** The record's bytes (FHIR JSON), checked against the anchored hash. */
  readonly content: Uint8Array;
  readonly request: AccessRequest;
  /** The node's answer: record, version, resourceType, contentHash, logTx, custodianKey. */
  readonly answer: FetchedRecordJson;
}

/**
 * A record read, the requester's side: sign an access request with the requester's key, ask this
 * node to fetch the record from its custodian (the custodian decides, logs, then serves), then
 * open the envelope locally (the node relays ciphertext it cannot read) and check the bytes
 * against the hash the ledger anchors. A denial is the node's 403 RECORD_ACCESS_DENIED, already
 * logged. The API request is signed by the client's signer (normally the requester).
 */
export async function fetchRecord(
  api: ApiClient,
  requester: KeySigner,
  fields: AccessRequestFields,
): Promise<FetchedRecord> {
  const signed = await signAccessRequest(requester, fields, api.now);
  const id = toHex(signed.request.recordId);
  const answer = await api.post<FetchedRecordJson>(
    `/records/${id}/fetch`,
    accessRequestJson(signed),
  );
  // The anchor as this node's ledger holds it (the answer's record): the bytes must hash to it.
  if (answer.record.contentHash !== answer.contentHash) {
    throw new ClientError(
      'RECORD_VERIFY_FAILED',
      `the custodian served version ${answer.version} (${answer.contentHash}), the ledger anchors ${answer.record.contentHash}`,
    );
  }
  const content = openServedRecord({
    request: signed.request,
    envelope: fromHex(answer.envelope),
    recipientSeed: requester.seed,
    custodianKey: fromHex(answer.custodianKey),
    anchoredHash: fromHex(answer.record.contentHash),
  });
  return { content, request: signed.request, answer };
}

// ---- the custodian's vault and anchors ----

export interface StoredRecord {
  readonly recordId: string;
  readonly version: number;
  readonly resourceType: string;
  readonly contentHash: string;
  /** The anchoring (record.anchor / record.amend) transaction. */
  readonly tx: SentTx;
}

/** The FHIR resource type of record content (the vault checks the rest). */
function resourceTypeOf(content: Uint8Array): string {
  try {
    const type = (JSON.parse(new TextDecoder().decode(content)) as { resourceType?: unknown })
      .resourceType;
    if (typeof type === 'string') return type;
  } catch {
    // reported below
  }
  throw new ClientError('INVALID_ARGUMENT', 'record content must be FHIR JSON with a resourceType');
}

/**
 * A fresh salt and the anchor it makes: the commitment the ledger gets, the salt only the vault
 * (and, sealed, a consented requester) ever sees.
 */
function saltedAnchor(content: Uint8Array): { salt: Uint8Array; contentHash: Uint8Array } {
  const salt = randomBytes(RECORD_SALT_BYTES);
  return { salt, contentHash: recordCommitment(salt, content) };
}

/**
 * A new record, the custodian's side: anchor its salted commitment (a fresh random salt) with
 * record.anchor signed by the client's signer (a provider of the node's organization) and wait
 * for it, then store the bytes and the salt in this node's vault as version 1 (the vault takes
 * only what the uploader's key anchored).
 */
export async function putRecord(
  api: ApiClient,
  args: { readonly patient: PartyKey; readonly content: Uint8Array; readonly nonce?: Uint8Array },
  options: Omit<SendOptions, 'wait'> = {},
): Promise<StoredRecord> {
  const signer = options.signer ?? api.signer;
  if (signer === undefined) throw new ClientError('INVALID_ARGUMENT', 'putRecord needs a signer');
  const as = api.withSigner(signer);
  const patient = partyKeyBytes(args.patient);
  const resourceType = resourceTypeOf(args.content);
  const custodian = fromHex((await as.provider(signer.publicKey)).org);
  const nonce = args.nonce ?? randomBytes(16);
  const id = recordId(custodian, patient, nonce);
  const { salt, contentHash } = saltedAnchor(args.content);
  const tx = await sendTransaction(
    as,
    'record.anchor',
    { patient, custodian, resourceType, contentHash, nonce },
    { ...options, wait: true },
  );
  const stored = await as.storeVaultRecord({
    recordId: id,
    patient,
    version: 1,
    content: args.content,
    salt,
  });
  return { ...stored, recordId: toHex(id), tx };
}

/**
 * A new version of a record: record.amend (awaited) with the commitment under a fresh salt,
 * then the bytes and that salt into this node's vault.
 */
export async function amendRecord(
  api: ApiClient,
  args: { readonly recordId: string | Uint8Array; readonly content: Uint8Array },
  options: Omit<SendOptions, 'wait'> = {},
): Promise<StoredRecord> {
  const as = options.signer === undefined ? api : api.withSigner(options.signer);
  const id = hashHex(args.recordId);
  const anchored = (await as.record(id, { limit: 1 })).record;
  const { salt, contentHash } = saltedAnchor(args.content);
  const tx = await sendTransaction(
    as,
    'record.amend',
    { recordId: fromHex(id), contentHash },
    { ...options, wait: true },
  );
  const stored = await as.storeVaultRecord({
    recordId: id,
    patient: anchored.patient,
    version: anchored.version + 1,
    content: args.content,
    salt,
  });
  return { ...stored, recordId: id, tx };
}

/**
 * Erasure: record.erase on the ledger first (the vault refuses to shred a live record), then,
 * once committed, makes sure this node's vault crypto-shredded it (the node also does it by
 * itself when the erasure commits). `shredded` is false with `wait: false`.
 */
export async function eraseRecord(
  api: ApiClient,
  id: string | Uint8Array,
  options: SendOptions = {},
): Promise<{ recordId: string; shredded: boolean; tx: SentTx }> {
  const hex = hashHex(id);
  const tx = await sendTransaction(api, 'record.erase', { recordId: fromHex(hex) }, options);
  const committed = tx.status === 'committed';
  if (committed) await api.eraseVaultRecord(hex);
  return { recordId: hex, shredded: committed, tx };
}

// ---- the custodian's access decision, written to the ledger ----

/** The node's answer to POST /v1/access/decision. */
interface AccessDecisionJson {
  readonly decision: 'permit' | 'deny';
  readonly basis?: 'consent' | 'break-glass' | 'patient';
  readonly reason?: DenyReason;
  readonly consentId: string | null;
}

/**
 * The ledger's access rule (`decideAccess`) for a requester-signed request, as the node decides
 * it on its committed state at the request's time (POST /v1/access/decision). Only the
 * custodian organization's admins and providers may ask; the node discloses the decision and
 * the consent it rests on, not the patient's entries. Execution re-runs the rule at block time;
 * if the state moved in between, the access.log receipt says DECISION_MISMATCH.
 */
export async function accessDecision(
  api: ApiClient,
  signed: SignedAccessRequest,
): Promise<AccessDecision> {
  const answer = await api.post<AccessDecisionJson>('/access/decision', accessRequestJson(signed));
  if (answer.decision === 'permit' && answer.basis !== undefined) {
    return {
      decision: 'permit',
      basis: answer.basis,
      consentId: answer.consentId === null ? null : fromHex(answer.consentId),
    };
  }
  if (answer.decision === 'deny' && answer.reason !== undefined && answer.consentId === null) {
    return { decision: 'deny', reason: answer.reason, consentId: null };
  }
  throw new ClientError('BAD_ANSWER', `not an access decision: ${JSON.stringify(answer)}`);
}

export interface LoggedAccess {
  readonly decision: AccessDecision;
  readonly tx: SentTx;
}

/**
 * The custodian's side: ask the node for the ledger's decision, then write it to the ledger
 * (access.log, or access.emergency for break-glass), signed by the client's signer (an admin or
 * provider of the record's custodian; the node answers 403 FORBIDDEN to anyone else, and for a
 * record it does not know). Only a committed OK receipt counts as access granted.
 */
export async function logAccess(
  api: ApiClient,
  signed: SignedAccessRequest,
  options: SendOptions = {},
): Promise<LoggedAccess> {
  const decision = await accessDecision(api, signed);
  const body = {
    request: signed.request,
    requestSignature: signed.signature,
    decision: decision.decision,
    consentId: decision.consentId,
  };
  const tx =
    signed.request.emergencyReason === undefined
      ? await sendTransaction(api, 'access.log', body, options)
      : await sendTransaction(api, 'access.emergency', body, options);
  return { decision, tx };
}
