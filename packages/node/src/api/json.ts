import { toHex } from '@medchain/crypto';
import { type Transaction, transactionHash } from '@medchain/ledger';
import type { StoredBlock } from './backend.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The API's one JSON mapping of ledger values: bytes become lowercase hex, bigints decimal
 * strings, undefined fields are left out. Ledger entries are plain canonical values, so one
 * walk serves every entry type and a new field shows up without touching the API.
 */
export function toJson(value: unknown): Json {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value as Json;
  if (Array.isArray(value)) return value.map(toJson);
  const out: { [key: string]: Json } = {};
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined) out[key] = toJson(field);
  }
  return out;
}

export function transactionJson(tx: Transaction): Json {
  return { hash: toHex(transactionHash(tx)), ...(toJson(tx) as { [key: string]: Json }) };
}

export function blockJson(stored: StoredBlock): Json {
  return {
    hash: toHex(stored.hash),
    header: toJson(stored.block.header),
    txs: stored.block.txs.map(transactionJson),
    receipts: stored.receipts.map(toJson),
    certificate: toJson(stored.certificate),
  };
}
