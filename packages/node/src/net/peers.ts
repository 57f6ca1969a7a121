import { toHex } from '@medchain/crypto';
import { getOrganizationOfPeer, type KeyValueReader, type Validator } from '@medchain/ledger';
import type { PeerId } from '../shell/ports.js';
import type { MembershipGate, PeerStanding } from './membership.js';

/** What the directory reads of the chain (Chain has both). */
export interface MembershipSource {
  readonly validators: readonly Validator[];
  readonly state: KeyValueReader;
}

/**
 * Who this node talks to: the validators' peer ids (for routing consensus messages by key)
 * and the member peers (the validators' nodes plus configured peers, less removed members),
 * which every protocol admits and gossip and sync go to. `refresh` re-reads them from the
 * chain and applies them to the gate, which hangs up on peers no longer allowed.
 */
export class PeerDirectory {
  private readonly validatorPeers = new Map<string, PeerId>();
  private members = new Set<PeerId>();

  constructor(
    private readonly gate: Pick<MembershipGate, 'allowed' | 'apply'>,
    private chain: MembershipSource,
  ) {}

  /** Re-reads validators and membership (from `chain` when it was reopened) and applies them. */
  async refresh(chain: MembershipSource = this.chain): Promise<void> {
    this.chain = chain;
    this.validatorPeers.clear();
    for (const v of chain.validators) this.validatorPeers.set(toHex(v.publicKey), v.peerId);
    const standing = (id: string): PeerStanding => {
      const org = getOrganizationOfPeer(chain.state, id);
      return org === undefined ? 'unknown' : org.status === 'member' ? 'member' : 'removed';
    };
    this.members = this.gate.allowed(this.validatorPeers.values(), standing);
    await this.gate.apply(this.members);
  }

  /** Whether `peer` may use the node's protocols. */
  isMember(peer: PeerId): boolean {
    return this.members.has(peer);
  }

  /** The member peers (never this node). */
  memberPeers(): PeerId[] {
    return [...this.members];
  }

  /** The peer id of the validator with `key`, if it is one. */
  peerOfValidator(key: Uint8Array): PeerId | undefined {
    return this.validatorPeers.get(toHex(key));
  }

  /** Every validator's [key hex, peer id]. */
  validators(): IterableIterator<[string, PeerId]> {
    return this.validatorPeers.entries();
  }
}
