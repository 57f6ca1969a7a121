import { bytesEqual, encodeCanonical, taggedHash, toHex } from '@medchain/crypto';
import {
  AuthenticatedState,
  buildBlock,
  checkBlockAgainstParent,
  decodeBlock,
  decodeHeader,
  decodeTransaction,
  encodeBlock,
  encodeHeader,
  encodeTransaction,
  genesisFromJson,
  genesisHash,
  genesisToJson,
  headerHash,
  initGenesisState,
  LedgerError,
  MAX_TX_BYTES,
  MemoryStore,
  parseGenesis,
  signingDigest,
  signTransaction,
  type Transaction,
  transactionHash,
  verifyTransactionSignature,
} from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytes, CHAIN_ID, genesisDoc, org, signer, T0 } from './helpers.js';

const alice = signer('codec/alice');
const unsigned = {
  chainId: CHAIN_ID,
  kind: 'patient.register' as const,
  body: {},
  signer: alice.publicKey,
  nonce: 1,
};

function expectCode(fn: () => unknown, code: string, text?: string) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe(code);
    if (text !== undefined) expect((error as Error).message).toContain(text);
    return;
  }
  throw new Error('expected a LedgerError');
}

describe('transactions', () => {
  it('signs, verifies, encodes and decodes to the same hash', () => {
    const tx = signTransaction(unsigned, alice);
    expect(verifyTransactionSignature(tx)).toBe(true);
    expect(verifyTransactionSignature({ ...tx, nonce: 2 })).toBe(false);
    expect(verifyTransactionSignature({ ...tx, chainId: 'other' })).toBe(false);
    const decoded = decodeTransaction(encodeTransaction(tx));
    expect(decoded).toEqual(tx);
    expect(bytesEqual(transactionHash(decoded), transactionHash(tx))).toBe(true);
  });

  it('decodes into bytes of its own: changing the input afterwards changes nothing', () => {
    const tx = signTransaction(unsigned, alice);
    const wire = encodeTransaction(tx).slice();
    const hash = transactionHash(tx);
    const decoded = decodeTransaction(wire);
    wire.fill(0);
    expect(decoded).toEqual(tx);
    expect(encodeTransaction(decoded)).toEqual(encodeTransaction(tx));
    expect(transactionHash(decoded)).toEqual(hash);
    expect(verifyTransactionSignature(decoded)).toBe(true);
  });

  it('refuses oversized, non-canonical and ill-shaped transactions, naming the field', () => {
    const tx = signTransaction(unsigned, alice);
    const wire = { ...tx } as Record<string, unknown>;
    expectCode(() => decodeTransaction(new Uint8Array(MAX_TX_BYTES + 1)), 'LEDGER_TOO_LARGE');
    expectCode(
      () => decodeTransaction(Uint8Array.of(0xcb, 0, 0, 0, 0, 0, 0, 0, 0)),
      'LEDGER_MALFORMED',
    );
    const encode = (value: Record<string, unknown>) => encodeCanonical(value as never);
    expectCode(
      () => decodeTransaction(encode({ ...wire, kind: 'patient.fly' })),
      'LEDGER_MALFORMED',
      'transaction.kind',
    );
    expectCode(
      () => decodeTransaction(encode({ ...wire, nonce: 0 })),
      'LEDGER_MALFORMED',
      'transaction.nonce',
    );
    expectCode(
      () => decodeTransaction(encode({ ...wire, extra: 1 })),
      'LEDGER_MALFORMED',
      'transaction.extra',
    );
    expectCode(
      () => decodeTransaction(encode({ ...wire, chainId: 'Upper' })),
      'LEDGER_MALFORMED',
      'chainId',
    );
    expectCode(
      () => decodeTransaction(encode({ ...wire, signer: new Uint8Array(32) })),
      'LEDGER_MALFORMED',
      'signer',
    );
    const smallOrder = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0));
    expectCode(
      () =>
        decodeTransaction(
          encode({ ...wire, kind: 'provider.suspend', body: { provider: smallOrder } }),
        ),
      'LEDGER_MALFORMED',
      'body.provider',
    );
    expectCode(
      () =>
        decodeTransaction(
          encode({ ...wire, kind: 'consent.revoke', body: { consentId: bytes('c', 31) } }),
        ),
      'LEDGER_MALFORMED',
      'body.consentId',
    );
  });

  it('property: the signing digest read off the encoded bytes equals encoding the five fields', () => {
    // The old path, encoding the unsigned map, is the oracle for the one reading the wire bytes.
    const oracle = (tx: Transaction) =>
      taggedHash(
        'Transaction',
        encodeCanonical({
          chainId: tx.chainId,
          kind: tx.kind,
          body: tx.body,
          signer: tx.signer,
          nonce: tx.nonce,
        }),
      );
    const leaf = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.string({ maxLength: 12 }),
      fc.uint8Array({ maxLength: 40 }),
    );
    const bodyArb = fc.dictionary(
      fc.string({ maxLength: 10 }).filter((key) => key !== '__proto__'),
      fc.oneof(leaf, fc.array(leaf, { maxLength: 3 })),
      { maxKeys: 5 },
    );
    const lengthArb = (usual: number) =>
      fc.oneof(fc.constant(usual), fc.integer({ min: 0, max: usual + 2 }));
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        bodyArb,
        lengthArb(32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        lengthArb(64).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        (chainId, kind, body, signerKey, nonce, signature) => {
          const tx = { chainId, kind, body, signer: signerKey, nonce, signature } as Transaction;
          const expected = toHex(oracle(tx));
          expect(toHex(signingDigest(tx))).toBe(expected);
          encodeTransaction(tx); // now the digest is read off the remembered bytes
          expect(toHex(signingDigest(tx))).toBe(expected);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
    const signed = signTransaction({ ...unsigned, body: {} }, alice);
    const decoded = decodeTransaction(encodeTransaction(signed));
    expect(toHex(signingDigest(decoded))).toBe(toHex(oracle(signed)));
    expect(verifyTransactionSignature(decoded)).toBe(true);
  });

  it('decoding arbitrary bytes either yields a transaction or throws a LedgerError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        try {
          decodeTransaction(input);
        } catch (error) {
          expect(error).toBeInstanceOf(LedgerError);
        }
      }),
      { numRuns: 500, seed: 1 },
    );
  });
});

