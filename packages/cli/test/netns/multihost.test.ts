import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetnsLab } from '@medchain/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cli, cliArgv, json, jsonError, tempDir } from '../helpers.js';

/**
 * docs/OPERATIONS.md, "Deploying on several hosts", followed step by step with the documented
 * commands only: each hospital's host is a network namespace with its own home directory, the
 * hospitals exchange only their public org files and the genesis, one assembles the genesis
 * and every one checks its hash, peers are set with `medchain peers`, the nodes start and
 * commit; then a fourth hospital is voted in and another voted out, and the one voted out is
 * cut off at once by the others, with no restart. Needs root and iproute2; skipped with the
 * reason otherwise.
 */

const probe = NetnsLab.available();
const why = probe.ok ? '' : ` (skipped: ${probe.reason})`;
if (!probe.ok) console.log(`multihost.test.ts${why}`);

const PASSPHRASE = 'multihost-passphrase';
const env = { MEDCHAIN_PASSPHRASE: PASSPHRASE };
const API = 'http://127.0.0.1:7701';
const NAMES = ['a', 'b', 'c', 'd'] as const;
type Name = (typeof NAMES)[number];

const ok = (run: CliRun) => expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);

interface Status {
  height: number;
  peers: string[];
}

// Where namespaces are available the end-to-end test below meets the same bad input on its hosts.
describe.skipIf(probe.ok)('peers, org files and genesis install: bad input changes nothing', () => {
  let dir = '';
  const run = (args: string[]) => cli(args, { env, cwd: dir });

  beforeAll(() => {
    dir = tempDir('multihost-input');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses bad peer addresses, keystores as org files, unknown peers and a wrong hash', async () => {
    const [a, b, keys] = await Promise.all([
      run(['init', '--home', 'a', '--json']),
      run(['init', '--home', 'b', '--json']),
      run(['keys', 'generate', '--out', 'admin.json']),
    ]);
    for (const r of [a, b, keys]) ok(r);
    const peerB = json<{ peerId: string }>(b).peerId;
    ok(
      await run([
        'genesis',
        'org-spec',
        '--home',
        'b',
        '--admin-key',
        'admin.json',
        '--addr',
        '/dns4/node.b.example/tcp/7700',
        '--out',
        'b.org.json',
      ]),
    );
    const spec = JSON.parse(readFileSync(join(dir, 'b.org.json'), 'utf8'));
    expect(Object.keys(spec).sort()).toEqual([
      'addrs',
      'adminKeys',
      'id',
      'medchainOrg',
      'peerId',
      'validatorKey',
    ]);
    expect(spec.peerId).toBe(peerB);

    const config = join(dir, 'a', 'config.json');
    const before = readFileSync(config, 'utf8');
    const addr = (id: string, address: string) =>
      run(['peers', 'add', '--home', 'a', '--peer-id', id, '--addr', address, '--json']);
    // Independent commands run side by side: each CLI process costs seconds on a busy machine.
    const [assembled, unknown, ...refusals] = await Promise.all([
      run([
        'genesis',
        'assemble',
        '--chain-id',
        'input-net',
        '--out',
        'genesis.json',
        'b.org.json',
        '--json',
      ]),
      run(['peers', 'remove', '--home', 'a', '--peer-id', peerB, '--json']),
      addr(peerB, '10.0.0.2:7700'),
      addr(peerB, '/ip4/10.0.0.300/tcp/7700'),
      addr('not-a-peer-id', '/ip4/10.0.0.2/tcp/7700'),
      run(['peers', 'add', '--home', 'a', '--org', 'admin.json', '--json']),
      addr(json<{ peerId: string }>(a).peerId, '/ip4/10.0.0.2/tcp/7700'),
    ]);
    for (const r of refusals) expect(r.code, r.stderr).toBe(2);
    expect(jsonError(refusals[0]!).error.message).toMatch(/not a TCP multiaddr/);
    expect(jsonError(refusals[1]!).error.message).toMatch(/not a multiaddr.*10\.0\.0\.300/);
    expect(jsonError(refusals[2]!).error.message).toMatch(/not a libp2p peer id/);
    expect(jsonError(refusals[3]!).error.message).toMatch(/is a keystore, not an org file/);
    expect(jsonError(refusals[4]!).error.message).toMatch(/own peer id/);
    expect(unknown.code).toBe(1);
    expect(jsonError(unknown!).error.code).toBe('PEER_NOT_FOUND');
    expect(readFileSync(config, 'utf8')).toBe(before);

    // A genesis is installed only under its agreed hash; a peer comes from an org file.
    ok(assembled!);
    const hash = json<{ hash: string }>(assembled!).hash;
    const wrong = `${hash.slice(0, 63)}${hash.endsWith('0') ? '1' : '0'}`;
    const [mismatch, added] = await Promise.all([
      run(['genesis', 'install', 'genesis.json', '--home', 'a', '--hash', wrong, '--json']),
      run(['peers', 'add', '--home', 'a', '--org', 'b.org.json']),
    ]);
    expect(mismatch!.code).toBe(1);
    expect(jsonError(mismatch!).error).toMatchObject({
      code: 'GENESIS_HASH_MISMATCH',
      message: expect.stringContaining(wrong),
    });
    expect(existsSync(join(dir, 'a', 'genesis.json'))).toBe(false);
    ok(added!);
    const [installed, listed] = await Promise.all([
      run(['genesis', 'install', 'genesis.json', '--home', 'a', '--hash', hash]),
      run(['peers', 'list', '--home', 'a', '--json']),
    ]);
    ok(installed!);
    expect(readFileSync(join(dir, 'a', 'genesis.json'), 'utf8')).toBe(
      readFileSync(join(dir, 'genesis.json'), 'utf8'),
    );
    expect(json<{ peers: unknown[] }>(listed!).peers).toEqual([
      { peerId: peerB, addrs: ['/dns4/node.b.example/tcp/7700'] },
    ]);
    // Removed again: the rest of config.json is as init wrote it.
    ok(await run(['peers', 'remove', '--home', 'a', '--peer-id', peerB]));
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual(JSON.parse(before));
  }, 90_000);
});

