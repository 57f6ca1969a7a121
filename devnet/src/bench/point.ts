import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError, Output, readCa } from '@medchain/cli';
import { provenNextNonce } from '@medchain/client';
import { primaryIndex } from '@medchain/consensus';
import { fromHex, Signer, toHex } from '@medchain/crypto';
import {
  adminSigner,
  type Devnet,
  describeNetwork,
  devnetClient,
  readDevnet,
  stopNode,
  tryStatus,
  waitForHeight,
  writeDevnet,
} from '../state.js';
import { devnetUp } from '../up.js';
import { type Org, WORKLOAD_MIX, Workload } from './load.js';
import { Load, type LoadMode, type Measurement } from './run.js';

export type SweepKind = 'validators' | 'batch' | 'leader-crash';

export interface BenchOptions {
  readonly dir?: string;
  readonly validators: number;
  readonly rate?: number;
  readonly findMax?: boolean;
  readonly window: number;
  readonly duration: number;
  readonly warmup: number;
  readonly clients: number;
  readonly clinicians: number;
  readonly maxTxs: number;
  /** Most transactions per POST (1: POST /v1/tx each; above: POST /v1/txs). */
  readonly submitBatch: number;
  readonly blockMaxTxs: number;
  readonly batchTime: number;
  readonly basePort?: number;
  /** The devnet it starts runs its validators from the build (`devnet up --built`). */
  readonly built?: boolean;
  /** Validators of the devnets it starts write CPU profiles under DIR/<run label>/<node>. */
  readonly cpuProfile?: string;
  readonly out: string;
  readonly sweep?: SweepKind;
  readonly sweepValues?: number[];
}

export interface PointReport extends Measurement {
  readonly label: string;
  readonly validators: number;
  /** Where the validators ran: loopback, or namespaces with their WAN link (`devnet up --netns`). */
  readonly network: string;
  /** What the validators ran: the build with plain node (`devnet up --built`), or the source under tsx. */
  readonly validatorCode: 'build' | 'source';
  /** Where the validators wrote CPU profiles, if they ran under the profiler (`--cpu-profile`). */
  readonly cpuProfileDir?: string;
  readonly mode: LoadMode;
  readonly block: { maxTxs: number; batchTimeMs: number } | null;
  readonly durationS: number;
  readonly warmupS: number;
  readonly clients: number;
  /** Most transactions per POST (1: POST /v1/tx each). */
  readonly submitBatch: number;
  readonly workload: string;
  readonly setupTxs: number;
  readonly pooledTxs: number;
  readonly boundTxPerSecond: number;
  readonly fractionOfBound: number;
  readonly chart?: string;
}

const DEFAULT_RATE = 2500;

