import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CliError } from '../../util/errors.js';

/**
 * A backup is one file:
 *   MEDCHAIN-BACKUP 1\n
 *   <sha256 of the manifest, hex> <manifest length in bytes>\n
 *   <the manifest, JSON>
 *   <each file of the manifest's list, in its order, byte for byte>
 * and nothing after. The manifest names the chain and checksums every file, so a flipped byte,
 * a cut or an appended tail is found before anything is restored.
 */
const MAGIC = 'MEDCHAIN-BACKUP 1';
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const SAFE_NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

export interface ArchiveFile {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Manifest {
  readonly backupFormat: 1;
  /** The data format of the home it was taken from (node/src/home/format.ts). */
  readonly homeFormat: number;
  readonly chainId: string;
  readonly genesisHash: string;
  /** The committed height and state root the snapshot holds. */
  readonly height: number;
  readonly stateRoot: string;
  readonly createdAt: string;
  /** 'running node' (through its backup socket) or 'stopped node' (files opened directly). */
  readonly source: string;
  readonly files: readonly ArchiveFile[];
}

export interface OpenedArchive {
  readonly manifest: Manifest;
  /** Byte offset of each file's content, by name. */
  readonly offsets: ReadonlyMap<string, number>;
}

const corrupt = (path: string, why: string) =>
  new CliError('BACKUP_CORRUPT', `${path} is not an intact medchain backup: ${why}`, {
    hint: 'take the backup again, or use another copy; nothing was changed',
  });

async function sha256OfRange(path: string, start: number, size: number): Promise<string> {
  const hash = createHash('sha256');
  if (size > 0) {
    for await (const chunk of createReadStream(path, { start, end: start + size - 1 })) {
      hash.update(chunk as Buffer);
    }
  }
  return hash.digest('hex');
}

/** Size and sha256 of each file, by its name in the archive (`paths`: name -> file on disk). */
export async function describeFiles(paths: ReadonlyMap<string, string>): Promise<ArchiveFile[]> {
  const files: ArchiveFile[] = [];
  for (const [name, path] of paths) {
    const { size } = await stat(path);
    files.push({ name, size, sha256: await sha256OfRange(path, 0, size) });
  }
  return files;
}

/** Writes the archive to `out` (which must not exist) through a temporary file, then renames. */
export async function writeArchive(
  out: string,
  manifest: Manifest,
  paths: ReadonlyMap<string, string>,
): Promise<void> {
  const tmp = `${out}.${process.pid}.partial`;
  const body = Buffer.from(JSON.stringify(manifest));
  const digest = createHash('sha256').update(body).digest('hex');
  const stream = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  try {
    stream.write(`${MAGIC}\n${digest} ${body.length}\n`);
    stream.write(body);
    for (const file of manifest.files) {
      await pipeline(createReadStream(paths.get(file.name) ?? ''), stream, { end: false });
    }
    stream.end();
    await once(stream, 'finish');
    const handle = await open(tmp, 'r+');
    await handle.sync();
    await handle.close();
    if (existsSync(out)) throw new CliError('BACKUP_EXISTS', `${out} appeared while writing`);
    await rename(tmp, out);
  } catch (error) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw error;
  }
}

function checkManifest(path: string, value: unknown): Manifest {
  const m = value as Partial<Manifest> | null;
  const text = (v: unknown) => typeof v === 'string' && v.length > 0;
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (
    m === null ||
    typeof m !== 'object' ||
    m.backupFormat !== 1 ||
    !count(m.homeFormat) ||
    !text(m.chainId) ||
    !/^[0-9a-f]{64}$/.test(String(m.genesisHash)) ||
    !count(m.height) ||
    !Array.isArray(m.files)
  ) {
    throw corrupt(path, 'its manifest lacks a field');
  }
  const names = new Set<string>();
  for (const file of m.files as ArchiveFile[]) {
    if (
      typeof file?.name !== 'string' ||
      !SAFE_NAME.test(file.name) ||
      file.name.split('/').some((part) => part === '..' || part === '.') ||
      names.has(file.name) ||
      !count(file.size) ||
      !/^[0-9a-f]{64}$/.test(String(file.sha256))
    ) {
      throw corrupt(path, `its manifest lists a bad file entry ${JSON.stringify(file)}`);
    }
    names.add(file.name);
  }
  return m as Manifest;
}

/** Reads the header and manifest, and checks the file's length against it (no file contents). */
export async function openArchive(path: string): Promise<OpenedArchive> {
  let total: number;
  try {
    total = (await stat(path)).size;
  } catch (error) {
    throw new CliError('USAGE', `cannot read backup ${path}: ${(error as Error).message}`, {
      exitCode: 2,
    });
  }
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(total, 256));
    await handle.read(head, 0, head.length, 0);
    const lines = head.toString('latin1').split('\n');
    if (lines[0] !== MAGIC || lines.length < 3) throw corrupt(path, 'no medchain backup header');
    const match = /^([0-9a-f]{64}) (\d{1,9})$/.exec(lines[1] ?? '');
    if (match === null) throw corrupt(path, 'bad header line');
    const length = Number(match[2]);
    const start = MAGIC.length + 1 + (lines[1] ?? '').length + 1;
    if (length > MAX_MANIFEST_BYTES || start + length > total) throw corrupt(path, 'truncated');
    const body = Buffer.alloc(length);
    await handle.read(body, 0, length, start);
    if (createHash('sha256').update(body).digest('hex') !== match[1]) {
      throw corrupt(path, 'the manifest does not match its checksum');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw corrupt(path, 'the manifest is not JSON');
    }
    const manifest = checkManifest(path, parsed);
    const offsets = new Map<string, number>();
    let at = start + length;
    for (const file of manifest.files) {
      offsets.set(file.name, at);
      at += file.size;
    }
    if (at > total) throw corrupt(path, `truncated (${total} bytes of ${at})`);
    if (at < total) throw corrupt(path, `${total - at} bytes after the last file`);
    return { manifest, offsets };
  } finally {
    await handle.close();
  }
}

/** Checks every file's sha256; names the first that differs. */
export async function verifyArchive(path: string, archive: OpenedArchive): Promise<void> {
  for (const file of archive.manifest.files) {
    const digest = await sha256OfRange(path, archive.offsets.get(file.name) ?? 0, file.size);
    if (digest !== file.sha256) throw corrupt(path, `${file.name} does not match its sha256`);
  }
}

/** Copies every file of the archive under `dir` (mode 0600), as the manifest names them. */
export async function extractArchive(
  path: string,
  archive: OpenedArchive,
  dir: string,
): Promise<void> {
  for (const file of archive.manifest.files) {
    const target = join(dir, file.name);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const start = archive.offsets.get(file.name) ?? 0;
    const out = createWriteStream(target, { mode: 0o600 });
    if (file.size === 0) {
      out.end();
      await once(out, 'close');
      continue;
    }
    await pipeline(createReadStream(path, { start, end: start + file.size - 1 }), out);
  }
}
