import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, createMetrics, installPolyfills, moduleLogger } from '../../src/index.js';
import { spawnFixture } from '../helpers.js';

function memoryStream(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('polyfill', () => {
  it('provides a working Promise.withResolvers and installs nothing twice', async () => {
    const ctor = Promise as unknown as {
      withResolvers: <T>() => { promise: Promise<T>; resolve: (v: T) => void };
    };
    const deferred = ctor.withResolvers<number>();
    deferred.resolve(42);
    expect(await deferred.promise).toBe(42);
    expect(installPolyfills()).toEqual([]);
  });
});

/** Runs the libp2p smoke fixture and returns its one-line verdict. */
function smoke(mode: 'polyfill' | 'bare'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnFixture('libp2p-smoke.ts', [mode]);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', () => resolve(out.trim()));
  });
}

describe('libp2p on this Node version', () => {
  it('works with the polyfill, and (on Node < 22) fails without it', async () => {
    expect(await smoke('polyfill')).toBe('ok');
    const nativeWithResolvers = Number(process.versions.node.split('.')[0]) >= 22;
    if (!nativeWithResolvers) expect(await smoke('bare')).toMatch(/^failed/);
  });
});

describe('logger', () => {
  it('writes JSON lines with the module of each child and honours the level', () => {
    const out = memoryStream();
    const root = createLogger({ level: 'info', destination: out.stream, base: { node: 'a' } });
    moduleLogger(root, 'consensus').info({ height: 3 }, 'committed');
    moduleLogger(root, 'wal').debug('hidden below info');
    moduleLogger(root, 'db').warn('slow batch');
    const lines = out.lines();
    expect(lines.map((l) => [l.module, l.msg, l.node])).toEqual([
      ['consensus', 'committed', 'a'],
      ['db', 'slow batch', 'a'],
    ]);
    expect(lines[0]?.height).toBe(3);
  });
});

describe('metrics', () => {
  it('keeps each node in its own registry', async () => {
    const a = createMetrics({ node: 'a' });
    const b = createMetrics({ node: 'b' });
    a.chain.blocksCommitted.inc(3);
    b.net.framesRejected.inc({ protocol: '/medchain/consensus/1.0.0', reason: 'oversize' });
    const textA = await a.register.metrics();
    const textB = await b.register.metrics();
    expect(textA).toContain('medchain_blocks_committed_total{node="a"} 3');
    expect(textB).toContain('medchain_blocks_committed_total{node="b"} 0');
    expect(textB).toContain(
      'medchain_protocol_frames_rejected_total{protocol="/medchain/consensus/1.0.0",reason="oversize",node="b"} 1',
    );
    // Every metric has help text.
    for (const metric of await a.register.getMetricsAsJSON())
      expect(metric.help.length).toBeGreaterThan(10);
    expect(textA).not.toContain('process_resident_memory_bytes');
  });

  it("a node's own registry also carries the process's memory, CPU, heap and GC", async () => {
    const { register } = createMetrics({ node: 'a', process: true });
    const text = await register.metrics();
    const value = (name: string) =>
      Number(new RegExp(`^${name}\\{node="a"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10 * 2 ** 20);
    expect(value('process_resident_memory_bytes')).toBeLessThan(process.memoryUsage().rss * 2);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_heap_space_size_used_bytes\{space="old",node="a"\} \d+/m);
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });
});
