/**
 * The one place where the node patches the runtime. Node 20 lacks `Promise.withResolvers`
 * (ES2024), which libp2p v3, yamux, @libp2p/utils and it-queue call at run time. Every entry
 * point that starts libp2p imports this module first.
 *
 * Audit of the libp2p 3.3.11 dependency tree on Node 20.20 (see README): no other ES2024+
 * built-in is used outside browser-only files (`navigator` is only read in *.browser.js).
 * p-retry@8 declares `node >= 22` but only uses AbortSignal, setTimeout and performance.now,
 * all present in Node 20, so it needs nothing here.
 */

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

type PromiseWithResolversCtor = PromiseConstructor & {
  withResolvers?: <T>() => Resolvers<T>;
};

function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
  let resolve!: Resolvers<T>['resolve'];
  let reject!: Resolvers<T>['reject'];
  // `this` keeps subclass semantics of the built-in (Promise subclasses get their own kind).
  const promise = new this<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Installs the missing built-ins; returns the names it installed (empty on Node 22+). */
export function installPolyfills(): string[] {
  const installed: string[] = [];
  const ctor = Promise as PromiseWithResolversCtor;
  if (typeof ctor.withResolvers !== 'function') {
    Object.defineProperty(Promise, 'withResolvers', {
      value: withResolvers,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    installed.push('Promise.withResolvers');
  }
  return installed;
}

/** What this import installed, for a startup log line. */
export const installedPolyfills: readonly string[] = installPolyfills();
