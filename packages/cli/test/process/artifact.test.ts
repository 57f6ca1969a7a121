import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VALIDATOR_PROCESS } from '@medchain/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshTree, ROOT, runIn, type ScriptRun, scriptEnv } from '../fresh-tree.js';
import { tempDir } from '../helpers.js';

/**
 * The installable artifact: `pnpm build` on a fresh copy emits the `medchain` command
 * (packages/cli/dist/main.js, the package's bin); deploy/assemble.sh turns the build into a
 * production-only install tree (no tsx, no TypeScript); and that tree runs a node the way
 * deploy/Containerfile's image would: its ENTRYPOINT, CMD, USER, ENV and HEALTHCHECK read from
 * the Containerfile, the install tree mounted read-only at /opt/medchain, the whole root
 * filesystem read-only, the home the only writable mount (a private mount namespace stands in
 * for the container runtime, which needs a registry for its base image). The systemd unit is
 * checked with `systemd-analyze verify`.
 */

const CONTAINERFILE = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8');
const UNIT = join(ROOT, 'deploy/medchain.service');

/** The runtime stage's instructions (after the last FROM), continuation lines joined. */
function runtimeInstructions(): Map<string, string> {
  const text = CONTAINERFILE.replace(/\\\n\s*/g, ' ');
  const lines = text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
  const lastFrom = lines.findLastIndex((line) => line.startsWith('FROM '));
  const found = new Map<string, string>();
  for (const line of lines.slice(lastFrom)) {
    const space = line.indexOf(' ');
    const name = line.slice(0, space);
    const rest = line.slice(space + 1).trim();
    found.set(name, name === 'ENV' && found.has('ENV') ? `${found.get('ENV')} ${rest}` : rest);
  }
  return found;
}

const image = runtimeInstructions();
const entrypoint = JSON.parse(image.get('ENTRYPOINT')!) as string[];
const command = JSON.parse(image.get('CMD')!) as string[];
const healthcheck = JSON.parse(image.get('HEALTHCHECK')!.replace(/^.*?CMD /, '')) as string[];
const [uid, gid] = image.get('USER')!.split(':').map(Number) as [number, number];
const imageEnv = Object.fromEntries(
  [...image.get('ENV')!.matchAll(/(\w+)=(\S+)/g)].map(([, key, value]) => [key!, value!]),
);
const volume = (JSON.parse(image.get('VOLUME')!) as string[])[0]!;
const INSTALL_AT = '/opt/medchain';
const SECRET = '/run/secrets/medchain-passphrase';
const PASSPHRASE = 'artifact test passphrase';

function probeSandbox(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (mount namespaces, dropping to the image user)';
  for (const tool of ['/usr/bin/unshare', '/usr/bin/setpriv']) {
    if (!existsSync(tool)) return `${tool} is missing`;
  }
  const run = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --make-rprivate / && true']);
  return run.status === 0 ? undefined : `no mount namespace here: ${run.stderr}`;
}
const noSandbox = probeSandbox();
const noSystemd = existsSync('/usr/bin/systemd-analyze') ? undefined : 'no systemd-analyze';
if (noSandbox !== undefined) console.log(`artifact.test: image run skipped: ${noSandbox}`);
if (noSystemd !== undefined) console.log(`artifact.test: unit check skipped: ${noSystemd}`);

const ok = (run: ScriptRun | { code: number | null; stdout: string; stderr: string }) =>
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);

