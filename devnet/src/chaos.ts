import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Output } from '@medchain/cli';
import { CliError, EXIT, LOG_FILE, nodePackage, readJsonFile } from '@medchain/cli';
import type { MedchainClient, StatusJson } from '@medchain/client';
import { primaryIndex } from '@medchain/consensus';
import { SeededRandom } from '@medchain/crypto';
import type { ConfigOverrides } from '@medchain/node';
import { type CheckResult, checkChain, whenLetThrough } from './chaos-check.js';
import { ChaosLoad, REQUEST_TIMEOUT_MS } from './chaos-load.js';
import {
  describeFault,
  type Fault,
  faultSchedule,
  firstFaults,
  scheduleDigest,
  type WalDamage,
} from './chaos-plan.js';
import { damageWal } from './chaos-wal.js';
import { NetnsLab } from './netns.js';
import {
  adminSigner,
  type Devnet,
  type DevnetNode,
  devnetClient,
  findNode,
  processState,
  readDevnet,
  spawnNode,
  stopNode,
  tryStatus,
  waitForExit,
  waitForMesh,
  writeDevnet,
} from './state.js';
import { makeDevnetTls, nodeTlsPaths } from './tls.js';
import { devnetUp } from './up.js';

export interface ChaosOptions {
  /** Devnet directory; a temporary one (deleted afterwards) when absent. */
  dir?: string;
  validators: number;
  basePort?: number;
  seed?: number;
  /** Faults are injected until this much time has passed (ms)... */
  duration: number;
  /** ...or until this many faults, whichever comes first... */
  faults?: number;
  /** ...but not before this many kills. */
  kills?: number;
  clients: number;
  /** The longest a fault's recovery may take before it counts as a liveness failure (ms). */
  livenessBound: number;
  out?: string;
  /** Run each validator in its own network namespace and add partitions to the faults. */
  netns?: boolean;
  /** Clock skews among the faults (default true); false replays the schedules from before them. */
  skew?: boolean;
  /** The devnet's manifest (network part); default devnet/manifests/default.json's values. */
  manifest?: string;
  /**
   * A scripted schedule (a manifest's perturbations), run whole, instead of the seed's; the
   * seed then only picks the load's keys and the torn WAL bytes.
   */
  schedule?: readonly Fault[];
  /** Runs on the fresh devnet before the load starts (a manifest's scenarios). */
  beforeLoad?: (dir: string) => Promise<void>;
}

/** A skew fault: the validator ran with its clock moved by `clockOffsetMs` for a while. */
export interface SkewRecord {
  readonly clockOffsetMs: number;
  /** From the skewed restart until it was past the height the others had then; null if beyond the bound. */
  readonly catchUpMs: number | null;
  /** The heights committed while it ran skewed, after catching up: (fromHeight, toHeight]. */
  readonly fromHeight: number;
  readonly toHeight: number;
  /** Of those heights, the ones it led in view 0... */
  readonly turns: number;
  /** ...and the blocks it proposed (fewer than turns: some of its proposals were refused or too late). */
  readonly proposed: number;
  /** Heights of the window decided after a view change, whoever led them. */
  readonly viewChanges: number;
  /**
   * The window's latest block time minus the runner's clock when the window closed: above 0
   * only when a block carries a time ahead of the true clock (a primary skewed ahead). Null
   * when the window has no block the runner could read.
   */
  readonly leadMs: number | null;
}

export interface FaultRecord {
  readonly index: number;
  readonly description: string;
  readonly kind: Fault['kind'];
  readonly node: string;
  readonly wasPrimary: boolean;
  readonly walDamage: WalDamage;
  readonly walBytesAppended: number;
  /** Blocks the other validators committed while this one was down or frozen. */
  readonly committedWhileDown: number;
  /** Partitions only: blocks the cut-off validator itself committed meanwhile (expected 0, or 1 in flight). */
  readonly isolatedCommitted: number | null;
  /** From the heal (restart / SIGCONT) until every node is at least one block past the height the others had then; null if beyond the bound. */
  readonly recoveryMs: number | null;
  /** Skews only. */
  readonly skew: SkewRecord | null;
}

