import { type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  type AccessRequest,
  AuthenticatedState,
  accessRequestDigest,
  type Block,
  type BlockResult,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  type ExecutionOptions,
  executeBlock,
  expectedNonce,
  type GenesisDocument,
  HistoryIndexWriter,
  type HistoryItem,
  headerHash,
  initGenesisState,
  type KeyValueReader,
  MemoryStore,
  type OrganizationSpec,
  type Receipt,
  recordId,
  signTransaction,
  type Transaction,
  type TxBodies,
  type TxKind,
  validatorSetHash,
  validatorsFromState,
  type WriteOp,
} from '@medchain/ledger';

export const CHAIN_ID = 'medchain-test';
export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** The history index's writes for `items` over what `reader` has indexed, as ops. */
export function historyIndexWrites(
  reader: KeyValueReader,
  items: readonly HistoryItem[],
): WriteOp[] {
  const writes: WriteOp[] = [];
  const index = new HistoryIndexWriter(reader, (key, value) =>
    writes.push({ type: 'put', key, value }),
  );
  for (const item of items) index.add(item);
  index.finish();
  return writes;
}

/** Deterministic keys from labels, so every run and every test builds the same world. */
export function signer(label: string): Signer {
  return new Signer(sha256(utf8(`signer:${label}`)));
}

