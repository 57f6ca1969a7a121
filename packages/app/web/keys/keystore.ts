import { ClientError, KeySigner } from '@medchain/client';

/** Messages to and from keystore-worker.ts. */
export type KeystoreRequest =
  | {
      readonly id: number;
      readonly op: 'seal';
      readonly seed: Uint8Array;
      readonly passphrase: string;
    }
  | {
      readonly id: number;
      readonly op: 'open';
      readonly keystore: string;
      readonly passphrase: string;
    };
export type KeystoreReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly keystore?: string;
      readonly seed?: Uint8Array;
    }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

/** The CLI's rule for new keystores (packages/cli/src/util/passphrase.ts). */
export const MIN_PASSPHRASE_LENGTH = 8;

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, (reply: KeystoreReply) => void>();

function call(request: KeystoreRequest): Promise<KeystoreReply> {
  if (worker === undefined) {
    worker = new Worker(new URL('./keystore-worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = ({ data }: MessageEvent<KeystoreReply>) => {
      pending.get(data.id)?.(data);
      pending.delete(data.id);
    };
    worker.onerror = (event) => {
      // A worker that fails to load fails every call waiting on it; the next call starts afresh.
      for (const [id, resolve] of pending) {
        resolve({ id, ok: false, code: 'UNSUPPORTED', message: event.message || 'worker failed' });
      }
      pending.clear();
      worker?.terminate();
      worker = undefined;
    };
  }
  const target = worker;
  return new Promise((resolve) => {
    pending.set(request.id, resolve);
    target.postMessage(request);
  });
}

function failed(reply: KeystoreReply & { ok: false }): ClientError {
  return new ClientError(reply.code, reply.message);
}

/** The CLI-format keystore text of `signer`'s seed under `passphrase` (slow: scrypt). */
export async function sealKeystore(signer: KeySigner, passphrase: string): Promise<string> {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      `the passphrase is too short (at least ${MIN_PASSPHRASE_LENGTH} characters)`,
    );
  }
  const reply = await call({ id: nextId++, op: 'seal', seed: signer.seed, passphrase });
  if (!reply.ok) throw failed(reply);
  return reply.keystore!;
}

/** Unlocks keystore text: WRONG_PASSPHRASE, or KEYSTORE_INVALID for a damaged file (slow: scrypt). */
export async function openKeystore(keystore: string, passphrase: string): Promise<KeySigner> {
  const reply = await call({ id: nextId++, op: 'open', keystore, passphrase });
  if (!reply.ok) throw failed(reply);
  return new KeySigner(reply.seed!);
}
