import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, validateConfig } from '../src/config.js';
import {
  BACKUP_SOCKET_FILE,
  checkHomeFormat,
  HOME_FORMAT_FILE,
  HOME_FORMAT_VERSION,
  loadDump,
  MIGRATIONS,
  migrateHome,
  readDump,
  readHomeFormat,
  STATE_LAYOUT_FORMAT,
  snapshotEntries,
  startBackupSocket,
  withLevel,
  writeDump,
} from '../src/home/index.js';
import { createLogger } from '../src/logger.js';
import { createNode } from '../src/node.js';
import { tempDir } from './helpers.js';

const dirs: Array<{ remove: () => Promise<void> }> = [];
afterAll(async () => {
  for (const dir of dirs) await dir.remove();
});
async function home(): Promise<string> {
  const dir = await tempDir('home-format');
  dirs.push(dir);
  return dir.path;
}

/** Every file under `dir` with its bytes: "nothing changed on disk" is this, before and after. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    out[path] = entry.isFile() ? (await readFile(path)).toString('hex') : 'dir';
  }
  return out;
}

/** A home as releases before the format file made it: chain data, no home-format.json. */
async function legacyHome(): Promise<string> {
  const dir = await home();
  await mkdir(join(dir, 'db'));
  await mkdir(join(dir, 'wal'));
  await writeFile(join(dir, 'db', 'CURRENT'), 'MANIFEST-000001\n');
  return dir;
}

