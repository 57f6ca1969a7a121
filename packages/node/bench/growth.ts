/**
 * Growth with state, on the node's storage: CPU µs per `consent.grant` (1,000-tx blocks,
 * signature verdicts from the mempool) where the state lives in LevelDB behind the node's
 * `StateStore` and its default byte-bounded cache, as in a validator. Each block is executed,
 * its state ops staged into a batch and the batch written with an fsync; the CPU counted is
 * the whole process's (LevelDB's write and compaction threads included), as a node pays it.
 * The ledger's `bench:ledger growth` measures the same work on an in-memory store.
 *
 * Run from the repo root:
 *   NODE_GROWTH_PATIENTS=1000,100000 npx tsx --tsconfig tsconfig.test.json packages/node/bench/growth.ts
 *
 * Each size runs in two child processes. `build DIR N` executes the setup (two transactions
 * per patient) on an in-memory store, then copies the state into a fresh LevelDB in DIR:
 * executing a million patients' setup over LevelDB would take hours of compaction, and the
 * state is the same either way (its root is a function of its pairs). 1M patients need about
 * 11 GB of heap and 20 minutes there. `measure DIR` then opens that database as a validator's
 * process is started (`VALIDATOR_PROCESS`), resumes the chain, and measures; the RSS it
 * reports is of a process holding only the node's storage stack and the ledger. DIR is under
 * the OS temp folder and removed afterwards.
 */
import '../src/polyfill.js';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStore } from '@medchain/ledger';
import {
  ADMITTED_VERDICTS,
  BenchChain,
  type ChainPoint,
  grantBlocks,
  key,
  patientKey,
  populating,
} from '../../ledger/bench/support/chain.js';
import { Bucket, Database, StateStore, VALIDATOR_PROCESS } from '../src/index.js';

const WARM_UP_TXS = 2_000;
const MEASURED_TXS = 4_000;
/** State entries per LevelDB batch while copying the built state in. */
const COPY_BATCH = 100_000;

interface Built {
  readonly patients: number;
  readonly entries: number;
  readonly setupSeconds: number;
  readonly point: ChainPoint;
}

interface Measured {
  readonly microsPerGrant: number;
  readonly commitMicrosPerGrant: number;
  readonly storeReadsPerGrant: number;
  readonly rssBytes: number;
  /** RSS split (Linux): anonymous memory, and pages of mapped files (LevelDB's tables). */
  readonly rssAnonBytes: number;
  readonly rssFileBytes: number;
  readonly heapUsedBytes: number;
  readonly load: string;
}

async function build(dir: string, patientCount: number): Promise<void> {
  const started = performance.now();
  const store = new MemoryStore();
  const setup = populating(store, patientCount, 0);
  let step = setup.next();
  while (step.done !== true) step = setup.next();
  const setupSeconds = (performance.now() - started) / 1000;
  const db = await Database.open(join(dir, 'db'));
  let batch = db.batch();
  for (const [stateKey, value] of store.scan()) {
    batch.put(Bucket.state, stateKey, value);
    if (batch.size === COPY_BATCH) {
      await db.write(batch, { sync: false });
      batch = db.batch();
    }
  }
  await db.write(batch);
  await db.close();
  const built: Built = {
    patients: patientCount,
    entries: store.size,
    setupSeconds,
    point: step.value.chain.point(),
  };
  await writeFile(join(dir, 'chain.json'), JSON.stringify(built));
}