export interface ChaosReport {
  readonly seed: number;
  readonly scheduleDigest: string;
  readonly validators: number;
  readonly network: string;
  readonly notCovered: string[];
  readonly durationMs: number;
  readonly faults: FaultRecord[];
  readonly kills: number;
  readonly primaryKills: number;
  readonly pauses: number;
  readonly partitions: number;
  readonly skews: number;
  /** Proposals some validator refused as too far ahead of its clock (its log's warning), all run long. */
  readonly timeRefusals: number;
  readonly walDamaged: number;
  readonly maxRecoveryMs: number | null;
  readonly livenessBoundMs: number;
  readonly livenessFailures: number;
  /** Validators found dead that the runner had not killed (restarted, and a failed verdict). */
  readonly unexpectedExits: string[];
  readonly loadErrors: Record<string, number>;
  readonly check: CheckResult;
  readonly ok: boolean;
}

const CLOCK_SKEW_BEYOND_TOLERANCE =
  'clock skew beyond the drift tolerance (packages/node/test/clock-skew.test.ts covers it)';
const CLOCK_SKEW_NOT_COVERED = 'clock skew (run without --no-skew)';
const PARTITIONS_NOT_COVERED = 'network partitions (run with --netns, as root)';
/** Inside each validator's namespace every node uses the same two ports. */
const NETNS_P2P_PORT = 26600;

async function statuses(
  net: Devnet,
  nodes: readonly DevnetNode[],
): Promise<(StatusJson | undefined)[]> {
  return Promise.all(nodes.map((node) => tryStatus(net, node)));
}

function maxHeight(answers: readonly (StatusJson | undefined)[]): number {
  return Math.max(0, ...answers.map((s) => s?.height ?? 0));
}

/** The validator leading the next height, as the most advanced node sees it. */
function currentPrimary(net: Devnet, answers: readonly (StatusJson | undefined)[]): number {
  const best = answers.reduce<StatusJson | undefined>(
    (a, s) => (s !== undefined && (a === undefined || s.height > a.height) ? s : a),
    undefined,
  );
  if (best === undefined) return 0;
  const validators = best.validators;
  const leader = validators[primaryIndex(best.height + 1, best.view, validators.length)];
  const index = net.nodes.findIndex((n) => n.peerId === leader?.peerId);
  return Math.max(index, 0);
}

/** Waits until every node is past `height` (bounded); the time taken, or null. */
async function waitPast(
  net: Devnet,
  nodes: readonly DevnetNode[],
  height: number,
  boundMs: number,
) {
  const start = Date.now();
  while (Date.now() - start <= boundMs) {
    const answers = await statuses(net, nodes);
    if (answers.every((s) => s !== undefined && s.height > height)) return Date.now() - start;
    await sleep(100);
  }
  return null;
}

