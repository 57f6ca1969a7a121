import { readFileSync } from 'node:fs';
import { MedchainClient, type RequestSigner } from '@medchain/client';
import { usageError } from './errors.js';

export const NODE_ENV = 'MEDCHAIN_NODE';
/** A PEM file of the CA that signed the node's certificate (instead of --ca). */
export const CA_ENV = 'MEDCHAIN_CA';
/** The node's default API address (its DEFAULT_CONFIG.api; a test keeps the two equal). */
export const DEFAULT_NODE_URL = 'http://127.0.0.1:7701';
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface Connection {
  /** The node's API base URL (http:// or https://). */
  readonly url: string;
  readonly timeoutMs?: number;
  /** PEM file of the CA the node's certificate must chain to (https only); default: the system's. */
  readonly ca?: string | undefined;
  /** The party the client acts for: every request but POST /v1/tx is signed with this key. */
  readonly signer?: RequestSigner | undefined;
}

/** The CA file's text, read once per file (a usage error when it cannot be read). */
export function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(`cannot read the CA file ${file}: ${(error as Error).message}`);
  }
}

/**
 * A fetch that verifies https certificates against `ca` only. Node's global fetch cannot be
 * given a CA, so this is undici's fetch with an Agent that has it; undici is loaded on first
 * use, so commands that talk plain HTTP never load it.
 */
function fetchTrusting(ca: string): typeof fetch {
  let loaded: Promise<typeof fetch> | undefined;
  const load = async (): Promise<typeof fetch> => {
    const undici = await import('undici');
    const dispatcher = new undici.Agent({ connect: { ca } });
    return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
      undici.fetch(input as never, { ...(init as object), dispatcher } as never)) as never;
  };
  return async (input, init) => {
    loaded ??= load();
    return (await loaded)(input, init);
  };
}

/** One fetch (one Agent, so kept-alive connections) per CA file, for every client of it. */
const trustedFetches = new Map<string, typeof fetch>();

/** The client of one node, acting for `signer` (or for nobody: public routes only). */
export function connect(connection: Connection): MedchainClient {
  const { ca } = connection;
  let trusted: typeof fetch | undefined;
  if (ca !== undefined) {
    trusted = trustedFetches.get(ca) ?? fetchTrusting(readCa(ca));
    trustedFetches.set(ca, trusted);
  }
  return new MedchainClient({
    url: connection.url,
    timeoutMs: connection.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(connection.signer === undefined ? {} : { signer: connection.signer }),
    ...(trusted === undefined ? {} : { fetch: trusted }),
  });
}
