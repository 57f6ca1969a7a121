import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '@medchain/cli';
import type { MedchainClient } from '@medchain/client';
import type { PlannedTx } from './load.js';
import { type LatencySummary, readProc, summarize } from './stats.js';
import { CommitWatcher, type SeenBlock, Submitter } from './wire.js';

/** Open loop: submit at a fixed rate whatever happens. Closed: keep `window` txs uncommitted. */
export type LoadMode =
  | { readonly kind: 'open'; readonly rate: number }
  | { readonly kind: 'closed'; readonly window: number };

export interface BenchNode {
  readonly name: string;
  readonly api: string;
  readonly pid: number | null;
}

interface Pending {
  readonly at: number;
  readonly onCommit?: (code: string) => void;
}

/**
 * Submits transactions and matches them to the commits the event streams announce: the latency
 * of a transaction is from just before the POST that carries it to the first node's block
 * event naming it.
 */
export class Load {
  readonly submitter: Submitter;
  readonly #watcher: CommitWatcher;
  readonly #pending = new Map<string, Pending>();
  #listener: ((block: SeenBlock, latencies: number[], codes: string[]) => void) | null = null;

  /**
   * `apis`: where transactions go; `events`: a client per node that may follow its block
   * events (a member admin's); `maxBatch`: most transactions per POST (1: POST /v1/tx each);
   * `ca`: the PEM text of a TLS devnet's CA.
   */
  constructor(
    apis: readonly string[],
    events: readonly MedchainClient[],
    readonly maxBatch: number,
    ca?: string,
  ) {
    this.submitter = new Submitter(apis, maxBatch, ca);
    this.#watcher = new CommitWatcher(events, (block) => this.#onBlock(block));
  }

  start(): Promise<void> {
    return this.#watcher.start();
  }

