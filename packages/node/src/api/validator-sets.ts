import { bytesEqual } from '@medchain/crypto';
import {
  type BlockHeader,
  findValidatorSet,
  type GenesisDocument,
  getOrganization,
  getProposal,
  type KeyValueReader,
  type MembershipChange,
  memberIds,
  organizationValidators,
  sortValidators,
  type Transaction,
  type Validator,
  validatorSetHash,
} from '@medchain/ledger';
import type { ApiBackend } from './backend.js';

/** One validator set and the first block it decides. */
export interface ValidatorSetEntry {
  /**
   * The first height this set decides. Header `fromHeight - 1` carries its hash (for the
   * genesis set, fromHeight is 1 and the genesis document defines it) and is itself certified
   * by the set before.
   */
  readonly fromHeight: number;
  readonly validatorSetHash: Uint8Array;
  /** Sorted by public key, as the hash takes them. */
  readonly validators: readonly Validator[];
}

/**
 * The history of validator sets from genesis, for light clients (GET /v1/validator-sets). The
 * node keeps no past sets, but headers carry the hash of the set deciding the next block
 * (header h names the set deciding h+1), and an organization, once added or removed, never
 * comes back, so a set never repeats: a binary search over headers finds each change. The new
 * set is the old one with the organizations the change's block added or removed (found from
 * its governance transactions and current state) and is checked against the header's hash.
 * Found changes are kept; later calls only search the new blocks.
 */
export class ValidatorSetHistory {
  readonly #entries: ValidatorSetEntry[];
  /** Headers up to this height are accounted for (their sets are in #entries). */
  #searchedTo = 0;
  #pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly backend: Pick<ApiBackend, 'status' | 'block' | 'state'>,
    genesis: GenesisDocument,
  ) {
    const validators = genesis.organizations.map((org) => ({
      orgId: org.id,
      publicKey: org.validatorKey,
      peerId: org.peerId,
    }));
    const sorted = sortValidators(validators);
    this.#entries = [
      { fromHeight: 1, validatorSetHash: validatorSetHash(sorted), validators: sorted },
    ];
  }

  /** Every set from genesis up to the one deciding the block after the committed height. */
  async entries(): Promise<readonly ValidatorSetEntry[]> {
    // One search at a time: concurrent callers wait for it, then find nothing more to do.
    const run = this.#pending.then(() => this.#extend());
    this.#pending = run.catch(() => undefined);
    await run;
    return [...this.#entries];
  }

  async #header(height: number): Promise<BlockHeader> {
    const stored = await this.backend.block(height);
    if (stored === undefined) throw new Error(`block ${height} is missing below the chain height`);
    return stored.block.header;
  }

  async #extend(): Promise<void> {
    const { height } = await this.backend.status();
    while (this.#searchedTo < height) {
      const current = this.#entries.at(-1)!;
      const top = await this.#header(height);
      if (bytesEqual(top.validatorSetHash, current.validatorSetHash)) {
        this.#searchedTo = height;
        return;
      }
      // Invariant: header lo names the current set (lo 0: genesis), header hi another one.
      let lo = this.#searchedTo;
      let hi = height;
      let named = top;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        const header = await this.#header(mid);
        if (bytesEqual(header.validatorSetHash, current.validatorSetHash)) lo = mid;
        else {
          hi = mid;
          named = header;
        }
      }
      if (named.height !== hi) named = await this.#header(hi);
      const validators = await this.#nextSet(current.validators, hi, named.validatorSetHash);
      this.#entries.push({
        fromHeight: hi + 1,
        validatorSetHash: named.validatorSetHash,
        validators,
      });
      this.#searchedTo = hi;
    }
  }

  /** The set header `height` names: block height-1 executed the change. */
  async #nextSet(
    previous: readonly Validator[],
    height: number,
    target: Uint8Array,
  ): Promise<Validator[]> {
    const state = this.backend.state();
    const changed = height > 1 ? await this.backend.block(height - 1) : undefined;
    const orgIds = [...memberIds(state)];
    changed?.block.txs.forEach((tx, i) => {
      if (changed.receipts[i]?.code !== 'OK') return;
      const change = membershipChange(state, tx);
      if (change?.type === 'add') orgIds.push(change.organization.id);
    });
    const universe: Validator[] = [];
    for (const id of orgIds) {
      const org = getOrganization(state, id);
      // Its validator keys now and before rotations: the set named may hold any of them.
      if (org !== undefined) universe.push(...organizationValidators(org));
    }
    const found = findValidatorSet(previous, universe, target);
    if (found === undefined) {
      throw new Error(`the validator set named by header ${height} could not be reconstructed`);
    }
    return sortValidators(found);
  }
}

function membershipChange(state: KeyValueReader, tx: Transaction): MembershipChange | undefined {
  if (tx.kind === 'governance.propose') {
    return (tx.body as unknown as { change: MembershipChange }).change;
  }
  if (tx.kind === 'governance.vote') {
    const { proposalId } = tx.body as unknown as { proposalId: Uint8Array };
    return getProposal(state, proposalId)?.change;
  }
  return undefined;
}
