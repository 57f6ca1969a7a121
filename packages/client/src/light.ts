import { type CommitCertificate, verifyCommitCertificate } from '@medchain/consensus';
import {
  bytesEqual,
  decodeCanonical,
  fromHex,
  toHex,
  verify,
  verifyMerkleProof,
} from '@medchain/crypto';
import {
  AUDIT_CHAIN_START,
  type AuditAccumulator,
  type AuditEntry,
  AuthenticatedState,
  auditChainStep,
  type BlockHeader,
  type ConsentEntry,
  decodeStateProof,
  findValidatorSet,
  type GenesisDocument,
  genesisFromJson,
  genesisHash,
  headerHash,
  initGenesisState,
  MAX_PAGE_SIZE,
  MemoryStore,
  type PatientEntry,
  type RecordEntry,
  sortValidators,
  stateKeys,
  type Validator,
  validatorSetHash,
  verifyStateProof,
} from '@medchain/ledger';
import { type ApiClient, orUndefined } from './api.js';
import { ClientError } from './errors.js';
import {
  auditFromJson,
  certificateFromJson,
  headerFromJson,
  type StateProofJson,
  validatorFromJson,
} from './json.js';
import { hashHex, type PartyKey, partyKeyBytes } from './parties.js';

/** Patients whose proven audit trail a light client keeps, so proving entries one by one does not refetch it. */
const MAX_CACHED_TRAILS = 16;

/** Validator-set changes followed in one call before giving up (each costs ~log2(height) reads). */
export const MAX_VALIDATOR_SET_CHANGES = 256;

export interface ProofStep {
  readonly check: string;
  readonly ok: boolean;
}

/** The outcome of checking a state proof, step by step (for showing; `verified` decides). */
export interface ProofCheck {
  /** True only when every step passed. */
  readonly verified: boolean;
  /** The proof is of the state after this block. */
  readonly height: number;
  readonly stateRoot: string;
  readonly anchoredBy: 'genesis' | 'commit certificate';
  readonly steps: readonly ProofStep[];
  /** Canonical bytes of the proven value (hex); null = proven absent. */
  readonly value: string | null;
}

/** A value proven against a certified state root. */
export interface Proven<T> {
  /** The decoded value; undefined = proven absent. */
  readonly value: T | undefined;
  readonly key: Uint8Array;
  readonly check: ProofCheck;
}

const VERDICTS = new Set(['CERTIFICATE_INVALID', 'CHAIN_MISMATCH', 'INVALID_ARGUMENT']);

/** Runs one check into `steps` and returns its outcome. */
async function runStep(
  steps: ProofStep[],
  check: string,
  run: () => boolean | Promise<boolean>,
): Promise<boolean> {
  let ok = false;
  try {
    ok = await run();
  } catch (error) {
    // A verdict on the answer fails the step; not reaching the node is not a verdict.
    if (error instanceof ClientError && !VERDICTS.has(error.code)) throw error;
  }
  steps.push({ check, ok });
  return ok;
}

/** `check` with more steps, verified only if all pass. */
function extend(check: ProofCheck, steps: readonly ProofStep[]): ProofCheck {
  const all = [...check.steps, ...steps];
  return { ...check, steps: all, verified: all.every((s) => s.ok) };
}

/** PROOF_INVALID (the check in `details`) unless every step passed. */
function requireVerified(check: ProofCheck, what: string): void {
  if (!check.verified) {
    const failed = check.steps.find((s) => !s.ok)?.check ?? '';
    throw new ClientError('PROOF_INVALID', `${what} did not verify: ${failed}`, {
      details: check,
    });
  }
}

/** A validator set and the first header naming it. */
interface SetSpan {
  /** header(from) is the first header naming `validators` (0: genesis). */
  readonly from: number;
  readonly validators: readonly Validator[];
  readonly hash: Uint8Array;
}