export function bytes(label: string, length = 32): Uint8Array {
  return sha256(utf8(`bytes:${label}`)).slice(0, length);
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function peerId(label: string): string {
  return `12D3KooW${[...sha256(utf8(`peer:${label}`))].map((b) => BASE58[b % 58]).join('')}`;
}

export interface OrgFixture {
  readonly spec: OrganizationSpec;
  readonly admin: Signer;
  readonly validator: Signer;
}

export function org(label: string): OrgFixture {
  const admin = signer(`${label}/admin`);
  const validator = signer(`${label}/validator`);
  return {
    admin,
    validator,
    spec: {
      id: bytes(`org:${label}`),
      adminKeys: [admin.publicKey],
      validatorKey: validator.publicKey,
      peerId: peerId(label),
    },
  };
}

export function genesisDoc(orgs: readonly OrgFixture[]): GenesisDocument {
  return {
    chainId: CHAIN_ID,
    genesisTime: T0,
    organizations: orgs.map((o) => o.spec),
    params: DEFAULT_LEDGER_PARAMS,
    consensus: { checkpointInterval: 100 },
  };
}

/** A chain in memory: builds, signs, executes and stores blocks the way a node would. */
export class Chain {
  readonly store = new MemoryStore();
  readonly state: AuthenticatedState;
  readonly written: WriteOp[][] = [];
  readonly blocks: Block[] = [];
  time: number;
  height = 0;
  parentHash: Uint8Array;
  readonly #pendingNonces = new Map<string, number>();

  /** The history index a node keeps beside its blocks (history.ts), fed by each block. */
  readonly history = new MemoryStore();

  constructor(
    readonly doc: GenesisDocument,
    readonly options: ExecutionOptions = {},
  ) {
    this.state = new AuthenticatedState(this.store);
    const genesis = initGenesisState(this.state, doc);
    this.#write(genesis.ops);
    this.parentHash = genesis.hash;
    this.time = doc.genesisTime;
  }

  #write(ops: Iterable<WriteOp>): void {
    const list = [...ops];
    this.store.write(list);
    this.written.push(list);
  }

  /** Signs a transaction with the next nonce of its signer, counting ones not yet executed. */
  tx<K extends TxKind>(from: Signer, kind: K, body: object): Transaction {
    const id = toHex(from.publicKey);
    const nonce = expectedNonce(this.state, from.publicKey) + (this.#pendingNonces.get(id) ?? 0);
    this.#pendingNonces.set(id, (this.#pendingNonces.get(id) ?? 0) + 1);
    return signTransaction(
      { chainId: CHAIN_ID, kind, body: body as Canonical, signer: from.publicKey, nonce },
      from,
    );
  }

  nextBlock(txs: readonly Transaction[], time = this.time + 1000): Block {
    const validators = validatorsFromState(this.state);
    return buildBlock(
      {
        chainId: this.doc.chainId,
        height: this.height + 1,
        time,
        parentHash: this.parentHash,
        stateRoot: this.state.root(),
        validatorSetHash: validatorSetHash(validators),
        proposer: validators[0]!.publicKey,
      },
      txs,
    );
  }

  execute(block: Block): BlockResult {
    this.#pendingNonces.clear();
    const result = executeBlock(this.state, block, this.options);
    this.history.write(historyIndexWrites(this.history, result.history.flat()));
    this.blocks.push(block);
    this.#write(result.ops);
    this.height = block.header.height;
    this.time = block.header.time;
    this.parentHash = headerHash(block.header);
    return result;
  }

  block(txs: readonly Transaction[], time?: number): BlockResult {
    return this.execute(this.nextBlock(txs, time));
  }

  /** One transaction in its own block; returns its receipt. */
  run<K extends TxKind>(from: Signer, kind: K, body: object, time?: number): Receipt {
    return this.block([this.tx(from, kind, body)], time).receipts[0]!;
  }
}

/**
 * A small consortium: three hospitals, providers of every role at the first, two patients
 * with one anchored record each.
 */
export function world(options: ExecutionOptions = {}) {
  const orgs = [org('st-a'), org('st-b'), org('st-c')];
  const chain = new Chain(genesisDoc(orgs), options);
  const [a, b] = orgs as [OrgFixture, OrgFixture, OrgFixture];
  const p = {
    clinician: signer('a/clinician'),
    nurse: signer('a/nurse'),
    emergency: signer('a/emergency'),
    researcher: signer('a/researcher'),
    admin: signer('a/admin-provider'),
    bClinician: signer('b/clinician'),
  };
  const alice = signer('patient/alice');
  const bob = signer('patient/bob');
  const guardian = signer('guardian/alice');
  const results = chain.block([
    chain.tx(a.admin, 'provider.register', { provider: p.clinician.publicKey, role: 'clinician' }),
    chain.tx(a.admin, 'provider.register', { provider: p.nurse.publicKey, role: 'nurse' }),
    chain.tx(a.admin, 'provider.register', { provider: p.emergency.publicKey, role: 'emergency' }),
    chain.tx(a.admin, 'provider.register', {
      provider: p.researcher.publicKey,
      role: 'researcher',
    }),
    chain.tx(a.admin, 'provider.register', { provider: p.admin.publicKey, role: 'admin' }),
    chain.tx(b.admin, 'provider.register', { provider: p.bClinician.publicKey, role: 'clinician' }),
    chain.tx(alice, 'patient.register', {}),
    chain.tx(bob, 'patient.register', {}),
  ]);
  expectAllOk(results.receipts);
  const recordNonce = bytes('alice-record-1', 16);
  const aliceRecord = recordId(a.spec.id, alice.publicKey, recordNonce);
  const anchored = chain.block([
    chain.tx(p.clinician, 'record.anchor', {
      patient: alice.publicKey,
      custodian: a.spec.id,
      resourceType: 'Observation',
      contentHash: bytes('alice-observation-v1'),
      nonce: recordNonce,
    }),
    chain.tx(p.clinician, 'record.anchor', {
      patient: bob.publicKey,
      custodian: a.spec.id,
      resourceType: 'Condition',
      contentHash: bytes('bob-condition-v1'),
      nonce: bytes('bob-record-1', 16),
    }),
  ]);
  expectAllOk(anchored.receipts);
  const bobRecord = recordId(a.spec.id, bob.publicKey, bytes('bob-record-1', 16));
  return { chain, orgs, a, b, p, alice, bob, guardian, aliceRecord, bobRecord };
}

export function expectAllOk(receipts: readonly Receipt[]): void {
  const failed = receipts.filter((r) => r.code !== 'OK');
  if (failed.length > 0) {
    throw new Error(`failed receipts: ${failed.map((r) => `${r.code} ${r.message}`).join('; ')}`);
  }
}

/** A consent grant body with sensible defaults: treatment access to Observations for 30 days. */
export function grantBody(
  patient: Signer,
  grantee: { type: 'provider' | 'organization'; id: Uint8Array },
  time: number,
  overrides: Partial<TxBodies['consent.grant']> = {},
): TxBodies['consent.grant'] {
  return {
    patient: patient.publicKey,
    grantee,
    recordIds: [],
    resourceTypes: ['Observation'],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: time,
    validUntil: time + 30 * DAY,
    ...overrides,
  };
}

let requestCounter = 0;

/** A requester's signed access request, with a fresh nonce each call. */
export function signedRequest(
  requester: Signer,
  recordIdValue: Uint8Array,
  time: number,
  overrides: Partial<AccessRequest> = {},
): { request: AccessRequest; requestSignature: Uint8Array } {
  requestCounter += 1;
  const request: AccessRequest = {
    recordId: recordIdValue,
    requester: requester.publicKey,
    action: 'access',
    purpose: 'TREAT',
    time,
    nonce: bytes(`request-nonce-${requestCounter}`, 16),
    ...overrides,
  };
  return { request, requestSignature: requester.sign(accessRequestDigest(request)) };
}
