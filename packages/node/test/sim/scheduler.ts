import { setImmediate as macrotask } from 'node:timers/promises';

interface Scheduled {
  readonly time: number;
  readonly seq: number;
  run: (() => void) | null;
}

/** A scheduled event; `cancel()` is idempotent and safe after it ran. */
export interface ScheduledEvent {
  cancel(): void;
}

/**
 * Virtual time for a whole simulated network: one queue of events ordered by (time, order of
 * scheduling), so a seed replays exactly. Nothing here waits for real time: `run` jumps from
 * one event to the next and lets the promise work each event started settle before the next
 * (the shell's async steps over memory ports then take no virtual time unless a port says so).
 */
export class Scheduler {
  private readonly heap: Scheduled[] = [];
  private seq = 0;
  /** Virtual milliseconds since the run started. */
  now = 0;
  /** Events run so far. */
  executed = 0;

  at(time: number, run: () => void): ScheduledEvent {
    const event: Scheduled = { time: Math.max(time, this.now), seq: this.seq++, run };
    this.push(event);
    return {
      cancel: () => {
        event.run = null;
      },
    };
  }

  after(delayMs: number, run: () => void): ScheduledEvent {
    return this.at(this.now + Math.max(0, delayMs), run);
  }

  /**
   * Runs events in order until `done()` holds after one, virtual time passes `until`, the
   * queue empties, or `maxEvents` ran in total. Returns why it stopped.
   */
  async run(options: {
    readonly until: number;
    readonly done?: () => boolean;
    readonly maxEvents: number;
  }): Promise<'done' | 'deadline' | 'idle' | 'storm'> {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return 'idle';
      if (top.time > options.until) {
        this.now = options.until;
        return 'deadline';
      }
      this.pop();
      const run = top.run;
      if (run === null) continue;
      this.now = top.time;
      if (++this.executed > options.maxEvents) return 'storm';
      run();
      // Every promise continuation the event started runs before the next event: a macrotask
      // boundary drains the whole microtask queue (no port does real I/O).
      await macrotask();
      if (options.done?.()) return 'done';
    }
  }

  private push(event: Scheduled): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let first = i;
      if (left < heap.length && earlier(heap[left]!, heap[first]!)) first = left;
      if (right < heap.length && earlier(heap[right]!, heap[first]!)) first = right;
      if (first === i) return;
      [heap[i], heap[first]] = [heap[first]!, heap[i]!];
      i = first;
    }
  }
}

function earlier(a: Scheduled, b: Scheduled): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
