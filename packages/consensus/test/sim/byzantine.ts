import { type SeededRandom, toHex } from '@medchain/crypto';
import {
  type ConsensusMessage,
  encodeMessage,
  newViewSigningHash,
  type OutboundMessage,
  type Proposal,
  viewChangeSigningHash,
  voteSigningHash,
} from '../../src/index.js';
import { proposalOf } from './app.js';
import type { SimSigner } from './keys.js';
import type { ByzantineStrategy } from './params.js';

/** What the adversary may do to the world: send anything, as itself, to anyone. */
export interface AdversaryWorld {
  readonly chainId: string;
  readonly nodeCount: number;
  readonly honestKeys: readonly Uint8Array[];
  readonly prng: SeededRandom;
  /** Sends a message object (or raw wire bytes) from the byzantine node to node `to`. */
  transmit(from: number, to: number, message: ConsensusMessage | Uint8Array | object): void;
  /** Every block anyone builds is recorded, so the validity checker knows it was proposed. */
  registerProposal(proposal: Proposal): void;
}

const CONCRETE: readonly Exclude<ByzantineStrategy, 'mixed'>[] = [
  'silent',
  'equivocate',
  'conflictingVotes',
  'otherViews',
  'forge',
  'replay',
  'garbage',
];

/**
 * A byzantine validator: it runs an honest core (so it knows the protocol state) and rewrites
 * what that core sends. It holds only its own signing key.
 */
export class Adversary {
  private readonly history: ConsensusMessage[] = [];
  /** (height:view) -> the conflicting block this node equivocates with. */
  private readonly alternatives = new Map<string, Proposal>();

  constructor(
    private readonly index: number,
    private readonly signer: SimSigner,
    private readonly strategy: ByzantineStrategy,
    private readonly world: AdversaryWorld,
  ) {}

  observe(message: ConsensusMessage): void {
    if (this.history.length < 512) this.history.push(message);
    else this.history[this.world.prng.int(this.history.length)] = message;
  }

  send(out: OutboundMessage, recipients: readonly number[]): void {
    const prng = this.world.prng;
    for (const to of recipients) {
      const strategy = this.strategy === 'mixed' ? prng.pick(CONCRETE) : this.strategy;
      this.sendOne(strategy, out.message, to);
    }
  }

  private sendOne(strategy: ByzantineStrategy, message: ConsensusMessage, to: number): void {
    const prng = this.world.prng;
    switch (strategy) {
      case 'silent':
        return;
      case 'equivocate':
        this.world.transmit(this.index, to, this.equivocate(message, to));
        return;
      case 'conflictingVotes':
        this.world.transmit(this.index, to, prng.chance(0.5) ? this.revote(message) : message);
        return;
      case 'otherViews':
        this.world.transmit(this.index, to, message);
        this.world.transmit(this.index, to, this.otherView(message));
        return;
      case 'forge':
        this.world.transmit(this.index, to, message);
        this.world.transmit(this.index, to, this.forge(message));
        return;
      case 'replay': {
        this.world.transmit(this.index, to, message);
        const old = this.history[prng.int(this.history.length)];
        if (old !== undefined) this.world.transmit(this.index, prng.int(this.world.nodeCount), old);
        return;
      }
      case 'garbage':
        this.world.transmit(this.index, to, message);
        this.world.transmit(this.index, to, this.garbage(message));
        return;
      case 'mixed':
        return;
    }
  }

  private alternativeFor(height: number, view: number): Proposal {
    const key = `${height}:${view}`;
    let alternative = this.alternatives.get(key);
    if (alternative === undefined) {
      alternative = proposalOf({ height, proposer: this.index, nonce: this.world.prng.next() });
      this.world.registerProposal(alternative);
      this.alternatives.set(key, alternative);
    }
    return alternative;
  }

  /** Half the nodes (by index parity, flipped per height) see a different block and votes for it. */
  private equivocate(message: ConsensusMessage, to: number): ConsensusMessage {
    if (message.type === 'decision' || message.type === 'checkpoint') return message;
    if ((to + message.height) % 2 === 0) return message;
    const alternative = this.alternativeFor(message.height, message.view);
    switch (message.type) {
      case 'preprepare':
      case 'prepare':
      case 'commit':
        return {
          ...message,
          digest: alternative.digest,
          ...(message.type === 'preprepare' ? { payload: alternative.payload } : {}),
          signature: this.signer.sign(
            voteSigningHash(
              this.world.chainId,
              message.type,
              message.height,
              message.view,
              alternative.digest,
            ),
          ),
        };
      case 'newview':
        return {
          ...message,
          digest: alternative.digest,
          payload: alternative.payload,
          signature: this.signer.sign(
            newViewSigningHash(
              this.world.chainId,
              message.height,
              message.view,
              alternative.digest,
              message.viewChanges,
            ),
          ),
        };
      case 'viewchange':
        return message;
    }
  }

  /** A correctly signed vote for a block nobody proposed. */
  private revote(message: ConsensusMessage): ConsensusMessage {
    if (message.type !== 'prepare' && message.type !== 'commit') return message;
    const digest = this.world.prng.bytes(32);
    return {
      ...message,
      digest,
      signature: this.signer.sign(
        voteSigningHash(this.world.chainId, message.type, message.height, message.view, digest),
      ),
    };
  }

  /** The same vote, correctly signed, for another view (or a VIEW-CHANGE for a random view). */
  private otherView(message: ConsensusMessage): ConsensusMessage {
    const prng = this.world.prng;
    if (message.type === 'prepare' || message.type === 'commit') {
      const view = Math.max(0, message.view + prng.range(-2, 3));
      return {
        ...message,
        view,
        signature: this.signer.sign(
          voteSigningHash(this.world.chainId, message.type, message.height, view, message.digest),
        ),
      };
    }
    if (message.type === 'decision' || message.type === 'checkpoint') return message;
    const view = message.view + prng.range(1, 4);
    return {
      type: 'viewchange',
      height: message.height,
      view,
      prepared: null,
      payload: null,
      from: this.signer.publicKey,
      signature: this.signer.sign(
        viewChangeSigningHash(this.world.chainId, message.height, view, null),
      ),
    };
  }

  /** Claims an honest validator sent it; the signature is ours, so it must not verify. */
  private forge(message: ConsensusMessage): ConsensusMessage {
    if (message.type === 'decision') return message;
    const victim = this.world.prng.pick(this.world.honestKeys);
    if (victim === undefined) return message;
    return { ...message, from: victim };
  }

  private garbage(message: ConsensusMessage): Uint8Array | object {
    const prng = this.world.prng;
    switch (prng.int(4)) {
      case 0:
        return prng.bytes(prng.int(80));
      case 1: {
        const bytes = encodeMessage(message);
        const at = prng.int(bytes.length);
        bytes[at] = bytes[at]! ^ (1 << prng.int(8));
        return bytes;
      }
      case 2:
        return { ...message, height: prng.pick([-1, 0, 1.5, 2 ** 60, 'x']) };
      default:
        return { type: prng.pick(['prepare', 'commit', 'nonsense']), junk: toHex(prng.bytes(4)) };
    }
  }
}