async function inject(
  fault: Fault,
  net: Devnet,
  dir: string,
  walRng: SeededRandom,
  boundMs: number,
  out: Output,
  lab: NetnsLab | undefined,
): Promise<FaultRecord> {
  const before = await statuses(net, net.nodes);
  const primary = currentPrimary(net, before);
  const index = fault.target === 'primary' ? primary : fault.target;
  const node = net.nodes[index]!;
  const description = describeFault(fault);
  out.progress(
    `fault ${fault.index}: ${description} -> ${node.name}${index === primary ? ' (primary)' : ''}`,
  );
  const pid = node.pid!;
  let walBytesAppended = 0;
  let skew: SkewRecord | null = null;
  let heightAtCut: number | undefined;
  if (fault.kind === 'kill' || fault.kind === 'skew') {
    await kill9(dir, net, node);
  }
  if (fault.kind === 'kill') {
    await sleep(fault.downMs);
    walBytesAppended = damageWal(node.home, fault.walDamage, walRng);
  } else if (fault.kind === 'pause') {
    process.kill(pid, 'SIGSTOP');
    await sleep(fault.downMs);
  } else if (fault.kind === 'partition') {
    lab!.partition(
      [index],
      net.nodes.map((_, i) => i).filter((i) => i !== index),
    );
    // Read once the cut is in place: blocks it committed between the snapshot above and the
    // cut are not commits made while cut off.
    heightAtCut = (await tryStatus(net, node))?.height;
    await sleep(fault.downMs);
  } else {
    skew = await runSkewed(fault, net, dir, index, boundMs, lab);
    // The operator fixes the clock: a clean stop, then the node starts on the true time.
    await setClockOffset(node.home, 0);
    if ((await stopNode(node)) === 'killed') out.progress(`  ${node.name} ignored SIGTERM`);
    node.pid = null;
    writeDevnet(dir, net);
  }
  const others = net.nodes.filter((n) => n !== node);
  const heightAtHeal = maxHeight(await statuses(net, others));
  const isolatedCommitted =
    fault.kind === 'partition'
      ? ((await tryStatus(net, node))?.height ?? 0) - (heightAtCut ?? before[index]?.height ?? 0)
      : null;
  if (fault.kind === 'kill' || fault.kind === 'skew') {
    node.pid = spawnNode(dir, node, lab?.wrapper(index));
    writeDevnet(dir, net);
  } else if (fault.kind === 'pause') {
    process.kill(pid, 'SIGCONT');
  } else {
    lab!.heal();
  }
  const recoveryMs = await waitPast(net, net.nodes, heightAtHeal, boundMs);
  if (skew !== null) {
    out.progress(
      `  skewed ${skew.clockOffsetMs} ms: caught up in ${skew.catchUpMs ?? `MORE THAN ${boundMs}`} ms, then heights ${skew.fromHeight + 1}-${skew.toHeight}: led ${skew.proposed} of its ${skew.turns} turns, ${skew.viewChanges} heights after a view change, last block time ${skew.leadMs ?? '?'} ms from the true clock`,
    );
  }
  out.progress(
    `  recovered in ${recoveryMs === null ? `MORE THAN ${boundMs}` : recoveryMs} ms (others committed ${heightAtHeal - maxHeight(before)} blocks meanwhile${isolatedCommitted === null ? '' : `, the cut-off node ${isolatedCommitted}`})`,
  );
  return {
    index: fault.index,
    description,
    kind: fault.kind,
    node: node.name,
    wasPrimary: index === primary,
    walDamage: fault.walDamage,
    walBytesAppended,
    committedWhileDown: heightAtHeal - maxHeight(before),
    isolatedCommitted,
    recoveryMs,
    skew,
  };
}

async function kill9(dir: string, net: Devnet, node: DevnetNode): Promise<void> {
  const pid = node.pid!;
  process.kill(pid, 'SIGKILL');
  if (!(await waitForExit(pid, node.home, 15_000))) {
    throw new CliError('CHAOS_KILL_FAILED', `${node.name} (pid ${pid}) survived SIGKILL`);
  }
  node.pid = null;
  writeDevnet(dir, net);
}

