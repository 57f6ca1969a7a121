import {
  type CommitCertificate,
  commitCertificateSigningHash,
  encodeMessage,
  quorumSize,
} from '@medchain/consensus';
import { encodeCanonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  type Block,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  encodeBlock,
  executeBlock,
  headerHash,
  initGenesisState,
  parseGenesis,
  signTransaction,
  type Validator,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Database,
  decodeBlocksRequest,
  decodeSnapshotPage,
  decodeSnapshotRequest,
  encodeSnapshotOffer,
  encodeSnapshotPage,
  SnapshotServer,
  StateStore,
  stateSync,
} from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { tempDir } from './helpers.js';

/*
 * stateSync end to end against in-process peers: a real chain (genesis, executed blocks with
 * commit certificates signed by the genesis validators), its state in LevelDB pinned by a
 * SnapshotServer every 5 heights, and peers that answer block and snapshot requests.
 */

const CHAIN_ID = 'medchain-state-sync-test';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const seed = (label: string) => sha256(utf8(`state-sync-test:${label}`));
const orgs = ['a', 'b', 'c', 'd'].map((label) => ({
  id: seed(`org:${label}`),
  admin: new Signer(seed(`admin:${label}`)),
  validator: new Signer(seed(`validator:${label}`)),
  peerId: `12D3KooW${'abcdefghijkmnopqrstuvwxyz'.repeat(2).slice(0, 44 - label.length)}${label}`,
}));

interface Stored {
  readonly block: Block;
  readonly certificate: CommitCertificate;
}

class CertifiedChain {
  height = 0;
  writing = false;
  stateRoot: Uint8Array;
  readonly blocks: Stored[] = [];
  readonly validators: Validator[];
  private parentHash: Uint8Array;
  private time = 1_750_000_000_000;
  private constructor(
    readonly db: Database,
    private readonly store: StateStore,
    private readonly state: AuthenticatedState,
    genesisHash: Uint8Array,
  ) {
    this.stateRoot = state.root();
    this.parentHash = genesisHash;
    this.validators = validatorsFromState(state);
  }

  static async open(): Promise<CertifiedChain> {
    const dir = await tempDir('state-sync-certified');
    const db = await Database.open(dir.path);
    cleanups.push(dir.remove, () => db.close());
    const store = new StateStore(db, { cacheEntries: 1_000 });
    const state = new AuthenticatedState(store);
    const genesis = initGenesisState(
      state,
      parseGenesis({
        chainId: CHAIN_ID,
        genesisTime: 1_750_000_000_000,
        organizations: orgs.map((org) => ({
          id: org.id,
          adminKeys: [org.admin.publicKey],
          validatorKey: org.validator.publicKey,
          peerId: org.peerId,
        })),
        params: { ...DEFAULT_LEDGER_PARAMS },
        consensus: { checkpointInterval: 5 },
      }),
    );
    store.write(genesis.ops);
    const batch = db.batch();
    store.stageInto(batch);
    await db.write(batch);
    return new CertifiedChain(db, store, state, genesis.hash);
  }

  /** Executes, certifies and stores a block registering `patients` new patients. */
  async commit(patients: number): Promise<void> {
    const txs = Array.from({ length: patients }, (_, i) => {
      const patient = new Signer(seed(`patient:${this.height}:${i}`));
      return signTransaction(
        {
          chainId: CHAIN_ID,
          kind: 'patient.register',
          body: {},
          signer: patient.publicKey,
          nonce: 1,
        },
        patient,
      );
    });
    this.time += 1_000;
    const block = buildBlock(
      {
        chainId: CHAIN_ID,
        height: this.height + 1,
        time: this.time,
        parentHash: this.parentHash,
        stateRoot: this.stateRoot,
        validatorSetHash: validatorSetHash(this.validators),
        proposer: this.validators[0]!.publicKey,
      },
      txs,
    );
    const result = executeBlock(this.state, block);
    this.store.write(result.ops);
    const batch = this.db.batch();
    this.store.stageInto(batch);
    await this.db.write(batch);
    const digest = headerHash(block.header);
    const unsigned = { height: block.header.height, view: 0, digest, votes: [] };
    const hash = commitCertificateSigningHash(CHAIN_ID, unsigned);
    const votes = orgs
      .slice(0, quorumSize(orgs.length))
      .map((org) => ({ from: org.validator.publicKey, signature: org.validator.sign(hash) }));
    this.blocks.push({ block, certificate: { ...unsigned, votes } });
    this.height++;
    this.stateRoot = result.stateRoot;
    this.parentHash = digest;
  }

  /** Answers a blocks request the way serveBlocks does. */
  serveBlocks(bytes: Uint8Array): Uint8Array {
    const request = decodeBlocksRequest(bytes);
    const decisions = this.blocks
      .slice(request.from - 1, request.from - 1 + request.count)
      .map(({ block, certificate }) =>
        encodeMessage({ type: 'decision', payload: encodeBlock(block), certificate }),
      );
    return encodeCanonical({ head: this.height, decisions });
  }
}

type Handler = (request: Uint8Array) => Promise<Uint8Array>;

function peer(
  chain: CertifiedChain,
  server: SnapshotServer,
  pages?: (page: Uint8Array) => Uint8Array,
): Handler {
  return async (bytes) => {
    const request = decodeSnapshotRequest(bytes);
    if (request === null) return chain.serveBlocks(bytes);
    const response = await server.serve(request);
    return request.kind === 'page' && pages !== undefined ? pages(response) : response;
  };
}

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