describe('home data format', () => {
  it('this release is format 3, a new state layout; its one step migrates format 1 to 2', () => {
    expect(HOME_FORMAT_VERSION).toBe(3);
    expect(STATE_LAYOUT_FORMAT).toBe(3);
    expect(MIGRATIONS.map((step) => step.from)).toEqual([1]);
  });

  it('a fresh home is stamped with the current format at start', async () => {
    const dir = await home();
    await checkHomeFormat(dir);
    expect(JSON.parse(await readFile(join(dir, HOME_FORMAT_FILE), 'utf8'))).toEqual({
      version: HOME_FORMAT_VERSION,
    });
    await checkHomeFormat(dir); // and accepted from then on
  });

  it('the node refuses a format-1 home naming both versions and why it cannot migrate, changing nothing', async () => {
    const dir = await legacyHome();
    const before = await contents(dir);
    const node = createNode(validateConfig({ ...DEFAULT_CONFIG, home: dir }), {
      logger: createLogger({ level: 'silent' }),
    });
    const refused = node.start();
    await expect(refused).rejects.toMatchObject({ code: 'NODE_HOME_FORMAT_OLD' });
    const message = await refused.catch((error: Error) => error.message);
    expect(message).toContain('data format 1');
    expect(message).toContain('reads format 3 and cannot migrate it');
    expect(message).toContain('start a new chain');
    expect(await contents(dir)).toEqual(before);
  });

  it('migrates a format-1 home to format 2, but refuses to carry any chain across the state layout of format 3', async () => {
    const dir = await legacyHome();
    const dbBefore = await contents(join(dir, 'db'));
    await expect(migrateHome(dir)).rejects.toMatchObject({ code: 'NODE_HOME_FORMAT_OLD' });
    expect(await readHomeFormat(dir)).toBe(1);
    const result = await migrateHome(dir, { target: 2 });
    expect(result).toMatchObject({ from: 1, to: 2, applied: [MIGRATIONS[0]!.description] });
    expect(await readHomeFormat(dir)).toBe(2);
    expect(await contents(join(dir, 'db'))).toEqual(dbBefore);
    const before = await contents(dir);
    await expect(checkHomeFormat(dir)).rejects.toMatchObject({
      code: 'NODE_HOME_FORMAT_OLD',
      message: expect.stringContaining('data format 2; this medchain reads format 3'),
    });
    await expect(migrateHome(dir)).rejects.toMatchObject({ code: 'NODE_HOME_FORMAT_OLD' });
    expect(await contents(dir)).toEqual(before);
  });

  it('runs each version step in order, recording the version after each; a failed step resumes', async () => {
    const dir = await legacyHome();
    const ran: number[] = [];
    let failOnce = true;
    const steps = [1, 2, 3].map((from) => ({
      from,
      description: `step ${from}`,
      run: async () => {
        if (from === 2 && failOnce) {
          failOnce = false;
          throw new Error('disk full');
        }
        ran.push(from);
      },
    }));
    // Given out of order: the runner picks them by version.
    const shuffled = [steps[2]!, steps[0]!, steps[1]!];
    await expect(migrateHome(dir, { steps: shuffled, target: 4 })).rejects.toThrow('disk full');
    expect(await readHomeFormat(dir)).toBe(2);
    const resumed = await migrateHome(dir, { steps: shuffled, target: 4 });
    expect(resumed).toMatchObject({ from: 2, to: 4, applied: ['step 2', 'step 3'] });
    expect(ran).toEqual([1, 2, 3]);
    expect(await readHomeFormat(dir)).toBe(4);
  });

  it('refuses a home of a newer format, at start and at upgrade, changing nothing', async () => {
    const dir = await legacyHome();
    await writeFile(join(dir, HOME_FORMAT_FILE), '{"version":4}\n');
    const before = await contents(dir);
    await expect(checkHomeFormat(dir)).rejects.toMatchObject({
      code: 'NODE_HOME_FORMAT_NEWER',
      message: expect.stringMatching(/data format 4, newer than format 3/),
    });
    await expect(migrateHome(dir)).rejects.toMatchObject({ code: 'NODE_HOME_FORMAT_NEWER' });
    const node = createNode(validateConfig({ ...DEFAULT_CONFIG, home: dir }), {
      logger: createLogger({ level: 'silent' }),
    });
    await expect(node.start()).rejects.toMatchObject({ code: 'NODE_HOME_FORMAT_NEWER' });
    expect(await contents(dir)).toEqual(before);
  });

  it('refuses a format file that does not parse, and a missing step', async () => {
    const dir = await legacyHome();
    await writeFile(join(dir, HOME_FORMAT_FILE), 'two');
    await expect(checkHomeFormat(dir)).rejects.toMatchObject({ code: 'NODE_HOME_FORMAT_INVALID' });
    const old = await legacyHome();
    await expect(migrateHome(old, { steps: [], target: 2 })).rejects.toMatchObject({
      code: 'NODE_HOME_FORMAT_INVALID',
      message: 'no migration from data format 1 to 2',
    });
    expect(await readHomeFormat(old)).toBe(1);
  });
});

describe('LevelDB dumps (what backups carry)', () => {
  const entry = fc.tuple(
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
    fc.uint8Array({ maxLength: 300 }),
  );

  it('a dump loads back into the same entries; later writes are not in the snapshot', async () => {
    const dir = await home();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 60 }), entry, async (entries, late) => {
        run++;
        const source = join(dir, `src-${run}`);
        const dump = join(dir, `dump-${run}`);
        const expected = await withLevel(source, async (level) => {
          for (const [key, value] of entries) await level.put(key, value);
          const taken = snapshotEntries(level);
          await level.put(late[0], Uint8Array.of(...late[1], 1)); // after the snapshot
          await writeDump(taken, dump);
          await level.del(late[0]);
          const unique = new Map(entries.map(([k, v]) => [Buffer.from(k).toString('hex'), v]));
          return [...unique].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        });
        await loadDump(dump, join(dir, `copy-${run}`));
        const copied: Array<[string, Uint8Array]> = [];
        await withLevel(join(dir, `copy-${run}`), async (level) => {
          for await (const [key, value] of level.iterator()) {
            copied.push([Buffer.from(key).toString('hex'), new Uint8Array(value)]);
          }
        });
        expect(copied).toEqual(expected.map(([k, v]) => [k, new Uint8Array(v)]));
      }),
      { numRuns: 15 },
    );
  });

  it('a truncated dump is refused', async () => {
    const dir = await home();
    const dump = join(dir, 'dump');
    await withLevel(join(dir, 'src'), async (level) => {
      await level.put(Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5));
      await writeDump(snapshotEntries(level), dump);
    });
    const bytes = await readFile(dump);
    await writeFile(dump, bytes.subarray(0, bytes.length - 1));
    const read = async () => {
      for await (const _ of readDump(dump)) {
        // reading to the end is the check
      }
    };
    await expect(read()).rejects.toMatchObject({ code: 'NODE_DUMP_CORRUPT' });
  });
});

