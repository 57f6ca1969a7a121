/**
 * `pnpm bench:crypto`: throughput of the operations the node runs per transaction, per block
 * and per record exchange. Single-threaded; numbers vary with machine load.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  binaryString,
  bytesEqual,
  type Canonical,
  decodeCanonical,
  decryptKeystore,
  ED25519_BACKEND,
  ed25519Verifiers,
  encodeCanonical,
  encryptKeystore,
  fromHex,
  keyPairFromSeed,
  merkleRoot,
  openEnvelope,
  Signer,
  sealEnvelope,
  sha256,
  taggedHash,
  toHex,
  verifyReference,
} from '../src/index.js';

const TARGET_MS = Number(process.env.BENCH_MS ?? 1000);

/** Counts up so every bench run is reproducible (no entropy needed to measure speed). */
function bytes(length: number, start = 0): Uint8Array {
  return new Uint8Array(length).map((_, i) => (start + i * 31) & 0xff);
}

/**
 * Runs `op` for about TARGET_MS of wall time. Throughput is per second of this process's CPU
 * time (process.cpuUsage), so other processes competing for the cores slow the run down but
 * barely change the figure; the wall-clock rate is printed beside it.
 */
function bench(name: string, op: () => unknown): void {
  for (let i = 0; i < 3; i++) op(); // warm up the JIT and key caches
  let runs = 0;
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  while (performance.now() - wallStart < TARGET_MS) {
    op();
    runs++;
  }
  const wallMs = performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const micros = (cpuMs * 1000) / runs;
  const perOp = micros >= 1000 ? `${(micros / 1000).toFixed(2)} ms` : `${micros.toFixed(1)} µs`;
  const rate = (ms: number) =>
    Math.round((runs / ms) * 1000)
      .toLocaleString('en-US')
      .padStart(10);
  console.log(
    `${name.padEnd(44)} ${rate(cpuMs)} ops/cpu-s ${perOp.padStart(10)}/op   (wall ${rate(wallMs)} ops/s)`,
  );
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/**
 * Per-call CPU µs of several implementations of one operation, measured in one process and
 * interleaved: ROUNDS rounds, each giving every contender a slice of SLICE_MS in turn (the
 * order rotates each round), so a change in machine load hits all of them alike. Prints the
 * median over rounds and the range.
 */
function compare(title: string, contenders: [string, () => unknown][]): void {
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
  const SLICE_MS = TARGET_MS / 10;
  const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  for (const [, op] of contenders) for (let i = 0; i < 20; i++) op();
  console.log(`${title}: ${ROUNDS} rounds of ${SLICE_MS} ms slices, load average ${load()}`);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, op] = contenders[(round + i) % contenders.length]!;
      let runs = 0;
      const wallStart = performance.now();
      const cpuStart = process.cpuUsage();
      while (performance.now() - wallStart < SLICE_MS) {
        op();
        runs++;
      }
      const cpu = process.cpuUsage(cpuStart);
      samples.get(name)!.push((cpu.user + cpu.system) / runs);
    }
  }
  for (const [name, values] of samples) {
    const sorted = values.sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    const range = `${sorted[0]!.toFixed(1)}-${sorted[sorted.length - 1]!.toFixed(1)}`;
    console.log(
      `  ${name.padEnd(42)} ${median.toFixed(1).padStart(8)} µs/op median  (range ${range})`,
    );
  }
  console.log(`  load average after: ${load()}`);
}

const seed = bytes(32, 1);
const signer = new Signer(seed);
const peer = keyPairFromSeed(bytes(32, 2));

// Shaped like an unsigned consent.grant transaction (~240 bytes canonical).
const transaction: Canonical = {
  chainId: 'medchain-devnet',
  kind: 'consent.grant',
  body: {
    patient: bytes(32, 3),
    grantee: bytes(32, 4),
    scope: ['Observation'],
    purpose: 'treatment',
    notAfter: 1_795_536_000_000,
  },
  signer: signer.publicKey,
  nonce: 17,
};
const encoded = encodeCanonical(transaction);
const signature = signer.sign(encoded);
const block256 = bytes(256, 6);
const hash32 = bytes(32, 12);
const hash32Copy = hash32.slice();
const hash32Hex = toHex(hash32);
const leaves = Array.from({ length: 10_000 }, (_, i) => bytes(32, i));
const record = bytes(1024, 7);
const context = { recordId: 'rec-1', request: bytes(32, 8) };
const keystore = encryptKeystore(seed, 'correct horse battery staple', (n) => bytes(n, 9));
const envelope = sealEnvelope({
  senderSeed: seed,
  recipient: peer.publicKey,
  context,
  payload: record,
  randomBytes: (n) => bytes(n, 10),
});

console.log(
  `medchain crypto bench (node ${process.version}, ${TARGET_MS} ms per line, load average ${loadavg()[0]!.toFixed(2)})`,
);
console.log(`transaction-like object: ${encoded.length} bytes canonical`);
bench('ed25519 sign (Signer, tx bytes)', () => signer.sign(encoded));
// The rule on every backend (cached keys), the libraries' own calls without the rule's
// pre-check, and the from-scratch reference.
const sodium = createRequire(import.meta.url)('sodium-native') as {
  crypto_sign_verify_detached(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean;
};
const opensslKey = createPublicKey({
  key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(signer.publicKey).toString('base64url') },
  format: 'jwk',
});
compare(`ed25519 verify, tx bytes (verify uses ${ED25519_BACKEND})`, [
  ...[...ed25519Verifiers].map(([name, check]): [string, () => unknown] => [
    `rule on ${name}`,
    () => check(signer.publicKey, encoded, signature),
  ]),
  [
    'libsodium alone (sodium-native)',
    () => sodium.crypto_sign_verify_detached(signature, encoded, signer.publicKey),
  ],
  ['OpenSSL alone (node:crypto)', () => nodeVerify(null, encoded, opensslKey, signature)],
  [
    'verifyReference (noble, key decoded per call)',
    () => verifyReference(signer.publicKey, encoded, signature),
  ],
]);
if (process.env.BENCH_ONLY === 'verify') process.exit(0);
bench('ed25519 keyPairFromSeed', () => keyPairFromSeed(seed));
// Map keys and comparisons of hashes: the node runs these many times per transaction.
bench('toHex (32 B)', () => toHex(hash32));
bench('fromHex (32 B)', () => fromHex(hash32Hex, 32));
bench('binaryString (32 B)', () => binaryString(hash32));
bench('bytesEqual (32 B, equal)', () => bytesEqual(hash32, hash32Copy));
bench('sha256 (256 B)', () => sha256(block256));
bench('taggedHash (256 B)', () => taggedHash('Transaction', block256));
bench('encodeCanonical (tx)', () => encodeCanonical(transaction));
bench('decodeCanonical (tx)', () => decodeCanonical(encoded));
bench('merkleRoot (10,000 leaves)', () => merkleRoot(leaves));
bench('keystore decrypt (scrypt N=2^15, r=8, p=1)', () =>
  decryptKeystore(keystore, 'correct horse battery staple'),
);
bench('envelope seal (1 KiB)', () =>
  sealEnvelope({
    senderSeed: seed,
    recipient: peer.publicKey,
    context,
    payload: record,
    randomBytes: (n) => bytes(n, 11),
  }),
);
bench('envelope open (1 KiB)', () => openEnvelope(envelope, { recipientSeed: peer.seed, context }));
// Signed transactions, interleaved against the former decode + re-encode + compare.
await import('./canonical-decode.js');
