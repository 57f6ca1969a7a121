import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { primaryIndex } from '@medchain/consensus';
import { bytesEqual } from '@medchain/crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  DEFAULT_MAX_CLOCK_DRIFT_MS,
  loadConfig,
  type MedchainNode,
  runNode,
} from '../../src/index.js';
import {
  introduce,
  makeNetwork,
  type Network,
  type NodeHome,
  registration,
  runningPeers,
  waitUntil,
} from '../cluster-harness.js';

const WITHIN_TOLERANCE_MS = 0.8 * DEFAULT_MAX_CLOCK_DRIFT_MS;
const BEYOND_TOLERANCE_MS = 2 * DEFAULT_MAX_CLOCK_DRIFT_MS;

/**
 * Four in-process validators started the way `medchain start` starts them (runNode, which
 * applies the config's `clockOffsetMs`), one of them with its clock skewed ahead: within the
 * drift tolerance its proposals are accepted; beyond it the others refuse them, each of its
 * heights is decided by an honest primary after a view change, and nothing else changes.
 */
describe('a validator whose clock runs ahead', () => {
  let network: Network;
  let skewed: NodeHome;
  const nodes = new Map<number, MedchainNode>();
  let submitted = 0;

  async function start(home: NodeHome, clockOffsetMs: number): Promise<void> {
    const logger = createLogger({
      level: loadConfig(home.home).logLevel,
      base: { node: home.index },
      destination: pino.destination({ dest: join(home.home, 'node.log'), sync: true }),
    });
    const node = await runNode(
      home.home,
      { clockOffsetMs, peers: runningPeers(home) },
      { logger, exitOnStop: false },
    );
    await introduce(home, node);
    nodes.set(home.index, node);
  }

  const honest = () =>
    network.homes.filter((home) => home !== skewed).map((h) => nodes.get(h.index)!);
  const reference = () => honest()[0]!.parts.chain;

  /** One fresh registration to an honest node: the chain only makes blocks with work to do. */
  function submitOne(): void {
    const live = honest();
    const result = live[submitted % live.length]!.parts.backend.submitTransaction(
      registration(`skew-${submitted}`),
    );
    submitted++;
    if (!result.accepted) throw new Error(`refused: ${result.code} ${result.message}`);
  }

  /** Keeps submitting until `condition` holds (bounded by waitUntil's tries). */
  const driveUntil = (what: string, condition: () => boolean) =>
    waitUntil(what, () => {
      if (condition()) return true;
      submitOne();
      return false;
    });

  const isSkewed = (proposer: Uint8Array) => bytesEqual(proposer, skewed.validator.publicKey);
  /** Heights whose view-0 primary is the skewed validator. */
  function skewedTurn(height: number): boolean {
    const validators = reference().validators;
    return isSkewed(validators[primaryIndex(height, 0, validators.length)]!.publicKey);
  }

  /** Block times never go back, and none is beyond the drift tolerance of the real clock. */
  function expectSaneTimes(upTo: number): void {
    const checkedAt = Date.now();
    let previous = 0;
    for (let height = 1; height <= upTo; height++) {
      const { time } = reference().loadBlock(height)!.block.header;
      expect(time).toBeGreaterThanOrEqual(previous);
      expect(time).toBeLessThanOrEqual(checkedAt + DEFAULT_MAX_CLOCK_DRIFT_MS);
      previous = time;
    }
  }

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    skewed = network.homes[3]!;
    for (const home of network.homes) {
      await start(home, home === skewed ? WITHIN_TOLERANCE_MS : 0);
    }
  });

  afterAll(async () => {
    for (const node of nodes.values()) await node.stop();
    await network?.remove();
  });

  it('within the tolerance its proposals are accepted in view 0 and block time stays monotonic', async () => {
    let accepted = 0;
    await driveUntil('a block from the skewed primary in view 0, and one after it', () => {
      const chain = reference();
      accepted = 0;
      for (let height = 1; height < chain.height; height++) {
        const stored = chain.loadBlock(height)!;
        if (isSkewed(stored.block.header.proposer) && stored.certificate?.view === 0) {
          accepted = height;
        }
      }
      return accepted > 0;
    });
    const ahead = reference().loadBlock(accepted)!.block.header.time;
    expect(reference().loadBlock(accepted + 1)!.block.header.time).toBeGreaterThanOrEqual(ahead);
    expectSaneTimes(reference().height);
  }, 120_000);

  it('beyond the tolerance its proposals are refused and honest primaries decide its heights', async () => {
    await nodes.get(skewed.index)!.stop();
    nodes.delete(skewed.index);
    // Let anything the old instance proposed settle before the restart with the far clock.
    const settled = reference().height + 2;
    await driveUntil('three validators commit alone', () =>
      honest().every((node) => node.parts.chain.height >= settled),
    );
    await start(skewed, BEYOND_TOLERANCE_MS);
    const from = reference().height + 1;
    const turns = () =>
      Array.from({ length: reference().height - from + 1 }, (_, i) => from + i).filter(skewedTurn);
    await driveUntil(
      'two heights led by the skewed validator are committed',
      () => turns().length >= 2,
    );
    const end = reference().height;

    for (let height = from; height <= end; height++) {
      const stored = reference().loadBlock(height)!;
      expect({ height, bySkewed: isSkewed(stored.block.header.proposer) }).toEqual({
        height,
        bySkewed: false,
      });
      if (skewedTurn(height)) expect(stored.certificate!.view).toBeGreaterThan(0);
    }
    expectSaneTimes(end);
    const refusals = network.homes
      .filter((home) => home !== skewed)
      .map((home) => readFileSync(join(home.home, 'node.log'), 'utf8'))
      .filter((text) => text.includes('proposal refused: time is ahead'));
    expect(refusals.length).toBeGreaterThan(0);

    // The skewed validator still follows the chain: it refuses nothing honest primaries propose.
    const follower = nodes.get(skewed.index)!.parts.chain;
    await driveUntil('the skewed validator reaches the same head', () => follower.height >= end);
    expect(bytesEqual(follower.loadBlock(end)!.hash, reference().loadBlock(end)!.hash)).toBe(true);
  }, 180_000);
});
