import { verifyCommitCertificate } from '@medchain/consensus';
import { fromHex, toHex, verify } from '@medchain/crypto';
import { decodeBlock, headerHash } from '@medchain/ledger';
import { pino } from 'pino';
import { type Chain, createMetrics, createShell, type ShellPorts } from '../../src/index.js';
import type { ChainView } from './checkers.js';
import type { NodeContext, SimShell } from './simulation.js';

const logger = pino({ level: 'silent' });

/** Block limits of the simulated nodes (config.block): small blocks, a short batch time. */
const BLOCK = { maxTxs: 64, maxBytes: 1 << 20, batchTimeMs: 20 } as const;
const MEMPOOL_LIMITS = { maxTxs: 10_000, maxBytes: 64 << 20, maxTxBytes: 64 * 1024 } as const;

/**
 * One node: the node package's shell (`createShell`, as node.ts builds it) over the ports,
 * with its default membership gate (the memory transport has no connections to cut).
 */
export async function shellFactory(ports: ShellPorts, context: NodeContext): Promise<SimShell> {
  const { params } = context;
  const shell = await createShell(
    {
      genesis: context.genesis,
      signer: context.organization.validator,
      mempool: MEMPOOL_LIMITS,
      block: BLOCK,
      tickIntervalMs: params.tickIntervalMs,
      walCheckpointBytes: params.walCheckpointBytes,
      onFatal: context.onFatal,
      logger,
      metrics: createMetrics(),
    },
    ports,
  );
  return {
    submit(bytes) {
      const result = shell.mempoolReactor.submit(bytes);
      return result.accepted ? { accepted: true } : { accepted: false, code: result.code };
    },
    view: () => chainView(context.index, shell.chain),
    stop: () => shell.stop(),
  };
}

/** What the checkers read of a node's chain. */
export function chainView(node: number, chain: Chain): ChainView {
  const keys = chain.validators.map((v) => v.publicKey);
  const digestAt = (height: number): string | undefined => {
    const payload = chain.loadPayload(height);
    return payload === undefined ? undefined : toHex(headerHash(decodeBlock(payload).header));
  };
  return {
    node,
    height: chain.height,
    stateRoot: toHex(chain.stateRoot),
    blockDigest: digestAt,
    stateRootAfter(height) {
      if (height === chain.height) return toHex(chain.stateRoot);
      if (height > chain.height) return undefined;
      const next = chain.loadPayload(height + 1);
      return next === undefined ? undefined : toHex(decodeBlock(next).header.stateRoot);
    },
    certificateValid(height) {
      const certificate = chain.loadCertificate(height);
      const digest = digestAt(height);
      return (
        certificate !== undefined &&
        digest !== undefined &&
        toHex(certificate.digest) === digest &&
        certificate.height === height &&
        verifyCommitCertificate(chain.chainId, certificate, keys, { verify })
      );
    },
    hasTransaction: (hash) => chain.hasTransaction(fromHex(hash)),
  };
}
