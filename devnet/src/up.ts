import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Output } from '@medchain/cli';
import {
  addOrganization,
  CliError,
  createKeystore,
  EXIT,
  initHome,
  integer,
  LOG_FILE,
  newGenesisDraft,
  nodePackage,
  PASSPHRASE_ENV,
  readJsonFile,
  usageError,
  writeGenesis,
  writeSecretFile,
} from '@medchain/cli';
import { randomBytes } from '@medchain/client';
import { fromHex, toHex } from '@medchain/crypto';
import type { ConfigOverrides } from '@medchain/node';
import { type Manifest, nodeName, readManifest } from './manifest.js';
import {
  CLEAN_LINK,
  commandFailure,
  DEVNET_TAGS,
  describeLink,
  isClean,
  type LinkEmulator,
  type LinkShape,
  type NetnsFootprint,
  NetnsLab,
} from './netns.js';
import {
  builtCliMain,
  type Devnet,
  type DevnetNode,
  describeNetwork,
  devnetPassphrase,
  devnetPath,
  PASSPHRASE_FILE,
  processState,
  readDevnet,
  spawnCli,
  spawnNode,
  tryStatus,
  waitForExit,
  waitForMesh,
  writeDevnet,
} from './state.js';
import { makeDevnetTls, nodeTlsPaths } from './tls.js';
import type { SwitchReport } from './wan-switch.js';

/** `--base-port`: 0 (the OS picks each node's ports) or the first of 2n consecutive ports. */
export function parseBasePort(value: string): number {
  return value === '0' ? 0 : integer(1024, 65_000)(value);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () =>
      server.close(() => done(true)),
    );
  });
}

async function checkPorts(manifest: Manifest): Promise<void> {
  const ports = Array.from({ length: manifest.validators * 2 }, (_, i) => manifest.basePort + i);
  const busy: number[] = [];
  for (const port of ports) if (!(await portFree(port))) busy.push(port);
  if (busy.length > 0) {
    throw usageError(
      `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} on 127.0.0.1 ${busy.length > 1 ? 'are' : 'is'} in use`,
      `pick other ports with --base-port (the devnet needs ${ports.length} consecutive ports), or stop what uses them`,
    );
  }
}

/** Where node i listens: libp2p on `p2p`, the API on `api` (the same host on loopback). */
type Hosts = (index: number) => { p2p: string; api: string };

/** Creates keys, homes and genesis (and with `tls`, a CA and certificates) for a new devnet. */
async function createDevnet(
  dir: string,
  manifest: Manifest,
  hosts: Hosts,
  out: Output,
  tls = false,
): Promise<Devnet> {
  const { GENESIS_FILE } = await nodePackage();
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  if (process.env[PASSPHRASE_ENV] === undefined || process.env[PASSPHRASE_ENV] === '') {
    writeSecretFile(join(dir, PASSPHRASE_FILE), `${toHex(randomBytes(24))}\n`);
  }
  const passphrase = devnetPassphrase(dir);
  let draft = newGenesisDraft(manifest.chainId, Date.now(), {}, manifest.consensus);
  const nodes: DevnetNode[] = [];
  for (let i = 0; i < manifest.validators; i++) {
    const name = nodeName(i);
    // Base port 0: the OS picks each port when the node listens; startNodes reads them back.
    const p2pPort = manifest.basePort === 0 ? 0 : manifest.basePort + 2 * i;
    const apiPort = manifest.basePort === 0 ? 0 : p2pPort + 1;
    out.progress(
      `  ${name}: keys and home (${manifest.basePort === 0 ? 'ports chosen when it starts' : `p2p ${p2pPort}, api ${apiPort}`})`,
    );
    const home = join(dir, name);
    const host = hosts(i);
    const p2p = `/ip4/${host.p2p}/tcp/${p2pPort}`;
    const info = await initHome(home, passphrase, {
      listen: [p2p],
      // The certificate files are made below, once every home exists.
      api: { host: host.api, port: apiPort, ...(tls ? { tls: nodeTlsPaths(home) } : {}) },
      logLevel: manifest.logLevel,
      tickIntervalMs: manifest.tickIntervalMs,
      block: manifest.block,
    });
    const adminKey = join(dir, 'keys', `${name}-admin.json`);
    const admin = createKeystore(adminKey, passphrase);
    const orgId = randomBytes(32);
    draft = addOrganization(draft, {
      id: orgId,
      adminKeys: [admin.publicKey],
      validatorKey: fromHex(info.validatorKey),
      peerId: info.peerId,
    });
    nodes.push({
      name,
      api: `${tls ? 'https' : 'http'}://${host.api}:${apiPort}`,
      p2p,
      pid: null,
      home,
      peerId: info.peerId,
      validator: true,
      orgId: toHex(orgId),
      adminKey,
    });
  }
  const genesisPath = join(dir, GENESIS_FILE);
  writeGenesis(genesisPath, draft);
  const ca = tls
    ? await makeDevnetTls(
        dir,
        nodes.map((node, i) => ({ name: node.name, home: node.home, apiHost: hosts(i).api })),
      )
    : undefined;
  if (ca !== undefined)
    out.progress(`  TLS: a CA for this run (${ca}) signed each node's certificate`);
  for (const node of nodes) {
    copyFileSync(genesisPath, join(node.home, GENESIS_FILE));
    await writeNodeConfig(node, nodes);
  }
  const devnet: Devnet = {
    chainId: manifest.chainId,
    genesis: genesisPath,
    nodes,
    ...(ca === undefined ? {} : { tls: { ca } }),
  };
  writeDevnet(dir, devnet);
  return devnet;
}

