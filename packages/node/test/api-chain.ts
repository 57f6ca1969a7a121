import {
  type CommitCertificate,
  commitCertificateSigningHash,
  quorumSize,
} from '@medchain/consensus';
import { type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  type AccessRequest,
  AuthenticatedState,
  accessRequestDigest,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  decodeTransaction,
  encodeTransaction,
  executeBlock,
  expectedNonce,
  type GenesisDocument,
  HistoryIndexWriter,
  headerHash,
  initGenesisState,
  LedgerError,
  MemoryStore,
  parseGenesis,
  recordId,
  signTransaction,
  type Transaction,
  type TxKind,
  transactionHash,
  validatorSetHash,
  validatorsFromState,
  verifyTransactionSignature,
  type WriteOp,
} from '@medchain/ledger';
import type {
  ApiBackend,
  CommittedBlockEvent,
  EvidenceList,
  NodeStatus,
  RecordedEquivocation,
  StateProofAnswer,
  StoredBlock,
  SubmitResult,
  TransactionStatus,
} from '../src/api/index.js';

/**
 * The real ledger without consensus, behind the API's backend interface: genesis, a small
 * mempool with the admission checks a node makes, and blocks built, executed and certified by
 * the genesis validators' keys. Not a mock: every answer comes from executed blocks.
 */

export const CHAIN_ID = 'medchain-api-test';
export const T0 = 1_750_000_000_000;
const DAY = 86_400_000;

export function signer(label: string): Signer {
  return new Signer(sha256(utf8(`api-test:${label}`)));
}

