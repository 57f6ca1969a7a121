import type { Stats } from 'node:fs';
import { open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { NodeError } from '../errors.js';

/** The libp2p identity key in the node home (libp2p's protobuf key encoding, raw bytes). */
export const PEER_KEY_FILE = 'peer-key';

export interface PeerIdentity {
  privateKey: Ed25519PrivateKey;
  peerId: PeerId;
  /** True when this call generated the key (first start of this home). */
  created: boolean;
}

/**
 * Loads the node's Ed25519 libp2p key from `<home>/peer-key`, creating it on first start.
 * The file is written 0600 and replaced atomically; a key readable by group or others is
 * refused (like ssh does) because whoever holds it can impersonate this hospital's node.
 */
export async function loadOrCreatePeerIdentity(home: string): Promise<PeerIdentity> {
  const path = join(home, PEER_KEY_FILE);
  let info: Stats | undefined;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (info === undefined) {
    const privateKey = await generateKeyPair('Ed25519');
    await writePeerKey(path, privateKey);
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: true };
  }
  if ((info.mode & 0o077) !== 0) {
    throw new NodeError(
      'NODE_PEER_KEY_PERMISSIONS',
      `${path} is accessible by group or others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
  }
  const privateKey = await readPeerKey(path);
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: false };
}

/** Reads an Ed25519 libp2p key file (no permission check: see loadOrCreatePeerIdentity). */
export async function readPeerKey(path: string): Promise<Ed25519PrivateKey> {
  let key: ReturnType<typeof privateKeyFromProtobuf>;
  try {
    key = privateKeyFromProtobuf(new Uint8Array(await readFile(path)));
  } catch (error) {
    throw new NodeError(
      'NODE_PEER_KEY_INVALID',
      `${path} is not a libp2p private key: ${(error as Error).message}`,
    );
  }
  if (key.type !== 'Ed25519') {
    throw new NodeError('NODE_PEER_KEY_INVALID', `${path} holds a ${key.type} key, not Ed25519`);
  }
  return key;
}

/** Writes a libp2p key file 0600, atomically (tmp, fsync, rename). */
export async function writePeerKey(path: string, key: Ed25519PrivateKey): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600); // the mode argument is masked by umask; chmod is not
    await handle.writeFile(privateKeyToProtobuf(key));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
