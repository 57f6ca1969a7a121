import { encodeCanonical, sha256, toHex, utf8 } from '@medchain/crypto';
import { AuthenticatedState, MemoryStore, NODE_PREFIX, VALUE_PREFIX } from '@medchain/ledger';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Bucket,
  Database,
  decodeSnapshotOffer,
  decodeSnapshotPage,
  decodeSnapshotRequest,
  encodeSnapshotPage,
  encodeSnapshotRequest,
  SNAPSHOT_KEY_BYTES,
  SNAPSHOT_MAX_PAGE_BYTES,
  SnapshotDownload,
  type SnapshotPage,
  SnapshotServer,
  StateStore,
  StateSyncError,
  verifySnapshotEntries,
} from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { tempDir } from './helpers.js';

const logger = createLogger({ level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A LevelDB state bucket written the way Chain writes it, one batch per "block". */
class TestChain {
  height = 0;
  writing = false;
  stateRoot: Uint8Array;
  private constructor(
    readonly db: Database,
    private readonly store: StateStore,
    readonly state: AuthenticatedState,
  ) {
    this.stateRoot = state.root();
  }

  static async open(): Promise<TestChain> {
    const dir = await tempDir('state-sync');
    const db = await Database.open(dir.path);
    cleanups.push(dir.remove, () => db.close());
    const store = new StateStore(db, { cacheEntries: 1_000 });
    return new TestChain(db, store, new AuthenticatedState(store));
  }

  /** One block: sets (or with value null deletes) keys, writes the batch, moves the head. */
  async commit(changes: ReadonlyArray<readonly [string, string | null]>): Promise<void> {
    for (const [key, value] of changes) {
      if (value === null) this.state.delete(utf8(key));
      else this.state.set(utf8(key), utf8(value));
    }
    const { root, ops } = this.state.commit();
    this.store.write(ops);
    const batch = this.db.batch();
    this.store.stageInto(batch);
    this.writing = true;
    await this.db.write(batch);
    this.writing = false;
    this.height++;
    this.stateRoot = root;
  }
}

function keys(from: number, to: number, tag = 'v'): Array<[string, string]> {
  return Array.from({ length: to - from }, (_, i) => [
    `key-${from + i}`,
    `${tag}-${from + i}-${'x'.repeat((from + i) % 50)}`,
  ]);
}

type Handler = (request: Uint8Array) => Promise<Uint8Array>;

function serverHandler(server: SnapshotServer): Handler {
  return async (bytes) => {
    const request = decodeSnapshotRequest(bytes);
    if (request === null) throw new Error('not a snapshot request');
    return server.serve(request);
  };
}

/** A handler that rewrites the n-th page it serves. */
function rewritingPage(inner: Handler, n: number, rewrite: (page: SnapshotPage) => SnapshotPage) {
  let served = 0;
  return async (bytes: Uint8Array) => {
    const response = await inner(bytes);
    return served++ === n ? encodeSnapshotPage(rewrite(decodeSnapshotPage(response))) : response;
  };
}

function download(
  handlers: Record<string, Handler>,
  chain: { height: number; stateRoot: Uint8Array },
  options: { maxBytes?: number } = {},
) {
  return new SnapshotDownload({
    height: chain.height,
    stateRoot: chain.stateRoot,
    transport: {
      request: (peer, bytes) => {
        const handler = handlers[peer];
        if (handler === undefined) throw new Error(`no peer ${peer}`);
        return handler(bytes);
      },
    },
    peers: Object.keys(handlers),
    maxBytes: options.maxBytes ?? 1024 ** 3,
    timeoutMs: 60_000,
    logger,
  });
}

/** Every key reads back its value from the downloaded entries under the root. */
function expectState(
  entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
  root: Uint8Array,
  expected: ReadonlyArray<readonly [string, string]>,
): void {
  const store = new MemoryStore();
  store.write(entries.map(([key, value]) => ({ type: 'put', key, value })));
  const state = new AuthenticatedState(store, root);
  for (const [key, value] of expected) expect(state.get(utf8(key))).toEqual(utf8(value));
}

describe('snapshot pages', () => {
  it('a snapshot many pages long downloads and verifies', async () => {
    const chain = await TestChain.open();
    const written = keys(0, 3_000);
    await chain.commit(written);
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 1,
      pageBytes: 8 * 1024,
    });
    server.committed(chain.height);
    const started = performance.now();
    const fetch = download({ a: serverHandler(server) }, chain);
    const entries = await fetch.run();
    const ms = performance.now() - started;
    expect(fetch.pages).toBeGreaterThan(20);
    expect(fetch.refused.size).toBe(0);
    expectState(entries, chain.stateRoot, written);
    // Exactly the store: nothing left out, nothing extra.
    let stored = 0;
    for await (const _ of chain.db.entries(Bucket.state)) stored++;
    expect(entries.length).toBe(stored);
    console.info(
      `state sync pages: ${written.length} keys, ${entries.length} entries, ${fetch.bytes} bytes, ${fetch.pages} pages, ${ms.toFixed(0)} ms`,
    );
    await server.close();
  });

  it('a snapshot pinned at a height stays consistent while later blocks replace its nodes', async () => {
    const chain = await TestChain.open();
    const first = keys(0, 1_500);
    await chain.commit(first);
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 1,
      pageBytes: 4 * 1024,
    });
    server.committed(chain.height);
    const pinned = { height: chain.height, stateRoot: chain.stateRoot };
    let block = 0;
    // Before each page is served another block commits: overwrites, deletes and new keys.
    const handler: Handler = async (bytes) => {
      block++;
      await chain.commit([
        ...keys(block * 7, block * 7 + 40, `b${block}`),
        [`key-${block}`, null],
        [`new-${block}`, 'n'],
      ]);
      return serverHandler(server)(bytes);
    };
    const fetch = download({ a: handler }, pinned);
    const entries = await fetch.run();
    expect(fetch.pages).toBeGreaterThan(10);
    expect(chain.height).toBeGreaterThan(pinned.height + 10);
    expectState(entries, pinned.stateRoot, first);
    await server.close();
  });

  it('a peer that lies in one page is refused and the others finish the snapshot', async () => {
    const chain = await TestChain.open();
    const written = keys(0, 1_200);
    await chain.commit(written);
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 1,
      pageBytes: 4 * 1024,
    });
    server.committed(chain.height);
    const honest = serverHandler(server);
    const flipLast = (page: SnapshotPage, prefix: number): SnapshotPage => ({
      ...page,
      entries: page.entries.map(([key, value], i, all) => {
        const target = all.findLastIndex(([k]) => k[0] === prefix);
        if (i !== target) return [key, value];
        const changed = value.slice();
        changed[changed.length - 1]! ^= 1;
        return [key, changed];
      }),
    });
    // The first page holding values (they sort after the nodes).
    let firstValuePage = 0;
    for (let after: Uint8Array | null = null; ; firstValuePage++) {
      const page = decodeSnapshotPage(
        await honest(encodeSnapshotRequest({ kind: 'page', height: chain.height, after })),
      );
      if (page.entries.some(([key]) => key[0] === VALUE_PREFIX) || page.done) break;
      after = page.entries.at(-1)![0];
    }
    const liars: Record<string, Handler> = {
      // A node's bytes changed: caught when the page arrives.
      node: rewritingPage(honest, 2, (page) => flipLast(page, NODE_PREFIX)),
      // A value changed: only the walk from the root finds it, and blames the page's peer.
      value: rewritingPage(honest, firstValuePage, (page) => flipLast(page, VALUE_PREFIX)),
      // An entry left out of a page: the walk finds the hole.
      omit: rewritingPage(honest, 3, (page) => ({ ...page, entries: page.entries.slice(1) })),
      // Pages of another state.
      other: rewritingPage(honest, 0, (page) => ({ ...page, stateRoot: sha256(utf8('other')) })),
    };
    for (const [name, liar] of Object.entries(liars)) {
      const fetch = download({ [name]: liar, honest }, chain);
      const entries = await fetch.run();
      expect([...fetch.refused], name).toEqual([name]);
      expectState(entries, chain.stateRoot, written);
    }
    await server.close();
  });

  it('a peer that goes away mid-transfer is replaced by another', async () => {
    const chain = await TestChain.open();
    const written = keys(0, 800);
    await chain.commit(written);
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 1,
      pageBytes: 4 * 1024,
    });
    server.committed(chain.height);
    let served = 0;
    const leaving: Handler = async (bytes) => {
      if (served++ >= 3) throw new Error('connection reset');
      return serverHandler(server)(bytes);
    };
    const fetch = download({ leaving, staying: serverHandler(server) }, chain);
    expectState(await fetch.run(), chain.stateRoot, written);
    expect(served).toBeGreaterThan(3);
    await server.close();
  });

  it('a rogue peer cannot make a download loop or grow without bound', async () => {
    const chain = await TestChain.open();
    await chain.commit(keys(0, 50));
    const root = { height: chain.height, stateRoot: chain.stateRoot };
    // Endless pages of well-formed, self-consistent but unreachable leaves.
    let n = 0;
    const endless: Handler = async () => {
      const entries: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < 100; i++, n++) {
        const hash = new Uint8Array(32);
        new DataView(hash.buffer).setUint32(0, n);
        entries.push([Uint8Array.of(VALUE_PREFIX, ...hash), new Uint8Array(1000)]);
      }
      return encodeSnapshotPage({ ...root, entries, done: false });
    };
    await expect(
      download({ endless }, root, { maxBytes: 1024 * 1024 }).run(),
    ).rejects.toMatchObject({
      code: 'STATE_SYNC_LIMIT',
    });
    // Empty pages that never say done make no progress: refused at once.
    const stalling: Handler = async () => encodeSnapshotPage({ ...root, entries: [], done: false });
    await expect(download({ stalling }, root).run()).rejects.toMatchObject({
      code: 'STATE_SYNC_UNAVAILABLE',
    });
    // A page that starts again from the beginning (a loop) is refused.
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 1,
      pageBytes: 1024,
    });
    server.committed(chain.height);
    const looping: Handler = async (bytes) => {
      const request = decodeSnapshotRequest(bytes)!;
      return server.serve(request.kind === 'page' ? { ...request, after: null } : request);
    };
    const fetch = download({ looping }, root);
    await expect(fetch.run()).rejects.toMatchObject({ code: 'STATE_SYNC_UNAVAILABLE' });
    expect([...fetch.refused]).toEqual(['looping']);
    await server.close();
  });
});

