import './polyfill.js';
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConsensusConfig } from '@medchain/consensus';
import { bytesEqual, Signer, toHex, verify } from '@medchain/crypto';
import {
  encodeTransaction,
  type GenesisDocument,
  genesisFromJson,
  getOrganizationOfPeer,
  MAX_BLOCK_BYTES,
} from '@medchain/ledger';
import { type ApiServer, createApiServer } from './api/index.js';
import { ChainBackend } from './chain/api-backend.js';
import { Chain } from './chain/chain.js';
import { ConsensusDriver, restoreConsensus } from './chain/driver.js';
import { decodeTxBatch, GOSSIP_MAX_FRAME_BYTES, TxGossip } from './chain/gossip.js';
import { Mempool } from './chain/mempool.js';
import type { NodeConfig } from './config.js';
import { Database } from './db/index.js';
import { NodeError } from './errors.js';
import { ExportJobs } from './fhir/export/jobs.js';
import { researchExportRoutes } from './fhir/export/routes.js';
import { consentImport } from './fhir/import.js';
import { checkHomeFormat, startBackupSocket } from './home/index.js';
import { readValidatorKeyFile, ValidatorKeyring } from './home/validator-keys.js';
import { createLogger, type Logger, moduleLogger, withModuleLevels } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { FramedProtocol } from './net/framed-protocol.js';
import { createHost, type Host, protocolId } from './net/host.js';
import { loadOrCreatePeerIdentity } from './net/identity.js';
import { MembershipGate, type PeerStanding } from './net/membership.js';
import { RequestProtocol } from './net/request-protocol.js';
import { RecordsService } from './records/index.js';
import {
  BlockSync,
  decodeBlocksRequest,
  SYNC_MAX_REQUEST_BYTES,
  SYNC_MAX_RESPONSE_BYTES,
  serveBlocks,
} from './sync/block-sync.js';
import { decodeSnapshotRequest } from './sync/snapshot-codec.js';
import { SnapshotServer } from './sync/snapshot-server.js';
import { stateSync } from './sync/state-sync.js';
import { Vault } from './vault/index.js';
import { Wal } from './wal.js';

/** Transactions sent again per stall interval while no block comes. */
const REGOSSIP_MAX_TXS = 1_024;

/** The genesis document in the node home (the ledger's JSON form, as `genesisToJson` writes it). */
export const GENESIS_FILE = 'genesis.json';
/** The validator's Ed25519 seed as 64 hex characters, mode 0600 (devnets, tests). */
export const VALIDATOR_KEY_FILE = 'validator-key';
/** The validator's seed in a passphrase keystore (@medchain/crypto format); preferred in production. */
export const VALIDATOR_KEYSTORE_FILE = 'validator.keystore.json';
export { KEYSTORE_PASSPHRASE_ENV } from './home/validator-keys.js';

export interface CreateNodeOptions {
  /** Root logger; one is made from config.logLevel when omitted. */
  readonly logger?: Logger;
  /** The node's metrics; a fresh registry when omitted. */
  readonly metrics?: Metrics;
  /** Passphrase of `validator.keystore.json` (else read from MEDCHAIN_KEYSTORE_PASSPHRASE). */
  readonly passphrase?: string;
  /** The wall clock for block times; tests may skew it. */
  readonly now?: () => number;
  /** Called once if the node hits an error it cannot run on after (it stops consensus). */
  readonly onFatal?: (error: unknown) => void;
  /**
   * A fresh home (no blocks, empty WAL) first tries to take a peer's certified state instead
   * of replaying every block. Default true.
   */
  readonly stateSync?: boolean;
}

export interface MedchainNode {
  readonly config: NodeConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Builds every part in order and starts them. */
  start(): Promise<void>;
  /** Closes every part in reverse order; safe to call twice. */
  stop(): Promise<void>;
  /** The parts, once started. */
  readonly parts: NodeParts;
}

export interface NodeParts {
  readonly chain: Chain;
  readonly mempool: Mempool;
  readonly driver: ConsensusDriver;
  readonly host: Host;
  readonly backend: ChainBackend;
  readonly sync: BlockSync;
  /** Record exchange (custodian and requester sides) and the vault it serves from. */
  readonly records: RecordsService;
  readonly vault: Vault;
  /** Research exports (FHIR Bulk Data `$export`) and the ordering record of their releases. */
  readonly researchExports: ExportJobs;
  /** The libp2p listen addresses (with the real ports when 0 was asked). */
  readonly listenAddrs: readonly string[];
  /** The HTTP API base URL. */
  readonly apiUrl: string;
  readonly validatorKey: Uint8Array;
  readonly peerId: string;
}