  #onBlock(block: SeenBlock): void {
    const latencies: number[] = [];
    const codes: string[] = [];
    for (const receipt of block.receipts) {
      const pending = this.#pending.get(receipt.txHash);
      if (pending === undefined) continue;
      this.#pending.delete(receipt.txHash);
      latencies.push(block.at - pending.at);
      codes.push(receipt.code);
      pending.onCommit?.(receipt.code);
    }
    this.#listener?.(block, latencies, codes);
  }

  /**
   * Sends `txs` (at most `maxBatch`) in one POST per node; resolves with whether each was
   * admitted, forgetting those the node refused.
   */
  async send(txs: readonly PlannedTx[], onCommit?: (code: string) => void): Promise<boolean[]> {
    const pending: Pending = { at: performance.now(), ...(onCommit ? { onCommit } : {}) };
    for (const tx of txs) this.#pending.set(tx.hash, pending);
    const admitted = await this.submitter.submitMany(txs);
    admitted.forEach((ok, i) => {
      if (!ok) this.#pending.delete(txs[i]!.hash);
    });
    return admitted;
  }

  get uncommitted(): number {
    return this.#pending.size;
  }

  /**
   * Setup: sends every transaction (at most `inFlight` at a time) and waits until all are
   * committed with an OK receipt; anything else stops the bench with the receipt codes.
   */
  async commitAll(txs: readonly PlannedTx[], what: string, timeoutMs: number): Promise<void> {
    const codes = new Map<string, number>();
    let committed = 0;
    let refused = 0;
    let next = 0;
    const onCommit = (code: string) => {
      committed++;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    };
    const worker = async () => {
      while (next < txs.length) {
        const batch = txs.slice(next, next + this.maxBatch);
        next += batch.length;
        const admitted = await this.send(batch, onCommit);
        refused += admitted.filter((ok) => !ok).length;
      }
    };
    // 64 requests in flight one transaction at a time; a few at a time in batches.
    await Promise.all(Array.from({ length: Math.max(4, Math.ceil(64 / this.maxBatch)) }, worker));
    const deadline = Date.now() + timeoutMs;
    while (committed + refused < txs.length && Date.now() < deadline) await sleep(50);
    const ok = codes.get('OK') ?? 0;
    if (ok !== txs.length) {
      throw new CliError(
        'BENCH_SETUP_FAILED',
        `setup (${what}): ${ok} of ${txs.length} committed OK; receipts ${JSON.stringify(Object.fromEntries(codes))}, refused ${JSON.stringify(Object.fromEntries(this.submitter.rejected))}`,
      );
    }
  }

  /** Timed phase. */
  async measure(options: MeasureOptions): Promise<Measurement> {
    const { pool, mode, warmupMs, durationMs, nodes } = options;
    // Block events that queued up while the pool was being signed are not part of the run.
    await sleep(200);
    const t0 = performance.now();
    const windowStart = t0 + warmupMs;
    const windowEnd = windowStart + durationMs;
    const seconds = Math.ceil((warmupMs + durationMs) / 1000);
    const series = Array.from({ length: seconds }, (_, t) => ({
      t,
      txs: 0,
      blocks: 0,
      latencies: [] as number[],
    }));
    const windowLatencies: number[] = [];
    const receiptCodes = new Map<string, number>();
    const blockTimes: number[] = [];
    let committedInWindow = 0;
    let blocksInWindow = 0;
    let sent = 0;
    let outstanding = 0;
    let submittedInWindow = 0;
    let committedOfWindow = 0;
    let committedTotal = 0;

    this.#listener = (block, latencies, codes) => {
      blockTimes.push(block.at);
      const second = Math.floor((block.at - t0) / 1000);
      const bucket = second >= 0 ? series[second] : undefined;
      const inWindow = block.at >= windowStart && block.at < windowEnd;
      if (inWindow) blocksInWindow++;
      if (bucket !== undefined) bucket.blocks++;
      latencies.forEach((latency, i) => {
        outstanding--;
        committedTotal++;
        const code = codes[i]!;
        receiptCodes.set(code, (receiptCodes.get(code) ?? 0) + 1);
        if (bucket !== undefined) {
          bucket.txs++;
          bucket.latencies.push(latency);
        }
        if (inWindow) committedInWindow++;
        const at = block.at - latency;
        if (at >= windowStart && at < windowEnd) {
          committedOfWindow++;
          windowLatencies.push(latency);
        }
      });
    };

    const cpuAt = (): (number | undefined)[] =>
      nodes.map((n) => (n.pid === null ? undefined : readProc(n.pid)?.cpuSeconds));
    const rssMax = nodes.map(() => 0);
    const cpuSeries: { t: number; cores: (number | null)[] }[] = [];
    let cpuPrev = cpuAt();
    let cpuPrevAt = performance.now();
    let cpuStart: (number | undefined)[] = [];
    let cpuEnd: (number | undefined)[] = [];
    let ownCpuWindow = process.cpuUsage();
    const sample = () => {
      const now = performance.now();
      const cpu = cpuAt();
      nodes.forEach((n, i) => {
        const rss = n.pid === null ? undefined : readProc(n.pid)?.rssBytes;
        if (rss !== undefined) rssMax[i] = Math.max(rssMax[i]!, rss);
      });
      cpuSeries.push({
        t: Math.round((now - t0) / 100) / 10,
        cores: cpu.map((c, i) => {
          const prev = cpuPrev[i];
          return c === undefined || prev === undefined
            ? null
            : Math.round(((c - prev) / ((now - cpuPrevAt) / 1000)) * 100) / 100;
        }),
      });
      cpuPrev = cpu;
      cpuPrevAt = now;
    };
    const sampler = setInterval(sample, 1000);
    const atStart = setTimeout(() => {
      cpuStart = cpuAt();
      ownCpuWindow = process.cpuUsage();
    }, warmupMs);
    let crash: { node: string; at: number } | undefined;
    const crashTimer =
      options.crash === undefined
        ? undefined
        : setTimeout(() => {
            const at = performance.now();
            options.crash!()
              .then((node) => {
                crash = { node, at };
              })
              .catch((error: unknown) => options.progress(`crash failed: ${String(error)}`));
          }, warmupMs + options.crash.afterMs);

    /** Sends the pool's next `count` transactions (at most maxBatch) in one go. */
    const fire = (count: number) => {
      const txs = pool.slice(sent, sent + Math.min(count, this.maxBatch));
      sent += txs.length;
      outstanding += txs.length;
      const now = performance.now();
      if (now >= windowStart && now < windowEnd) submittedInWindow += txs.length;
      void this.send(txs).then((admitted) => {
        for (const ok of admitted) if (!ok) outstanding--;
      });
    };
    let lastProgress = 0;
    while (performance.now() < windowEnd) {
      const now = performance.now();
      // Everything due this tick goes out now, in batches of at most maxBatch.
      if (mode.kind === 'open') {
        const due = Math.min(pool.length, Math.floor((mode.rate * (now - t0)) / 1000));
        while (sent < due) fire(due - sent);
      } else {
        while (outstanding < mode.window && sent < pool.length) fire(mode.window - outstanding);
      }
      if (now - lastProgress >= 1000) {
        lastProgress = now;
        const second = series[Math.floor((now - t0) / 1000) - 1];
        const last = second === undefined ? undefined : summarize(second.latencies);
        options.progress(
          `${options.label} ${Math.floor((now - t0) / 1000)}/${seconds}s${now < windowStart ? ' (warmup)' : ''}: sent ${sent}, committed ${committedTotal}, last second ${second?.txs ?? 0} tx/s, p50 ${ms(last?.p50)}, p99 ${ms(last?.p99)}, in flight ${this.uncommitted}`,
        );
      }
      await sleep(mode.kind === 'open' ? 5 : 10);
    }
    cpuEnd = cpuAt();
    const ownCpuEnd = process.cpuUsage(ownCpuWindow);
    clearInterval(sampler);
    clearTimeout(atStart);
    if (crashTimer !== undefined) clearTimeout(crashTimer);
    // Let the window's transactions land (bounded), so their latencies are all counted.
    const drainUntil = performance.now() + Math.min(30_000, Math.max(5_000, durationMs / 2));
    while (committedOfWindow < submittedInWindow && performance.now() < drainUntil) {
      await sleep(50);
    }
    this.#listener = null;

    const durationS = durationMs / 1000;
    const nodeStats = nodes.map((n, i) => {
      const start = cpuStart[i];
      const end = cpuEnd[i];
      const cpuSeconds = start === undefined || end === undefined ? null : end - start;
      return {
        name: n.name,
        pid: n.pid,
        cpuCores: cpuSeconds === null ? null : round(cpuSeconds / durationS, 3),
        cpuUsPerTx:
          cpuSeconds === null || committedInWindow === 0
            ? null
            : round((cpuSeconds * 1e6) / committedInWindow, 1),
        rssMaxMb: round(rssMax[i]! / 2 ** 20, 1),
      };
    });
    const gaps = gapsAround(blockTimes, crash?.at);
    return {
      sent,
      submittedInWindow,
      committedOfWindow,
      uncommittedOfWindow: submittedInWindow - committedOfWindow,
      poolExhausted: sent >= pool.length,
      rejected: Object.fromEntries(this.submitter.rejected),
      retried: this.submitter.retries,
      receipts: Object.fromEntries(receiptCodes),
      txPerSecond: round(committedInWindow / durationS, 1),
      blocksPerSecond: round(blocksInWindow / durationS, 2),
      txPerBlock: blocksInWindow === 0 ? 0 : round(committedInWindow / blocksInWindow, 1),
      latencyMs: summarize(windowLatencies),
      nodes: nodeStats,
      loadGeneratorCores: round((ownCpuEnd.user + ownCpuEnd.system) / 1e6 / durationS, 3),
      loadAverage: loadavg().map((x) => round(x, 2)),
      series: series.map((s) => {
        const l = summarize(s.latencies);
        return {
          t: s.t,
          txs: s.txs,
          blocks: s.blocks,
          p50: Number.isNaN(l.p50) ? null : l.p50,
          p99: Number.isNaN(l.p99) ? null : l.p99,
        };
      }),
      cpuSeries,
      ...(crash === undefined
        ? {}
        : {
            crash: {
              node: crash.node,
              atS: round((crash.at - t0) / 1000, 2),
              ...gaps,
            },
          }),
    };
  }

  close(): void {
    this.#watcher.close();
    this.submitter.close();
  }
}

