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
 * NODE_GROWTH_MAX_OPEN_FILES (a list, default the node's `memory.dbMaxOpenFiles`) sets LevelDB's
 * open table files for the measurements, NODE_GROWTH_ROUNDS how many times each measurement
 * is repeated, interleaved (each size is built once).
 *
 * Each size is built in one child process and measured in others. `build DIR N` executes the setup (two transactions
 * per patient) on an in-memory SlabStore, then copies the state into a fresh LevelDB in DIR:
 * executing a million patients' setup over LevelDB would take hours of compaction, and the
 * state is the same either way (its root is a function of its pairs). 1M patients need about
 * 4.4 GB of memory and 10 minutes there. `measure DIR` then opens that database in a process
 * started as a validator's is (`VALIDATOR_PROCESS`, and the heap growth the node sets),
 * resumes the chain with its upper tree linked (as the node's Chain.open does), and measures.
 * The RSS it reports is of a process holding only the node's storage stack and the ledger,
 * run from source. Every measurement starts from a copy of the built state; all of it is
 * under the OS temp folder and removed afterwards.
 */
import '../src/polyfill.js';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_PREFIX, SlabStore } from '@medchain/ledger';
import {
  ADMITTED_VERDICTS,
  BenchChain,
  type ChainPoint,
  grantBlocks,
  key,
  patientKey,
  populating,
  timeCommits,
} from '../../ledger/bench/support/chain.js';
import { Bucket, Database, DEFAULT_CONFIG, StateStore, VALIDATOR_PROCESS } from '../src/index.js';

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
  /** Of those, reads of tree nodes (the rest read values). */
  readonly nodeReadsPerGrant: number;
  readonly rssBytes: number;
  /** RSS split (Linux): anonymous memory, and pages of mapped files (LevelDB's tables). */
  readonly rssAnonBytes: number;
  readonly rssFileBytes: number;
  readonly heapUsedBytes: number;
  /** V8's heap as committed, and memory outside it that V8 knows of (ArrayBuffers, strings). */
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
  readonly load: string;
}

async function build(dir: string, patientCount: number): Promise<void> {
  const started = performance.now();
  const store = new SlabStore();
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
  const maxOpenFiles = process.env.NODE_GROWTH_MAX_OPEN_FILES;
  const db = await Database.open(join(dir, 'db'), {
    level: maxOpenFiles === undefined ? {} : { maxOpenFiles: Number(maxOpenFiles) },
  });
  const store = new StateStore(db);
  const chain = new BenchChain(store, built.point);
  // As the node's Chain.open does.
  chain.state.linkUpperTree();
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
  const commitMicros = timeCommits(state);
  const getSync = db.getSync.bind(db);
  let storeReads = 0;
  let nodeReads = 0;
  db.getSync = (bucket, stateKey) => {
    storeReads++;
    if (stateKey[0] === NODE_PREFIX) nodeReads++;
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
    commitMicrosPerGrant: commitMicros() / MEASURED_TXS,
    storeReadsPerGrant: storeReads / MEASURED_TXS,
    nodeReadsPerGrant: nodeReads / MEASURED_TXS,
    rssBytes: process.memoryUsage().rss,
    rssAnonBytes: await statusBytes('RssAnon'),
    rssFileBytes: await statusBytes('RssFile'),
    heapUsedBytes: process.memoryUsage().heapUsed,
    heapTotalBytes: process.memoryUsage().heapTotal,
    externalBytes: process.memoryUsage().external,
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

interface BuiltState extends Built {
  readonly dir: string;
  readonly diskBytes: number;
}

async function buildState(root: string, patientCount: number): Promise<BuiltState> {
  const dir = join(root, String(patientCount));
  await mkdir(dir);
  child(['build', dir, String(patientCount)], ['--max-old-space-size=20000'], {});
  const built = JSON.parse(await readFile(join(dir, 'chain.json'), 'utf8')) as Built;
  return { ...built, dir, diskBytes: await directoryBytes(join(dir, 'db')) };
}

/** Measures a copy of the built state, so that every measurement starts from the same one. */
async function row(root: string, state: BuiltState, maxOpenFiles: number, round: number) {
  const copy = join(root, 'measured');
  await rm(copy, { recursive: true, force: true });
  await cp(state.dir, copy, { recursive: true });
  const measured = JSON.parse(
    child(
      ['measure', copy],
      [
        ...VALIDATOR_PROCESS.nodeFlags,
        // What the node sets when it starts (memory.heapGrowingPercent).
        `--heap-growing-percent=${DEFAULT_CONFIG.memory.heapGrowingPercent}`,
      ],
      { ...VALIDATOR_PROCESS.env, NODE_GROWTH_MAX_OPEN_FILES: String(maxOpenFiles) },
    ),
  ) as Measured;
  return [
    round,
    state.patients.toLocaleString('en-US'),
    state.entries.toLocaleString('en-US'),
    mb(state.diskBytes),
    `${state.setupSeconds.toFixed(0)} s`,
    maxOpenFiles,
    measured.microsPerGrant.toFixed(0),
    measured.commitMicrosPerGrant.toFixed(0),
    `${measured.storeReadsPerGrant.toFixed(1)} (${measured.nodeReadsPerGrant.toFixed(1)})`,
    `${mb(measured.rssBytes)} (${mb(measured.rssAnonBytes)} + ${mb(measured.rssFileBytes)})`,
    `${mb(measured.heapUsedBytes)} / ${mb(measured.heapTotalBytes)}`,
    measured.load,
  ].join(' | ');
}

const [mode, dir, patients] = process.argv.slice(2);
if (mode === 'build' && dir !== undefined) await build(dir, Number(patients));
else if (mode === 'measure' && dir !== undefined) await measure(dir);
else {
  const list = (name: string, fallback: string) =>
    (process.env[name] ?? fallback).split(',').map(Number);
  const sizes = list('NODE_GROWTH_PATIENTS', '1000,20000');
  const openFiles = list(
    'NODE_GROWTH_MAX_OPEN_FILES',
    String(DEFAULT_CONFIG.memory.dbMaxOpenFiles),
  );
  const rounds = Number(process.env.NODE_GROWTH_ROUNDS ?? 1);
  const root = await mkdtemp(join(tmpdir(), 'medchain-growth-'));
  try {
    const states: BuiltState[] = [];
    for (const size of sizes) states.push(await buildState(root, size));
    console.log(
      '| round | patients | state entries | database on disk | setup (in memory) | open table files | CPU µs per grant | of which state commit | LevelDB reads per grant (of tree nodes) | RSS of the measuring process (anonymous + mapped files) | V8 heap used / committed | load average |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (let round = 1; round <= rounds; round++) {
      for (const state of states) {
        for (const files of openFiles) console.log(`| ${await row(root, state, files, round)} |`);
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
