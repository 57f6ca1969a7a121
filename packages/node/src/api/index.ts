export {
  type ApiBackend,
  type Awaitable,
  type CommittedBlockEvent,
  type EvidenceList,
  type NodeStatus,
  type RecordedEquivocation,
  type StateProofAnswer,
  type StoredBlock,
  SUBMIT_REJECTIONS,
  type SubmitRejection,
  type SubmitResult,
  type TransactionStatus,
} from './backend.js';
export { DEFAULT_EVENT_STREAM_OPTIONS, type EventStreamOptions } from './events.js';
export { blockJson, type Json, toJson, transactionJson } from './json.js';
export { openApiDocument } from './openapi.js';
export { API_PREFIX, MAX_BATCH_BODY_BYTES, MAX_BATCH_TXS } from './routes.js';
export {
  type ApiServer,
  type ApiServerOptions,
  createApiServer,
  DEFAULT_API_PORT,
  DEFAULT_BODY_LIMIT,
  HttpError,
} from './server.js';
