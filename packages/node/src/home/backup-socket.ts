import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { toHex } from '@medchain/crypto';
import type { Logger } from '../logger.js';
import { type EntrySource, writeDump } from './level-dump.js';

/**
 * The backup socket: a Unix socket in the home, mode 0600, through which `medchain backup` asks
 * the running node for a consistent copy of what only it may open (LevelDB holds a lock on
 * db/ and vault/). Whoever can open it can read the home's files anyway: the file mode is the
 * authorization, and nothing of it is reachable from the network.
 *
 * Protocol: the client sends one JSON line (`{}`: no options yet); the node writes `db.dump`,
 * `vault.dump` (level-dump.ts) and `wal/<segments>` into a new directory `<home>/.backup-XXXXXX`
 * (the one place a hardened unit lets it write) and answers one JSON line,
 * `{"ok": true, "dir", "height", "stateRoot"}` or `{"ok": false, "code", "message"}`. The client
 * reads the directory and removes it; one a client left behind is removed at the next start.
 */
export const BACKUP_SOCKET_FILE = 'backup.sock';
/** Prefix of the snapshot directories the node makes in its home. */
export const BACKUP_DIR_PREFIX = '.backup-';
/** Linux's limit on a Unix socket path (sun_path, with its NUL). */
const MAX_SOCKET_PATH = 107;

export interface SnapshotSources {
  /** The chain database's and the vault's entries, each snapshotted synchronously by the call. */
  readonly db: () => EntrySource;
  readonly vault: () => EntrySource;
  readonly walDir: string;
  /** The committed head; `writing` while a block's batch is in flight. */
  readonly head: () => { height: number; stateRoot: Uint8Array; writing: boolean };
}

export interface SnapshotResult {
  readonly height: number;
  readonly stateRoot: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes a consistent copy into `dir`: waits until no block batch is in flight, then in one
 * synchronous step takes both LevelDB snapshots, copies the WAL's segments and reads the head,
 * so no write of this process lands between them. What an in-flight WAL append left half
 * written is a torn tail, which the WAL's replay drops as it does after a crash.
 */
export async function takeSnapshot(sources: SnapshotSources, dir: string): Promise<SnapshotResult> {
  for (let waited = 0; sources.head().writing && waited < 2_000; waited++) await sleep(5);
  const db = sources.db();
  const vault = sources.vault();
  mkdirSync(join(dir, 'wal'), { recursive: true });
  for (const name of readdirSync(sources.walDir)) {
    if (!name.endsWith('.tmp')) copyFileSync(join(sources.walDir, name), join(dir, 'wal', name));
  }
  const head = sources.head();
  await writeDump(db, join(dir, 'db.dump'));
  await writeDump(vault, join(dir, 'vault.dump'));
  return { height: head.height, stateRoot: toHex(head.stateRoot) };
}

export interface BackupSocket {
  readonly path: string | undefined;
  close(): Promise<void>;
}

/** Listens on `<home>/backup.sock` (one backup at a time); path undefined when the home's path is too long. */
export async function startBackupSocket(
  home: string,
  sources: SnapshotSources,
  logger: Logger,
): Promise<BackupSocket> {
  const path = join(home, BACKUP_SOCKET_FILE);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    logger.warn({ path }, 'home path too long for a Unix socket: online backup unavailable');
    return { path: undefined, close: async () => {} };
  }
  // A socket left by a node that crashed: removed (only a socket, never another file); and
  // snapshot directories a client did not collect.
  const stale = await lstat(path).catch(() => undefined);
  if (stale?.isSocket()) await unlink(path);
  for (const name of readdirSync(home)) {
    if (name.startsWith(BACKUP_DIR_PREFIX))
      rmSync(join(home, name), { recursive: true, force: true });
  }
  let busy = false;
  const open = new Set<Socket>();
  const serve = (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    let line = '';
    const answer = (body: object) => socket.end(`${JSON.stringify(body)}\n`);
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      line += chunk;
      if (line.length > 4_096) return socket.destroy();
      if (!line.includes('\n')) return;
      socket.removeAllListeners('data');
      if (busy) return answer({ ok: false, code: 'BACKUP_BUSY', message: 'a backup is running' });
      busy = true;
      let target: string | undefined;
      Promise.resolve()
        .then(() => {
          target = mkdtempSync(join(home, BACKUP_DIR_PREFIX));
          return takeSnapshot(sources, target);
        })
        .then((result) => {
          logger.info({ ...result, dir: target }, 'backup snapshot written');
          answer({ ok: true, dir: target, ...result });
        })
        .catch((error: unknown) => {
          logger.error({ err: error, dir: target }, 'backup snapshot failed');
          if (target !== undefined) rmSync(target, { recursive: true, force: true });
          answer({ ok: false, code: 'BACKUP_FAILED', message: (error as Error).message });
        })
        .finally(() => {
          busy = false;
        });
    });
  };
  const server: Server = createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return {
    path,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A client that never sends its line would hold the node's shutdown for ever; a backup
      // in progress fails (the stores are closing next) and removes its directory.
      for (const socket of open) socket.destroy();
      await closed;
      await unlink(path).catch(() => undefined);
    },
  };
}
