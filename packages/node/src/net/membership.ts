import type { Libp2p } from '@libp2p/interface';
import type { Logger } from '../logger.js';
import type { PeerAllowlist } from './gater.js';

/** What committed state says of a peer id: a member's node, a removed member's, or unknown. */
export type PeerStanding = 'member' | 'removed' | 'unknown';

export interface MembershipGateOptions {
  libp2p: Pick<Libp2p, 'getConnections' | 'hangUp'>;
  allowlist: PeerAllowlist;
  /** This node's own peer id (never in its allowlist). */
  self: string;
  /** Peer ids from config.json `peers`. */
  configured: readonly string[];
  logger: Logger;
}

/**
 * Keeps the allowlist equal to the committed membership, with no restart: the peer ids of the
 * current members, plus configured peers unless committed state says they belong to a removed
 * member (config.json may still list a removed hospital; the chain decides). On every update,
 * open connections to peers no longer allowed are closed at once; the gater refuses them from
 * then on, both ways.
 */
export class MembershipGate {
  readonly #options: MembershipGateOptions;

  constructor(options: MembershipGateOptions) {
    this.#options = options;
  }

  /** The peer ids this node talks to, given the members' peer ids and how state sees a peer. */
  allowed(members: Iterable<string>, standing: (peerId: string) => PeerStanding): Set<string> {
    const { self, configured } = this.#options;
    const ids = new Set<string>(members);
    for (const id of configured) if (standing(id) !== 'removed') ids.add(id);
    ids.delete(self);
    return ids;
  }

  /** Replaces the allowlist with `allowed` and hangs up on every peer left out; resolves with those. */
  async apply(allowed: ReadonlySet<string>): Promise<string[]> {
    const { libp2p, allowlist, logger } = this.#options;
    allowlist.replace(allowed);
    const dropped = [
      ...new Set(
        libp2p
          .getConnections()
          .map((connection) => connection.remotePeer)
          .filter((peer) => !allowed.has(peer.toString())),
      ),
    ];
    await Promise.all(
      dropped.map(async (peer) => {
        logger.warn({ peer: peer.toString() }, 'connection dropped: peer is no longer a member');
        try {
          await libp2p.hangUp(peer);
        } catch (error) {
          // Already closing: the gater refuses it from now on anyway.
          logger.debug({ peer: peer.toString(), err: error }, 'hang-up failed');
        }
      }),
    );
    return dropped.map((peer) => peer.toString());
  }
}