describe('the installable artifact', () => {
  let tree: string;
  let install: string;

  beforeAll(async () => {
    tree = freshTree('artifact');
    ok(await runIn(tree, 'pnpm', ['build'], { timeoutMs: 600_000 }));
    install = join(tempDir('install'), 'medchain');
    ok(await runIn(tree, 'sh', ['deploy/assemble.sh', install], { timeoutMs: 300_000 }));
  }, 900_000);
  afterAll(() => {
    if (tree !== undefined) rmSync(tree, { recursive: true, force: true });
  });

  it('pnpm build emits the medchain bin, and node runs it', async () => {
    const cli = JSON.parse(readFileSync(join(tree, 'packages/cli/package.json'), 'utf8'));
    expect(cli.bin).toEqual({ medchain: './dist/main.js' });
    const main = join(tree, 'packages/cli', cli.bin.medchain);
    expect(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const run = await runIn(tree, process.execPath, [main, '--version']);
    ok(run);
    expect(run.stdout.trim()).toBe(cli.version);
  });

  it('the install tree holds build output and production dependencies only, and runs', async () => {
    const store = readdirSync(join(install, 'node_modules/.pnpm'));
    for (const tool of ['tsx@', 'typescript@', 'vitest@', 'vite@', '@biomejs']) {
      expect(store.filter((entry) => entry.startsWith(tool))).toEqual([]);
    }
    expect(existsSync(join(install, 'packages/node/src'))).toBe(false);
    expect(existsSync(join(install, 'packages/app/dist/index.html'))).toBe(true);
    const run = await runIn(install, process.execPath, [
      join(install, 'packages/cli/dist/main.js'),
      'start',
      '--help',
    ]);
    ok(run);
    expect(run.stdout).toContain('--passphrase-file');
  });

  describe.skipIf(noSandbox !== undefined)(
    `run as the image: uid ${uid}, read-only root and ${INSTALL_AT}, only ${volume} writable`,
    () => {
      let home: string;
      /** The API's URL, from the node's `node started` log line (it binds port 0). */
      let api: string | undefined;
      let node: ChildProcess | undefined;
      let nodeLog = '';

      /**
       * Runs `argv` as the container would: a private mount namespace where the install tree is
       * at /opt/medchain (read-only), the home at the image's volume path, the passphrase at
       * /run/secrets, the root filesystem remounted read-only, then the image's user and
       * environment (no capabilities, no new privileges).
       */
      const inImage = (argv: readonly string[]) => {
        const env = Object.entries({ PATH: '/usr/local/bin:/usr/bin:/bin', ...imageEnv })
          .map(([key, value]) => `${key}=${value}`)
          .join(' ');
        const script = [
          'set -e',
          'mount --make-rprivate /',
          'for d in /opt /var/lib /run; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done',
          `mkdir -p ${INSTALL_AT} ${volume} /run/secrets`,
          `printf '%s\\n' '${PASSPHRASE}' > ${SECRET}`,
          `chown ${uid}:${gid} ${SECRET} && chmod 0400 ${SECRET}`,
          `mount --bind "$1" ${INSTALL_AT} && mount -o remount,bind,ro ${INSTALL_AT}`,
          `mount --bind "$2" ${volume}`,
          'for d in /opt /var/lib /run; do mount -o remount,ro "$d"; done',
          'mount -o remount,bind,ro /',
          'shift 2',
          `exec setpriv --reuid=${uid} --regid=${gid} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all env -i ${env} "$@"`,
        ].join('\n');
        return spawn('unshare', ['-m', 'sh', '-c', script, 'sh', install, home, ...argv], {
          stdio: ['ignore', 'pipe', 'pipe'],
          cwd: '/',
        });
      };
      const runInImage = (argv: readonly string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = inImage(argv);
          let stdout = '';
          let stderr = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            stdout += chunk.toString('utf8');
          });
          child.stderr!.on('data', (chunk: Buffer) => {
            stderr += chunk.toString('utf8');
          });
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        });
      const medchain = (...args: string[]) => runInImage([...entrypoint, ...args]);

      beforeAll(async () => {
        home = tempDir('image-home');
        chownSync(home, uid, gid);
        chmodSync(home, 0o700);
        const pass = ['--passphrase-file', SECRET];
        ok(
          await medchain(
            'init',
            '--home',
            volume,
            '--p2p-host',
            '127.0.0.1',
            '--p2p-port',
            '0',
            '--api-port',
            '0',
            ...pass,
          ),
        );
        ok(await medchain('keys', 'generate', '--out', `${volume}/admin.json`, ...pass));
        ok(await medchain('keys', 'generate', '--out', `${volume}/patient.json`, ...pass));
        const genesis = `${volume}/genesis.json`;
        ok(await medchain('genesis', 'create', '--chain-id', 'artifact-test', '--out', genesis));
        ok(
          await medchain(
            'genesis',
            'add-organization',
            genesis,
            '--home',
            volume,
            '--admin-key',
            `${volume}/admin.json`,
          ),
        );
        node = inImage([...entrypoint, ...command]);
        node.stdout!.on('data', (chunk: Buffer) => {
          nodeLog += chunk.toString('utf8');
        });
        node.stderr!.on('data', (chunk: Buffer) => {
          nodeLog += chunk.toString('utf8');
        });
      }, 180_000);
      afterAll(async () => {
        if (node?.exitCode === null) {
          node.kill('SIGKILL');
          await new Promise((done) => node!.once('close', done));
        }
        rmSync(home, { recursive: true, force: true });
      });

      it('the node starts from the read-only tree and the HEALTHCHECK passes', async () => {
        let healthy = false;
        for (let tries = 0; tries < 120 && !healthy && node!.exitCode === null; tries++) {
          api ??= nodeLog
            .split('\n')
            .slice(0, -1) // whole lines only
            .filter((line) => line.includes('"node started"'))
            .map((line) => JSON.parse(line).api as string)[0];
          healthy =
            api !== undefined &&
            (await fetch(`${api}/v1/health`).then(
              (response) => response.ok,
              () => false,
            ));
          if (!healthy) await sleep(500);
        }
        expect(healthy, nodeLog).toBe(true);
        const url = api!;
        // The image's own HEALTHCHECK command, pointed at this node's port.
        const check = spawnSync(healthcheck[0]!, healthcheck.slice(1), {
          env: scriptEnv({ MEDCHAIN_NODE: url }),
          timeout: 30_000,
        });
        expect(check.status, String(check.stderr)).toBe(0);
        const down = spawnSync(healthcheck[0]!, healthcheck.slice(1), {
          env: scriptEnv({ MEDCHAIN_NODE: 'http://127.0.0.1:9' }),
          timeout: 30_000,
        });
        expect(down.status).toBe(1);
      }, 90_000);

      it('commits a transaction sent through the image', async () => {
        const sent = await medchain(
          'tx',
          'register-patient',
          '--key',
          `${volume}/patient.json`,
          '--passphrase-file',
          SECRET,
          '--node',
          api!,
          '--json',
        );
        ok(sent);
        expect(JSON.parse(sent.stdout)).toMatchObject({
          status: 'committed',
          receipt: { code: 'OK' },
        });
        const status = (await (await fetch(`${api}/v1/status`)).json()) as {
          height: number;
        };
        expect(status.height).toBeGreaterThanOrEqual(1);
      }, 90_000);

      it('writes only in the home, as the image user; the install tree cannot be written', async () => {
        const walk = (dir: string): string[] =>
          readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
            entry.isDirectory()
              ? [join(dir, entry.name), ...walk(join(dir, entry.name))]
              : [join(dir, entry.name)],
          );
        const files = walk(home);
        expect(files.map((file) => file.slice(home.length + 1))).toEqual(
          expect.arrayContaining(['config.json', 'genesis.json', 'db', 'wal']),
        );
        for (const file of files) expect(statSync(file).uid, file).toBe(uid);
        const write = await runInImage([
          'node',
          '-e',
          `require('node:fs').writeFileSync('${INSTALL_AT}/x', '')`,
        ]);
        expect(write.code).not.toBe(0);
        expect(write.stderr).toContain('EROFS');
        expect(nodeLog).not.toMatch(/EROFS|EACCES/);
      });

      it('stops cleanly on SIGTERM (as podman stop sends it)', async () => {
        const closed = new Promise<number | null>((done) => node!.once('close', done));
        node!.kill('SIGTERM');
        expect(await closed).toBe(0);
      }, 60_000);
    },
  );
});

