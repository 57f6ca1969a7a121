import { existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from '@medchain/client';
import { fromHex, toHex } from '@medchain/crypto';
import type { OrganizationSpec } from '@medchain/ledger';
import { usageError } from './errors.js';
import { readJsonFile } from './home.js';
import { publicKeyArg } from './keys.js';

/**
 * A hospital's public org file: everything the other hospitals need to found a chain with it
 * or vote it in, and to dial its node, and nothing secret (no keystore, no passphrase):
 *   { "medchainOrg": 1, "id", "adminKeys", "validatorKey", "peerId", "addrs" }
 * Keys are hex; `id` is the organization id it will have on the ledger (32 bytes hex).
 */
export interface OrgSpec {
  readonly medchainOrg: 1;
  readonly id: string;
  readonly adminKeys: string[];
  readonly validatorKey: string;
  readonly peerId: string;
  readonly addrs: string[];
}

export function makeOrgSpec(input: {
  id?: Uint8Array | undefined;
  adminKeys: readonly Uint8Array[];
  validatorKey: Uint8Array;
  peerId: string;
  addrs: readonly string[];
}): OrgSpec {
  return {
    medchainOrg: 1,
    id: toHex(input.id ?? randomBytes(32)),
    adminKeys: input.adminKeys.map(toHex),
    validatorKey: toHex(input.validatorKey),
    peerId: input.peerId,
    addrs: [...input.addrs],
  };
}

/** The organization an org file describes, as the ledger takes it (genesis or governance). */
export function organizationOf(spec: OrgSpec): OrganizationSpec {
  return {
    id: fromHex(spec.id),
    adminKeys: spec.adminKeys.map((key) => fromHex(key)),
    validatorKey: fromHex(spec.validatorKey),
    peerId: spec.peerId,
  };
}

export function writeOrgSpec(path: string, spec: OrgSpec, overwrite: boolean): void {
  if (existsSync(path) && !overwrite) {
    throw usageError(`${path} already exists`, 'add --force to overwrite it');
  }
  writeFileSync(path, `${JSON.stringify(spec, null, 2)}\n`);
}

const HEX32 = /^[0-9a-f]{64}$/;

/** Refuses anything but a dialable TCP multiaddr (the node's transport), with a clear error. */
export function checkPeerAddress(addr: string, whose: string): void {
  if (!/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d{1,5}$/.test(addr)) {
    throw usageError(
      `address ${JSON.stringify(addr)} of ${whose} is not a TCP multiaddr`,
      'write it like /ip4/10.0.0.2/tcp/7700 or /dns4/node.hospital-b.example/tcp/7700',
    );
  }
}

/** Reads and checks an org file; a keystore given by mistake is named as such. */
export function readOrgSpec(path: string): OrgSpec {
  const json = readJsonFile(path, 'org file') as Record<string, unknown> | null;
  const bad = (what: string) =>
    usageError(
      `${path} is not a medchain org file: ${what}`,
      'make one with `medchain genesis org-spec --home DIR --admin-key KEY --addr ADDRESS --out FILE`',
    );
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not an object');
  if ('crypto' in json || 'ciphertext' in json) {
    throw usageError(
      `${path} is a keystore, not an org file`,
      'never send keystores to other hospitals: send the file `medchain genesis org-spec` writes',
    );
  }
  if (json.medchainOrg !== 1) throw bad('"medchainOrg" is not 1');
  const strings = (field: string): string[] => {
    const value = json[field];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      throw bad(`"${field}" is not a list of strings`);
    }
    return value as string[];
  };
  for (const field of ['id', 'validatorKey', 'peerId']) {
    if (typeof json[field] !== 'string') throw bad(`"${field}" is missing`);
  }
  const id = json.id as string;
  if (!HEX32.test(id)) throw bad('"id" is not 32 bytes of lowercase hex');
  const adminKeys = strings('adminKeys');
  if (adminKeys.length === 0) throw bad('"adminKeys" is empty');
  for (const key of [...adminKeys, json.validatorKey as string]) {
    if (!HEX32.test(key)) throw bad(`key ${JSON.stringify(key)} is not 32 bytes of lowercase hex`);
    publicKeyArg(key, path);
  }
  return {
    medchainOrg: 1,
    id,
    adminKeys,
    validatorKey: json.validatorKey as string,
    peerId: json.peerId as string,
    addrs: strings('addrs'),
  };
}
