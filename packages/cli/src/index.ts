/** The CLI as a library, for scripts and the benchmark that drive a devnet. */
export {
  type Devnet,
  type DevnetNode,
  devnetClient,
  readDevnet,
} from './cmds/devnet/state.js';
export { buildProgram, run } from './program.js';
export { CliError, EXIT } from './util/errors.js';
