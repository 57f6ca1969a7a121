import { join } from 'node:path';
import {
  type ConsensusConfig,
  type ConsensusMessage,
  decodeMessage,
  encodeMessage,
  primaryIndex,
  voteSigningHash,
} from '@medchain/consensus';
import { Signer, sha256, toHex, utf8, verify } from '@medchain/crypto';
import { DEFAULT_LEDGER_PARAMS, type GenesisDocument, parseGenesis } from '@medchain/ledger';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Chain,
  ConsensusDriver,
  createLogger,
  createMetrics,
  Database,
  type DriverOptions,
  decodeWalRecord,
  encodeHardStateRecord,
  Mempool,
  restoreConsensus,
  Wal,
} from '../src/index.js';
import { counterValue, registration, waitUntil } from './cluster-harness.js';
import { tempDir } from './helpers.js';

const CHAIN_ID = 'medchain-cluster-test'; // the harness's registrations are signed for it
const logger = createLogger({ level: 'silent' });

function keys(n: number): Signer[] {
  return Array.from(
    { length: n },
    (_, i) => new Signer(sha256(utf8(`driver-test:validator:${i}`))),
  );
}

function genesisFor(validators: readonly Signer[]): GenesisDocument {
  return parseGenesis({
    chainId: CHAIN_ID,
    genesisTime: Date.now() - 1_000,
    organizations: validators.map((v, i) => ({
      id: sha256(utf8(`driver-test:org:${i}`)),
      adminKeys: [new Signer(sha256(utf8(`driver-test:admin:${i}`))).publicKey],
      validatorKey: v.publicKey,
      peerId: `12D3KooW${'ABCDEFGHJKLMNPQRSTUVWXYZ'[i]!.repeat(44)}`,
    })),
    params: { ...DEFAULT_LEDGER_PARAMS },
    consensus: {},
  });
}

/** One replica's disk (LevelDB + WAL) with its driver; `sent` collects what it sends. */
async function openReplica(
  dir: string,
  genesis: GenesisDocument,
  self: Signer,
  bounds: Pick<DriverOptions, 'maxQueuedMessageBytes'> = {},
) {
  const metrics = createMetrics();
  const db = await Database.open(join(dir, 'db'));
  const chain = await Chain.open({ db, genesis, logger, metrics });
  const wal = await Wal.open(join(dir, 'wal'));
  const config: ConsensusConfig = {
    chainId: CHAIN_ID,
    signer: self,
    verifier: { verify },
    application: chain,
    genesisValidators: chain.validators.map((v) => v.publicKey),
    baseTimeoutTicks: 1_000,
  };
  const restored = await restoreConsensus(wal, chain, config, logger).catch(async (error) => {
    await wal.close();
    await db.close();
    throw error;
  });
  const mempool = new Mempool({
    chainId: CHAIN_ID,
    maxTxs: 1_000,
    maxBytes: 1 << 20,
    maxTxBytes: 16 * 1024,
    head: chain,
    metrics,
  });
  const sent: ConsensusMessage[] = [];
  const driver = new ConsensusDriver({
    core: restored.core,
    chain,
    mempool,
    wal,
    selfKey: self.publicKey,
    send: (_to, bytes) => sent.push(decodeMessage(bytes)),
    logger,
    metrics,
    tickIntervalMs: 60_000,
    block: { maxTxs: 100, maxBytes: 1 << 20, batchTimeMs: 5 },
    emptyBlockDelayMs: 5,
    ...bounds,
  });
  driver.start();
  return {
    chain,
    wal,
    metrics,
    driver,
    mempool,
    sent,
    restored,
    /** Waits until every input queued so far was handled (the queue is FIFO). */
    settle: () => driver.feedDecisions([]),
    async close() {
      await driver.stop();
      await wal.close();
      await db.close();
    },
  };
}

type Replica = Awaited<ReturnType<typeof openReplica>>;

/** An idle chain makes no blocks: each one here carries a transaction. */
async function commitBlocks(replica: Replica, count: number, label: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const before = replica.chain.height;
    replica.mempool.admit(registration(`${label}-${before}-${i}`), 'api');
    replica.driver.transactionsArrived();
    await waitUntil(`block ${before + 1} commits`, () => replica.chain.height > before);
  }
}