/** An address that still says port 0: the OS picks it when the node listens. */
const unbound = (address: string) => /:0$|\/tcp\/0$/.test(address);

/** A node whose addresses are not both known yet. */
function portPending(node: DevnetNode): boolean {
  return unbound(node.api) || unbound(node.p2p);
}

/**
 * Writes what a node's config.json knows of the devnet: its own addresses (once known, so a
 * restart listens where the others look for it), the peers whose libp2p addresses are known, and
 * the other APIs the web app's operator dashboard reads from the browser (its CSP lists them,
 * and they accept its origin: CORS).
 */
async function writeNodeConfig(node: DevnetNode, nodes: readonly DevnetNode[]): Promise<void> {
  const { CONFIG_FILE_NAME } = await nodePackage();
  const configPath = join(node.home, CONFIG_FILE_NAME);
  const config = readJsonFile(configPath, 'config') as ConfigOverrides;
  const others = nodes.filter((peer) => peer !== node);
  config.peers = others
    .filter((peer) => !unbound(peer.p2p))
    .map((peer) => ({ peerId: peer.peerId, addrs: [peer.p2p] }));
  const apis = others.map((peer) => peer.api).filter((api) => !unbound(api));
  config.listen = [node.p2p];
  config.api = {
    ...config.api,
    port: Number(new URL(node.api).port),
    app: { enabled: true, ...config.api?.app, dashboardNodes: apis },
    cors: { origins: apis },
  };
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
}

/** How long a starting node on port 0 may take until its API answers. */
const LISTEN_TIMEOUT_MS = 120_000;

/**
 * The TCP ports process `pid` listens on: its socket descriptors matched against the LISTEN
 * rows of its network namespace's /proc tables (Linux). Read from the kernel, not from the
 * node's log, so neither its log level nor its wording matters.
 */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (socket !== null) inodes.add(socket[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let rows: string[];
    try {
      rows = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const row of rows) {
      // sl local_address rem_address st ... inode; st 0A is LISTEN; the port is hex after ':'.
      const fields = row.trim().split(/\s+/);
      if (fields[3] === '0A' && inodes.has(fields[9] ?? '')) {
        ports.push(Number.parseInt(fields[1]!.split(':')[1]!, 16));
      }
    }
  }
  return ports;
}

/**
 * Reads back where a node started on port 0 listens: of the ports its process listens on, the
 * one that answers the status API is its API; the other is libp2p's.
 */
