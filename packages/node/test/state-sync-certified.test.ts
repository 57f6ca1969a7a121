import {
  type CommitCertificate,
  commitCertificateSigningHash,
  type DecisionMessage,
  decodeMessage,
  encodeMessage,
  quorumSize,
} from '@medchain/consensus';
import { bytesEqual, encodeCanonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  type Block,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  encodeBlock,
  executeBlock,
  findValidatorSet,
  headerHash,
  initGenesisState,
  parseGenesis,
  signTransaction,
  type Transaction,
  transactionHash,
  type Validator,
  validatorSetHash,
  validatorsFromState,
} from '@medchain/ledger';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Database,
  decodeBlocksRequest,
  decodeBlocksResponse,
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
// 'e' is not in genesis: a governance test admits it.
const [a, b, c, d, e, f, g] = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((label) => ({
  id: seed(`org:${label}`),
  admin: new Signer(seed(`admin:${label}`)),
  validator: new Signer(seed(`validator:${label}`)),
  peerId: `12D3KooW${'abcdefghijkmnopqrstuvwxyz'.repeat(2).slice(0, 44 - label.length)}${label}`,
})) as [Org, Org, Org, Org, Org, Org, Org];
const genesisOrgs = [a, b, c, d];
/** Validator keys organization a rotates to (key-rotation test). */
const rotatedA = [new Signer(seed('validator:a2')), new Signer(seed('validator:a3'))];
const signers = new Map(
  [...[a, b, c, d, e, f, g].map((org) => org.validator), ...rotatedA].map((key) => [
    toHex(key.publicKey),
    key,
  ]),
);

interface Org {
  readonly id: Uint8Array;
  readonly admin: Signer;
  readonly validator: Signer;
  readonly peerId: string;
}

/** Governance transactions with each admin's nonces counted (one instance per chain). */
function governance() {
  const nonces = new Map<Org, number>();
  const sign = (from: Org, kind: 'governance.propose' | 'governance.vote', body: object) => {
    const nonce = (nonces.get(from) ?? 0) + 1;
    nonces.set(from, nonce);
    return signTransaction(
      { chainId: CHAIN_ID, kind, body: body as never, signer: from.admin.publicKey, nonce },
      from.admin,
    );
  };
  /** A proposal by `proposer` and the yes votes of `voters`, in one block's order. */
  const pass = (proposer: Org, change: object, voters: readonly Org[]): Transaction[] => {
    const proposal = sign(proposer, 'governance.propose', { change });
    const proposalId = transactionHash(proposal);
    return [
      proposal,
      ...voters.map((voter) => sign(voter, 'governance.vote', { proposalId, approve: true })),
    ];
  };
  const admit = (org: Org) => ({
    type: 'add',
    organization: {
      id: org.id,
      adminKeys: [org.admin.publicKey],
      validatorKey: org.validator.publicKey,
      peerId: org.peerId,
    },
  });
  return { pass, admit, remove: (org: Org) => ({ type: 'remove', orgId: org.id }) };
}

interface Stored {
  readonly block: Block;
  readonly certificate: CommitCertificate;
}