describe.skipIf(!probe.ok)(`several hosts: OPERATIONS.md end to end${why}`, () => {
  let root = '';
  /** What travels between hospitals: public files only. */
  const exchange = () => join(root, 'exchange');
  let lab: NetnsLab;
  const nodes = new Map<Name, ChildProcess>();
  const index = (name: Name) => NAMES.indexOf(name);
  const host = (name: Name) => join(root, name);
  const home = (name: Name) => join(host(name), 'home');
  const logOf = (name: Name) => join(host(name), 'node.log');
  const org = (name: Name) => join(exchange(), `${name}.org.json`);
  const peerIds = new Map<Name, string>();
  const orgIds = new Map<Name, string>();

  /** `medchain ...` on hospital `name`'s host, in its directory. */
  const on = (name: Name, args: string[]) =>
    cli(args, {
      env,
      cwd: host(name),
      prefix: ['ip', 'netns', 'exec', lab.namespace(index(name))],
    });

  const start = (name: Name) => {
    const log = createWriteStream(logOf(name), { flags: 'a' });
    const [file, ...argv] = [
      'ip',
      'netns',
      'exec',
      lab.namespace(index(name)),
      ...cliArgv(['start', '--home', home(name), '--log-format', 'json']),
    ];
    const child = spawn(file!, argv, {
      cwd: host(name),
      env: { ...process.env, ...env, TSX_TSCONFIG_PATH: join(process.cwd(), 'tsconfig.test.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    nodes.set(name, child);
  };
  const stop = async (name: Name) => {
    const child = nodes.get(name);
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    nodes.delete(name);
  };

  const status = async (name: Name): Promise<Status | undefined> => {
    const run = await on(name, ['status', '--node', API, '--timeout', '3s', '--json']);
    return run.code === 0 ? json<Status>(run) : undefined;
  };
  /**
   * `GET /v1/status` from inside the host, with curl: what `medchain status` reads, cheap enough
   * to poll (a CLI process costs seconds on a busy machine).
   */
  const peek = (name: Name): Promise<Status | undefined> =>
    new Promise((done) =>
      execFile(
        'ip',
        [
          'netns',
          'exec',
          lab.namespace(index(name)),
          'curl',
          '-sf',
          '--max-time',
          '3',
          `${API}/v1/status`,
        ],
        (error, stdout) => done(error === null ? (JSON.parse(stdout) as Status) : undefined),
      ),
    );
  /** Polls `name` until `check` holds (bounded), then confirms it with `medchain status`. */
  const until = async (
    name: Name,
    check: (s: Status) => boolean,
    what: string,
    tries = 120,
  ): Promise<Status> => {
    let last: Status | undefined;
    for (let i = 0; i < tries; i++) {
      last = await peek(name);
      if (last !== undefined && check(last)) {
        last = await status(name);
        if (last !== undefined && check(last)) return last;
      }
      await sleep(500);
    }
    throw new Error(`${name}: gave up waiting for ${what}; last status ${JSON.stringify(last)}`);
  };
  const sorted = (ids: (string | undefined)[]) => [...ids].map(String).sort();

  beforeAll(() => {
    for (let attempt = 0; ; attempt++) {
      const tag = NetnsLab.freeTag();
      if (tag === undefined) throw new Error('no free namespace tag');
      lab = new NetnsLab(NAMES.length, tag);
      try {
        lab.claim();
        break;
      } catch (error) {
        if (attempt >= 4) throw error;
      }
    }
    lab.setup();
    root = tempDir('multihost');
    mkdirSync(exchange());
    for (const name of NAMES) mkdirSync(host(name));
  });

  afterAll(async () => {
    await Promise.all(NAMES.map(stop));
    if (lab !== undefined) NetnsLab.remove(lab.footprint);
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('three hospitals found the chain: init, org files, genesis with its hash, peers, start, commit', async () => {
    const founders: Name[] = ['a', 'b', 'c'];
    // Step 1, on each host: a node home and an admin key, then the public org file.
    await Promise.all(
      founders.map(async (name) => {
        const [init, keys] = await Promise.all([
          on(name, ['init', '--home', home(name), '--json']),
          on(name, ['keys', 'generate', '--out', 'admin.keystore.json']),
        ]);
        ok(init);
        ok(keys);
        peerIds.set(name, json<{ peerId: string }>(init).peerId);
        const spec = await on(name, [
          'genesis',
          'org-spec',
          '--home',
          home(name),
          '--admin-key',
          'admin.keystore.json',
          '--addr',
          `/ip4/${lab.address(index(name))}/tcp/7700`,
          '--out',
          `${name}.org.json`,
          '--json',
        ]);
        ok(spec);
        orgIds.set(name, json<{ id: string }>(spec).id);
        // Only the org file leaves the host; it holds no private key.
        const text = readFileSync(join(host(name), `${name}.org.json`), 'utf8');
        expect(text).not.toMatch(/crypto|ciphertext|private/i);
        copyFileSync(join(host(name), `${name}.org.json`), org(name));
      }),
    );

    // Step 2, at hospital A: the genesis from the three org files; its hash goes out by phone.
    for (const name of ['b', 'c'] as const)
      copyFileSync(org(name), join(host('a'), `${name}.org.json`));
    const assembled = await on('a', [
      'genesis',
      'assemble',
      '--chain-id',
      'multihost-net',
      '--out',
      'genesis.json',
      'a.org.json',
      'b.org.json',
      'c.org.json',
      '--json',
    ]);
    ok(assembled);
    const hash = json<{ hash: string; organizations: unknown[] }>(assembled).hash;
    expect(json<{ organizations: unknown[] }>(assembled).organizations).toHaveLength(3);
    copyFileSync(join(host('a'), 'genesis.json'), join(exchange(), 'genesis.json'));

    // A genesis altered on the way (one byte of the chain id) is refused: exit 1, nothing installed.
    const tampered = join(host('b'), 'genesis-tampered.json');
    const original = readFileSync(join(exchange(), 'genesis.json'), 'utf8');
    copyFileSync(join(exchange(), 'genesis.json'), tampered);
    writeFileSync(tampered, original.replace('multihost-net', 'multihost-nez'));
    const refused = await on('b', [
      'genesis',
      'install',
      tampered,
      '--home',
      home('b'),
      '--hash',
      hash,
      '--json',
    ]);
    expect(refused.code).toBe(1);
    expect(jsonError(refused).error).toMatchObject({
      code: 'GENESIS_HASH_MISMATCH',
      message: expect.stringContaining(hash),
    });
    expect(existsSync(join(home('b'), 'genesis.json'))).toBe(false);

    // Step 3, on each host: install the genesis, checking the agreed hash; peers from org files.
    await Promise.all(
      founders.map(async (name) => {
        copyFileSync(join(exchange(), 'genesis.json'), join(host(name), 'genesis.received.json'));
        ok(
          await on(name, [
            'genesis',
            'install',
            'genesis.received.json',
            '--home',
            home(name),
            '--hash',
            hash,
          ]),
        );
        const others = founders.filter((o) => o !== name);
        for (const other of others) copyFileSync(org(other), join(host(name), `${other}.org.json`));
        ok(
          await on(name, [
            'peers',
            'add',
            '--home',
            home(name),
            ...others.flatMap((other) => ['--org', `${other}.org.json`]),
          ]),
        );
      }),
    );

    // Bad input on A's host, side by side: a peer address that does not parse, a keystore sent
    // as an org file, an unknown peer removed. Each a clear error, config.json unchanged.
    const configBefore = readFileSync(join(home('a'), 'config.json'), 'utf8');
    const [badAddress, keystore, unknown, listed] = await Promise.all([
      on('a', [
        'peers',
        'add',
        '--home',
        home('a'),
        '--peer-id',
        peerIds.get('b')!,
        '--addr',
        `${lab.address(index('b'))}:7700`,
        '--json',
      ]),
      on('a', ['peers', 'add', '--home', home('a'), '--org', 'admin.keystore.json', '--json']),
      on('a', ['peers', 'remove', '--home', home('a'), '--peer-id', peerIds.get('a')!, '--json']),
      on('a', ['peers', 'list', '--home', home('a'), '--json']),
    ]);
    expect(badAddress!.code).toBe(2);
    expect(jsonError(badAddress!).error.message).toMatch(/not a TCP multiaddr/);
    expect(keystore!.code).toBe(2);
    expect(jsonError(keystore!).error.message).toMatch(/is a keystore, not an org file/);
    expect(unknown!.code).toBe(1);
    expect(jsonError(unknown!).error.code).toBe('PEER_NOT_FOUND');
    expect(readFileSync(join(home('a'), 'config.json'), 'utf8')).toBe(configBefore);
    ok(listed!);
    expect(json<{ peers: { peerId: string; addrs: string[] }[] }>(listed!).peers).toEqual([
      { peerId: peerIds.get('b'), addrs: [`/ip4/${lab.address(index('b'))}/tcp/7700`] },
      { peerId: peerIds.get('c'), addrs: [`/ip4/${lab.address(index('c'))}/tcp/7700`] },
    ]);

    // Step 4: start; every node sees the two others.
    for (const name of founders) start(name);
    for (const name of founders) {
      await until(name, (s) => s.peers.length === 2, 'two peers');
    }
  }, 240_000);

  let heightAfterAdd = 0;

  it('a fourth hospital is voted in, syncs and joins', async () => {
    // D's host: a home, an admin key, its org file; the members get the org file.
    const [init, keys] = await Promise.all([
      on('d', ['init', '--home', home('d'), '--json']),
      on('d', ['keys', 'generate', '--out', 'admin.keystore.json']),
    ]);
    ok(init);
    ok(keys);
    peerIds.set('d', json<{ peerId: string }>(init).peerId);
    ok(
      await on('d', [
        'genesis',
        'org-spec',
        '--home',
        home('d'),
        '--admin-key',
        'admin.keystore.json',
        '--addr',
        `/ip4/${lab.address(index('d'))}/tcp/7700`,
        '--out',
        'd.org.json',
      ]),
    );
    copyFileSync(join(host('d'), 'd.org.json'), org('d'));
    copyFileSync(org('d'), join(host('a'), 'd.org.json'));

    // A proposes, B votes: 2 of 3 members carry it.
    const proposed = await on('a', [
      'tx',
      'propose-member',
      '--key',
      'admin.keystore.json',
      '--org',
      'd.org.json',
      '--node',
      API,
      '--json',
    ]);
    ok(proposed);
    const proposal = json<{ hash: string; height: number }>(proposed);
    ok(
      await on('b', [
        'tx',
        'vote',
        '--key',
        'admin.keystore.json',
        '--proposal',
        proposal.hash,
        '--approve',
        'yes',
        '--node',
        API,
      ]),
    );
    const members = await on('b', ['query', 'organizations', '--node', API, '--json']);
    ok(members);
    expect(members.stdout).toContain(JSON.parse(readFileSync(org('d'), 'utf8')).id);

    // D gets the genesis and the members' org files, checks the hash, and starts.
    copyFileSync(join(exchange(), 'genesis.json'), join(host('d'), 'genesis.received.json'));
    const hash = json<{ hash: string }>(
      await on('d', ['genesis', 'validate', 'genesis.received.json', '--json']),
    ).hash;
    ok(
      await on('d', [
        'genesis',
        'install',
        'genesis.received.json',
        '--home',
        home('d'),
        '--hash',
        hash,
      ]),
    );
    for (const other of ['a', 'b', 'c'] as const) {
      copyFileSync(org(other), join(host('d'), `${other}.org.json`));
    }
    ok(
      await on('d', [
        'peers',
        'add',
        '--home',
        home('d'),
        ...['a', 'b', 'c'].flatMap((other) => ['--org', `${other}.org.json`]),
      ]),
    );
    start('d');
    const head = await until('a', () => true, 'a status');
    const d = await until(
      'd',
      (s) => s.height >= head.height && s.peers.length === 3,
      'sync and three peers',
      120,
    );
    expect(sorted(d.peers)).toEqual(sorted(['a', 'b', 'c'].map((n) => peerIds.get(n as Name))));
    const a = await until('a', (s) => s.peers.length === 3, 'D as a peer');
    expect(a.peers).toContain(peerIds.get('d'));
    heightAfterAdd = a.height;
  }, 240_000);

  it('a member voted out is dropped at once by the others and refused from then on, with no restart', async () => {
    const proposed = await on('a', [
      'tx',
      'propose-removal',
      '--key',
      'admin.keystore.json',
      '--org-id',
      orgIds.get('c')!,
      '--node',
      API,
      '--json',
    ]);
    ok(proposed);
    const proposal = json<{ hash: string }>(proposed).hash;
    // 3 of 4 members: A (proposer), B and D.
    for (const voter of ['b', 'd'] as const) {
      ok(
        await on(voter, [
          'tx',
          'vote',
          '--key',
          'admin.keystore.json',
          '--proposal',
          proposal,
          '--approve',
          'yes',
          '--node',
          API,
        ]),
      );
    }
    const remaining = sorted(['a', 'b', 'd'].map((n) => peerIds.get(n as Name)));
    for (const name of ['a', 'b', 'd'] as const) {
      const s = await until(name, (st) => !st.peers.includes(peerIds.get('c')!), 'C dropped', 20);
      expect(sorted([...s.peers, peerIds.get(name)])).toEqual(remaining);
      expect(s.height).toBeGreaterThan(heightAfterAdd);
    }
    await until('c', (s) => s.peers.length === 0, 'C to have no peer', 20);
    const logLines = (name: Name, text: string) =>
      readFileSync(logOf(name), 'utf8')
        .split('\n')
        .filter((line) => line.includes(text) && line.includes(peerIds.get('c')!));
    // Each of them hung up on C when it committed the removal.
    for (const name of ['a', 'b', 'd'] as const) {
      expect(logLines(name, 'connection dropped'), `${name} dropped C`).not.toEqual([]);
    }

    // From then on: C keeps its config (it still lists A and B, whose addresses it has) and even
    // restarts, and is refused; none of the others restarted.
    await stop('c');
    start('c');
    await until('c', () => true, 'C back up');
    for (let i = 0; i < 6; i++) {
      expect((await peek('c'))?.peers).toEqual([]);
      await sleep(500);
    }
    for (const name of ['a', 'b'] as const) {
      expect(logLines(name, 'connection refused'), `${name} refused C`).not.toEqual([]);
    }
    for (const name of ['a', 'b', 'd'] as const) {
      expect(nodes.get(name)?.exitCode).toBeNull();
      expect((await status(name))?.peers).not.toContain(peerIds.get('c'));
    }
  }, 120_000);
});