async function readBack(devnet: Devnet, node: DevnetNode): Promise<void> {
  const api = new URL(node.api);
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    const ports = listeningPorts(node.pid!);
    if (ports.length >= 2) {
      for (const port of ports) {
        const candidate = `${api.protocol}//${api.hostname}:${port}`;
        if ((await tryStatus(devnet, { ...node, api: candidate })) === undefined) continue;
        const p2p = ports.find((other) => other !== port)!;
        node.api = candidate;
        node.p2p = node.p2p.replace(/\/tcp\/0$/, `/tcp/${p2p}`);
        return;
      }
    }
    if (processState(node.pid, node.home) === 'exited' || Date.now() > deadline) {
      throw new CliError('DEVNET_NOT_LISTENING', `${node.name} did not start listening`, {
        exitCode: EXIT.failed,
        hint: `read its log: ${join(node.home, LOG_FILE)}`,
      });
    }
    await sleep(250);
  }
}

/**
 * Starts the devnet's stopped nodes. Nodes with known ports start together. A node on port 0
 * starts once the ones before it listen, knowing their addresses (it dials them; a member's
 * inbound connection serves the other direction); where it listens is read back, recorded in
 * devnet.json and pinned in its config, so a restart listens there again. Then every config
 * lists every peer.
 */
async function startNodes(dir: string, devnet: Devnet, out: Output): Promise<void> {
  const stopped = devnet.nodes.filter((node) => processState(node.pid, node.home) === 'exited');
  const started = (node: DevnetNode) =>
    out.progress(
      `  ${node.name}: started, pid ${node.pid}, api ${node.api}${node.namespace === undefined ? '' : ` (namespace ${node.namespace})`}`,
    );
  for (const node of stopped.filter((n) => !portPending(n))) {
    node.pid = spawnNode(dir, node);
    started(node);
  }
  writeDevnet(dir, devnet);
  const pending = stopped.filter(portPending);
  for (const node of pending) {
    await writeNodeConfig(node, devnet.nodes);
    node.pid = spawnNode(dir, node);
    writeDevnet(dir, devnet);
    await readBack(devnet, node);
    writeDevnet(dir, devnet);
    started(node);
  }
  if (pending.length > 0) {
    for (const node of devnet.nodes) await writeNodeConfig(node, devnet.nodes);
  }
}

export interface UpOptions {
  dir: string;
  validators?: number;
  basePort?: number;
  chainId?: string;
  manifest?: string;
  reset?: boolean;
  waitTimeout: number;
  /** Each validator in its own network namespace, as a separate host (root, iproute2). */
  netns?: boolean;
  /** The link shape (needs `netns`): one-way delay per host in ms... */
  latency?: number;
  /** ...its jitter in ms... */
  jitter?: number;
  /** ...loss per host in percent... */
  loss?: number;
  /** ...and bandwidth per host ("10mbit"). */
  rate?: string;
  /** HTTPS APIs: a CA for the run and a certificate per node (new devnets only; always with netns). */
  tls?: boolean;
  /** Validators run the built CLI with plain node, as installed (new devnets only). */
  built?: boolean;
  /** Each validator writes a CPU profile into this directory when it exits (new devnets only). */
  cpuProfile?: string;
}

const LINK_FLAGS = ['latency', 'jitter', 'loss', 'rate'] as const;

/** The link the options ask for; undefined without --netns (where no link option may be given). */
function requestedLink(options: UpOptions): LinkShape | undefined {
  const given = LINK_FLAGS.filter((flag) => options[flag] !== undefined);
  if (!options.netns) {
    if (given.length === 0) return undefined;
    throw usageError(
      `${given.map((flag) => `--${flag}`).join(', ')} shape${given.length === 1 ? 's' : ''} the links between validator namespaces: it needs --netns`,
      `e.g. medchain devnet up --netns --latency 50ms --loss 1% --dir ${options.dir}`,
    );
  }
  const link: LinkShape = {
    latencyMs: options.latency ?? 0,
    jitterMs: options.jitter ?? 0,
    lossPercent: options.loss ?? 0,
    rate: options.rate ?? null,
  };
  if (link.jitterMs > 0 && link.latencyMs === 0) {
    throw usageError('--jitter varies the delay set by --latency: give --latency too');
  }
  return link;
}

