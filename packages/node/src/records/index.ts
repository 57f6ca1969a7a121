export { RECORD_HTTP_STATUS, RecordError, type RecordErrorCode } from './errors.js';
export { type RecordOperationId, type RecordsApi, recordHandlers } from './http.js';
export {
  checkSignedRequest,
  decodeAnswer,
  decodeSignedRequest,
  encodeAnswer,
  encodeSignedRequest,
  MAX_RECORD_BYTES,
  type RecordAnswer,
  type SignedAccessRequest,
} from './protocol.js';
export {
  type FetchedRecord,
  RECORDS_PROTOCOL,
  RecordsService,
  type RecordsServiceOptions,
} from './service.js';