/** Reads `<home>/genesis.json`. */
export async function loadGenesis(home: string): Promise<GenesisDocument> {
  const path = join(home, GENESIS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new NodeError('NODE_GENESIS_INVALID', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return genesisFromJson(JSON.parse(text));
  } catch (error) {
    throw new NodeError('NODE_GENESIS_INVALID', `${path}: ${(error as Error).message}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The validator key: `validator.keystore.json` (passphrase from the option or the environment)
 * or `validator-key` (hex seed). Either file must be readable by its owner only.
 */
export async function loadValidatorKey(home: string, passphrase?: string): Promise<Signer> {
  return new Signer(await loadValidatorSeed(home, passphrase));
}

/** The validator seed itself (see loadValidatorKey): the vault and record envelopes need it. */
export async function loadValidatorSeed(home: string, passphrase?: string): Promise<Uint8Array> {
  const keystorePath = join(home, VALIDATOR_KEYSTORE_FILE);
  const plainPath = join(home, VALIDATOR_KEY_FILE);
  const path = (await exists(keystorePath)) ? keystorePath : plainPath;
  if (!(await exists(path))) {
    throw new NodeError(
      'NODE_VALIDATOR_KEY',
      `no validator key: put ${VALIDATOR_KEYSTORE_FILE} or ${VALIDATOR_KEY_FILE} in ${home}`,
    );
  }
  return readValidatorKeyFile(path, passphrase);
}

/** Consensus tuning from genesis.consensus (integers), with the core's defaults otherwise. */
function consensusTuning(genesis: GenesisDocument) {
  const value = (name: string): number | undefined => genesis.consensus[name];
  return {
    checkpointInterval: value('checkpointInterval') ?? 100,
    baseTimeoutTicks: value('baseTimeoutTicks') ?? 10,
    maxTimeoutDoublings: value('maxTimeoutDoublings') ?? 5,
  };
}

/**
 * The composition root. `start()` builds the parts in order (genesis and keys, database and
 * chain, WAL, libp2p host with the consensus, mempool and sync protocols, state sync for a
 * fresh home, the consensus core restored from the WAL, mempool, block sync, the driver, the
 * HTTP API), each with a child logger and the shared metrics; `stop()` closes them in reverse.
 */
export function createNode(config: NodeConfig, options: CreateNodeOptions = {}): MedchainNode {
  // The config's module levels apply to a logger handed in too (the CLI's, pretty or JSON).
  const logger = withModuleLevels(
    options.logger ?? createLogger({ level: config.logLevel }),
    config.logLevels,
  );
  const metrics = options.metrics ?? createMetrics({ home: config.home });
  const log = moduleLogger(logger, 'node');
  const closers: Array<{ name: string; close: () => Promise<void> | void }> = [];
  let parts: NodeParts | undefined;
  let stopping: Promise<void> | undefined;

  const stop = async (): Promise<void> => {
    if (stopping !== undefined) return stopping;
    stopping = (async () => {
      for (const part of closers.reverse()) {
        try {
          await part.close();
        } catch (error) {
          log.error({ err: error, part: part.name }, 'error while closing');
        }
      }
      closers.length = 0;
      log.info('node stopped');
    })();
    return stopping;
  };

  const start = async (): Promise<void> => {
    try {
      parts = await build();
    } catch (error) {
      await stop();
      throw error;
    }
  };

  const build = async (): Promise<NodeParts> => {
    const home = config.home;
    await mkdir(home, { recursive: true });
    await checkHomeFormat(home);
    const genesis = await loadGenesis(home);
    const validatorSeed = await loadValidatorSeed(home, options.passphrase);
    const signer = new Signer(validatorSeed);
    // Keys rotated to (validator-keys/): consensus switches at the set change, the rest follows state.
    const keyring = await ValidatorKeyring.open(home, validatorSeed, options.passphrase);
    const identity = await loadOrCreatePeerIdentity(home);
    const peerId = identity.peerId.toString();
    const own = genesis.organizations.find((org) => bytesEqual(org.validatorKey, signer.publicKey));
    if (own !== undefined && own.peerId !== peerId) {
      log.warn(
        { genesisPeerId: own.peerId, peerId },
        'this node peer id differs from the one genesis names for its validator key; peers will refuse it',
      );
    }

    const db = await Database.open(join(home, 'db'), {
      logger: moduleLogger(logger, 'db'),
      metrics,
    });
    closers.push({ name: 'db', close: () => db.close() });
    const openChain = () =>
      Chain.open({
        db,
        genesis,
        logger: moduleLogger(logger, 'node'),
        metrics,
        ...(options.now === undefined ? {} : { now: options.now }),
      });
    let chain = await openChain();

    const wal = await Wal.open(join(home, 'wal'), { logger: moduleLogger(logger, 'wal'), metrics });
    closers.push({ name: 'wal', close: () => wal.close() });
    const fresh = chain.height === 0 && (await wal.replay()).length === 0;

    // Peers are the validators the chain knows (their peer ids are in the state) plus configured ones.
    const validatorPeers = new Map<string, string>(); // validator key hex -> peer id
    const refreshValidators = () => {
      validatorPeers.clear();
      for (const v of chain.validators) validatorPeers.set(toHex(v.publicKey), v.peerId);
    };
    refreshValidators();
    // The members' nodes plus configured peers, less removed members (MembershipGate).
    let memberPeers = new Set<string>();
    const otherPeers = (): string[] => [...memberPeers];

    const host = await createHost({
      privateKey: identity.privateKey,
      listen: config.listen,
      peers: config.peers,
      privateNetwork: config.privateNetwork,
      logger: moduleLogger(logger, 'net'),
      metrics,
    });
    closers.push({ name: 'libp2p', close: () => host.stop() });
    const gate = new MembershipGate({
      libp2p: host.libp2p,
      allowlist: host.allowlist,
      self: peerId,
      configured: config.peers.map((peer) => peer.peerId),
      logger: moduleLogger(logger, 'net'),
    });
    const standing = (id: string): PeerStanding => {
      const org = getOrganizationOfPeer(chain.state, id);
      return org === undefined ? 'unknown' : org.status === 'member' ? 'member' : 'removed';
    };
    // Called after every committed membership change: a removed member is cut off at once.
    const applyMembership = () => {
      memberPeers = gate.allowed(validatorPeers.values(), standing);
      return gate.apply(memberPeers);
    };
    await applyMembership();
    const isKnownPeer = (id: string) => memberPeers.has(id);
    const consensusLog = moduleLogger(logger, 'consensus');

    let driver: ConsensusDriver | undefined;
    const consensusProtocol = new FramedProtocol<Uint8Array>(host.libp2p, {
      protocol: protocolId('consensus'),
      maxFrameBytes: MAX_BLOCK_BYTES + 1024 * 1024,
      decode: (bytes) => bytes.slice(),
      onMessage: (_peer, bytes) => driver?.receive(bytes),
      allowPeer: isKnownPeer,
      logger: consensusLog,
      metrics,
    });
    const mempoolLog = moduleLogger(logger, 'mempool');
    const gossip = new TxGossip((frame) => {
      for (const id of otherPeers()) mempoolProtocol.send(id, frame);
    });
    const mempoolProtocol = new FramedProtocol<Uint8Array[]>(host.libp2p, {
      protocol: protocolId('mempool'),
      maxFrameBytes: GOSSIP_MAX_FRAME_BYTES,
      decode: decodeTxBatch,
      onMessage: (_peer, txs) => {
        // Gossip that arrives while a fresh node is still syncing its state is dropped.
        if (driver === undefined) return;
        let admitted = 0;
        for (const raw of txs) if (driver.mempool.admit(raw, 'gossip').accepted) admitted++;
        if (admitted > 0) driver.transactionsArrived();
      },
      allowPeer: isKnownPeer,
      logger: mempoolLog,
      metrics,
    });
    const syncLog = moduleLogger(logger, 'sync');
    // State snapshots pinned at checkpoint heights, served in pages (released before the db closes).
    const snapshots = new SnapshotServer({
      db,
      head: () => chain,
      interval: consensusTuning(genesis).checkpointInterval,
      logger: syncLog,
    });
    closers.push({ name: 'snapshots', close: () => snapshots.close() });
    const syncProtocol = new RequestProtocol(host.libp2p, {
      protocol: protocolId('sync'),
      maxRequestBytes: SYNC_MAX_REQUEST_BYTES,
      maxResponseBytes: SYNC_MAX_RESPONSE_BYTES,
      handle: async (_peer, request) => {
        const snapshotRequest = decodeSnapshotRequest(request);
        return snapshotRequest !== null
          ? snapshots.serve(snapshotRequest)
          : serveBlocks(chain, decodeBlocksRequest(request));
      },
      allowPeer: isKnownPeer,
      logger: syncLog,
      metrics,
    });
    for (const protocol of [consensusProtocol, mempoolProtocol, syncProtocol]) {
      await protocol.start();
      closers.push({ name: protocol.protocol, close: () => protocol.stop() });
    }
    closers.push({ name: 'gossip', close: () => gossip.stop() });

    if (fresh && options.stateSync !== false) {
      await stateSync({
        chainId: genesis.chainId,
        install: async (snapshot) => {
          await Chain.installSnapshot(db, snapshot);
          chain = await openChain();
          refreshValidators();
          await applyMembership();
        },
        protocol: syncProtocol,
        peers: otherPeers,
        validators: chain.validators,
        logger: syncLog,
      });
    }

    const mempool = new Mempool({
      chainId: genesis.chainId,
      ...config.mempool,
      state: () => chain.state,
      headTime: () => chain.lastTime,
      now: options.now ?? Date.now,
      isCommitted: (hash) => chain.hasTransaction(hash),
      metrics,
    });

    const tuning = consensusTuning(genesis);
    const consensusConfig: ConsensusConfig = {
      chainId: genesis.chainId,
      signer,
      rotatedSigners: keyring.rotated,
      verifier: { verify },
      application: {
        digestOf: (payload) => chain.digestOf(payload),
        validateProposal: (height, payload) => chain.validateProposal(height, payload),
        // The view timer runs only while a block has something to carry (transactions, or the
        // head's state root, which only the next header certifies): an idle chain is quiet.
        hasPendingWork: () => mempool.hasProposable() || chain.headStateUncertified,
      },
      genesisValidators: chain.validators.map((v) => v.publicKey),
      ...tuning,
    };
    const restored = await restoreConsensus(wal, chain, consensusConfig, consensusLog);
    consensusLog.info(
      {
        from: restored.restoredFrom,
        height: restored.core.currentHeight,
        view: restored.core.currentView,
        storedHeight: chain.height,
        replayedVotes: restored.replayedVotes,
      },
      'consensus core restored',
    );

    const send = (to: Uint8Array | 'all', bytes: Uint8Array) => {
      if (to === 'all') {
        for (const [key, id] of validatorPeers) {
          if (id !== peerId && key !== toHex(signer.publicKey)) consensusProtocol.send(id, bytes);
        }
        return;
      }
      const id = validatorPeers.get(toHex(to));
      if (id !== undefined && id !== peerId) consensusProtocol.send(id, bytes);
    };

    let backend: ChainBackend | undefined;
    let sync: BlockSync | undefined;
    const tickMs = config.tickIntervalMs;
    driver = new ConsensusDriver({
      core: restored.core,
      chain,
      mempool,
      wal,
      selfKey: signer.publicKey,
      send,
      logger: consensusLog,
      metrics,
      tickIntervalMs: tickMs,
      block: config.block,
      emptyBlockDelayMs: Math.max(
        config.block.batchTimeMs,
        Math.floor((tuning.baseTimeoutTicks * tickMs) / 4),
      ),
      onSyncTo: (height) => sync?.requestUpTo(height),
      onCommitted: (executed) => {
        if (executed.nextValidators !== null) {
          // A rotation's new key may have been written to validator-keys/ since the start.
          keyring
            .reload()
            .catch((error) => log.error({ err: error }, 'validator keys not reloaded'));
          refreshValidators();
          void applyMembership();
        }
        backend?.publish(executed);
      },
      onFatal: (error) => options.onFatal?.(error),
    });
    const runningDriver = driver;
    sync = new BlockSync({
      chain,
      driver: runningDriver,
      protocol: syncProtocol,
      peers: otherPeers,
      logger: syncLog,
      metrics,
    });
    const blockSync = sync;
    const stallIntervalMs = 2 * tuning.baseTimeoutTicks * tickMs;
    blockSync.watchForStalls(stallIntervalMs);
    // Gossip lost while a peer was down leaves transactions stranded here, where only a view
    // change would bring them to a primary: while no block comes, the longest-waiting go out
    // again, each at most once, so an overloaded network that is merely slow never gets a
    // storm of duplicates on top of its load.
    let heightAtRegossip = chain.height;
    const regossiped = new WeakSet<object>();
    const regossip = setInterval(() => {
      if (chain.height === heightAtRegossip) {
        for (const tx of mempool.oldest(REGOSSIP_MAX_TXS)) {
          if (regossiped.has(tx)) continue;
          regossiped.add(tx);
          gossip.add(encodeTransaction(tx));
        }
      }
      heightAtRegossip = chain.height;
    }, stallIntervalMs);
    regossip.unref?.();
    closers.push({ name: 'regossip', close: () => clearInterval(regossip) });
    closers.push({ name: 'sync', close: () => blockSync.stop() });
    runningDriver.start();
    closers.push({ name: 'consensus driver', close: () => runningDriver.stop() });

    backend = new ChainBackend({
      chain,
      mempool,
      submit: (bytes, address) => {
        const result = mempool.admit(bytes, 'api', address);
        if (!result.accepted) return result;
        gossip.add(bytes);
        runningDriver.transactionsArrived();
        return { accepted: true, hash: result.hash };
      },
      view: () => runningDriver.view,
      peers: () => host.libp2p.getPeers().map((peer) => peer.toString()),
      syncing: () => blockSync.syncing,
      evidence: () => runningDriver.evidence(),
    });
    // Record exchange: the vault (its own LevelDB) and the records protocol.
    const vault = await Vault.open(join(home, 'vault'), {
      masterSeed: validatorSeed,
      logger: moduleLogger(logger, 'records'),
    });
    closers.push({ name: 'vault', close: () => vault.close() });
    const backupSocket = await startBackupSocket(
      home,
      {
        db: () => db.snapshotEntries(),
        vault: () => vault.snapshotEntries(),
        walDir: join(home, 'wal'),
        head: () => chain,
      },
      log,
    );
    closers.push({ name: 'backup socket', close: () => backupSocket.close() });
    const records = new RecordsService({
      chainId: genesis.chainId,
      backend,
      vault,
      // Whichever own key state names as the organization's: the new one once a rotation commits.
      get signer() {
        return keyring.current(chain.state).signer;
      },
      get signerSeed() {
        return keyring.current(chain.state).seed;
      },
      libp2p: host.libp2p,
      peerId,
      allowPeer: isKnownPeer,
      now: options.now ?? Date.now,
      logger: moduleLogger(logger, 'records'),
      metrics,
      logTimeoutMs: config.records.logTimeoutMs,
      // The requester waits for the custodian's log to commit, plus the transfer.
      requestTimeoutMs: config.records.logTimeoutMs + 10_000,
    });
    await records.start();
    closers.push({ name: 'records', close: () => records.stop() });
    // Research exports: releases committed through the records service's nonce sequence.
    const researchExports = new ExportJobs({
      backend,
      vault,
      committer: records,
      ownOrganization: () => records.ownOrganization(),
      dir: join(home, 'fhir-export'),
      now: options.now ?? Date.now,
      logger: moduleLogger(logger, 'records'),
    });
    closers.push({ name: 'fhir-export', close: () => researchExports.close() });

    const api: ApiServer = createApiServer({
      records,
      fhirRouteSets: [
        researchExportRoutes(researchExports),
        consentImport({ now: options.now ?? Date.now }),
      ],
      backend,
      logger: moduleLogger(logger, 'api'),
      metrics,
      host: config.api.host,
      port: config.api.port,
      genesis,
      get nodeKey() {
        return keyring.current(chain.state).signer.publicKey;
      },
      now: options.now ?? Date.now,
      auth: config.api.auth,
      replayCacheSize: config.api.replayCacheSize,
      ...(config.api.tls === undefined ? {} : { tls: config.api.tls }),
      insecureHttp: config.api.insecureHttp,
      corsOrigins: config.api.cors.origins,
      allowedHosts: config.api.allowedHosts,
      rateLimit: config.api.rateLimit,
      ...(config.api.metricsToken === undefined ? {} : { metricsToken: config.api.metricsToken }),
      ...(config.api.app.enabled ? { app: { dashboardNodes: config.api.app.dashboardNodes } } : {}),
    });
    const apiUrl = await api.start();
    closers.push({ name: 'api', close: () => api.close() });

    const listenAddrs = host.libp2p.getMultiaddrs().map((addr) => addr.toString());
    log.info(
      {
        chainId: genesis.chainId,
        height: chain.height,
        validator: toHex(signer.publicKey),
        isValidator: validatorPeers.has(toHex(signer.publicKey)),
        peerId,
        api: apiUrl,
        validators: chain.validators.length,
      },
      'node started',
    );
    return {
      chain,
      mempool,
      driver: runningDriver,
      host,
      backend,
      sync: blockSync,
      records,
      vault,
      researchExports,
      listenAddrs,
      apiUrl,
      validatorKey: signer.publicKey,
      peerId,
    };
  };

  return {
    config,
    logger,
    metrics,
    start,
    stop,
    get parts(): NodeParts {
      if (parts === undefined) throw new NodeError('NODE_NOT_STARTED', 'the node is not started');
      return parts;
    },
  };
}