class CertifiedChain {
  height = 0;
  writing = false;
  stateRoot: Uint8Array;
  readonly blocks: Stored[] = [];
  /** The set each height's state defines, from genesis (index 0) on. */
  readonly setsAfter: Validator[][] = [];
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
    this.setsAfter.push(validatorsFromState(state));
  }

  /** The genesis validators, as a fresh node knows them. */
  get validators(): Validator[] {
    return this.setsAfter[0]!;
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
        organizations: genesisOrgs.map((org) => ({
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

  /**
   * Executes, certifies (by a quorum of the set deciding its height) and stores a block
   * registering `patients` new patients, then `extra` transactions.
   */
  async commit(patients: number, extra: readonly Transaction[] = []): Promise<void> {
    const registrations = Array.from({ length: patients }, (_, i) => {
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
    const txs = [...registrations, ...extra];
    const height = this.height + 1;
    // Headers name the set after their parent; the set after height-2 decides.
    const named = this.setsAfter[height - 1]!;
    const deciding = this.setsAfter[Math.max(0, height - 2)]!;
    this.time += 1_000;
    const block = buildBlock(
      {
        chainId: CHAIN_ID,
        height: this.height + 1,
        time: this.time,
        parentHash: this.parentHash,
        stateRoot: this.stateRoot,
        validatorSetHash: validatorSetHash(named),
        proposer: deciding[0]!.publicKey,
      },
      txs,
    );
    const result = executeBlock(this.state, block);
    for (const receipt of result.receipts) expect(receipt.code, receipt.message).toBe('OK');
    this.store.write(result.ops);
    const batch = this.db.batch();
    this.store.stageInto(batch);
    await this.db.write(batch);
    const digest = headerHash(block.header);
    const unsigned = { height: block.header.height, view: 0, digest, votes: [] };
    const hash = commitCertificateSigningHash(CHAIN_ID, unsigned);
    const votes = deciding.slice(0, quorumSize(deciding.length)).map((v) => ({
      from: v.publicKey,
      signature: signers.get(toHex(v.publicKey))!.sign(hash),
    }));
    this.blocks.push({ block, certificate: { ...unsigned, votes } });
    this.height++;
    this.setsAfter.push(validatorsFromState(this.state));
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

  it('follows validator-set changes from genesis: a member admitted, then one removed', async () => {
    const chain = await CertifiedChain.open();
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 5,
      pageBytes: 2048,
    });
    cleanups.push(() => server.close());
    const gov = governance();
    for (let height = 1; height <= 27; height++) {
      // Block 6 admits e (3 of 4 yes), block 14 removes d (4 of 5 yes).
      const extra =
        height === 6
          ? gov.pass(a, gov.admit(e), [b, c])
          : height === 14
            ? gov.pass(a, gov.remove(d), [b, c, e])
            : [];
      await chain.commit(4, extra);
      server.committed(chain.height);
    }
    expect(chain.setsAfter[6]!.length).toBe(5);
    expect(chain.setsAfter[14]!.length).toBe(4);
    expect(chain.setsAfter[27]!.map((v) => toHex(v.orgId)).sort()).toEqual(
      [a, b, c, e].map((org) => toHex(org.id)).sort(),
    );
    // Serves every block with its certificate's signatures zeroed: its turn at following the
    // changes, and its pair of blocks, are refused; the others' are not.
    const honest = peer(chain, server);
    const forger: Handler = async (bytes) => {
      const response = await honest(bytes);
      if (decodeSnapshotRequest(bytes) !== null) return response;
      const { head, decisions } = decodeBlocksResponse(response);
      return encodeCanonical({
        head,
        decisions: decisions.map((bytes) => {
          const decision = decodeMessage(bytes) as DecisionMessage;
          const votes = decision.certificate.votes.map((v) => ({
            ...v,
            signature: new Uint8Array(64),
          }));
          return encodeMessage({ ...decision, certificate: { ...decision.certificate, votes } });
        }),
      });
    };
    const peers: Record<string, Handler> = { forger, p: honest, q: peer(chain, server) };
    const installed: number[] = [];
    const { logger, lines } = capturingLogger();
    const result = await stateSync({
      chainId: CHAIN_ID,
      protocol: { request: (id, bytes) => peers[id]!(bytes) },
      peers: () => Object.keys(peers),
      validators: chain.validators,
      logger,
      install: async (snapshot) => {
        installed.push(snapshot.height);
      },
    });
    expect(result?.height).toBe(25);
    expect(result?.validatorSetChanges).toBe(2);
    expect(installed).toEqual([25]);
    expect(
      lines.some(
        (line) => line.msg === 'validator-set changes from peer refused' && line.peer === 'forger',
      ),
    ).toBe(true);
  });

  it("follows validator-key rotations: the set holding a's intermediate key is found in its formerValidatorKeys", async () => {
    const chain = await CertifiedChain.open();
    const server = new SnapshotServer({ db: chain.db, head: () => chain, interval: 5 });
    cleanups.push(() => server.close());
    const rotate = (nonce: number, oldKey: Signer, newKey: Signer) =>
      signTransaction(
        {
          chainId: CHAIN_ID,
          kind: 'organization.rotate-key',
          body: { oldKey: oldKey.publicKey, newKey: newKey.publicKey },
          signer: a.admin.publicKey,
          nonce,
        },
        a.admin,
      );
    for (let height = 1; height <= 22; height++) {
      // Block 6 moves a to its second key, block 14 to its third.
      const extra =
        height === 6
          ? [rotate(1, a.validator, rotatedA[0]!)]
          : height === 14
            ? [rotate(2, rotatedA[0]!, rotatedA[1]!)]
            : [];
      await chain.commit(2, extra);
      server.committed(chain.height);
    }
    const keyOfA = (height: number) =>
      toHex(chain.setsAfter[height]!.find((v) => bytesEqual(v.orgId, a.id))!.publicKey);
    expect(keyOfA(6)).toBe(toHex(rotatedA[0]!.publicKey));
    expect(keyOfA(14)).toBe(toHex(rotatedA[1]!.publicKey));
    const peers: Record<string, Handler> = { p: peer(chain, server) };
    const result = await stateSync({
      chainId: CHAIN_ID,
      protocol: { request: (id, bytes) => peers[id]!(bytes) },
      peers: () => Object.keys(peers),
      validators: chain.validators,
      logger: capturingLogger().logger,
      install: async () => undefined,
    });
    expect(result?.height).toBe(20);
    expect(result?.validatorSetChanges).toBe(2);
  });

  it('three changes in one block are more than it follows: block sync, with a clear line', async () => {
    const chain = await CertifiedChain.open();
    const server = new SnapshotServer({ db: chain.db, head: () => chain, interval: 5 });
    cleanups.push(() => server.close());
    const gov = governance();
    for (let height = 1; height <= 22; height++) {
      const extra =
        height === 3
          ? [
              ...gov.pass(a, gov.admit(e), [b, c]),
              ...gov.pass(a, gov.admit(f), [b, c, d]),
              ...gov.pass(a, gov.admit(g), [b, c, d]),
            ]
          : [];
      await chain.commit(2, extra);
      server.committed(chain.height);
    }
    expect(chain.setsAfter[3]!.length).toBe(7);
    const only = peer(chain, server);
    const { logger, lines } = capturingLogger();
    const result = await stateSync({
      chainId: CHAIN_ID,
      protocol: { request: (_id, bytes) => only(bytes) },
      peers: () => ['p'],
      validators: chain.validators,
      logger,
      rounds: 1,
      install: async () => {
        throw new Error('must not install');
      },
    });
    expect(result).toBeUndefined();
    expect(lines.map((line) => line.msg)).toContain(
      'state sync off: the validator set changed in a way this node cannot follow from the snapshot; syncing block by block instead',
    );
  });

  it('a known set that is not the genesis set refuses every snapshot', async () => {
    const { chain, server } = await certifiedChain(22);
    const peers: Record<string, Handler> = { a: peer(chain, server), b: peer(chain, server) };
    const run = async (validators: readonly Validator[]) => {
      const { logger, lines } = capturingLogger();
      const result = await stateSync({
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
      expect(result).toBeUndefined();
      return lines
        .filter((line) => line.msg === 'snapshot refused')
        .map((line) => String(line.err));
    };
    // Same keys, but one member's peer id differs: the first header names another set.
    expect(
      await run(chain.validators.map((v, i) => (i === 0 ? { ...v, peerId: `${v.peerId}x` } : v))),
    ).toEqual(['blocks 1-2 are not a validator-set change certified by the set before it']);
    // One key differs: no header names this set either.
    expect(
      await run(
        chain.validators.map((v, i) =>
          i === 0 ? { ...v, publicKey: new Signer(seed('stranger')).publicKey } : v,
        ),
      ),
    ).toEqual(['blocks 1-2 are not a validator-set change certified by the set before it']);
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

describe('finding the next validator set', () => {
  it('any set one or two organizations away from the current one is found by its hash', () => {
    const organization = fc
      .tuple(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
      )
      .map(([orgId, publicKey]) => ({
        orgId,
        publicKey,
        peerId: `12D3KooW${toHex(orgId).slice(0, 20)}`,
      }));
    fc.assert(
      fc.property(
        fc.uniqueArray(organization, {
          minLength: 3,
          maxLength: 12,
          selector: (v) => toHex(v.orgId),
        }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 2 }),
        (universe, picks) => {
          const from = universe.slice(0, Math.ceil(universe.length / 2));
          const flip = new Set(picks.map((i) => i % universe.length));
          const target = universe.filter((_, i) => i < from.length !== flip.has(i));
          fc.pre(target.length > 0);
          const found = findValidatorSet(from, universe, validatorSetHash(target));
          expect(found?.map((v) => toHex(v.orgId)).sort()).toEqual(
            target.map((v) => toHex(v.orgId)).sort(),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
