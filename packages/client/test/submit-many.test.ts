import { toHex } from '@medchain/crypto';
import { expectedNonce, transactionHash } from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, KeySigner, MedchainClient, signTransaction } from '../src/index.js';
import { startNode } from './node-harness.js';

/** `submitMany` (POST /v1/txs) against a real node API over 127.0.0.1, authentication on. */

let node: Awaited<ReturnType<typeof startNode>>;
let client: MedchainClient;
let chainId: string;

beforeAll(async () => {
  node = await startNode({ commitEveryMs: 20 });
  // A member admin reads receipts; the submissions themselves go unsigned.
  client = new MedchainClient({ url: node.url, signer: node.a.admin });
  chainId = await client.chainId();
});
afterAll(async () => {
  await node.close();
});

const registration = (signer: KeySigner, nonce = 1, chain = chainId) =>
  signTransaction(signer, { chainId: chain, kind: 'patient.register', body: {}, nonce });

describe('submitMany', () => {
  it('answers one result per transaction, in order, and the admitted ones commit', async () => {
    const patients = [KeySigner.generate(), KeySigner.generate(), KeySigner.generate()];
    const txs = await Promise.all(patients.map((p) => registration(p)));
    const wrongChain = await registration(KeySigner.generate(), 1, 'another-chain');
    const results = await client.submitMany([txs[0]!, wrongChain, txs[1]!, txs[0]!, txs[2]!]);
    expect(results).toMatchObject([
      { accepted: true, hash: toHex(transactionHash(txs[0]!)) },
      { accepted: false, code: 'WRONG_CHAIN', status: 400 },
      { accepted: true, hash: toHex(transactionHash(txs[1]!)) },
      { accepted: false, code: 'DUPLICATE', status: 409 },
      { accepted: true, hash: toHex(transactionHash(txs[2]!)) },
    ]);
    for (const tx of txs) {
      const committed = await client.waitForReceipt(transactionHash(tx));
      expect(committed.receipt.code).toBe('OK');
    }
  });

  it("takes one signer's consecutive nonces in one batch", async () => {
    const { alice } = node;
    const first = expectedNonce(node.backend.state(), alice.publicKey);
    const policy = (breakGlassOptOut: boolean, nonce: number) =>
      signTransaction(alice, {
        chainId,
        kind: 'patient.policy',
        body: { patient: alice.publicKey, breakGlassOptOut, researchOptOut: false },
        nonce,
      });
    const txs = [await policy(true, first), await policy(false, first + 1)];
    const results = await client.submitMany(txs);
    expect(results.map((r) => r.accepted)).toEqual([true, true]);
    for (const tx of txs) {
      expect((await client.waitForReceipt(transactionHash(tx))).receipt.code).toBe('OK');
    }
    const asAlice = client.withSigner(alice);
    expect((await asAlice.patient(alice.publicKey)).breakGlassOptOut).toBe(false);
  });

  it('sends nothing for no transaction; a batch over the limit is the node’s 413', async () => {
    expect(await client.submitMany([])).toEqual([]);
    const signer = KeySigner.generate();
    const tx = await registration(signer);
    const error = await client.submitMany(Array.from({ length: 1001 }, () => tx)).catch((e) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'TOO_MANY_TRANSACTIONS', status: 413 });
  });
});
