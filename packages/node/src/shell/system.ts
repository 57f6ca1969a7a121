import type { Clock, Timer, Timers } from './ports.js';

/** The system wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Node's timers, unref'd so a running node's timers never keep the process alive. */
export const systemTimers: Timers = {
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, delayMs);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  setInterval(callback, intervalMs) {
    const handle = setInterval(callback, intervalMs);
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
};

/** Resolves after `delayMs` on `timers`, or at once (without throwing) when `signal` aborts. */
export function sleep(timers: Timers, delayMs: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: Timer | undefined;
    const onAbort = () => {
      timer?.cancel();
      resolve();
    };
    timer = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
