import { join } from 'node:path';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { PEER_KEY_FILE, readPeerKey, writePeerKey } from '../net/identity.js';

/**
 * The libp2p key as a 32-byte Ed25519 seed and back: backups carry it in a passphrase keystore
 * (the validator key's format), never as the plain protobuf file the node reads.
 */
export async function peerKeySeed(home: string): Promise<Uint8Array> {
  const key = await readPeerKey(join(home, PEER_KEY_FILE));
  return key.raw.slice(0, 32);
}

/** Writes `<home>/peer-key` (0600, atomically) from its seed. */
export async function writePeerKeyFromSeed(home: string, seed: Uint8Array): Promise<void> {
  await writePeerKey(join(home, PEER_KEY_FILE), await generateKeyPairFromSeed('Ed25519', seed));
}
