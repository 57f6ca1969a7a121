import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesEqual, type Canonical, toHex } from '@medchain/crypto';
import {
  type Block,
  decodeBlock,
  encodeBlock,
  executeBlock,
  expectedNonce,
  type HistoryItem,
  LedgerError,
  type Receipt,
  signTransaction,
  stateKeys,
  transactionHash,
  verifyStateProof,
  verifyTransactionSignature,
} from '@medchain/ledger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHAIN_ID, Chain, genesisDoc, grantBody, org, signer, world } from './helpers.js';

describe('transaction envelope checks', () => {
  it('rejects a wrong chain id or a bad signature without consuming the nonce', () => {
    const { chain, alice, p } = world();
    const body = grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time);
    const unsigned = {
      kind: 'consent.grant' as const,
      body: body as unknown as Canonical,
      signer: alice.publicKey,
      nonce: 2,
    };
    const wrongChain = signTransaction({ ...unsigned, chainId: 'other-chain' }, alice);
    const forged = {
      ...signTransaction({ ...unsigned, chainId: CHAIN_ID }, alice),
      signature: new Uint8Array(64),
    };
    const result = chain.block([wrongChain, forged]);
    expect(result.receipts.map((r) => r.code)).toEqual(['WRONG_CHAIN', 'BAD_SIGNATURE']);
    expect(expectedNonce(chain.state, alice.publicKey)).toBe(2);
  });

  it('requires strictly sequential nonces, so a replayed transaction fails', () => {
    const { chain, alice, p } = world();
    const tx = chain.tx(
      alice,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
    );
    expect(chain.block([tx]).receipts[0]!.code).toBe('OK');
    const replay = chain.block([tx]).receipts[0]!;
    expect(replay).toMatchObject({ code: 'BAD_NONCE', message: 'expected nonce 3' });
    const skip = signTransaction(
      { chainId: CHAIN_ID, kind: 'patient.register', body: {}, signer: alice.publicKey, nonce: 5 },
      alice,
    );
    expect(chain.block([skip]).receipts[0]!.code).toBe('BAD_NONCE');
  });

  it('a failed rule reverts the body writes but keeps the nonce bump', () => {
    const { chain, alice } = world();
    const before = expectedNonce(chain.state, alice.publicKey);
    expect(chain.run(alice, 'consent.revoke', { consentId: new Uint8Array(32) }).code).toBe(
      'CONSENT_NOT_FOUND',
    );
    expect(expectedNonce(chain.state, alice.publicKey)).toBe(before + 1);
  });
});