/**
 * A light client: trusts only the genesis document, and checks what a node answers against it.
 * Headers are checked by their commit certificates under the validator set of their height, which
 * it follows from genesis through every membership change: header(h) names the set its parent's
 * state defines, which decides h+1; a change is accepted only when the first header naming the
 * new set is certified by the set before it and links to its parent, and the new set's members
 * are found among the organizations the node lists (the certified hash makes any match the right
 * one). State proofs are checked against the state root of such a certified header.
 */
export class LightClient {
  readonly genesis: GenesisDocument;
  readonly #api: ApiClient;
  readonly #genesisHash: Uint8Array;
  #genesisRoot: Uint8Array | undefined;
  /** Validator sets by the first header naming each, oldest first; grows as changes are followed. */
  readonly #spans: SetSpan[];
  /** Audit trails proven so far, by patient (hex key), with the chain hash after the last entry. */
  readonly #trails = new Map<string, { entries: AuditEntry[]; hash: Uint8Array }>();
  readonly #headers = new Map<
    number,
    { header: BlockHeader; certificate: CommitCertificate | null }
  >();

  constructor(api: ApiClient, genesis: GenesisDocument) {
    this.#api = api;
    this.genesis = genesis;
    this.#genesisHash = genesisHash(genesis);
    const validators = sortValidators(
      genesis.organizations.map((org) => ({
        orgId: org.id,
        publicKey: org.validatorKey,
        peerId: org.peerId,
      })),
    );
    this.#spans = [{ from: 0, validators, hash: validatorSetHash(validators) }];
  }

  /**
   * A light client from the genesis the node serves (GET /v1/genesis), accepted only if its hash
   * is the one the app trusts (CHAIN_MISMATCH otherwise).
   */
  static async fromNode(
    api: ApiClient,
    trustedGenesisHash: string | Uint8Array,
  ): Promise<LightClient> {
    const served = await api.genesis();
    let genesis: GenesisDocument;
    try {
      genesis = genesisFromJson(served.genesis);
    } catch (error) {
      throw new ClientError(
        'BAD_ANSWER',
        `the node's genesis does not parse: ${(error as Error).message}`,
      );
    }
    if (toHex(genesisHash(genesis)) !== hashHex(trustedGenesisHash)) {
      throw new ClientError('CHAIN_MISMATCH', "the node's genesis is not the trusted one");
    }
    return new LightClient(api, genesis);
  }

  /** Validator-set changes followed so far. */
  get validatorSetChanges(): number {
    return this.#spans.length - 1;
  }

