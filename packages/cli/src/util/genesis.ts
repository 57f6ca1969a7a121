import { writeFileSync } from 'node:fs';
import { randomBytes } from '@medchain/client';
import { toHex } from '@medchain/crypto';
import {
  CHAIN_ID_PATTERN,
  DEFAULT_LEDGER_PARAMS,
  type GenesisDocument,
  genesisFromJson,
  genesisHash,
  type LedgerParams,
} from '@medchain/ledger';
import { CliError, usageError } from './errors.js';

/** The consensus core's defaults (ConsensusConfig), written out so a genesis states them. */
export const DEFAULT_CONSENSUS_PARAMS = {
  checkpointInterval: 10,
  baseTimeoutTicks: 10,
  maxTimeoutDoublings: 5,
} as const;

/** A genesis file while it is being built: JSON form, possibly without organizations yet. */
export interface GenesisDraft {
  chainId: string;
  genesisTime: number;
  organizations: { id: string; adminKeys: string[]; validatorKey: string; peerId: string }[];
  params: LedgerParams;
  consensus: Record<string, number>;
}

export function newGenesisDraft(
  chainId: string,
  genesisTime: number,
  params: Partial<LedgerParams> = {},
  consensus: Record<string, number> = {},
): GenesisDraft {
  if (!CHAIN_ID_PATTERN.test(chainId)) {
    throw usageError(
      `invalid chain id ${JSON.stringify(chainId)}`,
      'use 1-64 lowercase letters, digits and dashes, starting with a letter or digit',
    );
  }
  return {
    chainId,
    genesisTime,
    organizations: [],
    params: { ...DEFAULT_LEDGER_PARAMS, ...params },
    consensus: { ...DEFAULT_CONSENSUS_PARAMS, ...consensus },
  };
}

export interface OrganizationInput {
  readonly id?: Uint8Array | undefined;
  readonly adminKeys: readonly Uint8Array[];
  readonly validatorKey: Uint8Array;
  readonly peerId: string;
}

/** Adds a founding member; the result must pass the ledger's genesis checks. */
export function addOrganization(draft: GenesisDraft, org: OrganizationInput): GenesisDraft {
  const next: GenesisDraft = {
    ...draft,
    organizations: [
      ...draft.organizations,
      {
        id: toHex(org.id ?? randomBytes(32)),
        adminKeys: org.adminKeys.map(toHex),
        validatorKey: toHex(org.validatorKey),
        peerId: org.peerId,
      },
    ],
  };
  checkGenesis(next);
  return next;
}

export function checkGenesis(json: unknown): GenesisDocument {
  try {
    return genesisFromJson(json);
  } catch (error) {
    throw new CliError('GENESIS_INVALID', (error as Error).message);
  }
}

export function writeGenesis(path: string, draft: GenesisDraft): void {
  writeFileSync(path, `${JSON.stringify(draft, null, 2)}\n`);
}

export function genesisSummary(doc: GenesisDocument) {
  return {
    chainId: doc.chainId,
    genesisTime: new Date(doc.genesisTime).toISOString(),
    hash: toHex(genesisHash(doc)),
    organizations: doc.organizations.map((org) => ({
      id: toHex(org.id),
      validatorKey: toHex(org.validatorKey),
      peerId: org.peerId,
      adminKeys: org.adminKeys.map(toHex),
    })),
    params: doc.params,
    consensus: doc.consensus,
  };
}
