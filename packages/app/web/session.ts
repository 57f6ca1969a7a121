/**
 * The session every screen shares: which node, which key is unlocked for which role, and clients
 * acting for those keys.
 *
 * CONTRACT (kept in packages/app/README.md too; screens import only these names):
 *
 *   type Role = 'patient' | 'clinician' | 'operator';       ROLES: readonly Role[]
 *   interface KeyEntry { id; name; role: Role; publicKey: string (hex); did: string; createdAt: number }
 *   interface UnlockedKey { entry: KeyEntry; signer: KeySigner }  // the seed in memory: signs
 *                                                                 // requests and transactions, opens record envelopes
 *   interface SessionState { nodeUrl: string; unlocked: Partial<Record<Role, UnlockedKey>>; trustedGenesis: string | undefined }
 *
 *   getSession(): SessionState                     the current state (immutable snapshot)
 *   subscribe(listener: () => void): () => void    called after every change; returns unsubscribe
 *   useSession(): SessionState                     Preact hook: re-renders on every change
 *   useRole(role): { key: UnlockedKey | undefined; client: MedchainClient | undefined }
 *                                                  hook: the role's unlocked key and a client signed with it
 *   setNodeUrl(url: string): void                  throws ClientError INVALID_ARGUMENT unless http(s); kept in localStorage
 *   nodeOrigin(text: string): string               the origin of an http(s) URL, else ClientError INVALID_ARGUMENT
 *   unlock(key: UnlockedKey): void                 makes `key` the one for `key.entry.role`
 *   lock(role: Role): void                         forgets that role's key (the seed leaves memory)
 *   clientFor(role: Role): MedchainClient | undefined   signed with the role's key, or undefined if locked
 *   publicClient(): MedchainClient                 unsigned (health, status, headers, genesis, metrics, tx submission)
 *   lightClient(role?: Role): Promise<LightClient> a light client of the current node that trusts the
 *                                                  pinned genesis hash (trust on first use, kept in
 *                                                  localStorage; CHAIN_MISMATCH if the node's genesis
 *                                                  differs). With `role`, it reads as that role's key
 *                                                  (state proofs of party data are signed reads);
 *                                                  INVALID_ARGUMENT if that role is locked
 *   forgetTrustedGenesis(): void                   unpin (after the user chooses another chain)
 *
 * Clients are cached per (node, key), so one party's nonce bookkeeping is shared by every screen.
 * Unlocked keys live in memory only: reloading the page locks every key.
 */
import { ClientError, type KeySigner, LightClient, MedchainClient } from '@medchain/client';
import { useEffect, useState } from 'preact/hooks';

export type Role = 'patient' | 'clinician' | 'operator';
export const ROLES: readonly Role[] = ['patient', 'clinician', 'operator'];

/** A key kept (encrypted) in this browser; see keys/store.ts. */
export interface KeyEntry {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** 64 lowercase hex. */
  readonly publicKey: string;
  /** The same key as did:key:z6Mk… */
  readonly did: string;
  readonly createdAt: number;
}

export interface UnlockedKey {
  readonly entry: KeyEntry;
  readonly signer: KeySigner;
}

export interface SessionState {
  readonly nodeUrl: string;
  readonly unlocked: Readonly<Partial<Record<Role, UnlockedKey>>>;
  /** The genesis hash (hex) the light client trusts for this node, once pinned. */
  readonly trustedGenesis: string | undefined;
}

const NODE_KEY = 'medchain.nodeUrl';
const genesisKey = (nodeUrl: string) => `medchain.trustedGenesis.${nodeUrl}`;

function storedNodeUrl(): string {
  return localStorage.getItem(NODE_KEY) ?? window.location.origin;
}

let state: SessionState = {
  nodeUrl: storedNodeUrl(),
  unlocked: {},
  trustedGenesis: localStorage.getItem(genesisKey(storedNodeUrl())) ?? undefined,
};
const listeners = new Set<() => void>();
const clients = new Map<string, MedchainClient>();
const lights = new Map<string, Promise<LightClient>>();

function update(next: Partial<SessionState>): void {
  state = { ...state, ...next };
  for (const listener of listeners) listener();
}

export function getSession(): SessionState {
  return state;
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSession(): SessionState {
  const [snapshot, setSnapshot] = useState(state);
  useEffect(() => {
    setSnapshot(state);
    return subscribe(() => setSnapshot(state));
  }, []);
  return snapshot;
}

export function useRole(role: Role): {
  key: UnlockedKey | undefined;
  client: MedchainClient | undefined;
} {
  const session = useSession();
  return { key: session.unlocked[role], client: clientFor(role) };
}

/** A node's API origin from what the user typed; INVALID_ARGUMENT unless an http(s) URL. */
export function nodeOrigin(text: string): string {
  let parsed: URL;
  try {
    parsed = new URL(text.trim());
  } catch {
    throw new ClientError('INVALID_ARGUMENT', `"${text}" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ClientError('INVALID_ARGUMENT', 'a node address starts with https:// or http://');
  }
  return parsed.origin;
}

export function setNodeUrl(url: string): void {
  const nodeUrl = nodeOrigin(url);
  localStorage.setItem(NODE_KEY, nodeUrl);
  update({ nodeUrl, trustedGenesis: localStorage.getItem(genesisKey(nodeUrl)) ?? undefined });
}

export function unlock(key: UnlockedKey): void {
  update({ unlocked: { ...state.unlocked, [key.entry.role]: key } });
}

export function lock(role: Role): void {
  const { [role]: _, ...rest } = state.unlocked;
  update({ unlocked: rest });
}

export function publicClient(): MedchainClient {
  return cachedClient(undefined);
}

export function clientFor(role: Role): MedchainClient | undefined {
  const key = state.unlocked[role];
  return key === undefined ? undefined : cachedClient(key);
}

function cachedClient(key: UnlockedKey | undefined): MedchainClient {
  const id = `${state.nodeUrl} ${key?.entry.publicKey ?? ''}`;
  let client = clients.get(id);
  if (client === undefined) {
    client = new MedchainClient({ url: state.nodeUrl, signer: key?.signer });
    clients.set(id, client);
  }
  return client;
}

export function lightClient(role?: Role): Promise<LightClient> {
  const key = role === undefined ? undefined : state.unlocked[role];
  if (role !== undefined && key === undefined) {
    return Promise.reject(new ClientError('INVALID_ARGUMENT', `no ${role} key is unlocked`));
  }
  const id = `${state.nodeUrl} ${key?.entry.publicKey ?? ''}`;
  let light = lights.get(id);
  if (light === undefined) {
    light = pinnedLightClient(state.nodeUrl, cachedClient(key));
    lights.set(id, light);
    // A failed attempt (node down) must not stay cached.
    light.catch(() => {
      if (lights.get(id) === light) lights.delete(id);
    });
  }
  return light;
}

async function pinnedLightClient(nodeUrl: string, api: MedchainClient): Promise<LightClient> {
  let trusted = state.nodeUrl === nodeUrl ? state.trustedGenesis : undefined;
  if (trusted === undefined) {
    trusted = (await api.genesis()).hash;
    localStorage.setItem(genesisKey(nodeUrl), trusted);
    if (state.nodeUrl === nodeUrl) update({ trustedGenesis: trusted });
  }
  return LightClient.fromNode(api, trusted);
}

export function forgetTrustedGenesis(): void {
  localStorage.removeItem(genesisKey(state.nodeUrl));
  lights.clear();
  update({ trustedGenesis: undefined });
}
