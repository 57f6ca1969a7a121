import type { Vote } from './types.js';

/** A sender's first vote in a view: the digest it voted for, and its signed vote. */
export interface FirstVote {
  readonly digestHex: string;
  readonly vote: Vote;
}

interface ViewVotes {
  /** sender hex -> its first vote (first vote wins; a second one is equivocation). */
  readonly bySender: Map<string, FirstVote>;
  /** digest hex -> votes for it, in arrival order. */
  readonly byDigest: Map<string, Vote[]>;
}

/** The PREPAREs or COMMITs of one height, by view and digest. */
export class VoteBook {
  private readonly views = new Map<number, ViewVotes>();

  /** The digest `sender` already voted for in `view`, if any. */
  votedFor(view: number, senderHex: string): string | undefined {
    return this.views.get(view)?.bySender.get(senderHex)?.digestHex;
  }

  /** The vote `sender` cast first in `view`, if any (what a contradicting vote is held against). */
  firstVote(view: number, senderHex: string): FirstVote | undefined {
    return this.views.get(view)?.bySender.get(senderHex);
  }

  /** Records a vote (the caller checked it is the sender's first in this view); returns the tally. */
  add(view: number, senderHex: string, digestHex: string, vote: Vote): number {
    let votes = this.views.get(view);
    if (votes === undefined) {
      votes = { bySender: new Map(), byDigest: new Map() };
      this.views.set(view, votes);
    }
    votes.bySender.set(senderHex, { digestHex, vote });
    let list = votes.byDigest.get(digestHex);
    if (list === undefined) {
      list = [];
      votes.byDigest.set(digestHex, list);
    }
    list.push(vote);
    return list.length;
  }

  /** Whether any vote was recorded (in any view). */
  get isEmpty(): boolean {
    return this.views.size === 0;
  }

  count(view: number, digestHex: string): number {
    return this.views.get(view)?.byDigest.get(digestHex)?.length ?? 0;
  }

  /** The first `limit` votes for (view, digest): a certificate needs exactly a quorum. */
  votes(view: number, digestHex: string, limit: number): Vote[] {
    return (this.views.get(view)?.byDigest.get(digestHex) ?? []).slice(0, limit);
  }
}
