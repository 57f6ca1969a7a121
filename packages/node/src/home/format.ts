import { existsSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeError } from '../errors.js';

/**
 * Every node home records the format of its data (db/, wal/, vault/, the files beside them) in
 * `home-format.json`. A node reads only homes of its own format; `medchain upgrade` migrates an
 * older one (migrations.ts). Version 1 is every home made before this file existed.
 */
export const HOME_FORMAT_FILE = 'home-format.json';
/**
 * The format this build writes and reads. Format 3 keeps history (audit entries, paging lists)
 * out of the authenticated state, adds the audit accumulators, and indexes history beside the
 * blocks (db bucket 10): every state root differs from format 2's.
 */
export const HOME_FORMAT_VERSION = 3;
/**
 * The first format of the current state layout. A home older than it holds a chain whose state
 * roots (certified in its headers) this release cannot reproduce, so no upgrade can carry it.
 */
export const STATE_LAYOUT_FORMAT = 3;
/** The format of a home that has chain data but no format file. */
export const LEGACY_HOME_FORMAT = 1;

const UPGRADE_PATH = (home: string) =>
  `back it up (\`medchain backup --home ${home} --out FILE\`), then run \`medchain upgrade --home ${home}\` with the node stopped`;

/** A home with no chain data yet: the node stamps it with the current format on first start. */
export function isFreshHome(home: string): boolean {
  return (
    !existsSync(join(home, HOME_FORMAT_FILE)) &&
    !existsSync(join(home, 'db')) &&
    !existsSync(join(home, 'wal'))
  );
}

/** The home's recorded format; LEGACY_HOME_FORMAT when it has data but no format file. */
export async function readHomeFormat(home: string): Promise<number> {
  const path = join(home, HOME_FORMAT_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return LEGACY_HOME_FORMAT;
    throw new NodeError(
      'NODE_HOME_FORMAT_INVALID',
      `cannot read ${path}: ${(error as Error).message}`,
    );
  }
  let version: unknown;
  try {
    version = (JSON.parse(text) as { version?: unknown }).version;
  } catch {
    version = undefined;
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new NodeError(
      'NODE_HOME_FORMAT_INVALID',
      `${path} must be {"version": N} with N an integer >= 1`,
    );
  }
  return version;
}

/** Writes the format file atomically (tmp, fsync, rename): a crash leaves the old or the new one. */
export async function writeHomeFormat(home: string, version: number): Promise<void> {
  const path = join(home, HOME_FORMAT_FILE);
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ version })}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

/** A home of a format before the current state layout: no migration can carry its chain on. */
export function stateLayoutRefusal(home: string, version: number): NodeError {
  return new NodeError(
    'NODE_HOME_FORMAT_OLD',
    `${home} has data format ${version}; this medchain reads format ${HOME_FORMAT_VERSION} and cannot migrate it: format ${STATE_LAYOUT_FORMAT} keeps history out of the authenticated state, which changes every state root, so the chain in this home cannot continue under this release. Keep running the release that made it, or start a new chain (a new genesis, all members together) in a fresh home`,
  );
}

/** Refuses a home newer than this build: nothing it holds may be touched. */
export function refuseNewer(home: string, version: number): void {
  if (version > HOME_FORMAT_VERSION) {
    throw new NodeError(
      'NODE_HOME_FORMAT_NEWER',
      `${home} has data format ${version}, newer than format ${HOME_FORMAT_VERSION} this medchain reads: run the medchain release that made it, or restore a backup taken before the upgrade (docs/UPGRADE.md)`,
    );
  }
}

/**
 * At node start: a fresh home is stamped with the current format; a home of another format is
 * refused with both versions and the upgrade path. Changes nothing on disk unless fresh.
 */
export async function checkHomeFormat(home: string): Promise<void> {
  if (isFreshHome(home)) {
    await writeHomeFormat(home, HOME_FORMAT_VERSION);
    return;
  }
  const version = await readHomeFormat(home);
  refuseNewer(home, version);
  if (version < STATE_LAYOUT_FORMAT) throw stateLayoutRefusal(home, version);
  if (version < HOME_FORMAT_VERSION) {
    throw new NodeError(
      'NODE_HOME_FORMAT_OLD',
      `${home} has data format ${version}; this medchain reads format ${HOME_FORMAT_VERSION}: ${UPGRADE_PATH(home)}`,
    );
  }
}