export interface MeasureOptions {
  readonly label: string;
  readonly pool: readonly PlannedTx[];
  readonly mode: LoadMode;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly nodes: readonly BenchNode[];
  readonly progress: (line: string) => void;
  /** Kill a validator `afterMs` into the measured window; resolves with its name. */
  readonly crash?: { readonly afterMs: number; (): Promise<string> };
}

export interface Measurement {
  readonly sent: number;
  readonly submittedInWindow: number;
  readonly committedOfWindow: number;
  readonly uncommittedOfWindow: number;
  readonly poolExhausted: boolean;
  readonly rejected: Record<string, number>;
  readonly retried: number;
  readonly receipts: Record<string, number>;
  readonly txPerSecond: number;
  readonly blocksPerSecond: number;
  readonly txPerBlock: number;
  readonly latencyMs: LatencySummary;
  readonly nodes: {
    name: string;
    pid: number | null;
    cpuCores: number | null;
    cpuUsPerTx: number | null;
    rssMaxMb: number;
  }[];
  readonly loadGeneratorCores: number;
  readonly loadAverage: number[];
  readonly series: {
    t: number;
    txs: number;
    blocks: number;
    p50: number | null;
    p99: number | null;
  }[];
  readonly cpuSeries: { t: number; cores: (number | null)[] }[];
  readonly crash?: {
    node: string;
    atS: number;
    firstCommitAfterMs: number | null;
    maxGapAfterMs: number | null;
    maxGapBeforeMs: number | null;
  };
}

const ms = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : `${x} ms`);

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** How long commits stalled after a crash at `at`, against the largest gap before it. */
function gapsAround(times: readonly number[], at: number | undefined) {
  if (at === undefined) {
    return { firstCommitAfterMs: null, maxGapAfterMs: null, maxGapBeforeMs: null };
  }
  const sorted = [...times].sort((a, b) => a - b);
  let before = 0;
  let after = 0;
  let previous: number | undefined;
  for (const t of sorted) {
    if (previous !== undefined) {
      const gap = t - previous;
      if (t <= at) before = Math.max(before, gap);
      else after = Math.max(after, t - Math.max(previous, at));
    }
    previous = t;
  }
  const first = sorted.find((t) => t > at);
  return {
    firstCommitAfterMs: first === undefined ? null : round(first - at, 1),
    maxGapAfterMs: round(after, 1),
    maxGapBeforeMs: round(before, 1),
  };
}
