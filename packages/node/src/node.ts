import './polyfill.js';
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { bytesEqual, Signer, toHex } from '@medchain/crypto';
import { type GenesisDocument, genesisFromJson } from '@medchain/ledger';
import { type ApiServer, createApiServer } from './api/index.js';
import { ChainBackend } from './chain/api-backend.js';
import type { Chain } from './chain/chain.js';
import type { ConsensusDriver } from './chain/driver.js';
import type { Mempool } from './chain/mempool.js';
import type { MempoolReactor } from './chain/mempool-reactor.js';
import type { NodeConfig } from './config.js';
import { LevelStore } from './db/index.js';
import { NodeError } from './errors.js';
import { ExportJobs } from './fhir/export/jobs.js';
import { researchExportRoutes } from './fhir/export/routes.js';
import { consentImport } from './fhir/import.js';
import { checkHomeFormat, startBackupSocket } from './home/index.js';
import { readValidatorKeyFile, ValidatorKeyring } from './home/validator-keys.js';
import { createLogger, type Logger, moduleLogger, withModuleLevels } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createHost, type Host } from './net/host.js';
import { loadOrCreatePeerIdentity } from './net/identity.js';
import { Libp2pTransport } from './net/libp2p-transport.js';
import { MembershipGate } from './net/membership.js';
import { RecordsService } from './records/index.js';
import type { Clock } from './shell/ports.js';
import { createShell } from './shell/shell.js';
import { systemClock, systemTimers } from './shell/system.js';
import type { BlockSync } from './sync/block-sync.js';
import { Vault } from './vault/index.js';
import { Wal } from './wal.js';

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
  /** API admission: the mempool, gossip and the proposal timer. */
  readonly mempoolReactor: MempoolReactor;
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

/**
 * The composition root: `start()` builds the parts in order, each from its options and the
 * parts it needs, and registers how to close it; `stop()` closes them in reverse. Order:
 * home (genesis, keys, peer identity), storage (LevelDB, WAL), the libp2p host with its
 * transport and membership gate, the shell over those ports (chain, state sync for a fresh
 * home, mempool, the consensus, mempool, block sync and state sync reactors), the API
 * backend, the vault and backup socket, records, research exports, the HTTP API. Nothing
 * here sits in a data path.
 */
