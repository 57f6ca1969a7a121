import { CodedError } from '@medchain/crypto';

/** Every failure the node reports carries one of these codes, so callers (CLI, API) can branch on it. */
export type NodeErrorCode =
  | 'NODE_CONFIG_READ'
  | 'NODE_CONFIG_PARSE'
  | 'NODE_CONFIG_UNKNOWN_FIELD'
  | 'NODE_CONFIG_INVALID'
  | 'NODE_DB_NOT_OPEN'
  | 'NODE_DB_BAD_VALUE'
  | 'NODE_DB_SCHEMA'
  | 'NODE_STATE_UNFLUSHED'
  | 'NODE_WAL_CLOSED'
  | 'NODE_WAL_RECORD_TOO_LARGE'
  | 'NODE_WAL_CORRUPT'
  | 'NODE_WAL_FAILED'
  | 'NODE_PEER_KEY_INVALID'
  | 'NODE_PEER_KEY_PERMISSIONS'
  | 'NODE_FRAME_TOO_LARGE'
  | 'NODE_FRAME_EMPTY'
  | 'NODE_PROTOCOL_STOPPED'
  | 'NODE_REQUEST_FAILED'
  | 'NODE_API_LISTEN'
  | 'NODE_GENESIS_INVALID'
  | 'NODE_VALIDATOR_KEY'
  | 'NODE_NOT_STARTED'
  | 'NODE_HOME_FORMAT_OLD'
  | 'NODE_HOME_FORMAT_NEWER'
  | 'NODE_HOME_FORMAT_INVALID'
  | 'NODE_DUMP_CORRUPT';

export class NodeError extends CodedError<NodeErrorCode> {
  override readonly name = 'NodeError';
  /** For configuration errors: the dotted path of the offending field (e.g. `mempool.maxTxs`). */
  readonly field: string | undefined;

  constructor(code: NodeErrorCode, message: string, field?: string) {
    super(code, message);
    this.field = field;
  }
}
