/** The CLI as a library, for scripts and the benchmark that drive a devnet. */
export { type Devnet, type DevnetNode, readDevnet } from './cmds/devnet/state.js';
export { buildProgram, run } from './program.js';
export { ApiClient, ApiError } from './util/client.js';
export { CliError, EXIT } from './util/errors.js';
export { type SendOptions, type SentTx, sendTransaction } from './util/tx.js';
