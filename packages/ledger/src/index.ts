export {
  type AccessDecision,
  type AccessQuestion,
  consentCovers,
  DENY_REASONS,
  type DenyReason,
  decideAccess,
} from './access.js';
export {
  type Block,
  type BlockHeader,
  buildBlock,
  checkBlockAgainstParent,
  decodeBlock,
  decodeHeader,
  type ExpectedParent,
  encodeBlock,
  encodeHeader,
  headerHash,
  MAX_BLOCK_BYTES,
  MAX_BLOCK_TXS,
  transactionsRoot,
} from './block.js';
export {
  type AccessLogBody,
  type AccessRequest,
  MAX_SCOPE_ITEMS,
  parseAccessRequest,
  parseBody,
  parseConsentTerms,
  type ResearchReleaseBody,
  TX_KINDS,
  type TxBodies,
  type TxKind,
} from './consent/bodies.js';
export {
  ROLE_REFUSAL_CODES,
  type RoleRefusal,
  type RoleRefusalCode,
  signerRoleRefusal,
} from './consent/roles.js';
export { accessRequestDigest, passThreshold } from './consent/rules.js';
export { LedgerError, type LedgerErrorCode } from './errors.js';
export {
  type BlockResult,
  type ChainConfig,
  type ExecutionOptions,
  executeBlock,
  expectedNonce,
  isRequestSignatureValid,
  type RequestSignature,
  readChainConfig,
  requestSignatureOf,
  type ValidatorSetChange,
} from './executor.js';
export * from './fhir/index.js';
export {
  type GenesisDocument,
  type GenesisState,
  genesisFromJson,
  genesisHash,
  genesisToJson,
  initGenesisState,
  parseGenesis,
} from './genesis.js';
export {
  AUDIT_CHAIN_START,
  type AuditAccumulator,
  auditChainStep,
  HistoryIndexWriter,
  type HistoryItem,
  type HistoryPut,
  historyKeys,
  isCompleteAuditTrail,
  type ListKeys,
} from './history.js';
export { recordId } from './ids.js';
export * from './model.js';
export * from './queries.js';
export { RECEIPT_CODES, type Receipt, type ReceiptCode } from './receipt.js';
export {
  matchesRecordAnchor,
  RECORD_SALT_BYTES,
  recordAnchor,
  recordCommitment,
} from './record-commitment.js';
export {
  decodeServedRecord,
  encodeServedRecord,
  recordEnvelopeContext,
  type ServedRecord,
} from './record-envelope.js';
export { stateKeys } from './schema.js';
export * from './state/index.js';
export {
  CHAIN_ID_PATTERN,
  decodeTransaction,
  encodeTransaction,
  MAX_TX_BYTES,
  signingDigest,
  signTransaction,
  type Transaction,
  transactionHash,
  type UnsignedTransaction,
  verifyTransactionSignature,
} from './tx.js';
export {
  findValidatorSet,
  MAX_VALIDATOR_CHANGES_PER_BLOCK,
  organizationValidators,
} from './validator-set-search.js';
export {
  memberIds,
  sortValidators,
  type Validator,
  validatorSetHash,
  validatorsFromState,
} from './validators.js';
