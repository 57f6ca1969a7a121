// What an app needs of the lower layers without depending on them (the packed client carries them).
export { fromHex, toHex } from '@medchain/crypto';
export {
  decodeTransaction,
  encodeTransaction,
  type GenesisDocument,
  genesisFromJson,
  genesisHash,
  parseGenesis,
  stateKeys,
  type Transaction,
  TX_KINDS,
  type TxBodies,
  type TxKind,
  transactionHash,
  verifyTransactionSignature,
} from '@medchain/ledger';
export {
  ApiClient,
  allPages,
  type ClientOptions,
  type CommittedTx,
  DEFAULT_RECEIPT_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  type HttpMethod,
  orUndefined,
  type RequestOptions,
  type WaitOptions,
} from './api.js';
export { MedchainClient } from './client.js';
export { fromDidKey, parsePartyKey, toDidKey } from './did-key.js';
export { ClientError, type ClientErrorCode } from './errors.js';
export {
  type ChainEvent,
  type EventStreamOptions,
  type SseMessage,
  SseParser,
  streamEvents,
} from './events.js';
export {
  auditToFhir,
  type ConsentSignOptions,
  consentsToFhir,
  FHIR_R4_PATH,
  type FhirCollection,
  fhirCollection,
  type ImportedConsent,
  importConsent,
  type SignedConsent,
  signConsent,
} from './fhir.js';
export {
  contentDigest,
  MAX_SIGNATURE_VALIDITY_SECONDS,
  type ReceivedRequest,
  RequestSignatureError,
  type RequestSignatureErrorCode,
  type RequestSigner,
  type RequestToSign,
  SIGNATURE_CLOCK_SKEW_SECONDS,
  type SignOptions,
  signRequest,
  type VerifiedRequest,
  verifyRequestSignature,
} from './http-signature.js';
export * from './json.js';
export { exportKeystore, importKeystore, keystorePublicKey, readKeystore } from './keys.js';
export {
  LightClient,
  MAX_VALIDATOR_SET_CHANGES,
  type ProofCheck,
  type ProofStep,
  type Proven,
} from './light.js';
export { hashHex, type PartyKey, partyKeyBytes, partyKeyHex } from './parties.js';
export { randomBytes, requestNonce } from './random.js';
export {
  type AccessRequestFields,
  accessDecision,
  accessRequestFromJson,
  accessRequestJson,
  amendRecord,
  eraseRecord,
  type FetchedRecord,
  fetchRecord,
  type LoggedAccess,
  logAccess,
  type OpenRecordArgs,
  openServedRecord,
  putRecord,
  type SignedAccessRequest,
  type StoredRecord,
  signAccessRequest,
} from './records.js';
export {
  generateSigner,
  KeySigner,
  type WebCryptoKey,
  type WebCryptoKeyPair,
  WebCryptoSigner,
} from './signers.js';
export {
  provenNextNonce,
  type SendOptions,
  type SentTx,
  sendTransaction,
  signTransaction,
  type TxFields,
} from './transactions.js';