/** The probe's verdict: namespaces work here; whether the kernel has netem. */
function requireNamespaces(link: LinkShape): { netem: boolean } {
  const probe = NetnsLab.available({ tc: !isClean(link) });
  if (probe.ok) return probe;
  throw new CliError(
    'NETNS_UNAVAILABLE',
    `network namespaces are unavailable here: ${probe.reason}`,
    {
      hint: 'run as root on Linux with iproute2 (ip, tc) installed, or drop --netns to run every node on 127.0.0.1',
    },
  );
}

/** netem where the kernel has it; MEDCHAIN_WAN_EMULATOR=switch forces the switch (to test it). */
function chooseEmulator(kernelHasNetem: boolean): LinkEmulator {
  return kernelHasNetem && process.env.MEDCHAIN_WAN_EMULATOR !== 'switch' ? 'netem' : 'switch';
}

const NOTHING_MADE: NetnsFootprint = { namespaces: [], links: [] };

/**
 * Removes what `up --netns` made for this devnet, as recorded in devnet.json (its nodes are
 * stopped or dead): the switch, then the namespaces with their veths and qdiscs, then the
 * runner's link. What it removed.
 */
export async function removeNamespaces(dir: string, devnet: Devnet): Promise<string[]> {
  const netns = devnet.netns;
  if (netns === undefined) return [];
  const removed: string[] = [];
  if (processState(netns.switchPid, dir) !== 'exited') {
    const pid = netns.switchPid!;
    process.kill(pid, 'SIGTERM');
    if (!(await waitForExit(pid, dir, 3_000))) process.kill(pid, 'SIGKILL');
    removed.push(`the WAN switch (pid ${pid})`);
  }
  netns.switchPid = null;
  if (netns.made.namespaces.length > 0 || netns.made.links.length > 0) {
    const result = NetnsLab.remove(netns.made);
    if (result.left.length > 0) {
      writeDevnet(dir, devnet);
      throw new CliError('NETNS_LEFT', `could not remove ${result.left.join(', ')}`, {
        hint: 'is this root? remove them by hand: ip netns del NAME / ip link del NAME',
      });
    }
    removed.push(...result.removed);
    netns.made = NOTHING_MADE;
  }
  writeDevnet(dir, devnet);
  return removed;
}

/**
 * Makes sure the devnet's namespaces, bridge and runner link exist (recording them before making
 * them) and gives every validator's link the shape.
 */
async function raiseNamespaces(
  dir: string,
  devnet: Devnet,
  link: LinkShape,
  out: Output,
): Promise<void> {
  const netns = devnet.netns!;
  const lab = new NetnsLab(devnet.nodes.length, netns.tag);
  const ours = netns.made.namespaces.length > 0;
  if (!(ours && NetnsLab.present(lab.footprint))) {
    // A crash or a hand-deleted namespace left half a lab: clear it and build it again.
    if (ours) await removeNamespaces(dir, devnet);
    try {
      lab.claim();
    } catch {
      throw new CliError(
        'NETNS_TAKEN',
        `namespace ${lab.hub} (subnet ${lab.subnet}) belongs to another devnet now`,
        {
          hint: `recreate this one with a free tag: medchain devnet up --netns --reset --dir ${dir}`,
        },
      );
    }
    // Recorded right after the claim and before the rest is made: `down` finds it all.
    netns.made = lab.footprint;
    writeDevnet(dir, devnet);
    out.progress(`  namespaces ${lab.namespace(0)}..., bridge in ${lab.hub}, subnet ${lab.subnet}`);
    try {
      lab.setup();
      lab.setupWan(netns.emulator);
    } catch (error) {
      await removeNamespaces(dir, devnet);
      throw new CliError(
        'NETNS_SETUP_FAILED',
        `could not build the namespaces: ${commandFailure(error)}`,
      );
    }
  }
  netns.link = link;
  writeDevnet(dir, devnet);
  if (netns.emulator === 'netem') {
    try {
      lab.shape(link);
    } catch (error) {
      throw new CliError(
        'NETNS_SHAPE_FAILED',
        `tc could not shape the links: ${commandFailure(error)}`,
      );
    }
  } else {
    await startSwitch(dir, devnet);
  }
  out.progress(`  every validator's WAN link: ${describeLink(link)} (${netns.emulator})`);
}