export function createNode(config: NodeConfig, options: CreateNodeOptions = {}): MedchainNode {
  // The config's module levels apply to a logger handed in too (the CLI's, pretty or JSON).
  const logger = withModuleLevels(
    options.logger ?? createLogger({ level: config.logLevel }),
    config.logLevels,
  );
  const metrics = options.metrics ?? createMetrics({ home: config.home, process: true });
  const log = moduleLogger(logger, 'node');
  const clock: Clock = options.now === undefined ? systemClock : { now: options.now };
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

  /** Registers how to close a part just built. */
  const built = <T>(name: string, part: T, close: (part: T) => Promise<void> | void): T => {
    closers.push({ name, close: () => close(part) });
    return part;
  };

  const build = async (): Promise<NodeParts> => {
    // V8 reads this at each full collection (process-wide): how far the old generation may
    // grow past the live heap before the next one (README "Memory").
    setFlagsFromString(`--heap-growing-percent=${config.memory.heapGrowingPercent}`);
    // Home: genesis, validator key, peer identity.
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

    // Storage: the LevelDB store and the WAL file (the shell's storage port).
    const { memory } = config;
    const kv = built(
      'db',
      await LevelStore.open(join(home, 'db'), {
        blockCacheBytes: memory.dbBlockCacheBytes,
        writeBufferBytes: memory.dbWriteBufferBytes,
        maxOpenFiles: memory.dbMaxOpenFiles,
      }),
      (part) => part.close(),
    );
    const wal = built(
      'wal',
      await Wal.open(join(home, 'wal'), { logger: moduleLogger(logger, 'wal'), metrics }),
      (part) => part.close(),
    );

    // Network: the libp2p host, the transport over it, and the gate that applies membership.
    const netLog = moduleLogger(logger, 'net');
    const host = built(
      'libp2p',
      await createHost({
        privateKey: identity.privateKey,
        listen: config.listen,
        peers: config.peers,
        privateNetwork: config.privateNetwork,
        logger: netLog,
        metrics,
      }),
      (part) => part.stop(),
    );
    const transport = new Libp2pTransport(host.libp2p, { logger: netLog, metrics });
    const gate = new MembershipGate({
      libp2p: host.libp2p,
      allowlist: host.allowlist,
      self: peerId,
      configured: config.peers.map((peer) => peer.peerId),
      logger: netLog,
    });

    // The shell: chain, state sync for a fresh home, mempool and the reactors.
    const shell = built(
      'shell',
      await createShell(
        {
          genesis,
          signer,
          rotatedSigners: keyring.rotated,
          mempool: config.mempool,
          block: config.block,
          stateCacheBytes: memory.stateCacheBytes,
          tickIntervalMs: config.tickIntervalMs,
          ...(options.stateSync === undefined ? {} : { stateSync: options.stateSync }),
          ...(options.onFatal === undefined ? {} : { onFatal: options.onFatal }),
          gate,
          logger,
          metrics,
        },
        { clock, timers: systemTimers, transport, storage: { kv, wal } },
      ),
      (part) => part.stop(),
    );
    const { db, chain, mempool, driver, peers } = shell;
    // A rotation's new key may have been written to validator-keys/ since the start.
    built(
      'validator keys',
      driver.subscribe((executed) => {
        if (executed.nextValidators === null) return;
        keyring.reload().catch((error) => log.error({ err: error }, 'validator keys not reloaded'));
      }),
      (unsubscribe) => unsubscribe(),
    );

    const backend = built(
      'backend',
      new ChainBackend({
        chain,
        mempool,
        admission: shell.mempoolReactor,
        consensus: driver,
        transport,
        sync: shell.blockSync,
      }),
      (part) => part.close(),
    );
    // Record exchange: the vault (its own LevelDB) and the records protocol.
    const vault = built(
      'vault',
      await Vault.open(join(home, 'vault'), {
        masterSeed: validatorSeed,
        logger: moduleLogger(logger, 'records'),
      }),
      (part) => part.close(),
    );
    built(
      'backup socket',
      await startBackupSocket(
        home,
        {
          db: () => db.snapshotEntries(),
          vault: () => vault.snapshotEntries(),
          walDir: join(home, 'wal'),
          head: () => chain,
        },
        log,
      ),
      (part) => part.close(),
    );
    const records = built(
      'records',
      new RecordsService({
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
        transport,
        peerId,
        allowPeer: (peer) => peers.isMember(peer),
        now: clock.now,
        timers: systemTimers,
        logger: moduleLogger(logger, 'records'),
        metrics,
        logTimeoutMs: config.records.logTimeoutMs,
        // The requester waits for the custodian's log to commit, plus the transfer.
        requestTimeoutMs: config.records.logTimeoutMs + 10_000,
      }),
      (part) => part.stop(),
    );
    await records.start();
    // Research exports: releases committed through the records service's nonce sequence.
    const researchExports = built(
      'fhir-export',
      new ExportJobs({
        backend,
        vault,
        committer: records,
        ownOrganization: () => records.ownOrganization(),
        dir: join(home, 'fhir-export'),
        now: clock.now,
        logger: moduleLogger(logger, 'records'),
      }),
      (part) => part.close(),
    );

    const api: ApiServer = createApiServer({
      records,
      fhirRouteSets: [researchExportRoutes(researchExports), consentImport({ now: clock.now })],
      backend,
      logger: moduleLogger(logger, 'api'),
      metrics,
      host: config.api.host,
      port: config.api.port,
      genesis,
      get nodeKey() {
        return keyring.current(chain.state).signer.publicKey;
      },
      now: clock.now,
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
    built('api', api, (part) => part.close());

    const listenAddrs = host.libp2p.getMultiaddrs().map((addr) => addr.toString());
    log.info(
      {
        chainId: genesis.chainId,
        height: chain.height,
        validator: toHex(signer.publicKey),
        isValidator: peers.peerOfValidator(signer.publicKey) !== undefined,
        peerId,
        api: apiUrl,
        validators: chain.validators.length,
      },
      'node started',
    );
    return {
      chain,
      mempool,
      mempoolReactor: shell.mempoolReactor,
      driver,
      host,
      backend,
      sync: shell.blockSync,
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