  /** The state root genesis defines (recomputed from the document). */
  genesisStateRoot(): Uint8Array {
    this.#genesisRoot ??= initGenesisState(
      new AuthenticatedState(new MemoryStore()),
      this.genesis,
    ).stateRoot;
    return this.#genesisRoot;
  }

  async #header(height: number) {
    let found = this.#headers.get(height);
    if (found === undefined) {
      const signed = await this.#api.header(height);
      found = {
        header: headerFromJson(signed.header),
        certificate: signed.certificate === null ? null : certificateFromJson(signed.certificate),
      };
      if (found.header.height !== height) {
        throw new ClientError(
          'CHAIN_MISMATCH',
          `asked for block ${height}, got ${found.header.height}`,
        );
      }
      this.#headers.set(height, found);
      if (this.#headers.size > 4096) this.#headers.delete(this.#headers.keys().next().value!);
    }
    return found;
  }

  /**
   * The validator set that decides `height` (the one header(height-1) names), followed from
   * genesis. CERTIFICATE_INVALID or CHAIN_MISMATCH when the node's headers do not prove a change.
   */
  async validatorsDeciding(height: number): Promise<readonly Validator[]> {
    if (!Number.isSafeInteger(height) || height < 1)
      throw new ClientError('INVALID_ARGUMENT', `bad height ${height}`);
    if (height === 1) return this.#spans[0]!.validators;
    const named = (await this.#header(height - 1)).header.validatorSetHash;
    // A set already followed: the newest span starting at or below height-1 names it.
    for (let i = this.#spans.length - 1; i >= 0; i--) {
      const span = this.#spans[i]!;
      if (span.from <= height - 1) {
        if (bytesEqual(span.hash, named)) return span.validators;
        if (i < this.#spans.length - 1) {
          throw new ClientError(
            'CHAIN_MISMATCH',
            `header ${height - 1} names a validator set other than the one followed for it`,
          );
        }
        break;
      }
    }
    return this.#follow(height - 1, named);
  }

  /** Follows changes from the newest known span up to header(target), which names `targetHash`. */
  async #follow(target: number, targetHash: Uint8Array): Promise<readonly Validator[]> {
    let universe: Validator[] | undefined;
    for (let changes = 0; ; changes++) {
      const span = this.#spans.at(-1)!;
      if (bytesEqual(span.hash, targetHash)) return span.validators;
      if (changes >= MAX_VALIDATOR_SET_CHANGES) {
        throw new ClientError(
          'CHAIN_MISMATCH',
          `more than ${MAX_VALIDATOR_SET_CHANGES} validator-set changes`,
        );
      }
      // Invariant: header(lo) names span's set (header 1 names genesis'); header(hi) another.
      let lo = Math.max(span.from, 1);
      let hi = target;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (bytesEqual((await this.#header(mid)).header.validatorSetHash, span.hash)) lo = mid;
        else hi = mid;
      }
      const parent = (await this.#header(lo)).header;
      const changed = await this.#header(hi);
      const { header, certificate } = changed;
      if (
        parent.height + 1 !== header.height ||
        !bytesEqual(header.parentHash, headerHash(parent)) ||
        !bytesEqual(parent.validatorSetHash, span.hash) ||
        bytesEqual(header.validatorSetHash, span.hash) ||
        header.chainId !== this.genesis.chainId
      ) {
        throw new ClientError(
          'CHAIN_MISMATCH',
          `headers ${lo}-${hi} are not a validator-set change on this chain`,
        );
      }
      // Block hi is decided by the set header(lo) names: the span's.
      this.#checkCertificate(header, certificate, span.validators);
      universe ??= await this.#universe();
      const next = findValidatorSet(span.validators, universe, header.validatorSetHash);
      if (next === undefined) {
        throw new ClientError(
          'CHAIN_MISMATCH',
          `the validator set named by block ${hi} is not among the organizations the node lists`,
        );
      }
      const validators = sortValidators(next);
      this.#spans.push({ from: hi, validators, hash: header.validatorSetHash });
    }
  }

  /**
   * Organizations the next sets may be made of: the sets the node lists (GET /validator-sets),
   * and its current members. Neither is trusted: only a match of a certified hash is used.
   */
  async #universe(): Promise<Validator[]> {
    const [sets, organizations] = await Promise.all([
      orUndefined(this.#api.validatorSets()),
      this.#api.organizations(),
    ]);
    return [
      ...(sets?.items ?? []).flatMap((set) => set.validators.map(validatorFromJson)),
      ...organizations.items.map((org) =>
        validatorFromJson({ orgId: org.id, publicKey: org.validatorKey, peerId: org.peerId }),
      ),
    ];
  }

  #checkCertificate(
    header: BlockHeader,
    certificate: CommitCertificate | null,
    validators: readonly Validator[],
  ): void {
    if (
      certificate === null ||
      certificate.height !== header.height ||
      !bytesEqual(certificate.digest, headerHash(header)) ||
      !verifyCommitCertificate(
        this.genesis.chainId,
        certificate,
        validators.map((v) => v.publicKey),
        { verify },
      )
    ) {
      throw new ClientError(
        'CERTIFICATE_INVALID',
        `block ${header.height}'s commit certificate is not a quorum of the validator set deciding it`,
      );
    }
  }

  /**
   * Checks a header and its commit certificate: on this chain, linked to its parent (genesis for
   * height 1), certified by a quorum of the set deciding its height. Throws CERTIFICATE_INVALID
   * or CHAIN_MISMATCH.
   */
  async verifyHeader(header: BlockHeader, certificate: CommitCertificate | null): Promise<void> {
    if (header.chainId !== this.genesis.chainId) {
      throw new ClientError(
        'CHAIN_MISMATCH',
        `header of chain ${header.chainId}, not ${this.genesis.chainId}`,
      );
    }
    const parentHash =
      header.height === 1
        ? this.#genesisHash
        : headerHash((await this.#header(header.height - 1)).header);
    if (!bytesEqual(header.parentHash, parentHash)) {
      throw new ClientError('CHAIN_MISMATCH', `header ${header.height} does not follow its parent`);
    }
    this.#checkCertificate(header, certificate, await this.validatorsDeciding(header.height));
  }

  /**
   * Checks a GET /state/proof answer for `key`, step by step; never throws for a bad answer (the
   * steps say what failed). Network errors while following validator sets are thrown.
   */
  async checkStateProof(answer: StateProofJson, key: Uint8Array): Promise<ProofCheck> {
    const steps: ProofStep[] = [];
    const step = (check: string, run: () => boolean | Promise<boolean>) =>
      runStep(steps, check, run);
    let stateRoot: Uint8Array = new Uint8Array(0);
    let value: Uint8Array | undefined;
    await step('the answer is well formed and for this key', () => {
      stateRoot = fromHex(answer.stateRoot);
      value = answer.value === null ? undefined : fromHex(answer.value);
      return answer.key === toHex(key) && stateRoot.length === 32;
    });
    await step(
      `the proof links the ${value === undefined ? 'absence of the key' : 'value'} to state root ${answer.stateRoot.slice(0, 16)}…`,
      () => verifyStateProof(stateRoot, key, value, decodeStateProof(fromHex(answer.proof))),
    );
    let anchoredBy: ProofCheck['anchoredBy'];
    if (answer.header === null) {
      anchoredBy = 'genesis';
      await step('the state root is the genesis state root', () =>
        bytesEqual(this.genesisStateRoot(), stateRoot),
      );
    } else {
      anchoredBy = 'commit certificate';
      const header = headerFromJson(answer.header);
      await step(
        `header ${header.height} carries the state root`,
        () => bytesEqual(header.stateRoot, stateRoot) && header.height === answer.height + 1,
      );
      await step(
        `header ${header.height} is on this chain and certified by a quorum of the validator set deciding it`,
        async () => {
          await this.verifyHeader(
            header,
            answer.certificate === null ? null : certificateFromJson(answer.certificate),
          );
          return true;
        },
      );
    }
    return {
      verified: steps.every((s) => s.ok),
      height: answer.height,
      stateRoot: answer.stateRoot,
      anchoredBy,
      steps,
      value: answer.value,
    };
  }

  /** Fetches and checks a proof of `key`: PROOF_INVALID (the check in `details`) if it fails. */
  async proveState<T = unknown>(key: Uint8Array): Promise<Proven<T>> {
    const answer = await this.#api.stateProof(key);
    const check = await this.checkStateProof(answer, key);
    requireVerified(check, 'the state proof');
    return {
      value: check.value === null ? undefined : (decodeCanonical(fromHex(check.value)) as T),
      key,
      check,
    };
  }

  /** A consent by its id (the hash of its grant transaction), proven. */
  proveConsent(id: string | Uint8Array): Promise<Proven<ConsentEntry>> {
    return this.proveState(stateKeys.consent(fromHex(hashHex(id))));
  }

  /** A patient's audit accumulator (the count and running hash of their trail), proven. */
  proveAuditAccumulator(patient: PartyKey): Promise<Proven<AuditAccumulator>> {
    return this.proveState(stateKeys.auditAccumulator(partyKeyBytes(patient)));
  }

  /** The length of a patient's audit trail, proven. */
  async proveAuditLength(patient: PartyKey): Promise<number> {
    return (await this.proveAuditAccumulator(patient)).value?.count ?? 0;
  }

  /**
   * A patient's whole audit trail as of the latest certified state: the entries the node lists,
   * checked against the proven accumulator (count and running hash), so none can be dropped,
   * reordered, altered or added. Entries listed beyond the proven count were written after the
   * certified state and are left out. PROOF_INVALID when the listed entries do not match.
   */
  async proveAuditTrail(patient: PartyKey): Promise<Proven<AuditEntry[]>> {
    const proven = await this.proveAuditAccumulator(patient);
    const count = proven.value?.count ?? 0;
    const id = toHex(partyKeyBytes(patient));
    // A trail only grows: a prefix proven before is kept, and only the entries after it are
    // fetched and chained on from its hash.
    const known = this.#trails.get(id);
    const base =
      known !== undefined && known.entries.length <= count
        ? known
        : { entries: [], hash: AUDIT_CHAIN_START };
    const entries = [...base.entries];
    while (entries.length < count) {
      const page = await this.#api.audit(patient, { offset: entries.length, limit: MAX_PAGE_SIZE });
      if (page.items.length === 0) break;
      entries.push(...page.items.map(auditFromJson));
    }
    const trail = entries.slice(0, count);
    let hash = base.hash;
    let whole = trail.length === count;
    for (let i = base.entries.length; whole && i < count; i++) {
      whole = trail[i]!.index === i;
      hash = auditChainStep(hash, trail[i]!);
    }
    whole &&= bytesEqual(hash, proven.value?.hash ?? AUDIT_CHAIN_START);
    const check = extend(proven.check, [
      { check: `the ${count} entries the node lists chain to the proven accumulator`, ok: whole },
    ]);
    requireVerified(check, 'the audit trail');
    this.#trails.delete(id);
    this.#trails.set(id, { entries: trail, hash });
    if (this.#trails.size > MAX_CACHED_TRAILS)
      this.#trails.delete(this.#trails.keys().next().value!);
    return { value: trail, key: proven.key, check };
  }

  /**
   * Entry `index` of a patient's audit trail, proven in two parts: it is in the trail the state's
   * accumulator certifies (proveAuditTrail: the rules append an entry only when its transaction
   * succeeds), and its transaction is in a certified block of its time (a Merkle path from its
   * hash to the header's tx root, GET /patients/:key/audit/:index/inclusion). `value` is
   * undefined when no certified state holds the entry yet. PROOF_INVALID when a check fails.
   */
  async proveAuditEntry(patient: PartyKey, index: number): Promise<Proven<AuditEntry>> {
    if (!Number.isSafeInteger(index) || index < 0)
      throw new ClientError('INVALID_ARGUMENT', `bad audit index ${index}`);
    const trail = await this.proveAuditTrail(patient);
    const entry = trail.value![index];
    if (entry === undefined) return { value: undefined, key: trail.key, check: trail.check };
    const inclusion = await this.#api.auditInclusion(patient, index);
    const signed = await this.#api.header(inclusion.height);
    const header = headerFromJson(signed.header);
    const steps: ProofStep[] = [];
    const step = (check: string, run: () => boolean | Promise<boolean>) =>
      runStep(steps, check, run);
    await step(`block ${inclusion.height} is on this chain and certified by a quorum`, async () => {
      const { certificate } = signed;
      await this.verifyHeader(
        header,
        certificate === null ? null : certificateFromJson(certificate),
      );
      return header.height === inclusion.height;
    });
    await step(`its tx root covers transaction ${toHex(entry.txHash).slice(0, 16)}…`, () =>
      verifyMerkleProof(header.txRoot, entry.txHash, {
        index: inclusion.proof.index,
        size: inclusion.proof.size,
        path: inclusion.proof.path.map((hash) => fromHex(hash)),
      }),
    );
    await step('the entry has the block time', () => header.time === entry.time);
    const check = extend(trail.check, steps);
    requireVerified(check, `audit entry ${index}`);
    return { value: entry, key: trail.key, check };
  }

  provePatient(key: PartyKey): Promise<Proven<PatientEntry>> {
    return this.proveState(stateKeys.patient(partyKeyBytes(key)));
  }

  proveRecord(id: string | Uint8Array): Promise<Proven<RecordEntry>> {
    return this.proveState(stateKeys.record(fromHex(hashHex(id))));
  }
}
