/**
 * The CLI as a library: its program, and the operator toolkit (homes, keystores, genesis,
 * arguments, output) that the lab (`@medchain/devnet`) builds devnets with.
 */

export { cliMain, type LabRegistration } from './lab.js';
export { buildProgram, run } from './program.js';
export { duration, integer, listOf, oneOf } from './util/args.js';
export { connect, readCa } from './util/client.js';
export { example, outputOf } from './util/common.js';
export { CliError, EXIT, usageError } from './util/errors.js';
export { writeFileAtomic } from './util/files.js';
export {
  addOrganization,
  DEFAULT_CONSENSUS_PARAMS,
  newGenesisDraft,
  writeGenesis,
} from './util/genesis.js';
export { initHome, LOG_FILE, readJsonFile } from './util/home.js';
export { createKeystore, openKeystore, writeSecretFile } from './util/keys.js';
export { nodePackage } from './util/node-package.js';
export { fields, Output, table } from './util/output.js';
export { PASSPHRASE_ENV } from './util/passphrase.js';