/** The switch's report file in the devnet directory (rewritten every second while it runs). */
export const SWITCH_REPORT = 'wan-switch.json';

/**
 * Starts the user-space switch if it does not run, or makes it reread the link (SIGHUP); waits
 * until its report shows the link devnet.json records.
 */
async function startSwitch(dir: string, devnet: Devnet): Promise<void> {
  const netns = devnet.netns!;
  if (processState(netns.switchPid, dir) === 'running') {
    process.kill(netns.switchPid!, 'SIGHUP');
  } else {
    rmSync(join(dir, SWITCH_REPORT), { force: true });
    netns.switchPid = spawnCli(
      'the WAN switch',
      ['devnet', 'wan-switch', '--dir', dir],
      join(dir, 'wan-switch.log'),
    );
    writeDevnet(dir, devnet);
  }
  const deadline = Date.now() + 15_000;
  for (;;) {
    const report = readSwitchReport(dir);
    if (
      report !== undefined &&
      report.pid === netns.switchPid &&
      JSON.stringify(report.link) === JSON.stringify(netns.link)
    ) {
      return;
    }
    if (Date.now() > deadline || processState(netns.switchPid, dir) === 'exited') {
      throw new CliError('WAN_SWITCH_FAILED', 'the WAN switch did not start', {
        hint: `read ${join(dir, 'wan-switch.log')}`,
      });
    }
    await sleep(100);
  }
}

export function readSwitchReport(dir: string): SwitchReport | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, SWITCH_REPORT), 'utf8')) as SwitchReport;
  } catch {
    return undefined;
  }
}

/**
 * `devnet up`: a new devnet (keys, genesis, homes), or the existing one in `dir` with its
 * stopped nodes started again; then waits until every validator is connected to the others. With
 * `netns`, every validator runs as its own host in a network namespace, its outgoing link
 * shaped by netem; on an existing namespaced devnet, `netns` with link options reshapes the
 * links (omitted ones are clean) and without it the recorded shape is kept.
 */