describe('consensus driver', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function dir(name: string): Promise<string> {
    const made = await tempDir(name);
    cleanups.push(made.remove);
    return made.path;
  }
  async function open(
    path: string,
    genesis: GenesisDocument,
    self: Signer,
    bounds: Pick<DriverOptions, 'maxQueuedMessageBytes'> = {},
  ): Promise<Replica> {
    const replica = await openReplica(path, genesis, self, bounds);
    cleanups.push(() => replica.close().catch(() => undefined));
    return replica;
  }

  it('never signs a second PREPARE for a height and view after a restart', async () => {
    const validators = keys(4);
    const genesis = genesisFor(validators);
    const path = await dir('double-vote');
    let replica = await open(path, genesis, validators[0]!);
    const sorted = replica.chain.validators.map((v) => toHex(v.publicKey));
    const primary = validators.find((v) => toHex(v.publicKey) === sorted[primaryIndex(1, 0, 4)])!;
    const self = validators.find((v) => v !== primary)!;
    await replica.close();
    replica = await open(path, genesis, self);

    const prePrepare = (txs: Uint8Array[]) => {
      for (const raw of txs) replica.mempool.admit(raw, 'gossip');
      const proposal = replica.chain.buildProposal(
        primary.publicKey,
        replica.mempool.reap(10, 1 << 20),
      );
      return {
        digest: proposal.digest,
        bytes: encodeMessage({
          type: 'preprepare',
          height: 1,
          view: 0,
          digest: proposal.digest,
          payload: proposal.payload,
          from: primary.publicKey,
          signature: primary.sign(voteSigningHash(CHAIN_ID, 'preprepare', 1, 0, proposal.digest)),
        }),
      };
    };
    const first = prePrepare([]);
    replica.driver.receive(first.bytes);
    await replica.settle();
    const prepares = (digest: Uint8Array) =>
      replica.sent.filter(
        (m) => m.type === 'prepare' && m.height === 1 && toHex(m.digest) === toHex(digest),
      ).length;
    expect(prepares(first.digest)).toBe(1);

    // "Crash" after the vote went out, and restart from the same disk.
    await replica.close();
    replica = await open(path, genesis, self);
    expect(replica.restored.restoredFrom).toBe('wal');
    expect(replica.restored.core.currentHeight).toBe(1);
    expect(toHex(replica.restored.core.hardState().lastPrepare!.digest)).toBe(toHex(first.digest));

    const second = prePrepare([registration('conflict')]);
    expect(toHex(second.digest)).not.toBe(toHex(first.digest));
    replica.driver.receive(second.bytes);
    await replica.settle();
    expect(prepares(second.digest)).toBe(0);
    expect(replica.restored.core.stats().refusedDoubleVotes).toBe(1);

    // The WAL never holds two different PREPAREs for one (height, view).
    const seen = new Map<string, string>();
    for (const record of await replica.wal.replay()) {
      const decoded = decodeWalRecord(record);
      if (decoded.kind !== 'vote' || decoded.vote === null || decoded.vote.type !== 'prepare') {
        continue;
      }
      const key = `${decoded.vote.height}/${decoded.vote.view}`;
      const digest = toHex(decoded.vote.digest);
      expect(seen.get(key) ?? digest).toBe(digest);
      seen.set(key, digest);
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it('drops peer messages past its byte bound, and takes them again once the queue drains', async () => {
    const validators = keys(1);
    const replica = await open(await dir('queue-bytes'), genesisFor(validators), validators[0]!, {
      maxQueuedMessageBytes: 10_000,
    });
    const dropped = () =>
      counterValue(replica.metrics.consensus.messagesDropped, { reason: 'queue_full' });
    // Received in one go, before the driver's loop runs: 10 of 1,000 bytes fit, 20 do not.
    for (let i = 0; i < 30; i++) replica.driver.receive(new Uint8Array(1_000));
    expect(await dropped()).toBe(20);
    // One 10,001-byte frame is over the bound even with nothing queued.
    await replica.settle();
    replica.driver.receive(new Uint8Array(10_001));
    expect(await dropped()).toBe(21);
    // Handled messages release their bytes.
    for (let i = 0; i < 10; i++) replica.driver.receive(new Uint8Array(1_000));
    expect(await dropped()).toBe(21);
  });

  it('a single validator commits alone, and resumes after a restart on the same chain', async () => {
    const validators = keys(1);
    const genesis = genesisFor(validators);
    const path = await dir('restart');
    let replica = await open(path, genesis, validators[0]!);
    for (let i = 0; i < 30; i++) replica.mempool.admit(registration(`solo-${path}-${i}`), 'api');
    replica.driver.transactionsArrived();
    await waitUntil('the batch commits', () => replica.mempool.size === 0);
    await commitBlocks(replica, 4, 'solo');
    await replica.close();
    const { height, stateRoot } = {
      height: replica.chain.height,
      stateRoot: replica.chain.stateRoot,
    };

    replica = await open(path, genesis, validators[0]!);
    expect(replica.chain.height).toBe(height);
    expect(toHex(replica.chain.stateRoot)).toBe(toHex(stateRoot));
    expect(replica.restored.core.currentHeight).toBe(height + 1);
    await commitBlocks(replica, 3, 'after-restart');
    const next = replica.chain.loadBlock(height + 1)!;
    expect(toHex(next.block.header.stateRoot)).toBe(toHex(stateRoot));
    expect(toHex(next.block.header.parentHash)).toBe(toHex(replica.chain.loadBlock(height)!.hash));
  });

  it('reports a block stored just before a crash as applied, and refuses a WAL ahead of the store', async () => {
    const validators = keys(1);
    const genesis = genesisFor(validators);
    const path = await dir('crash-window');
    let replica = await open(path, genesis, validators[0]!);
    await commitBlocks(replica, 3, 'before-crash');
    await replica.close();
    const stored = replica.chain.height;
    // The hard state written while deciding the last stored block, as if the crash came right
    // after that block's batch and before the next height's hard state reached the WAL.
    const wal = await Wal.open(join(path, 'wal'));
    const hardStates = (await wal.replay())
      .map(decodeWalRecord)
      .flatMap((record) => (record.kind === 'hardState' ? [record.hardState] : []));
    const atStored = hardStates.findLast((hs) => hs.height === stored)!;
    expect(atStored).toBeDefined();
    wal.append([encodeHardStateRecord(atStored)]);
    await wal.sync();
    await wal.close();

    replica = await open(path, genesis, validators[0]!);
    expect(replica.chain.height).toBe(stored);
    expect(replica.restored.core.currentHeight).toBe(stored + 1);
    await commitBlocks(replica, 2, 'after-crash');
    await replica.close();

    const ahead = await Wal.open(join(path, 'wal'));
    ahead.append([encodeHardStateRecord({ ...atStored, height: replica.chain.height + 5 })]);
    await ahead.sync();
    await ahead.close();
    await expect(openReplica(path, genesis, validators[0]!)).rejects.toMatchObject({
      code: 'NODE_WAL_CORRUPT',
    });
  });
});