async function measure(dir: string): Promise<void> {
  const built = JSON.parse(await readFile(join(dir, 'chain.json'), 'utf8')) as Built;
  const db = await Database.open(join(dir, 'db'));
  const store = new StateStore(db);
  const chain = new BenchChain(store, built.point);
  const world = {
    chain,
    clinician: key('bench/clinician'),
    patients: Array.from({ length: Math.min(built.patients, WARM_UP_TXS + MEASURED_TXS) }, (_, i) =>
      patientKey(i),
    ),
  };
  const executeAndWrite = async (txs: Parameters<typeof chain.block>[0]) => {
    chain.execute(chain.block(txs), ADMITTED_VERDICTS);
    const batch = db.batch();
    store.stageInto(batch);
    await db.write(batch);
  };
  // Warm-up, not reported: a restarted validator's caches are as cold as this.
  for (const txs of grantBlocks(world, 0, WARM_UP_TXS)) await executeAndWrite(txs);

  const { state } = chain;
  const commit = state.commit.bind(state);
  let commitMicros = 0;
  state.commit = () => {
    const start = process.cpuUsage();
    const result = commit();
    const used = process.cpuUsage(start);
    commitMicros += used.user + used.system;
    return result;
  };
  const getSync = db.getSync.bind(db);
  let storeReads = 0;
  db.getSync = (bucket, stateKey) => {
    storeReads++;
    return getSync(bucket, stateKey);
  };
  const blocks = grantBlocks(world, WARM_UP_TXS, MEASURED_TXS);
  const load = loadavg()[0]!;
  let micros = 0;
  for (const txs of blocks) {
    const start = process.cpuUsage();
    await executeAndWrite(txs);
    const used = process.cpuUsage(start);
    micros += used.user + used.system;
  }
  const measured: Measured = {
    microsPerGrant: micros / MEASURED_TXS,
    commitMicrosPerGrant: commitMicros / MEASURED_TXS,
    storeReadsPerGrant: storeReads / MEASURED_TXS,
    rssBytes: process.memoryUsage().rss,
    rssAnonBytes: await statusBytes('RssAnon'),
    rssFileBytes: await statusBytes('RssFile'),
    heapUsedBytes: process.memoryUsage().heapUsed,
    load: `${load.toFixed(1)}–${loadavg()[0]!.toFixed(1)}`,
  };
  await db.close();
  console.log(JSON.stringify(measured));
}

/** A `kB` line of /proc/self/status, in bytes. */
async function statusBytes(field: string): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const line = status.split('\n').find((entry) => entry.startsWith(`${field}:`));
  return line === undefined ? Number.NaN : Number.parseInt(line.slice(field.length + 1), 10) * 1024;
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await directoryBytes(path) : (await stat(path)).size;
  }
  return total;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

function child(args: string[], nodeFlags: readonly string[], env: NodeJS.ProcessEnv): string {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync(process.execPath, [...process.execArgv, ...nodeFlags, script, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`growth ${args[0]} failed (exit ${result.status})`);
  return result.stdout;
}

async function row(patientCount: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'medchain-growth-'));
  try {
    child(['build', dir, String(patientCount)], ['--max-old-space-size=20000'], {});
    const built = JSON.parse(await readFile(join(dir, 'chain.json'), 'utf8')) as Built;
    const diskBytes = await directoryBytes(join(dir, 'db'));
    const measured = JSON.parse(
      child(['measure', dir], VALIDATOR_PROCESS.nodeFlags, VALIDATOR_PROCESS.env),
    ) as Measured;
    return [
      patientCount.toLocaleString('en-US'),
      built.entries.toLocaleString('en-US'),
      `${(diskBytes / 1e6).toFixed(0)} MB`,
      `${built.setupSeconds.toFixed(0)} s`,
      measured.microsPerGrant.toFixed(0),
      measured.commitMicrosPerGrant.toFixed(0),
      measured.storeReadsPerGrant.toFixed(1),
      `${mb(measured.rssBytes)} (${mb(measured.rssAnonBytes)} + ${mb(measured.rssFileBytes)})`,
      mb(measured.heapUsedBytes),
      measured.load,
    ].join(' | ');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [mode, dir, patients] = process.argv.slice(2);
if (mode === 'build' && dir !== undefined) await build(dir, Number(patients));
else if (mode === 'measure' && dir !== undefined) await measure(dir);
else {
  const sizes = (process.env.NODE_GROWTH_PATIENTS ?? '1000,20000').split(',').map(Number);
  console.log(
    '| patients | state entries | database on disk | setup (in memory) | CPU µs per grant | of which state commit | LevelDB reads per grant | RSS of the measuring process (anonymous + mapped files) | V8 heap used | load average |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const size of sizes) console.log(`| ${await row(size)} |`);
}
