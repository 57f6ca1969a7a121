import { renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PeerConfig } from '@medchain/node';
import type { Command } from 'commander';
import { example, outputOf } from '../../util/common.js';
import { CliError, usageError } from '../../util/errors.js';
import { homeIdentity, requireHomeFile } from '../../util/home.js';
import { nodePackage } from '../../util/node-package.js';
import { checkPeerAddress, readOrgSpec } from '../../util/org-spec.js';
import { fields, table } from '../../util/output.js';

interface HomeOption {
  home: string;
}

interface AddOptions extends HomeOption {
  org: string[];
  peerId?: string;
  addr: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** config.json of a home as the node reads it (unknown fields refused), and its path. */
async function readHomeConfig(
  home: string,
): Promise<{ path: string; raw: Record<string, unknown>; peers: PeerConfig[] }> {
  const node = await nodePackage();
  const dir = resolve(home);
  requireHomeFile(dir, node.CONFIG_FILE_NAME);
  const path = join(dir, node.CONFIG_FILE_NAME);
  let raw: Record<string, unknown>;
  let peers: PeerConfig[];
  try {
    raw = node.readConfigFile(dir);
    peers = node.validateConfig({ ...node.DEFAULT_CONFIG, ...raw, home: dir }).peers;
  } catch (error) {
    throw new CliError('CONFIG_INVALID', (error as Error).message, {
      hint: `fix ${path} first`,
    });
  }
  return { path, raw, peers };
}

/**
 * Writes the home's config with `peers` replaced, after the node's own validation of the whole
 * file passed: a peer the node would refuse never reaches the disk. Written to a temporary file
 * and renamed, so a crash leaves the old file or the new one.
 */
async function writePeers(
  home: string,
  config: { path: string; raw: Record<string, unknown> },
  peers: PeerConfig[],
): Promise<void> {
  const node = await nodePackage();
  for (const peer of peers) for (const addr of peer.addrs) checkPeerAddress(addr, peer.peerId);
  const next = { ...config.raw, peers };
  try {
    node.validateConfig({ ...node.DEFAULT_CONFIG, ...next, home: resolve(home) });
  } catch (error) {
    throw usageError(
      `bad peer: ${(error as Error).message}`,
      'a peer is a libp2p peer id (12D3Koo...) and addresses like /ip4/10.0.0.2/tcp/7700',
    );
  }
  const temporary = `${config.path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(next, null, 2)}\n`);
  renameSync(temporary, config.path);
}

const peerRows = (peers: readonly PeerConfig[]) =>
  table(
    ['peer id', 'addresses'],
    peers.map((peer) => [peer.peerId, peer.addrs.join(' ')]),
  );

export function registerPeers(program: Command): void {
  const peers = program
    .command('peers')
    .description(
      'the other hospitals\' nodes this node dials (config.json "peers"; read when the node starts)',
    );

  example(
    peers
      .command('list')
      .description('list the configured peers of a node home')
      .requiredOption('--home <dir>', 'node home'),
    'medchain peers list --home ./hospital-a',
  ).action(async (options: HomeOption, cmd: Command) => {
    const { peers: list } = await readHomeConfig(options.home);
    outputOf(cmd).result({ peers: list }, (r: { peers: PeerConfig[] }) =>
      r.peers.length === 0 ? ['No peers configured.'] : peerRows(r.peers),
    );
  });

  example(
    peers
      .command('add')
      .description(
        "add a peer, from another hospital's public org file or given by hand; an existing peer id gets the new addresses",
      )
      .requiredOption('--home <dir>', 'node home')
      .option(
        '--org <file>',
        "another hospital's public org file (`medchain genesis org-spec`); repeat for several",
        collect,
        [],
      )
      .option('--peer-id <id>', "the peer's libp2p peer id (12D3Koo...), instead of --org")
      .option(
        '--addr <multiaddr>',
        'where to dial it, e.g. /ip4/10.0.0.2/tcp/7700; repeat for several (with --peer-id)',
        collect,
        [],
      ),
    'medchain peers add --home ./hospital-a --org hospital-b.org.json --org hospital-c.org.json',
    'medchain peers add --home ./hospital-a --peer-id 12D3KooW... --addr /ip4/10.0.0.3/tcp/7700',
  ).action(async (options: AddOptions, cmd: Command) => {
    let added: PeerConfig[];
    if (options.org.length > 0) {
      if (options.peerId !== undefined || options.addr.length > 0) {
        throw usageError('give --org, or --peer-id with --addr, not both');
      }
      added = options.org.map((file) => {
        const spec = readOrgSpec(file);
        return { peerId: spec.peerId, addrs: spec.addrs };
      });
    } else if (options.peerId !== undefined) {
      added = [{ peerId: options.peerId, addrs: options.addr }];
    } else {
      throw usageError('give --org FILE, or --peer-id with --addr');
    }
    const self = (await homeIdentity(options.home)).peerId;
    for (const peer of added) {
      if (peer.addrs.length === 0) {
        throw usageError(`no address for ${peer.peerId}`, 'add --addr /ip4/ADDRESS/tcp/PORT');
      }
      if (peer.peerId === self) {
        throw usageError(
          `${peer.peerId} is this node's own peer id`,
          "add the other hospitals' nodes",
        );
      }
    }
    const config = await readHomeConfig(options.home);
    let next = config.peers;
    for (const peer of added) {
      next = next.some((p) => p.peerId === peer.peerId)
        ? next.map((p) => (p.peerId === peer.peerId ? peer : p))
        : [...next, peer];
    }
    await writePeers(options.home, config, next);
    outputOf(cmd).result(
      { added, peers: next },
      (r: { added: PeerConfig[]; peers: PeerConfig[] }) => [
        ...table(
          ['added or updated', 'addresses'],
          r.added.map((peer) => [peer.peerId, peer.addrs.join(' ')]),
        ),
        '',
        `${r.peers.length} peer(s). A running node dials them after a restart; members it learns from the chain are allowed at once.`,
      ],
    );
  });

  example(
    peers
      .command('remove')
      .description('remove a peer from a node home')
      .requiredOption('--home <dir>', 'node home')
      .requiredOption('--peer-id <id>', "the peer's libp2p peer id"),
    'medchain peers remove --home ./hospital-a --peer-id 12D3KooW...',
  ).action(async (options: HomeOption & { peerId: string }, cmd: Command) => {
    const config = await readHomeConfig(options.home);
    const current = config.peers;
    if (!current.some((p) => p.peerId === options.peerId)) {
      throw new CliError('PEER_NOT_FOUND', `${options.peerId} is not a configured peer`, {
        hint: `see \`medchain peers list --home ${options.home}\``,
      });
    }
    const next = current.filter((p) => p.peerId !== options.peerId);
    await writePeers(options.home, config, next);
    outputOf(cmd).result(
      { removed: options.peerId, peers: next },
      (r: { removed: string; peers: PeerConfig[] }) => [
        ...fields({ removed: r.removed }),
        `${r.peers.length} peer(s) left. A member removed by vote is cut off by the chain itself, at once.`,
      ],
    );
  });
}
