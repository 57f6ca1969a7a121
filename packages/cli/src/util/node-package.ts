/**
 * @medchain/node loads libp2p, fastify and LevelDB: about a second of startup (three on a busy
 * machine). Only the commands that run or lay out a node need it, so they load it here, on
 * demand; its index installs the runtime polyfills before any libp2p module evaluates.
 */
export function nodePackage(): Promise<typeof import('@medchain/node')> {
  return import('@medchain/node');
}
