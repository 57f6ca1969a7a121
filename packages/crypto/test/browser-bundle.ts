/**
 * Bundles the packages for browsers, as a consumer would, and runs the result in a fresh
 * JavaScript realm (node:vm) that has none of Node's globals: no Buffer, process or require.
 * What runs there is the browser graph: platform/browser.ts, msgpackr's browser build.
 */
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
// esbuild is a devDependency of @medchain/client (which bundles itself for its browser test).
import {
  type BuildOptions,
  build,
  type Metafile,
  type OutputFile,
} from '../../client/node_modules/esbuild/lib/main.js';
import type * as Crypto from '../src/index.js';

const packagesDir = fileURLToPath(new URL('../../', import.meta.url));

export function sourceEntry(name: string): string {
  return `${packagesDir}${name}/src/index.ts`;
}

/**
 * A consumer's browser build: `platform: 'browser'` is what turns on the package.json
 * `browser` field (the platform switch); the `browser` condition comes with it. The aliases
 * bundle the workspace packages from source, as vitest imports them, so no build is needed.
 */
export const BROWSER_BUILD = {
  bundle: true,
  platform: 'browser',
  conditions: ['browser'],
  write: false,
  logLevel: 'silent',
  alias: Object.fromEntries(
    ['crypto', 'consensus', 'ledger'].map((name) => [`@medchain/${name}`, sourceEntry(name)]),
  ),
} as const satisfies BuildOptions;

export async function bundleForBrowsers(
  options: Pick<BuildOptions, 'entryPoints' | 'format' | 'globalName' | 'outdir'>,
): Promise<{ outputFiles: OutputFile[]; metafile: Metafile }> {
  const result = await build({ ...BROWSER_BUILD, ...options, metafile: true });
  return { outputFiles: result.outputFiles, metafile: result.metafile };
}

/**
 * A realm with only the language's own globals plus TextEncoder/TextDecoder (every browser
 * has them; vm realms do not), built inside the realm so their arrays belong to it.
 */
function browserLikeRealm(): object {
  const context = createContext({ hostEncoder: new TextEncoder(), HostDecoder: TextDecoder });
  runInContext(
    `(() => {
      const encoder = hostEncoder;
      const Decoder = HostDecoder;
      delete globalThis.hostEncoder;
      delete globalThis.HostDecoder;
      globalThis.TextEncoder = class TextEncoder {
        encode(text = '') { return new Uint8Array(encoder.encode(text)); }
      };
      globalThis.TextDecoder = class TextDecoder {
        #inner;
        constructor(label, options) { this.#inner = new Decoder(label, options); }
        decode(bytes) { return this.#inner.decode(bytes); }
      };
    })()`,
    context,
  );
  return context;
}

interface Realm {
  readonly Uint8Array: Uint8ArrayConstructor;
  readonly newObject: () => Record<string, unknown>;
  readonly newArray: () => unknown[];
}

type AnyFunction = (...args: unknown[]) => unknown;

/**
 * Copies data (bytes, arrays, plain objects, primitives) into the given realm: a typed array
 * or object from another realm fails this package's `instanceof` and prototype checks.
 * Functions (callbacks such as `randomBytes`, the API's functions) go through `adapt`.
 */
function copyInto(realm: Realm, value: unknown, adapt: (fn: AnyFunction) => unknown): unknown {
  if (typeof value === 'function') return adapt(value as AnyFunction);
  if (typeof value !== 'object' || value === null) return value;
  if (Object.prototype.toString.call(value) === '[object Uint8Array]') {
    return new realm.Uint8Array(value as Uint8Array);
  }
  if (Array.isArray(value)) {
    const out = realm.newArray();
    for (const item of value) out.push(copyInto(realm, item, adapt));
    return out;
  }
  const out = realm.newObject();
  for (const [key, item] of Object.entries(value)) out[key] = copyInto(realm, item, adapt);
  return out;
}

const hostRealm: Realm = {
  Uint8Array,
  newObject: () => ({}),
  newArray: () => [],
};

/**
 * The browser bundle of @medchain/crypto, evaluated in a browser-like realm, behind an
 * adapter that copies arguments in and results out (callbacks and class instances such as
 * Signer are adapted too). Errors thrown inside keep their `code`.
 */
export async function loadBrowserCrypto(): Promise<typeof Crypto> {
  const result = await bundleForBrowsers({
    entryPoints: [sourceEntry('crypto')],
    format: 'iife',
    globalName: 'medchainCrypto',
  });
  const context = browserLikeRealm();
  runInContext(result.outputFiles[0]!.text, context);
  const realmObjectPrototype: object = runInContext('Object.prototype', context);
  const realm: Realm = {
    Uint8Array: runInContext('Uint8Array', context),
    newObject: runInContext('() => ({})', context),
    newArray: runInContext('() => []', context),
  };
  // A host callback called from the realm: its arguments come out, its result goes in.
  const toRealm = (value: unknown): unknown =>
    copyInto(
      realm,
      value,
      (fn) =>
        (...args: unknown[]) =>
          toRealm(fn(...args.map(toHost))),
    );
  const toHost = (value: unknown): unknown => {
    if (typeof value === 'function') {
      return new Proxy(value, {
        apply: (target, _self, args) => toHost(Reflect.apply(target, undefined, args.map(toRealm))),
        construct: (target, args) => toHost(Reflect.construct(target, args.map(toRealm))) as object,
      });
    }
    if (typeof value === 'object' && value !== null && isInstance(value)) {
      return new Proxy(value, {
        get: (target, key) => {
          const member = Reflect.get(target, key);
          return typeof member === 'function'
            ? (...args: unknown[]) => toHost(Reflect.apply(member, target, args.map(toRealm)))
            : toHost(member);
        },
      });
    }
    return copyInto(hostRealm, value, toHost);
  };
  const isInstance = (value: object): boolean => {
    const proto = Object.getPrototypeOf(value);
    return (
      proto !== null &&
      proto !== realmObjectPrototype &&
      !Array.isArray(value) &&
      !(value instanceof realm.Uint8Array)
    );
  };
  const exports = runInContext('medchainCrypto', context) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(exports).map(([name, value]) => [name, toHost(value)]),
  ) as unknown as typeof Crypto;
}
