import {
  bytesEqual,
  type Canonical,
  encodeCanonical,
  fromHex,
  taggedHash,
  toHex,
} from '@medchain/crypto';
import { parseOrganizationSpec } from './consent/bodies.js';
import { admitOrganization } from './consent/rules.js';
import { LedgerError } from './errors.js';
import type { ChainConfig } from './executor.js';
import { DEFAULT_LEDGER_PARAMS, type LedgerParams, type OrganizationSpec } from './model.js';
import { stateKeys, writeValue } from './schema.js';
import { type AuthenticatedState, EMPTY_STATE_ROOT, type StateOps } from './state/index.js';
import { CHAIN_ID_PATTERN } from './tx.js';
import { asInteger, asList, asObject, asString } from './validate.js';
import { type Validator, validatorSetHash, validatorsFromState } from './validators.js';

export interface GenesisDocument {
  readonly chainId: string;
  /** ms since the epoch; block 1's time may not be earlier. */
  readonly genesisTime: number;
  /** The founding members, each with admin keys, a validator key and its node's peer id. */
  readonly organizations: readonly OrganizationSpec[];
  readonly params: LedgerParams;
  /** Consensus tuning (timeouts in ticks, checkpoint interval...): integers, owned by consensus. */
  readonly consensus: { readonly [name: string]: number };
}

const MAX_FOUNDERS = 256;

function genesisInvalid(why: string): LedgerError {
  return new LedgerError('LEDGER_GENESIS_INVALID', `genesis: ${why}`);
}

function parseParams(value: unknown): LedgerParams {
  const names = Object.keys(DEFAULT_LEDGER_PARAMS) as (keyof LedgerParams)[];
  const o = asObject(value, 'genesis.params', names);
  const params = Object.fromEntries(
    names.map((name) => [name, asInteger(o[name], `genesis.params.${name}`, 1)]),
  );
  return params as unknown as LedgerParams;
}

/**
 * Checks a genesis document given as canonical values (bytes as Uint8Array): shapes, at least
 * one founder, no id, key or peer id used twice. Throws LedgerError LEDGER_GENESIS_INVALID.
 */
export function parseGenesis(value: unknown): GenesisDocument {
  try {
    const o = asObject(value, 'genesis', [
      'chainId',
      'genesisTime',
      'organizations',
      'params',
      'consensus',
    ]);
    const consensus = asObject(
      o.consensus,
      'genesis.consensus',
      [],
      Object.keys(o.consensus ?? {}),
    );
    const doc: GenesisDocument = {
      chainId: asString(o.chainId, 'genesis.chainId', CHAIN_ID_PATTERN, 'a chain id'),
      genesisTime: asInteger(o.genesisTime, 'genesis.genesisTime'),
      organizations: asList(
        o.organizations,
        'genesis.organizations',
        { min: 1, max: MAX_FOUNDERS },
        (entry, path) => parseOrganizationSpec(entry, path),
      ),
      params: parseParams(o.params),
      consensus: Object.fromEntries(
        Object.entries(consensus).map(([name, v]) => [
          name,
          asInteger(v, `genesis.consensus.${name}`, 0, Number.MAX_SAFE_INTEGER),
        ]),
      ),
    };
    const seen = new Set<string>();
    const once = (id: string, what: string) => {
      if (seen.has(id)) throw genesisInvalid(`${what} is used twice`);
      seen.add(id);
    };
    for (const org of doc.organizations) {
      once(`org:${toHex(org.id)}`, `organization id ${toHex(org.id)}`);
      once(`peer:${org.peerId}`, `peer id ${org.peerId}`);
      for (const key of [...org.adminKeys, org.validatorKey])
        once(`key:${toHex(key)}`, `key ${toHex(key)}`);
    }
    return doc;
  } catch (error) {
    if (error instanceof LedgerError && error.code === 'LEDGER_MALFORMED') {
      throw genesisInvalid(error.message);
    }
    throw error;
  }
}

function canonicalGenesis(doc: GenesisDocument): Canonical {
  return {
    chainId: doc.chainId,
    genesisTime: doc.genesisTime,
    organizations: doc.organizations.map((org) => ({
      id: org.id,
      adminKeys: [...org.adminKeys],
      validatorKey: org.validatorKey,
      peerId: org.peerId,
    })),
    params: { ...doc.params },
    consensus: { ...doc.consensus },
  };
}

/**
 * The hash of the genesis document: block 1's parentHash. Taken under the BlockHeader domain
 * like every parent hash; a genesis map has other keys than a header map, so they never meet.
 */
export function genesisHash(doc: GenesisDocument): Uint8Array {
  return taggedHash('BlockHeader', encodeCanonical(canonicalGenesis(doc)));
}

/** JSON form for files (bytes as lowercase hex), as the CLI writes and the node reads it. */
export function genesisToJson(doc: GenesisDocument): unknown {
  return {
    chainId: doc.chainId,
    genesisTime: doc.genesisTime,
    organizations: doc.organizations.map((org) => ({
      id: toHex(org.id),
      adminKeys: org.adminKeys.map(toHex),
      validatorKey: toHex(org.validatorKey),
      peerId: org.peerId,
    })),
    params: { ...doc.params },
    consensus: { ...doc.consensus },
  };
}

/** Reads the JSON form; every problem is a LedgerError LEDGER_GENESIS_INVALID naming the field. */
export function genesisFromJson(json: unknown): GenesisDocument {
  const hex = (value: unknown, path: string): Uint8Array => {
    try {
      return fromHex(value as string);
    } catch {
      throw genesisInvalid(`${path}: expected lowercase hex`);
    }
  };
  const field = (value: unknown, name: string): unknown =>
    typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)[name]
      : undefined;
  const organizations = field(json, 'organizations');
  if (!Array.isArray(organizations)) throw genesisInvalid('genesis.organizations: expected a list');
  return parseGenesis({
    chainId: field(json, 'chainId'),
    genesisTime: field(json, 'genesisTime'),
    params: field(json, 'params'),
    consensus: field(json, 'consensus'),
    organizations: organizations.map((org: unknown, i) => {
      const path = `genesis.organizations[${i}]`;
      const adminKeys = field(org, 'adminKeys');
      return {
        id: hex(field(org, 'id'), `${path}.id`),
        adminKeys: Array.isArray(adminKeys)
          ? adminKeys.map((key, j) => hex(key, `${path}.adminKeys[${j}]`))
          : adminKeys,
        validatorKey: hex(field(org, 'validatorKey'), `${path}.validatorKey`),
        peerId: field(org, 'peerId'),
      };
    }),
  });
}

export interface GenesisState {
  readonly stateRoot: Uint8Array;
  readonly ops: StateOps;
  readonly validators: readonly Validator[];
  readonly validatorSetHash: Uint8Array;
  readonly hash: Uint8Array;
}

/** Writes the founders and the chain config into an empty state and commits it. */
export function initGenesisState(state: AuthenticatedState, doc: GenesisDocument): GenesisState {
  if (!bytesEqual(state.root(), EMPTY_STATE_ROOT)) {
    throw genesisInvalid('the state must be empty');
  }
  const config: ChainConfig = { chainId: doc.chainId, params: doc.params };
  writeValue(state, stateKeys.chain(), config);
  for (const org of doc.organizations) admitOrganization(state, org, doc.genesisTime);
  const validators = validatorsFromState(state);
  const { root, ops } = state.commit();
  return {
    stateRoot: root,
    ops,
    validators,
    validatorSetHash: validatorSetHash(validators),
    hash: genesisHash(doc),
  };
}