export function bytes(label: string, length = 32): Uint8Array {
  return sha256(utf8(`api-test-bytes:${label}`)).slice(0, length);
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const peerId = (label: string) =>
  `12D3KooW${[...sha256(utf8(`peer:${label}`))].map((b) => BASE58[b % 58]).join('')}`;

export interface Org {
  readonly label: string;
  readonly id: Uint8Array;
  readonly admin: Signer;
  readonly validator: Signer;
}

function makeOrg(label: string): Org {
  return {
    label,
    id: bytes(`org:${label}`),
    admin: signer(`${label}/admin`),
    validator: signer(`${label}/validator`),
  };
}

export class LedgerBackend implements ApiBackend {
  readonly store = new MemoryStore();
  /** The history index, fed by each block as the node's chain does. */
  readonly historyIndex = new MemoryStore();
  readonly ledger = new AuthenticatedState(this.store);
  readonly orgs = ['st-a', 'st-b', 'st-c', 'st-d'].map(makeOrg);
  readonly doc: GenesisDocument;
  readonly genesisHash: Uint8Array;
  readonly blocks: StoredBlock[] = [];
  readonly mempool = new Map<string, Transaction>();
  readonly locations = new Map<string, { height: number; index: number }>();
  readonly listeners = new Set<(event: CommittedBlockEvent) => void>();
  /** Equivocations to serve (a test puts them here; this backend runs no consensus). */
  readonly equivocations: RecordedEquivocation[] = [];
  mempoolCapacity = 1000;
  time = T0;

  constructor() {
    this.doc = parseGenesis({
      chainId: CHAIN_ID,
      genesisTime: T0,
      organizations: this.orgs.map((org) => ({
        id: org.id,
        adminKeys: [org.admin.publicKey],
        validatorKey: org.validator.publicKey,
        peerId: peerId(org.label),
      })),
      params: { ...DEFAULT_LEDGER_PARAMS },
      consensus: { checkpointInterval: 100 },
    });
    const genesis = initGenesisState(this.ledger, this.doc);
    this.store.write(genesis.ops);
    this.genesisHash = genesis.hash;
  }

  get height(): number {
    return this.blocks.length;
  }

  status(): NodeStatus {
    return {
      chainId: CHAIN_ID,
      height: this.height,
      lastBlockHash: this.blocks.at(-1)?.hash ?? this.genesisHash,
      stateRoot: this.ledger.root(),
      view: 0,
      validators: validatorsFromState(this.ledger),
      peers: this.orgs.slice(1).map((org) => peerId(org.label)),
      syncing: false,
      mempoolSize: this.mempool.size,
    };
  }

  /** Submits `tx` for a test's setup, throwing if the mempool refuses it; returns it. */
  admit(tx: Transaction): Transaction {
    const result = this.submitTransaction(encodeTransaction(tx));
    if (!result.accepted) throw new Error(`setup tx refused: ${result.code} ${result.message}`);
    return tx;
  }

  submitTransaction(raw: Uint8Array): SubmitResult {
    let tx: Transaction;
    try {
      tx = decodeTransaction(raw);
    } catch (error) {
      if (!(error instanceof LedgerError)) throw error;
      const code = error.code === 'LEDGER_TOO_LARGE' ? 'TOO_LARGE' : 'MALFORMED';
      return { accepted: false, code, message: error.message };
    }
    const hash = transactionHash(tx);
    const id = toHex(hash);
    const reject = (code: Exclude<SubmitResult, { accepted: true }>['code'], message: string) =>
      ({ accepted: false, code, message }) as const;
    if (tx.chainId !== CHAIN_ID) return reject('WRONG_CHAIN', `chain id is not ${CHAIN_ID}`);
    if (this.mempool.has(id) || this.locations.has(id)) return reject('DUPLICATE', 'already known');
    if (!verifyTransactionSignature(tx))
      return reject('BAD_SIGNATURE', 'the signature does not verify');
    const next = expectedNonce(this.ledger, tx.signer);
    if (tx.nonce < next) return reject('BAD_NONCE', `nonce ${tx.nonce} is used; next is ${next}`);
    if (this.mempool.size >= this.mempoolCapacity) return reject('MEMPOOL_FULL', 'mempool is full');
    this.mempool.set(id, tx);
    return { accepted: true, hash };
  }

  submitTransactions(list: readonly Uint8Array[]): SubmitResult[] {
    return list.map((raw) => this.submitTransaction(raw));
  }

  transaction(hash: Uint8Array): TransactionStatus {
    const id = toHex(hash);
    const pending = this.mempool.get(id);
    if (pending !== undefined) return { status: 'pending', tx: pending };
    const location = this.locations.get(id);
    if (location === undefined) return { status: 'unknown' };
    const stored = this.blocks[location.height - 1]!;
    return {
      status: 'committed',
      tx: stored.block.txs[location.index]!,
      height: location.height,
      index: location.index,
      receipt: stored.receipts[location.index]!,
    };
  }

  block(height: number): StoredBlock | undefined {
    return this.blocks[height - 1];
  }

  latestBlock(): StoredBlock | undefined {
    return this.blocks.at(-1);
  }

  readonly #committedReader = { get: (key: Uint8Array) => this.ledger.getCommitted(key) };

  state() {
    return this.#committedReader;
  }

  history() {
    return this.historyIndex;
  }

  stateProof(key: Uint8Array): StateProofAnswer {
    const latest = this.blocks.at(-1);
    const root = latest?.block.header.stateRoot ?? this.ledger.root();
    return {
      height: this.height === 0 ? 0 : this.height - 1,
      stateRoot: root,
      header: latest?.block.header ?? null,
      certificate: latest?.certificate ?? null,
      value: this.ledger.getCommitted(key, root),
      proof: this.ledger.prove(key, root),
    };
  }

  evidence(): EvidenceList {
    return { items: this.equivocations, total: this.equivocations.length };
  }

  subscribe(listener: (event: CommittedBlockEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Builds a block of the whole mempool (in arrival order), executes, certifies and stores it. */
  commit(): StoredBlock {
    const txs = [...this.mempool.values()];
    this.mempool.clear();
    this.time += 1000;
    const validators = validatorsFromState(this.ledger);
    const block = buildBlock(
      {
        chainId: CHAIN_ID,
        height: this.height + 1,
        time: this.time,
        parentHash: this.blocks.at(-1)?.hash ?? this.genesisHash,
        stateRoot: this.ledger.root(),
        validatorSetHash: validatorSetHash(validators),
        proposer: validators[0]!.publicKey,
      },
      txs,
    );
    const result = executeBlock(this.ledger, block);
    this.store.write(result.ops);
    const historyWrites: WriteOp[] = [];
    const index = new HistoryIndexWriter(this.historyIndex, (key, value) =>
      historyWrites.push({ type: 'put', key, value }),
    );
    for (const items of result.history) for (const item of items) index.add(item);
    index.finish();
    this.historyIndex.write(historyWrites);
    const hash = headerHash(block.header);
    const stored: StoredBlock = {
      block,
      hash,
      certificate: this.certify(block.header.height, hash),
      receipts: result.receipts,
    };
    this.blocks.push(stored);
    txs.forEach((tx, index) => {
      this.locations.set(toHex(transactionHash(tx)), { height: block.header.height, index });
    });
    for (const listener of this.listeners) {
      listener({ hash, header: block.header, txs: block.txs, receipts: result.receipts });
    }
    return stored;
  }

  /** A commit certificate signed by a quorum of the genesis validators. */
  certify(height: number, digest: Uint8Array): CommitCertificate {
    const unsigned = { height, view: 0, digest, votes: [] };
    const hash = commitCertificateSigningHash(CHAIN_ID, unsigned);
    const votes = this.orgs
      .slice(0, quorumSize(this.orgs.length))
      .map((org) => ({ from: org.validator.publicKey, signature: org.validator.sign(hash) }));
    return { ...unsigned, votes };
  }

  /** Signs a transaction with the signer's next nonce, counting its transactions in the mempool. */
  sign(from: Signer, kind: TxKind, body: object): Transaction {
    const pending = [...this.mempool.values()].filter(
      (tx) => toHex(tx.signer) === toHex(from.publicKey),
    );
    return signTransaction(
      {
        chainId: CHAIN_ID,
        kind,
        body: body as Canonical,
        signer: from.publicKey,
        nonce: expectedNonce(this.ledger, from.publicKey) + pending.length,
      },
      from,
    );
  }
}

let requestCounter = 0;

/** A requester's signed access request for a record, at the backend's next block time. */
export function accessRequest(backend: LedgerBackend, requester: Signer, record: Uint8Array) {
  requestCounter += 1;
  const request: AccessRequest = {
    recordId: record,
    requester: requester.publicKey,
    action: 'access',
    purpose: 'TREAT',
    time: backend.time + 1000,
    nonce: bytes(`request-${requestCounter}`, 16),
  };
  return { request, requestSignature: requester.sign(accessRequestDigest(request)) };
}

/**
 * A small world committed block by block through the mempool: a clinician at st-a and one at
 * st-b, a patient alice with an anchored Observation, a consent for the st-b clinician and one
 * logged access (permit) by that clinician.
 */
export function populatedBackend() {
  const backend = new LedgerBackend();
  const [a, b] = backend.orgs as [Org, Org, Org, Org];
  const clinician = signer('a/clinician');
  const bClinician = signer('b/clinician');
  const alice = signer('patient/alice');
  backend.admit(
    backend.sign(a.admin, 'provider.register', {
      provider: clinician.publicKey,
      role: 'clinician',
    }),
  );
  backend.admit(
    backend.sign(b.admin, 'provider.register', {
      provider: bClinician.publicKey,
      role: 'clinician',
    }),
  );
  backend.admit(backend.sign(alice, 'patient.register', {}));
  backend.commit();
  const recordNonce = bytes('alice-record', 16);
  const record = recordId(a.id, alice.publicKey, recordNonce);
  backend.admit(
    backend.sign(clinician, 'record.anchor', {
      patient: alice.publicKey,
      custodian: a.id,
      resourceType: 'Observation',
      contentHash: bytes('alice-observation-v1'),
      nonce: recordNonce,
    }),
  );
  const grant = backend.admit(
    backend.sign(alice, 'consent.grant', {
      patient: alice.publicKey,
      grantee: { type: 'provider', id: bClinician.publicKey },
      recordIds: [],
      resourceTypes: ['Observation'],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: backend.time,
      validUntil: backend.time + 30 * DAY,
    }),
  );
  backend.commit();
  const consentId = transactionHash(grant);
  const access = backend.admit(
    backend.sign(clinician, 'access.log', {
      ...accessRequest(backend, bClinician, record),
      decision: 'permit',
      consentId,
    }),
  );
  const logged = backend.commit();
  for (const receipt of backend.blocks.flatMap((stored) => stored.receipts)) {
    if (receipt.code !== 'OK') throw new Error(`setup receipt ${receipt.code}: ${receipt.message}`);
  }
  return { backend, a, b, clinician, bClinician, alice, record, consentId, access, logged };
}
