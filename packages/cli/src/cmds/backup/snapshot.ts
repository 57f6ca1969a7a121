import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { CliError } from '../../util/errors.js';
import { readGenesis } from '../../util/home.js';
import { nodePackage } from '../../util/node-package.js';

export interface Snapshot {
  /** Where db.dump, vault.dump and wal/ are; the caller removes it. */
  readonly dir: string;
  readonly height: number;
  readonly stateRoot: string;
  readonly source: 'running node' | 'stopped node';
}

type SocketAnswer =
  | { ok: true; dir: string; height: number; stateRoot: string }
  | { ok: false; code: string; message: string };

/** The backup socket a node running on `home` listens on. */
const backupSocket = async (home: string) => join(home, (await nodePackage()).BACKUP_SOCKET_FILE);

/**
 * Asks the node running on `home` for a snapshot (written in a directory of its home); undefined
 * when no node listens on its backup socket (none, or one left by a crash).
 */
async function askRunningNode(home: string): Promise<SocketAnswer | undefined> {
  const socketPath = await backupSocket(home);
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('{}\n'));
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(undefined);
      else reject(error);
    });
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text) as SocketAnswer);
      } catch {
        reject(new CliError('BACKUP_FAILED', `the node answered on its backup socket: ${text}`));
      }
    });
  });
}

/** True when a node is running on `home` (its backup socket answers). */
export async function nodeRunning(home: string): Promise<boolean> {
  const socketPath = await backupSocket(home);
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * The db, vault and WAL of `home`: written by the running node through its backup socket into
 * its home, else, the node being stopped, read straight from the files (the same snapshot code)
 * into `spare`.
 */
export async function snapshotHome(home: string, spare: string): Promise<Snapshot> {
  const answer = await askRunningNode(home);
  if (answer !== undefined) {
    if (!answer.ok) {
      throw new CliError(answer.code, `the node refused the backup: ${answer.message}`);
    }
    return { ...answer, source: 'running node' };
  }
  if (!existsSync(join(home, 'db'))) {
    throw new CliError(
      'BACKUP_NOTHING',
      `${home} has no chain data yet (no db/): nothing to back up`,
      {
        hint: 'start the node once, or back up the keys with `medchain keys export-public`',
      },
    );
  }
  const node = await nodePackage();
  const genesis = readGenesis(join(home, node.GENESIS_FILE));
  let db: Awaited<ReturnType<typeof node.Database.open>>;
  try {
    db = await node.Database.open(join(home, 'db'));
  } catch (error) {
    throw new CliError(
      'BACKUP_NODE_UNREACHABLE',
      `${home}/db is locked by a process that does not answer on ${join(home, node.BACKUP_SOCKET_FILE)}: ${(error as Error).message}`,
      {
        hint: 'a node runs without its backup socket (an older medchain, or a home path over 107 bytes: its log says so); stop it and run the backup again',
      },
    );
  }
  try {
    const chain = await node.Chain.open({
      db,
      genesis,
      logger: node.createLogger({ level: 'silent' }),
      metrics: node.createMetrics(),
    });
    return await node.withLevel(join(home, 'vault'), async (vault) => {
      const taken = await node.takeSnapshot(
        {
          db: () => db.snapshotEntries(),
          vault: () => node.snapshotEntries(vault),
          walDir: join(home, 'wal'),
          head: () => chain,
        },
        spare,
      );
      return { ...taken, dir: spare, source: 'stopped node' as const };
    });
  } finally {
    await db.close();
  }
}
