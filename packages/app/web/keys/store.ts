import { ClientError, fromHex, readKeystore, toDidKey } from '@medchain/client';
import type { KeyEntry, Role } from '../session.js';

/**
 * Keys kept in this browser: IndexedDB database `medchain`, store `keys`, one row per key with
 * its name, role and the keystore text, in exactly the format `medchain keys generate` writes
 * (scrypt + AES-256-GCM; the seed never touches storage in clear).
 */
export interface StoredKey extends KeyEntry {
  readonly keystore: string;
}

const DB_NAME = 'medchain';
const STORE = 'keys';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opened: Promise<IDBDatabase> | undefined;

function database(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') {
    return Promise.reject(new ClientError('UNSUPPORTED', 'this browser has no IndexedDB'));
  }
  opened ??= new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'id' });
    open.onsuccess = () => resolve(open.result);
    open.onerror = () =>
      reject(
        new ClientError('UNSUPPORTED', `this browser's storage cannot be opened: ${open.error}`),
      );
    open.onblocked = () =>
      reject(new ClientError('UNSUPPORTED', 'the key storage is busy in another tab: close it'));
  });
  opened.catch(() => {
    opened = undefined;
  });
  return opened;
}

async function store(mode: IDBTransactionMode): Promise<IDBObjectStore> {
  return (await database()).transaction(STORE, mode).objectStore(STORE);
}

/** Every key in this browser, oldest first. */
export async function listKeys(): Promise<StoredKey[]> {
  const rows = await request((await store('readonly')).getAll() as IDBRequest<StoredKey[]>);
  return rows.sort((a, b) => a.createdAt - b.createdAt);
}

/**
 * Stores a keystore under a name and role. The keystore is checked (KEYSTORE_INVALID) and its
 * public key read from it; a key already in this browser is refused (INVALID_ARGUMENT) rather
 * than stored twice.
 */
export async function addKey(args: {
  name: string;
  role: Role;
  keystore: string;
}): Promise<StoredKey> {
  const file = readKeystore(args.keystore);
  const existing = (await listKeys()).find((key) => key.publicKey === file.publicKey);
  if (existing !== undefined) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      `this key is already in this browser, named "${existing.name}"`,
    );
  }
  const row: StoredKey = {
    id: crypto.randomUUID(),
    name: args.name.trim() || 'unnamed key',
    role: args.role,
    publicKey: file.publicKey,
    did: toDidKey(fromHex(file.publicKey)),
    createdAt: Date.now(),
    keystore: args.keystore,
  };
  await request((await store('readwrite')).add(row));
  return row;
}

export async function removeKey(id: string): Promise<void> {
  await request((await store('readwrite')).delete(id));
}

/** The row without its keystore, as the session and screens see a key. */
export function entryOf(key: StoredKey): KeyEntry {
  const { keystore: _, ...entry } = key;
  return entry;
}
