import { cpuUsage } from 'node:process';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { fromHex, toHex } from '@medchain/crypto';
import type { MedchainNode } from '../src/index.js';
import { makeNetwork, registration, startNode, waitUntil } from '../test/cluster-harness.js';

/*
 * Commits per second of a 4-validator cluster in ONE process (real TCP libp2p, LevelDB, WAL
 * fsyncs), and CPU per committed transaction per node. Transactions are signed before the
 * clock starts; submission goes through each node's API backend (full admission: decode,
 * nonce, signature verify) round-robin, then gossip. Usage:
 *   pnpm tsx packages/node/bench/index.ts [txs=10000] [blockMaxTxs=2000]
 */

const total = Number(process.argv[2] ?? 10_000);
const blockMaxTxs = Number(process.argv[3] ?? 2_000);

async function main(): Promise<void> {
  const network = await makeNetwork({
    validators: 4,
    tickIntervalMs: 50,
    baseTimeoutTicks: 40,
    batchTimeMs: 50,
    blockMaxTxs,
    logLevel: 'warn',
  });
  const nodes: MedchainNode[] = [];
  try {
    for (const home of network.homes) nodes.push(await startNode(home));
    const txs = Array.from({ length: total }, (_, i) => registration(`bench-${Date.now()}-${i}`));
    const hashes: string[] = [];
    const startHeight = nodes[0]!.parts.chain.height;
    const cpu0 = cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < txs.length; i++) {
      const node = nodes[i % nodes.length]!;
      const result = node.parts.backend.submitTransaction(txs[i]!);
      if (!result.accepted) throw new Error(`refused: ${result.code} ${result.message}`);
      hashes.push(toHex(result.hash));
      if (i % 200 === 199) await yieldToLoop();
    }
    const submitted = performance.now() - t0;
    const last = fromHex(hashes.at(-1)!);
    const allCommitted = () =>
      nodes.every(
        (node) =>
          node.parts.chain.hasTransaction(last) &&
          hashes.every((hash) => node.parts.chain.hasTransaction(fromHex(hash))),
      );
    await waitUntil('every transaction committed on every node', allCommitted, {
      tries: 6_000,
      intervalMs: 50,
    });
    const elapsed = performance.now() - t0;
    const cpu = cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const blocks = nodes[0]!.parts.chain.height - startHeight;
    const views = Math.max(...nodes.map((node) => node.parts.driver.view));
    const report = {
      validators: 4,
      txs: total,
      blockMaxTxs,
      blocks,
      txPerBlock: Math.round(total / Math.max(blocks, 1)),
      submitMs: Math.round(submitted),
      elapsedMs: Math.round(elapsed),
      txPerSecond: Math.round((total / elapsed) * 1000),
      processCpuMs: Math.round(cpuMs),
      cpuPerTxPerNodeUs: Math.round(((cpuMs * 1000) / total / 4) * 10) / 10,
      cpuCoresBusy: Math.round((cpuMs / elapsed) * 100) / 100,
      highestView: views,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    for (const node of nodes) await node.stop();
    await network.remove();
  }
}

await main();
