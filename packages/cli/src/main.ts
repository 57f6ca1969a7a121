#!/usr/bin/env node
// The node package installs its runtime polyfills when it loads; it must come first.
import '@medchain/node';
import { run } from './program.js';

// Exit explicitly: idle keep-alive sockets of fetch would otherwise hold the process open.
process.exit(await run(process.argv));
