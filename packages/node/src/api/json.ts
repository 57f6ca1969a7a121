import { valueToJson } from '@medchain/client';
import { toHex } from '@medchain/crypto';
import { type Transaction, transactionHash } from '@medchain/ledger';
import type { StoredBlock } from './backend.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The API's JSON form of a ledger value: `@medchain/client`'s `valueToJson`, typed. */
export const toJson = (value: unknown): Json => valueToJson(value) as Json;

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