describe.skipIf(noSystemd !== undefined)('deploy/medchain.service', () => {
  it('passes systemd-analyze verify without a warning', () => {
    const run = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('has the hardening the operations guide promises', () => {
    const unit = readFileSync(UNIT, 'utf8');
    for (const line of [
      'User=medchain',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/medchain',
      'NoNewPrivileges=yes',
      'Restart=on-failure',
      'PrivateTmp=yes',
      'ProtectHome=yes',
      'CapabilityBoundingSet=',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  it('a broken unit does not pass (the check can fail)', () => {
    const broken = join(tempDir('unit'), 'medchain.service');
    writeFileSync(
      broken,
      readFileSync(UNIT, 'utf8').replace('Restart=on-failure', 'Restart=sometimes'),
    );
    const run = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8' });
    expect(run.stderr).toContain('restart specifier');
  });
});

describe('how deploy/ starts a validator', () => {
  it('the image and the unit pass the Node flags and environment of VALIDATOR_PROCESS', () => {
    const main = entrypoint.indexOf('/opt/medchain/packages/cli/dist/main.js');
    expect(entrypoint.slice(1, main)).toEqual([...VALIDATOR_PROCESS.nodeFlags]);
    const unit = readFileSync(UNIT, 'utf8').split('\n');
    const execStart = unit.find((line) => line.startsWith('ExecStart='))!.split(' ');
    expect(
      execStart.slice(1, execStart.indexOf(`${INSTALL_AT}/packages/cli/dist/main.js`)),
    ).toEqual([...VALIDATOR_PROCESS.nodeFlags]);
    for (const [name, value] of Object.entries(VALIDATOR_PROCESS.env)) {
      expect(imageEnv[name]).toBe(value);
      expect(unit).toContain(`Environment=${name}=${value}`);
    }
  });
});
