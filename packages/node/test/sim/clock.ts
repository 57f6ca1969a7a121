import type { Clock, Timer, Timers } from '../../src/index.js';
import type { Scheduler } from './scheduler.js';

/** One run of a node process: a crash ends it, and everything it scheduled or sent goes quiet. */
export class Incarnation {
  alive = true;

  constructor(
    readonly node: number,
    readonly number: number,
  ) {}
}

/**
 * A node's wall clock: virtual time from `origin`, off by `offsetMs` and running at `rate`
 * (a rate of 1.0001 gains 0.1 ms a second), plus any jump it took. Nodes disagree by design.
 */
export class SkewedClock implements Clock {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly origin: number,
    readonly offsetMs: number,
    readonly rate: number,
  ) {}

  /** A step the clock took (a jump, as when an operator or NTP sets it); 0 when it is right. */
  jumpMs = 0;

  /** A bound function: the shell passes `clock.now` around on its own. */
  readonly now = (): number =>
    Math.floor(this.origin + this.offsetMs + this.jumpMs + this.scheduler.now * this.rate);
}

/**
 * The Timers port on virtual time, for one incarnation: delays are measured by the node's own
 * (skewed) clock rate, and nothing fires once the incarnation crashed.
 */
export class SimTimers implements Timers {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly clock: SkewedClock,
    private readonly life: Incarnation,
  ) {}

  setTimeout(callback: () => void, delayMs: number): Timer {
    const event = this.scheduler.after(this.virtual(delayMs), () => {
      if (this.life.alive) callback();
    });
    return event;
  }

  setInterval(callback: () => void, intervalMs: number): Timer {
    const step = this.virtual(intervalMs);
    let cancelled = false;
    let event: Timer | undefined;
    // The next run is due one interval after this one was due, whatever the callback costs.
    const schedule = (due: number) => {
      event = this.scheduler.at(due, () => {
        if (cancelled || !this.life.alive) return;
        schedule(due + step);
        callback();
      });
    };
    schedule(this.scheduler.now + step);
    return {
      cancel: () => {
        cancelled = true;
        event?.cancel();
      },
    };
  }

  private virtual(delayMs: number): number {
    return Math.max(0, delayMs) / this.clock.rate;
  }
}
