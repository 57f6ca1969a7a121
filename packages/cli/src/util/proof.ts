import { type CommitCertificate, verifyCommitCertificate } from '@medchain/consensus';
import { bytesEqual, fromHex, toHex, verify } from '@medchain/crypto';
import {
  AuthenticatedState,
  type BlockHeader,
  decodeStateProof,
  type GenesisDocument,
  headerHash,
  initGenesisState,
  MemoryStore,
  sortValidators,
  validatorSetHash,
  verifyStateProof,
} from '@medchain/ledger';
import type { ApiJson } from './client.js';

export interface ProofCheck {
  /** True only when every step below passed. */
  readonly verified: boolean;
  /** The state after this block; the header of block height+1 (or genesis) vouches for its root. */
  readonly height: number;
  readonly stateRoot: string;
  readonly anchoredBy: 'genesis' | 'commit certificate';
  readonly steps: readonly { readonly check: string; readonly ok: boolean }[];
  readonly value: string | null;
}

function headerFromJson(json: ApiJson): BlockHeader {
  return {
    chainId: json.chainId,
    height: json.height,
    time: json.time,
    parentHash: fromHex(json.parentHash),
    txRoot: fromHex(json.txRoot),
    stateRoot: fromHex(json.stateRoot),
    validatorSetHash: fromHex(json.validatorSetHash),
    proposer: fromHex(json.proposer),
  };
}

export function certificateFromJson(json: ApiJson): CommitCertificate {
  return {
    height: json.height,
    view: json.view,
    digest: fromHex(json.digest),
    votes: json.votes.map((v: ApiJson) => ({
      from: fromHex(v.from),
      signature: fromHex(v.signature),
    })),
  };
}

/**
 * A light client's check of GET /state/proof, trusting only the genesis file: the proof must
 * lead to the answered state root, and that root must be either the genesis state root
 * (recomputed here) or the one in a header whose commit certificate holds a quorum of valid
 * signatures from the genesis validator set (the header must name that set's hash; a chain
 * whose validators changed by governance needs a newer trusted set than genesis).
 */
export function checkStateProof(
  answer: ApiJson,
  key: Uint8Array,
  genesis: GenesisDocument,
): ProofCheck {
  const steps: { check: string; ok: boolean }[] = [];
  const step = (check: string, run: () => boolean) => {
    let ok = false;
    try {
      ok = run();
    } catch {
      ok = false;
    }
    steps.push({ check, ok });
    return ok;
  };
  const stateRoot = fromHex(answer.stateRoot);
  const value =
    answer.value === null || answer.value === undefined ? undefined : fromHex(answer.value);
  step(
    `the proof links the ${value === undefined ? 'absence of the key' : 'value'} to state root ${answer.stateRoot.slice(0, 16)}…`,
    () => verifyStateProof(stateRoot, key, value, decodeStateProof(fromHex(answer.proof))),
  );
  const validators = sortValidators(
    genesis.organizations.map((org) => ({
      orgId: org.id,
      publicKey: org.validatorKey,
      peerId: org.peerId,
    })),
  );
  let anchoredBy: ProofCheck['anchoredBy'];
  if (answer.header === null) {
    anchoredBy = 'genesis';
    step('the state root is the genesis state root', () => {
      const genesisState = initGenesisState(new AuthenticatedState(new MemoryStore()), genesis);
      return bytesEqual(genesisState.stateRoot, stateRoot);
    });
  } else {
    anchoredBy = 'commit certificate';
    const header = headerFromJson(answer.header);
    const certificate = certificateFromJson(answer.certificate);
    step(`header ${header.height} carries the state root`, () =>
      bytesEqual(header.stateRoot, stateRoot),
    );
    step(
      'header is on this chain and names the genesis validator set',
      () =>
        header.chainId === genesis.chainId &&
        bytesEqual(header.validatorSetHash, validatorSetHash(validators)),
    );
    step(
      'the certificate is for this header',
      () =>
        certificate.height === header.height && bytesEqual(certificate.digest, headerHash(header)),
    );
    step(`a quorum of genesis validators signed it (${certificate.votes.length} votes)`, () =>
      verifyCommitCertificate(
        genesis.chainId,
        certificate,
        validators.map((v) => v.publicKey),
        { verify },
      ),
    );
  }
  return {
    verified: steps.every((s) => s.ok),
    height: answer.height,
    stateRoot: toHex(stateRoot),
    anchoredBy,
    steps,
    value: value === undefined ? null : toHex(value),
  };
}
