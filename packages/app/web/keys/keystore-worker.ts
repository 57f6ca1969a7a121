/**
 * Keystore sealing and opening off the main thread: scrypt (N = 2^15, 32 MiB) runs in noble's
 * synchronous JavaScript in browsers and would freeze the page for the second it takes.
 */
import { ClientError, exportKeystore, importKeystore, KeySigner } from '@medchain/client';
import type { KeystoreReply, KeystoreRequest } from './keystore.js';

interface WorkerScope {
  onmessage: ((event: MessageEvent<KeystoreRequest>) => void) | null;
  postMessage(message: KeystoreReply, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

scope.onmessage = ({ data }) => {
  try {
    if (data.op === 'seal') {
      const keystore = exportKeystore(new KeySigner(data.seed), data.passphrase);
      scope.postMessage({ id: data.id, ok: true, keystore });
    } else {
      const seed = importKeystore(data.keystore, data.passphrase).seed;
      scope.postMessage({ id: data.id, ok: true, seed }, [seed.buffer]);
    }
  } catch (error) {
    const code = error instanceof ClientError ? error.code : 'KEYSTORE_INVALID';
    scope.postMessage({ id: data.id, ok: false, code, message: (error as Error).message });
  }
};