/** Sets (or, for 0, removes) the test clock offset in a stopped validator's config.json. */
async function setClockOffset(home: string, clockOffsetMs: number): Promise<void> {
  const { CONFIG_FILE_NAME } = await nodePackage();
  const path = join(home, CONFIG_FILE_NAME);
  const config = readJsonFile(path, 'config') as ConfigOverrides;
  if (clockOffsetMs === 0) delete config.clockOffsetMs;
  else config.clockOffsetMs = clockOffsetMs;
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Starts the killed validator `index` with its clock skewed, waits until it caught up, lets it
 * run skewed for the fault's time under load, and reports what it did meanwhile.
 */
async function runSkewed(
  fault: Fault,
  net: Devnet,
  dir: string,
  index: number,
  boundMs: number,
  lab: NetnsLab | undefined,
): Promise<SkewRecord> {
  const node = net.nodes[index]!;
  const others = net.nodes.filter((n) => n !== node);
  const clockOffsetMs = fault.clockOffsetMs ?? 0;
  await setClockOffset(node.home, clockOffsetMs);
  const heightAtStart = maxHeight(await statuses(net, others));
  node.pid = spawnNode(dir, node, lab?.wrapper(index));
  writeDevnet(dir, net);
  const catchUpMs = await waitPast(net, net.nodes, heightAtStart, boundMs);
  const fromHeight = maxHeight(await statuses(net, others));
  await sleep(fault.downMs);
  const answers = await statuses(net, others);
  const closedAt = Date.now();
  const toHeight = maxHeight(answers);
  const best = answers.findIndex((s) => s !== undefined && s.height === toHeight);
  const window =
    best < 0
      ? { turns: 0, proposed: 0, viewChanges: 0, latestTime: null }
      : await turnsTaken(memberReader(dir, net, others[best]!), answers[best]!, node, fromHeight);
  return {
    clockOffsetMs,
    catchUpMs,
    fromHeight,
    toHeight,
    turns: window.turns,
    proposed: window.proposed,
    viewChanges: window.viewChanges,
    leadMs: window.latestTime === null ? null : window.latestTime - closedAt,
  };
}

/** A client of `node` signed by its organization's admin: members may read blocks. */
function memberReader(dir: string, net: Devnet, node: DevnetNode): MedchainClient {
  return devnetClient(net, node, { timeoutMs: 10_000, signer: adminSigner(dir, node) });
}

/**
 * Reads heights (fromHeight, status.height] from `witness`: the ones `node` led in view 0, the
 * blocks it proposed, the heights decided after a view change, and the last block's time. Stops
 * at the first block the witness does not serve (a diagnostic, not worth failing the run).
 */
async function turnsTaken(
  api: MedchainClient,
  status: StatusJson,
  node: DevnetNode,
  fromHeight: number,
): Promise<{ turns: number; proposed: number; viewChanges: number; latestTime: number | null }> {
  const validators = status.validators;
  const own = validators.findIndex((v) => v.peerId === node.peerId);
  let turns = 0;
  let proposed = 0;
  let viewChanges = 0;
  let latestTime: number | null = null;
  for (let height = fromHeight + 1; height <= status.height; height++) {
    const block = await whenLetThrough(() => api.block(height)).catch(() => undefined);
    if (block === undefined) break;
    if (primaryIndex(height, 0, validators.length) === own) turns++;
    if (block.header.proposer === validators[own]?.publicKey) proposed++;
    if ((block.certificate?.view ?? 0) > 0) viewChanges++;
    latestTime = block.header.time;
  }
  return { turns, proposed, viewChanges, latestTime };
}

/**
 * `devnet chaos`: a devnet under steady load while faults from the seed's schedule hit it one
 * at a time (so never more than f = 1 of 4 validators down or frozen), then the external
 * checker's verdict.
 */
export async function runChaos(options: ChaosOptions, out: Output): Promise<ChaosReport> {
  const seed = options.seed ?? randomInt(0, 2 ** 31);
  out.progress(`chaos seed ${seed} (replay the schedule with --seed ${seed})`);
  let lab: NetnsLab | undefined;
  let network = 'loopback (127.0.0.1), process-level faults only';
  if (options.netns) {
    const probe = NetnsLab.available();
    if (probe.ok) {
      lab = new NetnsLab(options.validators);
      network = `one network namespace per validator (${lab.address(0)}...), veth pairs into a bridge, partitions by blackhole routes`;
    } else {
      network = `loopback, process-level faults only: network namespaces are unavailable here (${probe.reason})`;
    }
    out.progress(network);
  }
  const partitions = lab !== undefined;
  const skew = options.skew ?? true;
  const preview = options.schedule ?? firstFaults(seed, options.validators, 5, partitions, skew);
  out.progress(
    `schedule ${scheduleDigest(preview)}: ${preview.map(describeFault).join('; ')}${options.schedule === undefined ? '; ...' : ''}`,
  );
  const temporary = options.dir === undefined;
  const dir = resolve(options.dir ?? mkdtempSync(join(tmpdir(), 'medchain-chaos-')));
  await devnetUp(
    {
      dir,
      validators: options.validators,
      reset: true,
      waitTimeout: 120_000,
      basePort: options.basePort ?? 0,
      ...(options.manifest === undefined ? {} : { manifest: options.manifest }),
    },
    out,
  );
  let net = readDevnet(dir);
  const onSignal = () => {
    for (const n of net.nodes) if (n.pid !== null) killQuietly(n.pid);
    lab?.cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (lab !== undefined) {
    try {
      net = await moveIntoNamespaces(dir, net, lab, out);
    } catch (error) {
      await Promise.all(net.nodes.map((n) => stopNode(n)));
      lab.cleanup();
      throw error;
    }
  }
  try {
    await options.beforeLoad?.(dir);
  } catch (error) {
    await Promise.all(net.nodes.map((n) => stopNode(n)));
    lab?.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw error;
  }
  const load = new ChaosLoad(net.chainId, net.nodes, options.clients, seed, (node, signer) =>
    devnetClient(net, findNode(net, node.name), { timeoutMs: REQUEST_TIMEOUT_MS, signer }),
  );
  const records: FaultRecord[] = [];
  const unexpectedExits: string[] = [];
  const started = Date.now();
  let check: CheckResult;
  try {
    load.start();
    const walRng = new SeededRandom(seed ^ 0x5a5a5a5a);
    const schedule = options.schedule ?? faultSchedule(seed, options.validators, partitions, skew);
    for (const fault of schedule) {
      const killsLeft = (options.kills ?? 0) > records.filter((r) => r.kind === 'kill').length;
      const timeUp = Date.now() - started >= options.duration;
      const countUp = options.faults !== undefined && fault.index >= options.faults;
      if (options.schedule === undefined && (timeUp || countUp) && !killsLeft) break;
      for (const node of net.nodes) {
        if (processState(node.pid, node.home) !== 'exited') continue;
        unexpectedExits.push(`${node.name} before fault ${fault.index}`);
        out.progress(`${node.name} exited on its own (see its node.log); restarting it`);
        node.pid = spawnNode(dir, node, lab?.wrapper(net.nodes.indexOf(node)));
        writeDevnet(dir, net);
      }
      records.push(await inject(fault, net, dir, walRng, options.livenessBound, out, lab));
      await sleep(fault.gapMs);
    }
    out.progress(
      `faults done after ${Math.round((Date.now() - started) / 1000)} s; stopping the load`,
    );
    await load.stop();
    out.progress(`checking ${load.acknowledged.size} acknowledged transactions on every node`);
    check = await checkChain({
      chainId: net.chainId,
      nodes: net.nodes,
      reader: (node) => memberReader(dir, net, findNode(net, node.name)),
      acknowledged: load.acknowledged,
      convergenceTimeoutMs: options.livenessBound,
    });
  } finally {
    lab?.heal();
    await load.stop();
    await Promise.all(net.nodes.map((n) => stopNode(n)));
    for (const n of net.nodes) n.pid = null;
    writeDevnet(dir, net);
    lab?.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const recoveries = records.map((r) => r.recoveryMs).filter((ms): ms is number => ms !== null);
  const skews = records.filter((r) => r.skew !== null);
  const livenessFailures =
    records.length - recoveries.length + skews.filter((r) => r.skew!.catchUpMs === null).length;
  const kills = records.filter((r) => r.kind === 'kill');
  const report: ChaosReport = {
    seed,
    scheduleDigest: scheduleDigest(
      options.schedule ?? firstFaults(seed, options.validators, records.length, partitions, skew),
    ),
    validators: options.validators,
    network,
    notCovered: [
      ...(partitions ? [] : [PARTITIONS_NOT_COVERED]),
      skew ? CLOCK_SKEW_BEYOND_TOLERANCE : CLOCK_SKEW_NOT_COVERED,
    ],
    durationMs: Date.now() - started,
    faults: records,
    kills: kills.length,
    primaryKills: kills.filter((r) => r.wasPrimary).length,
    pauses: records.filter((r) => r.kind === 'pause').length,
    partitions: records.filter((r) => r.kind === 'partition').length,
    skews: skews.length,
    timeRefusals: net.nodes.reduce((sum, n) => sum + timeRefusals(n.home), 0),
    walDamaged: records.filter((r) => r.walBytesAppended > 0).length,
    maxRecoveryMs: recoveries.length === 0 ? null : Math.max(...recoveries),
    livenessBoundMs: options.livenessBound,
    livenessFailures,
    unexpectedExits,
    loadErrors: Object.fromEntries(load.errors),
    check,
    ok: check.ok && livenessFailures === 0 && unexpectedExits.length === 0,
  };
  if (options.out !== undefined) writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  if (temporary && report.ok) rmSync(dir, { recursive: true, force: true });
  else out.progress(`devnet kept in ${dir} (logs in each home's node.log)`);
  return report;
}

/** The node logs this line (chain.ts) when it refuses a proposal whose time is ahead of its clock. */
const TIME_REFUSAL = 'proposal refused: time is ahead';

function timeRefusals(home: string): number {
  try {
    return readFileSync(join(home, LOG_FILE), 'utf8').split(TIME_REFUSAL).length - 1;
  } catch {
    return 0;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Stops the freshly made devnet, rewrites every home and devnet.json so validator i listens on
 * its namespace's own address (same ports everywhere), and starts each inside its namespace.
 */
async function moveIntoNamespaces(
  dir: string,
  net: Devnet,
  lab: NetnsLab,
  out: Output,
): Promise<Devnet> {
  const { CONFIG_FILE_NAME } = await nodePackage();
  await Promise.all(net.nodes.map((n) => stopNode(n)));
  lab.setup();
  const p2p = (i: number) => `/ip4/${lab.address(i)}/tcp/${NETNS_P2P_PORT}`;
  // Off loopback a node serves its API only over TLS: certificates for the namespace addresses.
  net.tls = {
    ca: await makeDevnetTls(
      dir,
      net.nodes.map((node, i) => ({ name: node.name, home: node.home, apiHost: lab.address(i) })),
    ),
  };
  net.nodes.forEach((node, i) => {
    node.p2p = p2p(i);
    node.api = `https://${lab.address(i)}:${NETNS_P2P_PORT + 1}`;
    const configPath = join(node.home, CONFIG_FILE_NAME);
    const config = readJsonFile(configPath, 'config') as ConfigOverrides;
    config.listen = [p2p(i)];
    config.api = {
      ...config.api,
      host: lab.address(i),
      port: NETNS_P2P_PORT + 1,
      tls: nodeTlsPaths(node.home),
    };
    config.peers = net.nodes
      .map((peer, j) => ({ peerId: peer.peerId, addrs: [p2p(j)] }))
      .filter((_, j) => j !== i);
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  });
  net.nodes.forEach((node, i) => {
    node.pid = spawnNode(dir, node, lab.wrapper(i));
    out.progress(`  ${node.name}: started in ${lab.namespace(i)}, api ${node.api}`);
  });
  writeDevnet(dir, net);
  // An idle chain makes no block: moved nodes are ready once they have met again.
  await waitForMesh(net, 120_000);
  return net;
}

/** Fails the command (exit 1) when the verdict is not clean, after the report was printed. */
export function assertVerdict(report: ChaosReport): void {
  if (report.ok) return;
  throw new CliError(
    'CHAOS_VIOLATION',
    `seed ${report.seed}: ${report.check.violations.length} safety violations, ${report.livenessFailures} faults without recovery within ${report.livenessBoundMs} ms, ${report.unexpectedExits.length} unexpected exits`,
    { exitCode: EXIT.failed, hint: `replay with --seed ${report.seed}` },
  );
}