describe('the backup socket', () => {
  /** One request on the socket; the node's one-line answer. */
  const ask = (path: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const socket = createConnection(path);
      let text = '';
      socket.on('connect', () => socket.write('{}\n'));
      socket.on('data', (chunk) => {
        text += chunk.toString();
      });
      socket.on('end', () => resolve(JSON.parse(text)));
      socket.on('error', reject);
    });

  it('answers a snapshot directory in the home, one backup at a time; leftovers go at start', async () => {
    const dir = await home();
    await mkdir(join(dir, 'wal'));
    await writeFile(join(dir, 'wal', '0000000000000001.wal'), 'segment');
    await mkdir(join(dir, '.backup-left'));
    await writeFile(join(dir, BACKUP_SOCKET_FILE), ''); // not a socket: must survive
    await expect(
      startBackupSocket(dir, {} as never, createLogger({ level: 'silent' })),
    ).rejects.toThrow();
    expect((await stat(join(dir, BACKUP_SOCKET_FILE))).isFile()).toBe(true);
    await rm(join(dir, BACKUP_SOCKET_FILE));
    const resolvers = () => {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      return { promise, resolve };
    };
    const held = resolvers();
    const started = resolvers();
    const entries = async function* (): AsyncGenerator<[Uint8Array, Uint8Array]> {
      await held.promise; // the first backup stays in progress until released
      yield [Uint8Array.of(1), Uint8Array.of(2)];
    };
    const socket = await startBackupSocket(
      dir,
      {
        db: () => {
          started.resolve();
          return entries();
        },
        vault: () => entries(),
        walDir: join(dir, 'wal'),
        head: () => ({ height: 7, stateRoot: new Uint8Array(32), writing: false }),
      },
      createLogger({ level: 'silent' }),
    );
    try {
      expect((await readdir(dir)).filter((name) => name.startsWith('.backup-'))).toEqual([]);
      const first = ask(socket.path!);
      await started.promise;
      expect(await ask(socket.path!)).toMatchObject({ ok: false, code: 'BACKUP_BUSY' });
      held.resolve();
      const answer = await first;
      expect(answer).toMatchObject({ ok: true, height: 7, stateRoot: '00'.repeat(32) });
      const out = answer.dir as string;
      expect(out.startsWith(join(dir, '.backup-'))).toBe(true);
      expect((await readdir(out, { recursive: true })).sort()).toEqual([
        'db.dump',
        'vault.dump',
        'wal',
        'wal/0000000000000001.wal',
      ]);
      const copied: Array<[Uint8Array, Uint8Array]> = [];
      for await (const entry of readDump(join(out, 'db.dump'))) copied.push(entry);
      expect(copied).toEqual([[Uint8Array.of(1), Uint8Array.of(2)]]);
    } finally {
      await socket.close();
    }
  });

  it('close() ends connections that never sent a request', async () => {
    const dir = await home();
    const socket = await startBackupSocket(dir, {} as never, createLogger({ level: 'silent' }));
    const silent = createConnection(socket.path!);
    await new Promise((resolve) => silent.once('connect', resolve));
    const ended = new Promise((resolve) => silent.once('close', resolve));
    silent.resume();
    await socket.close();
    await ended;
  });
});
