import { NodeError } from '../errors.js';
import { HEIGHT_BYTES, TX_INDEX_BYTES } from './buckets.js';

/** Big-endian, so LevelDB's byte order is height order and range scans walk the chain. */
export function encodeHeight(height: number): Uint8Array {
  if (!Number.isSafeInteger(height) || height < 0) {
    throw new NodeError(
      'NODE_DB_BAD_VALUE',
      `height must be a non-negative safe integer: ${height}`,
    );
  }
  const out = new Uint8Array(HEIGHT_BYTES);
  new DataView(out.buffer).setBigUint64(0, BigInt(height));
  return out;
}

export function decodeHeight(bytes: Uint8Array, offset = 0): number {
  if (bytes.length < offset + HEIGHT_BYTES) {
    throw new NodeError('NODE_DB_BAD_VALUE', `stored height needs ${HEIGHT_BYTES} bytes`);
  }
  const value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NodeError('NODE_DB_BAD_VALUE', `stored height ${value} is beyond safe integers`);
  }
  return Number(value);
}

export interface TxLocation {
  height: number;
  index: number;
}

export function encodeTxLocation(location: TxLocation): Uint8Array {
  if (!Number.isInteger(location.index) || location.index < 0 || location.index >= 2 ** 32) {
    throw new NodeError('NODE_DB_BAD_VALUE', `tx index out of range: ${location.index}`);
  }
  const out = new Uint8Array(HEIGHT_BYTES + TX_INDEX_BYTES);
  out.set(encodeHeight(location.height), 0);
  new DataView(out.buffer).setUint32(HEIGHT_BYTES, location.index);
  return out;
}

export function decodeTxLocation(bytes: Uint8Array): TxLocation {
  if (bytes.length !== HEIGHT_BYTES + TX_INDEX_BYTES) {
    throw new NodeError('NODE_DB_BAD_VALUE', `stored tx location has ${bytes.length} bytes`);
  }
  const index = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
    HEIGHT_BYTES,
  );
  return { height: decodeHeight(bytes), index };
}