async function certifiedChain(
  blocks: number,
): Promise<{ chain: CertifiedChain; server: SnapshotServer }> {
  const chain = await CertifiedChain.open();
  const server = new SnapshotServer({
    db: chain.db,
    head: () => chain,
    interval: 5,
    pageBytes: 2048,
  });
  cleanups.push(() => server.close());
  for (let i = 0; i < blocks; i++) {
    await chain.commit(8);
    server.committed(chain.height);
  }
  return { chain, server };
}

describe('stateSync against certified peers', () => {
  it('installs the state at the newest pinned height below the head, certified by the next block', async () => {
    const { chain, server } = await certifiedChain(27);
    const installed: Array<{ height: number; stateRoot: Uint8Array; entries: number }> = [];
    const { logger } = capturingLogger();
    // One peer changes a value in its third page: dropped, the others finish.
    const liar = peer(chain, server, (bytes) => {
      const page = decodeSnapshotPage(bytes);
      if (page.entries.length < 3 || page.entries[0]![0][0] !== 0x76) return bytes;
      const [key, value] = page.entries[2]!;
      const changed = value.slice();
      changed[0]! ^= 1;
      return encodeSnapshotPage({
        ...page,
        entries: page.entries.map((entry, i) => (i === 2 ? ([key, changed] as const) : entry)),
      });
    });
    const peers: Record<string, Handler> = {
      liar,
      honest1: peer(chain, server),
      honest2: peer(chain, server),
    };
    const result = await stateSync({
      chainId: CHAIN_ID,
      protocol: { request: (id, bytes) => peers[id]!(bytes) },
      peers: () => Object.keys(peers),
      validators: chain.validators,
      logger,
      install: async (snapshot) => {
        installed.push({
          height: snapshot.height,
          stateRoot: snapshot.stateRoot,
          entries: snapshot.entries.length,
        });
        expect(toHex(snapshot.hash)).toBe(
          toHex(headerHash(chain.blocks[snapshot.height - 1]!.block.header)),
        );
      },
    });
    expect(result?.height).toBe(25);
    expect(result?.pages).toBeGreaterThan(3);
    expect(result?.refusedPeers).toEqual(['liar']);
    expect(installed).toHaveLength(1);
    expect(toHex(installed[0]!.stateRoot)).toBe(toHex(chain.blocks[25]!.block.header.stateRoot));
  });

  it('an offer whose root is not the certified one is skipped for the next', async () => {
    const { chain, server } = await certifiedChain(27);
    const honest = peer(chain, server);
    // Offers a newer height than anyone, with a root no block certifies.
    const boaster: Handler = async (bytes) =>
      decodeSnapshotRequest(bytes)?.kind === 'offer'
        ? encodeSnapshotOffer({ height: 26, stateRoot: seed('not a root') })
        : honest(bytes);
    // Offers a height beyond the chain: nobody has its blocks.
    const dreamer: Handler = async (bytes) =>
      decodeSnapshotRequest(bytes)?.kind === 'offer'
        ? encodeSnapshotOffer({ height: 10_000, stateRoot: seed('far') })
        : honest(bytes);
    const peers: Record<string, Handler> = { boaster, dreamer, honest };
    const { logger, lines } = capturingLogger();
    const result = await stateSync({
      chainId: CHAIN_ID,
      protocol: { request: (id, bytes) => peers[id]!(bytes) },
      peers: () => Object.keys(peers),
      validators: chain.validators,
      logger,
      install: async () => undefined,
    });
    expect(result?.height).toBe(25);
    for (const refused of [10_000, 26]) {
      expect(lines.some((line) => line.msg === 'snapshot refused' && line.height === refused)).toBe(
        true,
      );
    }
  });

  it('gives up to block sync with a clear line when the validator set is not the known one', async () => {
    const { chain, server } = await certifiedChain(22);
    const peers: Record<string, Handler> = { a: peer(chain, server), b: peer(chain, server) };
    const run = (validators: readonly Validator[]) => {
      const { logger, lines } = capturingLogger();
      const result = stateSync({
        chainId: CHAIN_ID,
        protocol: { request: (id, bytes) => peers[id]!(bytes) },
        peers: () => Object.keys(peers),
        validators,
        logger,
        rounds: 1,
        install: async () => {
          throw new Error('must not install');
        },
      });
      return { result, lines };
    };
    // Same keys, but one member's peer id changed since: the set hash differs.
    const moved = run(
      chain.validators.map((v, i) => (i === 0 ? { ...v, peerId: `${v.peerId}x` } : v)),
    );
    expect(await moved.result).toBeUndefined();
    expect(moved.lines.map((line) => line.msg)).toContain(
      'state sync off: the validator set changed since the one this node knows; syncing block by block instead',
    );
    // Other keys altogether: the certificates are signed by strangers.
    const strangers = run(
      chain.validators.map((v, i) =>
        i === 0 ? { ...v, publicKey: new Signer(seed('stranger')).publicKey } : v,
      ),
    );
    expect(await strangers.result).toBeUndefined();
    expect(
      strangers.lines.some((line) =>
        String(line.msg).includes('keys outside the known validator set'),
      ),
    ).toBe(true);
  });

  it('returns undefined without peers, and when peers are too close to genesis', async () => {
    const { chain, server } = await certifiedChain(7);
    const { logger } = capturingLogger();
    const options = {
      chainId: CHAIN_ID,
      validators: chain.validators,
      logger,
      install: async () => {
        throw new Error('must not install');
      },
    };
    expect(
      await stateSync({
        ...options,
        protocol: { request: async () => new Uint8Array() },
        peers: () => [],
      }),
    ).toBeUndefined();
    const only = peer(chain, server);
    expect(
      await stateSync({
        ...options,
        protocol: { request: (_id, bytes) => only(bytes) },
        peers: () => ['p'],
      }),
    ).toBeUndefined();
  });
});
