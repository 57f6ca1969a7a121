import type { CommitCertificate } from '@medchain/consensus';
import { fromHex, toHex } from '@medchain/crypto';
import type {
  AuditEntry,
  BlockHeader,
  ConsentEntry,
  DelegateEntry,
  OrganizationEntry,
  PatientEntry,
  ProviderEntry,
  Receipt,
  RecordEntry,
  RecordVersion,
  TxKind,
  Validator,
} from '@medchain/ledger';

/**
 * The API's JSON form of a ledger value: bytes as lowercase hex, bigints as decimal strings,
 * the rest as is (the node's one mapping, `toJson`). Typed reads answer in this form (what a UI
 * shows and the CLI prints); the `*FromJson` functions put the bytes back for the ledger's own
 * functions (the access rule, the FHIR mappings, proofs).
 */
export type Json<T> = T extends Uint8Array
  ? string
  : T extends bigint
    ? string
    : T extends string | number | boolean | null | undefined
      ? T
      : T extends readonly (infer U)[]
        ? Json<U>[]
        : { [K in keyof T]: Json<T[K]> };

export type PatientJson = Json<PatientEntry>;
export type DelegateJson = Json<DelegateEntry>;
export type ConsentJson = Json<ConsentEntry>;
export type AuditEntryJson = Json<AuditEntry>;
export type RecordJson = Json<RecordEntry>;
export type RecordVersionJson = Json<RecordVersion>;
export type OrganizationJson = Json<OrganizationEntry>;
export type ProviderJson = Json<ProviderEntry>;
export type ReceiptJson = Json<Receipt>;
export type HeaderJson = Json<BlockHeader>;
export type CertificateJson = Json<CommitCertificate>;
export type ValidatorJson = Json<Validator>;

export interface PageJson<T> {
  readonly items: T[];
  /** Items in the whole list. */
  readonly total: number;
  /** The offset of the next page; null at the end. */
  readonly nextOffset: number | null;
}

export interface TransactionJson {
  readonly hash: string;
  readonly chainId: string;
  readonly kind: TxKind;
  /** The kind's body with bytes as hex. */
  readonly body: Record<string, unknown>;
  readonly signer: string;
  readonly nonce: number;
  readonly signature: string;
}

export interface StatusJson {
  readonly chainId: string;
  /** Last committed block; 0 = genesis only. */
  readonly height: number;
  readonly lastBlockHash: string;
  /** The state root after the last committed block. */
  readonly stateRoot: string;
  readonly view: number;
  readonly validators: ValidatorJson[];
  readonly peers: string[];
  readonly syncing: boolean;
  readonly mempoolSize: number;
}

/** One transaction's outcome in a batch submission (POST /v1/txs). */
export type SubmitResultJson =
  | { readonly accepted: true; readonly hash: string }
  | {
      readonly accepted: false;
      /** The mempool's refusal: BAD_NONCE, DUPLICATE, MEMPOOL_FULL, NOT_PATIENT, ... */
      readonly code: string;
      readonly message: string;
      /** The HTTP status POST /v1/tx would have answered (429 and 503: retry later). */
      readonly status: number;
    };

export type TxStatusJson =
  | { readonly status: 'pending'; readonly tx: TransactionJson }
  | {
      readonly status: 'committed';
      readonly tx: TransactionJson;
      readonly height: number;
      readonly index: number;
      readonly receipt: ReceiptJson;
    };

export interface BlockJson {
  readonly hash: string;
  readonly header: HeaderJson;
  readonly txs: TransactionJson[];
  readonly receipts: ReceiptJson[];
  readonly certificate: CertificateJson | null;
}

/** GET /v1/patients/:key/audit/:index/inclusion: the entry's block and its tx's Merkle path. */
export interface AuditInclusionJson {
  readonly height: number;
  readonly proof: { readonly index: number; readonly size: number; readonly path: string[] };
}

/** GET /v1/headers/:height: a header and its commit certificate. */
export interface SignedHeaderJson {
  readonly hash: string;
  readonly header: HeaderJson;
  readonly certificate: CertificateJson | null;
}

/** GET /v1/genesis: the genesis document as genesisToJson writes it, and its hash. */
export interface GenesisAnswerJson {
  readonly hash: string;
  readonly genesis: Record<string, unknown>;
}

/** One validator set and the first height it decides (GET /v1/validator-sets). */
export interface ValidatorSetJson {
  readonly fromHeight: number;
  readonly validatorSetHash: string;
  readonly validators: ValidatorJson[];
}

export interface StateProofJson {
  /** The proof is against the state after this block. */
  readonly height: number;
  readonly stateRoot: string;
  /** The header of block height+1, which carries stateRoot; null at genesis. */
  readonly header: HeaderJson | null;
  readonly certificate: CertificateJson | null;
  readonly key: string;
  /** Canonical bytes of the value; null = absent. */
  readonly value: string | null;
  /** encodeStateProof bytes (ledger). */
  readonly proof: string;
}