export async function devnetUp(
  options: UpOptions,
  out: Output,
): Promise<Devnet & { heights: Record<string, number>; network: string }> {
  const dir = resolve(options.dir);
  const requested = requestedLink(options);
  const probe = requested === undefined ? undefined : requireNamespaces(requested);
  const exists = existsSync(devnetPath(dir));
  if (options.reset && exists) {
    const old = readDevnet(dir);
    const running = old.nodes.filter((n) => processState(n.pid, n.home) !== 'exited');
    if (running.length > 0) {
      throw new CliError(
        'DEVNET_RUNNING',
        `${running.map((n) => n.name).join(', ')} still running in ${dir}`,
        {
          hint: `stop it first: medchain devnet down --dir ${options.dir}`,
        },
      );
    }
    if (old.netns !== undefined && old.netns.made.namespaces.length > 0) {
      requireNamespaces(CLEAN_LINK);
      await removeNamespaces(dir, old);
    }
    rmSync(dir, { recursive: true, force: true });
  } else if (!exists && existsSync(dir) && readdirSync(dir).length > 0) {
    throw usageError(`${dir} is not empty and holds no devnet`, 'pick a new or empty --dir');
  }
  // Before anything is made: a missing or stale build is a usage problem, not a half-made devnet.
  if (options.built) builtCliMain();
  let devnet: Devnet;
  if (options.reset || !exists) {
    const manifest = readManifest(options.manifest);
    if (options.validators !== undefined) manifest.validators = options.validators;
    if (options.basePort !== undefined) manifest.basePort = options.basePort;
    if (options.chainId !== undefined) manifest.chainId = options.chainId;
    if (requested === undefined) {
      if (manifest.basePort !== 0) await checkPorts(manifest);
      out.progress(
        `Creating a ${manifest.validators}-validator devnet "${manifest.chainId}" in ${dir}`,
      );
      devnet = await createDevnet(
        dir,
        manifest,
        () => ({ p2p: '127.0.0.1', api: '127.0.0.1' }),
        out,
        options.tls,
      );
    } else {
      const tag = NetnsLab.freeTag();
      if (tag === undefined) {
        throw new CliError(
          'NETNS_EXHAUSTED',
          `every devnet namespace tag from ${DEVNET_TAGS.from} to ${DEVNET_TAGS.to} is in use`,
          { hint: 'take old devnets down: medchain devnet down --dir DIR' },
        );
      }
      const lab = new NetnsLab(manifest.validators, tag);
      out.progress(
        `Creating a ${manifest.validators}-validator devnet "${manifest.chainId}" in ${dir}, one network namespace per validator`,
      );
      // The APIs are on a LAN address, not loopback: the node serves them only over TLS.
      devnet = await createDevnet(
        dir,
        manifest,
        (i) => ({ p2p: lab.wanAddress(i), api: lab.address(i) }),
        out,
        true,
      );
      devnet.nodes.forEach((node, i) => {
        node.namespace = lab.namespace(i);
      });
      devnet.netns = {
        tag,
        subnet: lab.subnet,
        wanSubnet: lab.wanSubnet,
        link: requested,
        emulator: chooseEmulator(probe!.netem),
        switchPid: null,
        made: NOTHING_MADE,
      };
      writeDevnet(dir, devnet);
    }
    if (options.built) devnet.built = true;
    if (options.cpuProfile !== undefined) devnet.cpuProfileDir = resolve(options.cpuProfile);
    if (options.built || options.cpuProfile !== undefined) writeDevnet(dir, devnet);
  } else {
    devnet = readDevnet(dir);
    if (options.built && devnet.built === undefined) {
      throw usageError(
        `the devnet in ${dir} runs its validators from source; --built is for a new one`,
        `recreate it: medchain devnet up --built --reset --dir ${options.dir}`,
      );
    }
    if (options.cpuProfile !== undefined && devnet.cpuProfileDir !== resolve(options.cpuProfile)) {
      throw usageError(
        `the devnet in ${dir} was made ${devnet.cpuProfileDir === undefined ? 'without --cpu-profile' : `with --cpu-profile ${devnet.cpuProfileDir}`}; it is chosen for a new one`,
        `recreate it: medchain devnet up --cpu-profile ${options.cpuProfile} --reset --dir ${options.dir}`,
      );
    }
    if (options.tls && devnet.tls === undefined) {
      throw usageError(
        `the devnet in ${dir} was made without TLS; --tls makes certificates for a new one`,
        `recreate it: medchain devnet up --tls --reset --dir ${options.dir}`,
      );
    }
    if (requested !== undefined && devnet.netns === undefined) {
      throw usageError(
        `the devnet in ${dir} runs on 127.0.0.1; --netns needs one made for namespaces`,
        `recreate it: medchain devnet up --netns --reset --dir ${options.dir}`,
      );
    }
    out.progress(`Starting the stopped nodes of the devnet in ${dir}`);
  }
  if (devnet.netns !== undefined) {
    const link = requested ?? devnet.netns.link;
    if (requested === undefined) requireNamespaces(link);
    await raiseNamespaces(dir, devnet, link, out);
  }
  await startNodes(dir, devnet, out);
  out.progress(
    `Waiting until every validator is connected to all the others (up to ${options.waitTimeout / 1000} s)...`,
  );
  const heights = await waitForMesh(devnet, options.waitTimeout);
  return { ...devnet, heights: Object.fromEntries(heights), network: describeNetwork(devnet) };
}
