#!/usr/bin/env node
import { run } from './program.js';

// @medchain/node (and with it the runtime polyfills libp2p needs) is loaded on demand by the
// commands that run a node: see util/node-package.ts.
// Exit explicitly: idle keep-alive sockets of fetch would otherwise hold the process open.
process.exit(await run(process.argv));
