import { cpuUsage } from 'node:process';
import { Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  buildBlock,
  decodeBlock,
  decodeTransaction,
  encodeBlock,
  encodeTransaction,
  signTransaction,
  type Transaction,
  transactionHash,
} from '@medchain/ledger';

/*
 * CPU a replica spends decoding one proposal, per transaction: without its mempool (every tx
 * decoded and hashed from the block bytes) and with it (the pool's decoded transactions
 * reused when the bytes match). No network or disk, so it is steadier than the cluster bench
 * on a loaded machine. Usage:
 *   TSX_TSCONFIG_PATH=tsconfig.test.json npx tsx packages/node/bench/replica-decode.ts [txs=2000] [rounds=20]
 */

const txCount = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 20);
const chainId = 'medchain-bench';

const txs: Transaction[] = Array.from({ length: txCount }, (_, i) => {
  const patient = new Signer(sha256(utf8(`replica-decode:${i}`)));
  const tx = { chainId, kind: 'patient.register' as const, body: {}, signer: patient.publicKey };
  return signTransaction({ ...tx, nonce: 1 }, patient);
});
const payload = encodeBlock(
  buildBlock(
    {
      chainId,
      height: 1,
      time: 1_750_000_000_000,
      parentHash: sha256(utf8('parent')),
      stateRoot: sha256(utf8('state')),
      validatorSetHash: sha256(utf8('validators')),
      proposer: new Signer(sha256(utf8('replica-decode:proposer'))).publicKey,
    },
    txs,
  ),
);
// What admission leaves in a pool: each tx decoded from its own wire bytes and hashed.
const pool = new Map<string, Transaction>();
for (const tx of txs) {
  const admitted = decodeTransaction(encodeTransaction(tx).slice());
  pool.set(toHex(transactionHash(admitted)), admitted);
}
const lookup = (hash: Uint8Array) => pool.get(toHex(hash));

function measure(decode: (bytes: Uint8Array) => unknown): number {
  decode(payload.slice()); // warm up
  const copies = Array.from({ length: rounds }, () => payload.slice());
  const start = cpuUsage();
  for (const bytes of copies) decode(bytes);
  const used = cpuUsage(start);
  return (used.user + used.system) / rounds / txCount;
}

const without = measure((bytes) => decodeBlock(bytes));
const withPool = measure((bytes) => decodeBlock(bytes, lookup));
process.stdout.write(
  `${JSON.stringify({ txs: txCount, rounds, usPerTxWithoutPool: Math.round(without * 10) / 10, usPerTxWithPool: Math.round(withPool * 10) / 10 })}\n`,
);
