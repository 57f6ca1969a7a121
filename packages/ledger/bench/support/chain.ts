/**
 * The chain the ledger and node benches run on: one organization on a store (a SlabStore, whose
 * entries the garbage collector does not trace, or the node's LevelDB-backed one), a clinician,
 * and many registered patients with one anchored record each. Lives in a subfolder so that
 * bench/index.ts does not take it for a bench module.
 */
import { fromHex, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  type Block,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  type ExecutionOptions,
  executeBlock,
  expectedNonce,
  headerHash,
  initGenesisState,
  type KeyValueStore,
  recordId,
  SlabStore,
  signTransaction,
  type Transaction,
  type TxKind,
  validatorSetHash,
  validatorsFromState,
} from '../../src/index.js';

export const CHAIN_ID = 'medchain-bench';
export const T0 = 1_700_000_000_000;
export const DAY = 86_400_000;
export const BLOCK_TXS = 1_000;

export const seed = (label: string) => sha256(utf8(label));
export const key = (label: string) => new Signer(seed(label));

export interface ChainPoint {
  readonly height: number;
  readonly time: number;
  /** Hex of the last block's header hash. */
  readonly parent: string;
  /** Hex of the state root after that block. */
  readonly stateRoot: string;
}

export class BenchChain<Store extends KeyValueStore = SlabStore> {
  readonly state: AuthenticatedState;
  readonly admin = key('bench/admin');
  readonly validator = key('bench/validator');
  readonly orgId = seed('bench/org');
  /** Last nonce signed per signer; a signer not here starts from the committed state. */
  readonly nonces = new Map<Signer, number>();
  time = T0;
  height = 0;
  parent: Uint8Array;

  /**
   * A new chain from genesis, or, given `resumed` (a chain's `point()`), the chain whose
   * state the store already holds.
   */
  constructor(
    readonly store: Store,
    resumed?: ChainPoint,
  ) {
    if (resumed !== undefined) {
      this.state = new AuthenticatedState(store, fromHex(resumed.stateRoot));
      this.time = resumed.time;
      this.height = resumed.height;
      this.parent = fromHex(resumed.parent);
      return;
    }
    this.state = new AuthenticatedState(store);
    const genesis = initGenesisState(this.state, {
      chainId: CHAIN_ID,
      genesisTime: T0,
      organizations: [
        {
          id: this.orgId,
          adminKeys: [this.admin.publicKey],
          validatorKey: this.validator.publicKey,
          peerId: '12D3KooWBenchBenchBenchBench',
        },
      ],
      params: DEFAULT_LEDGER_PARAMS,
      consensus: {},
    });
    this.store.write(genesis.ops);
    this.parent = genesis.hash;
  }

  /** Where the chain is: enough to resume it over a store holding its state. */
  point(): ChainPoint {
    return {
      height: this.height,
      time: this.time,
      parent: toHex(this.parent),
      stateRoot: toHex(this.state.root()),
    };
  }

  tx(from: Signer, kind: TxKind, body: object): Transaction {
    const last = this.nonces.get(from);
    const nonce = last === undefined ? expectedNonce(this.state, from.publicKey) : last + 1;
    this.nonces.set(from, nonce);
    return signTransaction(
      { chainId: CHAIN_ID, kind, body: body as never, signer: from.publicKey, nonce },
      from,
    );
  }

  block(txs: Transaction[]): Block {
    const validators = validatorsFromState(this.state);
    return buildBlock(
      {
        chainId: CHAIN_ID,
        height: this.height + 1,
        time: this.time + 1000,
        parentHash: this.parent,
        stateRoot: this.state.root(),
        validatorSetHash: validatorSetHash(validators),
        proposer: validators[0]!.publicKey,
      },
      txs,
    );
  }