describe('blocks', () => {
  const proposer = signer('codec/proposer');
  const fields = {
    chainId: CHAIN_ID,
    height: 3,
    time: T0 + 5000,
    parentHash: bytes('parent'),
    stateRoot: bytes('state'),
    validatorSetHash: bytes('validators'),
    proposer: proposer.publicKey,
  };
  const txs = [signTransaction(unsigned, alice), signTransaction({ ...unsigned, nonce: 2 }, alice)];

  it('round-trips and hashes the header', () => {
    const block = buildBlock(fields, txs);
    const decoded = decodeBlock(encodeBlock(block));
    expect(decoded.header).toEqual(block.header);
    expect(decodeHeader(encodeHeader(block.header))).toEqual(block.header);
    expect(toHex(headerHash(decoded.header))).toBe(toHex(headerHash(block.header)));
    expect(toHex(headerHash({ ...block.header, time: fields.time + 1 }))).not.toBe(
      toHex(headerHash(block.header)),
    );
  });

  it('refuses a block whose tx root does not match', () => {
    const block = buildBlock(fields, txs);
    expectCode(
      () => decodeBlock(encodeBlock({ ...block, txs: [txs[0]!] })),
      'LEDGER_BLOCK_INVALID',
      'txRoot',
    );
  });

  it('decoding arbitrary bytes either yields a block or throws a LedgerError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        try {
          decodeBlock(input);
        } catch (error) {
          expect(error).toBeInstanceOf(LedgerError);
        }
      }),
      { numRuns: 300, seed: 2 },
    );
  });

  it('checks a proposal against its parent', () => {
    const parent = {
      chainId: CHAIN_ID,
      height: 2,
      hash: fields.parentHash,
      time: T0,
      stateRoot: fields.stateRoot,
      validatorSetHash: fields.validatorSetHash,
    };
    const keys = [proposer.publicKey];
    const block = buildBlock(fields, txs);
    expect(() => checkBlockAgainstParent(block, parent, keys)).not.toThrow();
    const cases: [object, string][] = [
      [{ height: 4 }, 'height must be 3'],
      [{ chainId: 'other' }, 'chainId'],
      [{ parentHash: bytes('x') }, 'parentHash'],
      [{ time: T0 - 1 }, 'time is before'],
      [{ stateRoot: bytes('x') }, 'stateRoot'],
      [{ validatorSetHash: bytes('x') }, 'validatorSetHash'],
      [{ proposer: alice.publicKey }, 'proposer'],
    ];
    for (const [change, text] of cases) {
      const bad = buildBlock({ ...fields, ...change }, txs);
      expectCode(() => checkBlockAgainstParent(bad, parent, keys), 'LEDGER_BLOCK_INVALID', text);
    }
    expectCode(
      () => checkBlockAgainstParent({ ...block, txs: [] }, parent, keys),
      'LEDGER_BLOCK_INVALID',
      'txRoot',
    );
  });
});

