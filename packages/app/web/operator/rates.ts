/**
 * Rates over a sliding window of samples of a growing counter (the chain's height, the
 * transactions counted so far): (last - first) / (time between them), over the samples of the
 * last `windowMs`. Pure: the caller passes the clock's readings.
 */
export interface Sample {
  /** ms, the caller's clock. */
  readonly at: number;
  /** A counter that only grows (a height, a running total). */
  readonly value: number;
}

export class SlidingRate {
  readonly windowMs: number;
  readonly minSpanMs: number;
  #samples: Sample[] = [];

  /** `minSpanMs`: no rate until the samples span at least this long (a rate of one instant is noise). */
  constructor(windowMs: number, minSpanMs = 2_000) {
    this.windowMs = windowMs;
    this.minSpanMs = minSpanMs;
  }

  /**
   * Adds a reading. A sample older than the last is ignored; a counter that went back (another
   * chain, a node reset) restarts the window.
   */
  add(at: number, value: number): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && at < last.at) return;
    if (last !== undefined && value < last.value) this.#samples = [];
    this.#samples.push({ at, value });
    // Keep the newest sample at or before the window's start, so the window is always covered.
    const start = at - this.windowMs;
    let drop = 0;
    while (drop + 1 < this.#samples.length && this.#samples[drop + 1]!.at <= start) drop++;
    if (drop > 0) this.#samples.splice(0, drop);
  }

  /** Per second over the window; undefined until the samples span `minSpanMs`. */
  perSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (first === undefined || last === undefined) return undefined;
    const span = last.at - first.at;
    if (span < this.minSpanMs) return undefined;
    return ((last.value - first.value) * 1000) / span;
  }

  reset(): void {
    this.#samples = [];
  }
}

/** "1.25", "0.00", or "—" while unknown. */
export function formatRate(rate: number | undefined): string {
  return rate === undefined ? '—' : rate.toFixed(2);
}