/** Starts a devnet in a temp dir with a manifest for this point; ports picked at random. */
async function startDevnet(
  options: BenchOptions,
  validators: number,
  blockMaxTxs: number,
  label: string,
  out: Output,
): Promise<{ dir: string; root: string }> {
  const root = mkdtempSync(join(tmpdir(), 'medchain-bench-'));
  const manifest = join(root, 'manifest.json');
  writeFileSync(
    manifest,
    JSON.stringify({
      chainId: 'medchain-bench',
      validators,
      logLevel: 'warn',
      block: { maxTxs: blockMaxTxs, batchTimeMs: options.batchTime },
    }),
  );
  const dir = join(root, 'devnet');
  try {
    await devnetUp(
      {
        dir,
        manifest,
        basePort: options.basePort ?? 0,
        waitTimeout: 180_000,
        ...(options.built === true ? { built: true } : {}),
        ...(options.cpuProfile === undefined
          ? {}
          : { cpuProfile: join(resolve(options.cpuProfile), label) }),
      },
      out,
    );
    return { dir, root };
  } catch (error) {
    await stopAll(dir);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

async function stopAll(dir: string): Promise<void> {
  let devnet: Devnet;
  try {
    devnet = readDevnet(dir);
  } catch {
    return;
  }
  await Promise.all(devnet.nodes.map((node) => stopNode(node)));
}

/** SIGKILLs the primary of the next height (the one that would propose next). */
async function killNextPrimary(dir: string): Promise<string> {
  const devnet = readDevnet(dir);
  for (const node of devnet.nodes) {
    const status = await tryStatus(devnet, node);
    if (status === undefined) continue;
    const index = primaryIndex(status.height + 1, status.view, status.validators.length);
    const orgId = status.validators[index]?.orgId;
    const victim = devnet.nodes.find((n) => n.orgId === orgId);
    if (victim === undefined || victim.pid === null) break;
    process.kill(victim.pid, 'SIGKILL');
    victim.pid = null;
    writeDevnet(dir, devnet);
    return victim.name;
  }
  throw new CliError('BENCH_CRASH', 'could not find the next primary to kill');
}

/**
 * One bench point: a devnet (started here, or --dir), setup transactions committed, a pool of
 * pre-signed transactions, the timed load, the devnet stopped again if it was ours.
 */
export async function runPoint(
  options: BenchOptions,
  point: { validators: number; blockMaxTxs: number },
  context: { crash: boolean; verifyPerSecond: number; cores: number },
  out: Output,
  progress: (line: string) => void,
): Promise<PointReport> {
  const own = options.dir === undefined;
  const mode: LoadMode = options.findMax
    ? { kind: 'closed', window: options.window }
    : { kind: 'open', rate: options.rate ?? DEFAULT_RATE };
  const labelOf = (validators: number) =>
    `n${validators}-${mode.kind === 'open' ? `rate${mode.rate}` : 'max'}${own && options.sweep === 'batch' ? `-block${point.blockMaxTxs}` : ''}${context.crash ? '-leader-crash' : ''}`;
  const started = own
    ? await startDevnet(
        options,
        point.validators,
        point.blockMaxTxs,
        labelOf(point.validators),
        new Output(true),
      )
    : undefined;
  const dir = started?.dir ?? resolve(options.dir!);
  // Interrupted (Ctrl-C): the devnet this run started must not outlive it.
  const interrupted = (signal: NodeJS.Signals) => {
    void stopAll(dir).finally(() => {
      if (started !== undefined) rmSync(started.root, { recursive: true, force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  if (started !== undefined) {
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
  }
  const devnet = readDevnet(dir);
  const validators = devnet.nodes.length;
  const label = labelOf(validators);
  const network = describeNetwork(devnet);
  out.progress(
    `${label}: devnet ${dir} (${validators} validator${validators === 1 ? '' : 's'}), ${network}`,
  );
  const admins = devnet.nodes.map((node) => adminSigner(dir, node));
  // Each node's admin follows that node's block events (members may) and reads its own nonce.
  const asAdmin = devnet.nodes.map((node, i) =>
    devnetClient(devnet, node, { timeoutMs: 10_000, signer: admins[i]! }),
  );
  const load = new Load(
    devnet.nodes.map((n) => n.api),
    asAdmin,
    options.submitBatch,
    devnet.tls === undefined ? undefined : readCa(devnet.tls.ca),
  );
  try {
    await load.start();
    const orgs: Org[] = [];
    for (const [i, node] of devnet.nodes.entries()) {
      const admin = admins[i]!;
      const adminNonce = await provenNextNonce(asAdmin[i]!, admin.publicKey);
      // The pool is signed with the ledger's synchronous signer, before the clock starts.
      orgs.push({ id: fromHex(node.orgId), admin: new Signer(admin.seed), adminNonce });
    }
    const workload = new Workload(devnet.chainId, orgs, options.clients, options.clinicians);
    const setupTimeout = 120_000 + options.clients * 50;
    let setupTxs = 0;
    for (const [what, txs] of [
      ['registrations', () => workload.registrations()],
      ['records', () => workload.records()],
      ['standing consents', () => workload.standingConsents(Date.now())],
    ] as const) {
      const batch = txs();
      progress(`${label}: setup, ${batch.length} ${what}...`);
      await load.commitAll(batch, what, setupTimeout);
      setupTxs += batch.length;
      // A setup transaction counts as committed at the first node's block event; over slow
      // links another node may be a block or two behind it, and its admission would refuse
      // the next phase's transactions from roles it has not seen yet (a provider anchoring).
      const heights = await Promise.all(devnet.nodes.map((node) => tryStatus(devnet, node)));
      await waitForHeight(
        devnet,
        devnet.nodes,
        Math.max(0, ...heights.map((s) => s?.height ?? 0)),
        60_000,
      );
    }
    // The timed access.log transactions claim a permit under each patient's standing consent:
    // check one as its grantee reads it (the ledger re-decides each at block time anyway, and
    // the custodian may not read the patient's entries the whole access rule needs).
    const sample = workload.sample();
    const consent = await devnetClient(devnet, devnet.nodes[0]!, {
      signer: sample.requester,
    }).consent(sample.consentId);
    if (
      consent.status !== 'active' ||
      consent.grantee.id !== toHex(sample.requester.publicKey) ||
      !consent.recordIds.includes(toHex(sample.recordId))
    ) {
      throw new CliError(
        'BENCH_WORKLOAD',
        `the standing consent ${toHex(sample.consentId)} does not grant the planned access (${consent.status})`,
      );
    }
    const seconds = (options.warmup + options.duration) / 1000;
    const bound = Math.round((context.verifyPerSecond * context.cores) / validators);
    const poolSize =
      mode.kind === 'open'
        ? Math.ceil(mode.rate * seconds * 1.02) + 1
        : Math.min(options.maxTxs, Math.ceil(bound * seconds));
    progress(`${label}: signing ${poolSize} transactions before the clock starts...`);
    const pool = workload.timed(poolSize, Date.now());
    const measured = await load.measure({
      label,
      pool,
      mode,
      warmupMs: options.warmup,
      durationMs: options.duration,
      nodes: devnet.nodes.map((n) => ({ name: n.name, api: n.api, pid: n.pid })),
      progress,
      ...(context.crash
        ? { crash: Object.assign(() => killNextPrimary(dir), { afterMs: options.duration / 2 }) }
        : {}),
    });
    return {
      label,
      validators,
      network,
      validatorCode: devnet.built === true ? 'build' : 'source',
      ...(devnet.cpuProfileDir === undefined ? {} : { cpuProfileDir: devnet.cpuProfileDir }),
      mode,
      block: own ? { maxTxs: point.blockMaxTxs, batchTimeMs: options.batchTime } : null,
      durationS: options.duration / 1000,
      warmupS: options.warmup / 1000,
      clients: options.clients,
      submitBatch: options.submitBatch,
      workload: WORKLOAD_MIX,
      setupTxs,
      pooledTxs: pool.length,
      boundTxPerSecond: bound,
      fractionOfBound: Math.round((measured.txPerSecond / bound) * 1000) / 1000,
      ...measured,
    };
  } finally {
    load.close();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    if (started !== undefined) {
      await stopAll(started.dir);
      rmSync(started.root, { recursive: true, force: true });
    }
  }
}