describe('decoding a block with the transactions a mempool holds', () => {
  const proposer = signer('codec/known-proposer');
  const fields = {
    chainId: CHAIN_ID,
    height: 3,
    time: T0 + 5000,
    parentHash: bytes('parent'),
    stateRoot: bytes('state'),
    validatorSetHash: bytes('validators'),
    proposer: proposer.publicKey,
  };
  const txs = [1, 2, 3, 4].map((nonce) => signTransaction({ ...unsigned, nonce }, alice));
  const poolOf = (pending: readonly Transaction[]) => {
    const byHash = new Map(pending.map((tx) => [toHex(transactionHash(tx)), tx]));
    const asked: string[] = [];
    const lookup = (hash: Uint8Array) => {
      asked.push(toHex(hash));
      return byHash.get(toHex(hash));
    };
    return { lookup, asked };
  };

  it('reuses the known objects and decodes the rest, to the same block', () => {
    const bytesOfBlock = encodeBlock(buildBlock(fields, txs));
    const pending = [decodeTransaction(encodeTransaction(txs[0]!)), txs[2]!];
    const { lookup, asked } = poolOf(pending);
    const decoded = decodeBlock(bytesOfBlock, lookup);
    expect(asked).toEqual(txs.map((tx) => toHex(transactionHash(tx))));
    expect(decoded.txs[0]).toBe(pending[0]);
    expect(decoded.txs[2]).toBe(pending[1]);
    expect(decoded.txs[1]).not.toBe(txs[1]);
    expect(decoded).toEqual(decodeBlock(bytesOfBlock));
    decoded.txs.forEach((tx, i) => {
      expect(toHex(transactionHash(tx))).toBe(toHex(transactionHash(txs[i]!)));
    });
  });

  it('never takes a known transaction whose bytes differ from the block bytes', () => {
    // A lookup that answers a hash with another transaction (what a hash collision or a buggy
    // pool would do): the block's own bytes win.
    const bytesOfBlock = encodeBlock(buildBlock(fields, txs));
    const impostor = signTransaction({ ...unsigned, nonce: 99 }, alice);
    const decoded = decodeBlock(bytesOfBlock, () => impostor);
    expect(decoded.txs).not.toContain(impostor);
    expect(decoded).toEqual(decodeBlock(bytesOfBlock));
  });

  it('refuses a forged block even when the pool holds every honest transaction', () => {
    const { lookup } = poolOf(txs);
    const honest = buildBlock(fields, txs);
    // Same header (the honest tx root), one transaction swapped for other bytes: a changed
    // signature, then a different nonce.
    const resigned = { ...txs[1]!, signature: signTransaction(txs[3]!, alice).signature };
    for (const swapped of [resigned, signTransaction({ ...unsigned, nonce: 7 }, alice)]) {
      const forged = encodeBlock({
        header: honest.header,
        txs: [txs[0]!, swapped, txs[2]!, txs[3]!],
      });
      expectCode(() => decodeBlock(forged, lookup), 'LEDGER_BLOCK_INVALID', 'txRoot');
    }
    // A wrong root over the honest transactions.
    const wrongRoot = encodeBlock({ header: { ...honest.header, txRoot: bytes('root') }, txs });
    expectCode(() => decodeBlock(wrongRoot, lookup), 'LEDGER_BLOCK_INVALID', 'txRoot');
    // A transaction twice (its root computed honestly over the duplicate list).
    const twice = encodeBlock(buildBlock(fields, [txs[0]!, txs[0]!]));
    expectCode(() => decodeBlock(twice, lookup), 'LEDGER_MALFORMED', 'duplicate');
  });

  it('property: any pool, any block: the same verdict and the same block as without a pool', () => {
    const pool = [1, 2, 3, 4, 5, 6].map((nonce) => signTransaction({ ...unsigned, nonce }, alice));
    fc.assert(
      fc.property(
        fc.subarray(pool),
        fc.shuffledSubarray(pool),
        fc.option(fc.nat()),
        (pending, inBlock, flip) => {
          const encoded = encodeBlock(buildBlock(fields, inBlock));
          // Optionally corrupt one byte: both paths must then agree on the refusal.
          if (flip !== null) encoded[flip % encoded.length]! ^= 1;
          const outcome = (run: () => unknown) => {
            try {
              return { block: run() };
            } catch (error) {
              return { code: (error as LedgerError).code };
            }
          };
          const { lookup } = poolOf(pending);
          expect(outcome(() => decodeBlock(encoded, lookup))).toEqual(
            outcome(() => decodeBlock(encoded)),
          );
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });
});

describe('genesis', () => {
  const orgs = [org('g1'), org('g2')];
  const doc = genesisDoc(orgs);

  it('round-trips through JSON and hashes stably', () => {
    const json = JSON.parse(JSON.stringify(genesisToJson(doc)));
    const back = genesisFromJson(json);
    expect(back).toEqual(parseGenesis(doc));
    expect(toHex(genesisHash(back))).toBe(toHex(genesisHash(doc)));
    expect(toHex(genesisHash({ ...doc, genesisTime: T0 + 1 }))).not.toBe(toHex(genesisHash(doc)));
  });

  it('refuses duplicates, empty founder lists and bad fields', () => {
    const g1 = orgs[0]!.spec;
    const cases: [object, string][] = [
      [{ organizations: [] }, 'genesis.organizations'],
      [{ organizations: [g1, { ...orgs[1]!.spec, id: g1.id }] }, 'organization id'],
      [{ organizations: [g1, { ...orgs[1]!.spec, peerId: g1.peerId }] }, 'peer id'],
      [{ organizations: [g1, { ...orgs[1]!.spec, validatorKey: g1.adminKeys[0] }] }, 'used twice'],
      [{ params: { ...doc.params, maxConsentDurationMs: 0 } }, 'maxConsentDurationMs'],
      [{ chainId: '' }, 'genesis.chainId'],
      [{ consensus: { timeoutTicks: 1.5 } }, 'genesis.consensus.timeoutTicks'],
    ];
    for (const [change, text] of cases) {
      expectCode(() => parseGenesis({ ...doc, ...change }), 'LEDGER_GENESIS_INVALID', text);
    }
    expectCode(
      () => genesisFromJson({ ...(genesisToJson(doc) as object), organizations: [{ id: 'XY' }] }),
      'LEDGER_GENESIS_INVALID',
      'hex',
    );
  });

  it('initializes only an empty state', () => {
    const state = new AuthenticatedState(new MemoryStore());
    const first = initGenesisState(state, doc);
    expect(first.validators).toHaveLength(2);
    expectCode(() => initGenesisState(state, doc), 'LEDGER_GENESIS_INVALID', 'empty');
  });
});
