import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  generateKeyPairFromSeed,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
} from '@libp2p/crypto/keys';
import { NodeError } from '../errors.js';
import { PEER_KEY_FILE } from '../net/identity.js';

/**
 * The libp2p key as a 32-byte Ed25519 seed and back: backups carry it in a passphrase keystore
 * (the validator key's format), never as the plain protobuf file the node reads.
 */
export async function peerKeySeed(home: string): Promise<Uint8Array> {
  const path = join(home, PEER_KEY_FILE);
  const key = privateKeyFromProtobuf(new Uint8Array(await readFile(path)));
  if (key.type !== 'Ed25519') {
    throw new NodeError('NODE_PEER_KEY_INVALID', `${path} holds a ${key.type} key, not Ed25519`);
  }
  return key.raw.slice(0, 32);
}

/** Writes `<home>/peer-key` (0600, atomically) from its seed. */
export async function writePeerKeyFromSeed(home: string, seed: Uint8Array): Promise<void> {
  const key = await generateKeyPairFromSeed('Ed25519', seed);
  const path = join(home, PEER_KEY_FILE);
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(privateKeyToProtobuf(key));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
