/**
 * Execution throughput: transactions executed per second by `executeBlock`, in blocks of
 * 1,000, on a state that already holds many patients. Signing happens before the clock
 * starts; the node's path passes signature verdicts from the mempool (`isSignatureValid`,
 * `isRequestSignatureValid`), the fallback verifies every signature during execution.
 * Sizes (registered patients): LEDGER_BENCH_PATIENTS=1000,100000 (the default).
 */
import { performance } from 'node:perf_hooks';
import { Signer, sha256, utf8 } from '@medchain/crypto';
import {
  AuthenticatedState,
  accessRequestDigest,
  type Block,
  buildBlock,
  DEFAULT_LEDGER_PARAMS,
  decideAccess,
  type ExecutionOptions,
  executeBlock,
  headerHash,
  initGenesisState,
  MemoryStore,
  recordId,
  signTransaction,
  type Transaction,
  type TxKind,
  transactionHash,
  validatorSetHash,
  validatorsFromState,
} from '../src/index.js';

const BLOCK_TXS = 1_000;
const MEASURED_BLOCKS = 3;
const DAY = 86_400_000;
const T0 = 1_700_000_000_000;
const CHAIN_ID = 'medchain-bench';

const seed = (label: string) => sha256(utf8(label));
const key = (label: string) => new Signer(seed(label));

class BenchChain {
  readonly store = new MemoryStore();
  readonly state = new AuthenticatedState(this.store);
  readonly nonces = new Map<Signer, number>();
  time = T0;
  height = 0;
  parent: Uint8Array;

  constructor(
    readonly admin: Signer,
    orgId: Uint8Array,
    validator: Signer,
  ) {
    const genesis = initGenesisState(this.state, {
      chainId: CHAIN_ID,
      genesisTime: T0,
      organizations: [
        {
          id: orgId,
          adminKeys: [admin.publicKey],
          validatorKey: validator.publicKey,
          peerId: '12D3KooWBenchBenchBenchBench',
        },
      ],
      params: DEFAULT_LEDGER_PARAMS,
      consensus: {},
    });
    this.store.write(genesis.ops);
    this.parent = genesis.hash;
  }