export interface RecordAnswerJson {
  readonly record: RecordJson;
  readonly versions: PageJson<RecordVersionJson>;
}

export interface OrganizationAnswerJson {
  readonly organization: OrganizationJson;
  readonly providers: PageJson<ProviderJson>;
}

export interface EquivocationJson {
  readonly validator: string;
  readonly phase: 'preprepare' | 'prepare' | 'commit' | 'checkpoint';
  readonly height: number;
  readonly view: number | null;
  readonly first: { readonly digest: string; readonly signature: string };
  readonly second: { readonly digest: string; readonly signature: string };
  readonly verified: boolean;
  readonly recordedAt: number;
}

export interface FetchedRecordJson {
  readonly record: RecordJson;
  readonly custodianKey: string;
  readonly logTx: string;
  readonly version: number;
  readonly contentHash: string;
  readonly resourceType: string;
  /** encodeEnvelope bytes (crypto), sealed to the requester. */
  readonly envelope: string;
}

export interface VaultStoredJson {
  readonly recordId: string;
  readonly version: number;
  readonly contentHash: string;
  readonly resourceType: string;
}

// ---- back to ledger values ----

const bytes = (value: string): Uint8Array => fromHex(value);
const maybe = (value: string | null): Uint8Array | null => (value === null ? null : fromHex(value));

export function consentFromJson(json: ConsentJson): ConsentEntry {
  return {
    ...json,
    id: bytes(json.id),
    patient: bytes(json.patient),
    grantee: { type: json.grantee.type, id: bytes(json.grantee.id) },
    recordIds: json.recordIds.map(bytes),
    grantedBy: bytes(json.grantedBy),
    revokedBy: maybe(json.revokedBy),
  };
}

export function recordFromJson(json: RecordJson): RecordEntry {
  return {
    ...json,
    id: bytes(json.id),
    patient: bytes(json.patient),
    custodian: bytes(json.custodian),
    contentHash: bytes(json.contentHash),
  };
}

export function providerFromJson(json: ProviderJson): ProviderEntry {
  return { ...json, key: bytes(json.key), org: bytes(json.org) };
}

export function patientFromJson(json: PatientJson): PatientEntry {
  return { ...json, key: bytes(json.key) };
}

export function delegateFromJson(json: DelegateJson): DelegateEntry {
  return { ...json, patient: bytes(json.patient), delegate: bytes(json.delegate) };
}

export function organizationFromJson({
  formerValidatorKeys,
  ...json
}: OrganizationJson): OrganizationEntry {
  return {
    ...json,
    id: bytes(json.id),
    adminKeys: json.adminKeys.map(bytes),
    validatorKey: bytes(json.validatorKey),
    ...(formerValidatorKeys === undefined
      ? {}
      : { formerValidatorKeys: formerValidatorKeys.map(bytes) }),
  };
}

export function auditFromJson({ recordIds, ...json }: AuditEntryJson): AuditEntry {
  return {
    ...json,
    patient: bytes(json.patient),
    recordId: bytes(json.recordId),
    ...(recordIds === undefined ? {} : { recordIds: recordIds.map(bytes) }),
    custodian: bytes(json.custodian),
    requester: bytes(json.requester),
    consentId: maybe(json.consentId),
    txHash: bytes(json.txHash),
    requestHash: bytes(json.requestHash),
  };
}

export function headerFromJson(json: HeaderJson): BlockHeader {
  return {
    chainId: json.chainId,
    height: json.height,
    time: json.time,
    parentHash: bytes(json.parentHash),
    txRoot: bytes(json.txRoot),
    stateRoot: bytes(json.stateRoot),
    validatorSetHash: bytes(json.validatorSetHash),
    proposer: bytes(json.proposer),
  };
}

export function certificateFromJson(json: CertificateJson): CommitCertificate {
  return {
    height: json.height,
    view: json.view,
    digest: bytes(json.digest),
    votes: json.votes.map((v) => ({ from: bytes(v.from), signature: bytes(v.signature) })),
  };
}

export function validatorFromJson(json: ValidatorJson): Validator {
  return { orgId: bytes(json.orgId), publicKey: bytes(json.publicKey), peerId: json.peerId };
}

/**
 * The API's one JSON mapping of ledger values (the node answers with it, the CLI prints a
 * proven value with it): bytes as lowercase hex, bigints as decimal strings, undefined fields
 * left out. Ledger entries are plain canonical values, so one walk serves every entry type.
 */
export function valueToJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(valueToJson);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined) out[key] = valueToJson(field);
  }
  return out;
}