describe('snapshot server', () => {
  it('pins every interval-th height, keeps the newest two and offers one below the head', async () => {
    const chain = await TestChain.open();
    const server = new SnapshotServer({ db: chain.db, head: () => chain, interval: 5 });
    for (let i = 0; i < 17; i++) {
      await chain.commit([[`k${i}`, `v${i}`]]);
      server.committed(chain.height);
    }
    expect(server.pinnedHeights).toEqual([10, 15]);
    const offer = decodeSnapshotOffer(await server.serve({ kind: 'offer' }));
    expect(offer.height).toBe(15);
    await expect(server.serve({ kind: 'page', height: 5, after: null })).rejects.toMatchObject({
      code: 'STATE_SYNC_UNAVAILABLE',
    });
    const page = decodeSnapshotPage(await server.serve({ kind: 'page', height: 10, after: null }));
    expect(page.done).toBe(true);
    expectState(verifySnapshotEntries(page.stateRoot, page.entries), page.stateRoot, [
      ['k9', 'v9'],
    ]);
    await server.close();
  });

  it('any page request gets the entries after its cursor or a StateSyncError', async () => {
    const chain = await TestChain.open();
    const server = new SnapshotServer({
      db: chain.db,
      head: () => chain,
      interval: 2,
      pageBytes: 512,
    });
    for (let i = 0; i < 4; i++) {
      await chain.commit(keys(i * 30, i * 30 + 30));
      server.committed(chain.height);
    }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.option(fc.uint8Array({ minLength: SNAPSHOT_KEY_BYTES, maxLength: SNAPSHOT_KEY_BYTES }), {
          nil: null,
        }),
        async (height, after) => {
          const bytes = encodeSnapshotRequest({ kind: 'page', height, after });
          let page: SnapshotPage;
          try {
            page = decodeSnapshotPage(await server.serve(decodeSnapshotRequest(bytes)!));
          } catch (error) {
            expect(error).toMatchObject({ code: 'STATE_SYNC_UNAVAILABLE' });
            expect([2, 4]).not.toContain(height);
            return;
          }
          expect(page.height).toBe(height);
          for (const [key] of page.entries) {
            if (after !== null) expect(toHex(key) > toHex(after)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
    await server.close();
  });

  it('without commit notices, an offer pins the head between block writes', async () => {
    const chain = await TestChain.open();
    const server = new SnapshotServer({ db: chain.db, head: () => chain, interval: 100 });
    await expect(server.serve({ kind: 'offer' })).rejects.toMatchObject({
      code: 'STATE_SYNC_UNAVAILABLE',
    });
    await chain.commit(keys(0, 10));
    const offer = decodeSnapshotOffer(await server.serve({ kind: 'offer' }));
    expect(offer).toEqual({ height: 1, stateRoot: chain.stateRoot });
    await server.close();
  });
});

describe('snapshot wire format', () => {
  const key = fc.uint8Array({ minLength: SNAPSHOT_KEY_BYTES, maxLength: SNAPSHOT_KEY_BYTES });

  it('requests round-trip, fit the 64-byte sync request limit, and anything else is refused or passed on', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.option(key, { nil: null }),
        (height, after) => {
          const bytes = encodeSnapshotRequest({ kind: 'page', height, after });
          expect(bytes.length).toBeLessThanOrEqual(64);
          expect(decodeSnapshotRequest(bytes)).toEqual({ kind: 'page', height, after });
        },
      ),
    );
    expect(decodeSnapshotRequest(encodeSnapshotRequest())).toEqual({ kind: 'offer' });
    // Bytes and values that are not snapshot requests: null (block sync's decoder reports them)
    // or a StateSyncError, never anything else.
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 100 }),
          fc
            .record({
              snapshot: fc.oneof(fc.boolean(), fc.integer(), fc.string(), fc.uint8Array()),
              after: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
              extra: fc.option(fc.integer(), { nil: undefined }),
            })
            .map((value) =>
              encodeCanonical(
                Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
                  [field: string]: string | number | boolean | Uint8Array;
                },
              ),
            ),
        ),
        (bytes) => {
          try {
            const request = decodeSnapshotRequest(bytes);
            if (request?.kind === 'page') {
              expect(request.height).toBeGreaterThanOrEqual(1);
              expect(request.after === null || request.after.length === SNAPSHOT_KEY_BYTES).toBe(
                true,
              );
            }
          } catch (error) {
            expect(error).toBeInstanceOf(StateSyncError);
          }
        },
      ),
    );
    expect(() =>
      decodeSnapshotRequest(
        encodeCanonical({ snapshot: 1, after: new Uint8Array(33), pad: 'x'.repeat(40) }),
      ),
    ).toThrow(/too long/);
    expect(() => decodeSnapshotRequest(encodeCanonical({ snapshot: 0 }))).toThrow(StateSyncError);
    expect(() =>
      decodeSnapshotRequest(encodeCanonical({ snapshot: true, after: new Uint8Array(33) })),
    ).toThrow(StateSyncError);
    expect(decodeSnapshotRequest(encodeCanonical({ from: 1, count: 2 }))).toBeNull();
  });

  it('pages round-trip; malformed or oversized responses are refused with a StateSyncError', () => {
    const root = fc.uint8Array({ minLength: 32, maxLength: 32 });
    const storeKey = fc
      .tuple(
        fc.constantFrom(NODE_PREFIX, VALUE_PREFIX),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
      )
      .map(([prefix, hash]) => Uint8Array.of(prefix, ...hash));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        root,
        fc.uniqueArray(fc.tuple(storeKey, fc.uint8Array({ maxLength: 80 })), {
          maxLength: 20,
          selector: ([k]) => toHex(k),
        }),
        fc.boolean(),
        (height, stateRoot, unsorted, done) => {
          const entries = [...unsorted].sort(([a], [b]) => toHex(a).localeCompare(toHex(b)));
          const page = { height, stateRoot, entries, done };
          expect(decodeSnapshotPage(encodeSnapshotPage(page))).toEqual(page);
          if (entries.length > 1) {
            const swapped = { ...page, entries: [...entries].reverse() };
            expect(() => decodeSnapshotPage(encodeSnapshotPage(swapped))).toThrow(StateSyncError);
          }
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc
            .record({
              height: fc.oneof(fc.integer(), fc.string()),
              stateRoot: fc.uint8Array({ maxLength: 33 }),
              entries: fc.array(fc.array(fc.uint8Array({ maxLength: 34 }), { maxLength: 3 }), {
                maxLength: 3,
              }),
              done: fc.oneof(fc.boolean(), fc.integer()),
            })
            .map((value) => encodeCanonical(value)),
        ),
        (bytes) => {
          for (const decode of [decodeSnapshotPage, decodeSnapshotOffer]) {
            try {
              decode(bytes);
            } catch (error) {
              expect(error).toBeInstanceOf(StateSyncError);
            }
          }
        },
      ),
    );
    const huge = new Uint8Array(SNAPSHOT_MAX_PAGE_BYTES + 1);
    expect(() => decodeSnapshotPage(huge)).toThrow(/too large/);
  });
});