  tx(from: Signer, kind: TxKind, body: object): Transaction {
    const nonce = (this.nonces.get(from) ?? 0) + 1;
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
    if (result.receipts.some((r) => r.code !== 'OK')) {
      const bad = result.receipts.find((r) => r.code !== 'OK')!;
      throw new Error(`bench transaction failed: ${bad.code} ${bad.message}`);
    }
    this.store.write(result.ops);
    this.height = block.header.height;
    this.time = block.header.time;
    this.parent = headerHash(block.header);
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function buildWorld(patientCount: number) {
  const admin = key('bench/admin');
  const orgId = seed('bench/org');
  const chain = new BenchChain(admin, orgId, key('bench/validator'));
  const clinician = key('bench/clinician');
  const agent = key('bench/agent');
  const trusted: ExecutionOptions = { isSignatureValid: () => true };
  chain.execute(
    chain.block([
      chain.tx(admin, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }),
      chain.tx(admin, 'provider.register', { provider: agent.publicKey, role: 'admin' }),
    ]),
    trusted,
  );
  const patients = Array.from({ length: patientCount }, (_, i) => key(`bench/patient-${i}`));
  const recordNonce = (i: number) => seed(`record-${i}`).slice(0, 16);
  const records = patients.map((patient, i) => recordId(orgId, patient.publicKey, recordNonce(i)));
  const setupTxs = patients.flatMap((patient, i) => [
    chain.tx(patient, 'patient.register', {}),
    chain.tx(clinician, 'record.anchor', {
      patient: patient.publicKey,
      custodian: orgId,
      resourceType: 'Observation',
      contentHash: seed(`content-${i}`),
      nonce: recordNonce(i),
    }),
  ]);
  // Setup executes with trusted verdicts: only the measured blocks below count.
  for (const txs of chunks(setupTxs, BLOCK_TXS)) chain.execute(chain.block(txs), trusted);
  return { chain, orgId, clinician, agent, patients, records };
}

/**
 * Measures CPU time (user + system) of this process rather than wall time: the benchmark
 * machine is shared, and CPU time is what a node spends per transaction.
 */
function measure(
  label: string,
  chain: BenchChain,
  blocks: Transaction[][],
  options: ExecutionOptions,
): void {
  let txCount = 0;
  let cpuMicros = 0;
  let wallMs = 0;
  for (const txs of blocks) {
    const block = chain.block(txs);
    for (const tx of txs) transactionHash(tx); // hashing is the mempool's work, done on admission
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    chain.execute(block, options);
    const cpu = process.cpuUsage(cpuStart);
    wallMs += performance.now() - wallStart;
    cpuMicros += cpu.user + cpu.system;
    txCount += txs.length;
  }
  const perSecond = Math.round(txCount / (cpuMicros / 1e6));
  console.log(
    `| ${label} | ${txCount} | ${perSecond.toLocaleString('en-US')} | ${(cpuMicros / txCount).toFixed(0)} | ${((wallMs * 1000) / txCount).toFixed(0)} |`,
  );
}

export function run(): void {
  const sizes = (process.env.LEDGER_BENCH_PATIENTS ?? '1000,100000').split(',').map(Number);
  for (const size of sizes) {
    const setupStart = performance.now();
    const w = buildWorld(size);
    const keys = w.chain.store.size;
    console.log(
      `\n${size.toLocaleString('en-US')} patients (${keys.toLocaleString('en-US')} stored entries, setup ${((performance.now() - setupStart) / 1000).toFixed(1)} s)\n`,
    );
    console.log('| workload | txs | tx/s (per CPU second) | CPU µs/tx | wall µs/tx |');
    console.log('|---|---|---|---|---|');
    const count = BLOCK_TXS * MEASURED_BLOCKS;
    const pick = (i: number) => i % w.patients.length;
    const grants = (offset: number) =>
      chunks(
        Array.from({ length: count }, (_, i) => {
          const patient = w.patients[pick(offset + i)]!;
          return w.chain.tx(patient, 'consent.grant', {
            patient: patient.publicKey,
            grantee: { type: 'provider', id: w.clinician.publicKey },
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
    const verdicts: ExecutionOptions = {
      isSignatureValid: () => true,
      isRequestSignatureValid: () => true,
    };
    // Warm-up, not reported: the first blocks after a large setup pay for its garbage.
    for (const txs of grants(2 * count)) w.chain.execute(w.chain.block(txs), verdicts);
    measure('consent.grant, verdicts from mempool', w.chain, grants(0), verdicts);
    measure('consent.grant, verify in execution', w.chain, grants(count), {});
    const logs = (offset: number) =>
      chunks(
        Array.from({ length: count }, (_, i) => {
          const request = {
            recordId: w.records[pick(i)]!,
            requester: w.clinician.publicKey,
            action: 'access',
            purpose: 'TREAT',
            time: w.chain.time + 1000,
            nonce: seed(`request-${offset + i}`).slice(0, 16),
          } as const;
          const requestSignature = w.clinician.sign(accessRequestDigest(request));
          const consentId = consentFor(w, request.recordId);
          return w.chain.tx(w.agent, 'access.log', {
            request,
            requestSignature,
            decision: 'permit',
            consentId,
          });
        }),
        BLOCK_TXS,
      );
    measure('access.log (decision re-checked), verdicts from mempool', w.chain, logs(0), verdicts);
    measure(
      'access.log (decision re-checked), verify both signatures in execution',
      w.chain,
      logs(count),
      {},
    );
  }
}

/** The consent the custodian names: what decideAccess finds at the next block's time. */
function consentFor(w: ReturnType<typeof buildWorld>, record: Uint8Array): Uint8Array {
  const decision = decideAccess(w.chain.state, {
    requester: w.clinician.publicKey,
    action: 'access',
    recordId: record,
    purpose: 'TREAT',
    time: w.chain.time + 1000,
  });
  if (decision.consentId === null) throw new Error('bench: no consent for the access request');
  return decision.consentId;
}