  execute(block: Block, options: ExecutionOptions = {}): void {
    const result = executeBlock(this.state, block, options);
    const bad = result.receipts.find((r) => r.code !== 'OK');
    if (bad !== undefined) throw new Error(`bench transaction failed: ${bad.code} ${bad.message}`);
    this.store.write(result.ops);
    this.height = block.header.height;
    this.time = block.header.time;
    this.parent = headerHash(block.header);
  }
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export const patientKey = (i: number) => key(`bench/patient-${i}`);
const recordNonce = (i: number) => seed(`record-${i}`).slice(0, 16);

/**
 * A chain with a clinician and `patientCount` patients, each with one record anchored by the
 * clinician. Setup executes with trusted signature verdicts: only the measured work counts.
 */
export function populatedChain(patientCount: number) {
  const setup = populating(new SlabStore(), patientCount);
  for (;;) {
    const step = setup.next();
    if (step.done === true) return step.value;
  }
}

/**
 * `populatedChain` on any store, one block at a time: it yields after each block has executed
 * and written its ops, so a caller whose store persists asynchronously (the node's) can flush
 * between blocks. Transactions are signed block by block, and only the first `keptPatients`
 * patients' keys and records are returned, so a million-patient setup holds neither in memory.
 */
export function* populating<Store extends KeyValueStore>(
  store: Store,
  patientCount: number,
  keptPatients = patientCount,
) {
  const chain = new BenchChain(store);
  yield; // genesis written
  const trusted: ExecutionOptions = { isSignatureValid: () => true };
  const clinician = key('bench/clinician');
  chain.execute(
    chain.block([
      chain.tx(chain.admin, 'provider.register', {
        provider: clinician.publicKey,
        role: 'clinician',
      }),
    ]),
    trusted,
  );
  yield;
  const kept = Math.min(keptPatients, patientCount);
  const patients = Array.from({ length: kept }, (_, i) => patientKey(i));
  const records = patients.map((p, i) => recordId(chain.orgId, p.publicKey, recordNonce(i)));
  const patientsPerBlock = BLOCK_TXS / 2;
  for (let first = 0; first < patientCount; first += patientsPerBlock) {
    const txs: Transaction[] = [];
    for (let i = first; i < Math.min(first + patientsPerBlock, patientCount); i++) {
      const patient = patients[i] ?? patientKey(i);
      txs.push(
        chain.tx(patient, 'patient.register', {}),
        chain.tx(clinician, 'record.anchor', {
          patient: patient.publicKey,
          custodian: chain.orgId,
          resourceType: 'Observation',
          contentHash: seed(`content-${i}`),
          nonce: recordNonce(i),
        }),
      );
      // Its next nonce is in the state once this block has executed.
      chain.nonces.delete(patient);
    }
    chain.execute(chain.block(txs), trusted);
    yield;
  }
  return { chain, clinician, patients, records };
}

/** The verdicts a node's mempool hands execution for transactions it admitted: both checked. */
export const ADMITTED_VERDICTS: ExecutionOptions = {
  isSignatureValid: () => true,
  isRequestSignatureValid: () => true,
};

/**
 * `count` year-long `consent.grant`s to the clinician, in blocks of BLOCK_TXS, signed by the
 * patients from `offset` on (wrapping around).
 */
export function grantBlocks(
  world: { chain: BenchChain<KeyValueStore>; clinician: Signer; patients: readonly Signer[] },
  offset: number,
  count: number,
) {
  const { chain, clinician, patients } = world;
  return chunks(
    Array.from({ length: count }, (_, i) => {
      const patient = patients[(offset + i) % patients.length]!;
      return chain.tx(patient, 'consent.grant', {
        patient: patient.publicKey,
        grantee: { type: 'provider', id: clinician.publicKey },
        recordIds: [],
        resourceTypes: ['Observation'],
        actions: ['access'],
        purposes: ['TREAT'],
        validFrom: T0,
        validUntil: T0 + 365 * DAY,
      });
    }),
    BLOCK_TXS,
  );
}

/**
 * Counts the CPU time (µs, this process) of `state.commit` from now on: the commit measured
 * apart from the execution around it. Returns a reader of the total.
 */
export function timeCommits(state: AuthenticatedState): () => number {
  const commit = state.commit.bind(state);
  let micros = 0;
  state.commit = () => {
    const start = process.cpuUsage();
    const result = commit();
    const used = process.cpuUsage(start);
    micros += used.user + used.system;
    return result;
  };
  return () => micros;
}