describe('signature verification paths', () => {
  it('verifies every signature itself when the node passes no verdicts', () => {
    const { chain, alice } = world();
    const good = chain.tx(alice, 'patient.register', {});
    expect(chain.block([good]).receipts[0]!.code).toBe('PATIENT_EXISTS');
  });

  it('uses the injected verdicts instead of verifying again', () => {
    const verified = new Set<string>();
    // The world's setup blocks stand in for txs the mempool verified; then only the set counts.
    let setup = true;
    const { chain, orgs } = world({
      isSignatureValid: (tx, hash) =>
        verified.has(toHex(hash)) || (setup && verifyTransactionSignature(tx)),
    });
    setup = false;
    const admin = orgs[0]!.admin;
    const honest = chain.tx(admin, 'provider.register', {
      provider: signer('n1').publicKey,
      role: 'nurse',
    });
    // Not admitted by the mempool: refused even though its signature is fine.
    expect(chain.block([honest]).receipts[0]!.code).toBe('BAD_SIGNATURE');
    // Admitted: the executor trusts the verdict and does not call verify (a zero signature passes).
    const trusted = {
      ...chain.tx(admin, 'provider.register', { provider: signer('n2').publicKey, role: 'nurse' }),
      signature: new Uint8Array(64),
    };
    verified.add(toHex(transactionHash(trusted)));
    expect(chain.block([trusted]).receipts[0]!.code).toBe('OK');
  });

  it('the tx hash covers the signature, so a verdict cannot be reused for a forged copy', () => {
    const alice = signer('h');
    const tx = signTransaction(
      { chainId: CHAIN_ID, kind: 'patient.register', body: {}, signer: alice.publicKey, nonce: 1 },
      alice,
    );
    const copy = { ...tx, signature: tx.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(bytesEqual(transactionHash(tx), transactionHash(copy))).toBe(false);
  });
});

describe('block checks before execution', () => {
  function expectInvalid(chain: Chain, block: Block, message: string) {
    const root = chain.state.root();
    expect(() => chain.execute(block)).toThrow(LedgerError);
    expect(() => chain.execute(block)).toThrow(message);
    expect(bytesEqual(chain.state.root(), root)).toBe(true);
  }

  it('refuses a block for another state root, chain or transaction list, leaving the state as it was', () => {
    const { chain, alice } = world();
    const tx = chain.tx(alice, 'patient.register', {});
    const block = chain.nextBlock([tx]);
    expectInvalid(
      chain,
      { ...block, header: { ...block.header, stateRoot: new Uint8Array(32) } },
      'state root',
    );
    expectInvalid(chain, { ...block, header: { ...block.header, chainId: 'x' } }, 'chain id');
    expectInvalid(chain, { ...block, txs: [] }, 'tx root');
    expect(chain.execute(block).receipts[0]!.code).toBe('PATIENT_EXISTS');
  });

  it('an exception inside execution leaves no pending writes behind', () => {
    const { chain, alice, p } = world();
    const txs = [
      chain.tx(
        alice,
        'consent.grant',
        grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
      ),
      chain.tx(p.nurse, 'patient.register', {}),
    ];
    const block = chain.nextBlock(txs);
    const failing = {
      isSignatureValid: (tx: { signer: Uint8Array }) => {
        if (bytesEqual(tx.signer, p.nurse.publicKey)) throw new Error('verdict store unavailable');
        return true;
      },
    };
    expect(() => executeBlock(chain.state, block, failing)).toThrow('verdict store unavailable');
    expect(expectedNonce(chain.state, alice.publicKey)).toBe(2);
    expect(chain.execute(block).receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
  });

  it('a block survives encoding and executes the same after decoding', () => {
    const { chain, alice, p } = world();
    const block = chain.nextBlock([
      chain.tx(
        alice,
        'consent.grant',
        grantBody(alice, { type: 'organization', id: world().a.spec.id }, chain.time),
      ),
      chain.tx(p.nurse, 'patient.register', {}),
    ]);
    const decoded = decodeBlock(encodeBlock(block));
    expect(decoded.txs.map((t) => toHex(transactionHash(t)))).toEqual(
      block.txs.map((t) => toHex(transactionHash(t))),
    );
    expect(chain.execute(decoded).receipts.map((r) => r.code)).toEqual(['OK', 'OK']);
  });
});

describe('receipts and history as each transaction executes', () => {
  it('hands each receipt and its history to onExecuted in block order, keeping none itself', () => {
    const calls: [number, Receipt, HistoryItem[]][] = [];
    const streamed = world({
      onExecuted: (index, receipt, history) => calls.push([index, receipt, [...history]]),
    });
    const plain = world();
    const txsOf = ({ chain, alice, p }: ReturnType<typeof world>) => {
      const grant = () =>
        chain.tx(
          alice,
          'consent.grant',
          grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
        );
      return [
        grant(),
        chain.tx(alice, 'consent.revoke', { consentId: new Uint8Array(32) }),
        grant(),
      ];
    };
    const expected = plain.chain.block(txsOf(plain));
    calls.length = 0; // the world's setup blocks went there too
    const result = streamed.chain.block(txsOf(streamed));
    expect(expected.receipts.map((r) => r.code)).toEqual(['OK', 'CONSENT_NOT_FOUND', 'OK']);
    expect(expected.history[0]!.length).toBeGreaterThan(0);
    expect(calls.map(([index]) => index)).toEqual([0, 1, 2]);
    expect(calls.map(([, receipt]) => receipt)).toEqual(expected.receipts);
    expect(calls.map(([, , history]) => history)).toEqual(expected.history);
    expect(result.receipts).toEqual(expected.receipts);
    expect(result.history).toEqual([]);
    expect(result.stateRoot).toEqual(expected.stateRoot);
  });
});

describe('state proofs of ledger entries', () => {
  it('every entry proves against the root the next header carries, and a tampered proof fails', () => {
    const { chain, alice, aliceRecord, p } = world();
    const grant = chain.tx(
      alice,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
    );
    chain.block([grant]);
    const root = chain.nextBlock([]).header.stateRoot;
    const keys = [
      stateKeys.consent(transactionHash(grant)),
      stateKeys.record(aliceRecord),
      stateKeys.patient(alice.publicKey),
      stateKeys.granteeConsents(alice.publicKey, 'provider', p.nurse.publicKey),
      stateKeys.nonce(alice.publicKey),
      stateKeys.consent(new Uint8Array(32)), // absent: a non-inclusion proof
    ];
    for (const key of keys) {
      const value = chain.state.get(key);
      const proof = chain.state.prove(key);
      expect(verifyStateProof(root, key, value, proof)).toBe(true);
      const other = value === undefined ? new Uint8Array([1]) : undefined;
      expect(verifyStateProof(root, key, other, proof)).toBe(false);
      if (value !== undefined) {
        const flipped = value.slice();
        flipped[flipped.length - 1]! ^= 1;
        expect(verifyStateProof(root, key, flipped, proof)).toBe(false);
      }
      if (proof.siblings.length > 0) {
        const siblings = proof.siblings.map((s, i) =>
          i === 0 ? s.map((b, j) => (j === 0 ? b ^ 1 : b)) : s,
        );
        expect(verifyStateProof(root, key, value, { ...proof, siblings })).toBe(false);
      }
      expect(verifyStateProof(new Uint8Array(32).fill(7), key, value, proof)).toBe(false);
    }
  });
});

describe('no clock', () => {
  afterEach(() => vi.restoreAllMocks());

  it('executes without reading Date.now, performance.now or Math.random', () => {
    const clock = () => {
      throw new Error('the ledger read a clock');
    };
    vi.spyOn(Date, 'now').mockImplementation(clock);
    vi.spyOn(performance, 'now').mockImplementation(clock);
    vi.spyOn(Math, 'random').mockImplementation(clock);
    const { chain, alice, p } = world();
    const result = chain.block([
      chain.tx(
        alice,
        'consent.grant',
        grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time),
      ),
    ]);
    expect(result.receipts[0]!.code).toBe('OK');
  });

  it('no source file reads a clock, randomness or timers', () => {
    const src = join(dirname(fileURLToPath(import.meta.url)), '../src');
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    expect(files.length).toBeGreaterThan(10);
    const forbidden =
      /Date\.now|performance\.now|Math\.random|new Date\(\)|setTimeout|setInterval|randomBytes|hrtime/;
    const offenders = files.filter((file) => forbidden.test(readFileSync(join(src, file), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('gives the same roots whatever the wall clock says', () => {
    const roots = [Date.UTC(2001, 0, 1), Date.UTC(2099, 5, 5)].map((now) => {
      vi.useFakeTimers({ now });
      try {
        const solo = org('clock');
        const chain = new Chain(genesisDoc([solo]));
        chain.block([
          chain.tx(solo.admin, 'provider.register', {
            provider: signer('c').publicKey,
            role: 'nurse',
          }),
        ]);
        return toHex(chain.state.root());
      } finally {
        vi.useRealTimers();
      }
    });
    expect(roots[0]).toBe(roots[1]);
  });
});
