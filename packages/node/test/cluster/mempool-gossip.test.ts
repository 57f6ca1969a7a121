import { Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  encodeTransaction,
  signTransaction,
  type Transaction,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MedchainNode } from '../../src/index.js';
import {
  CHAIN_ID,
  counterValue,
  makeNetwork,
  type Network,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

const key = (label: string) => new Signer(sha256(utf8(`mempool-gossip-test:${label}`)));

function signed(from: Signer, nonce: number, kind: TxKind, body: object): Transaction {
  return signTransaction(
    { chainId: CHAIN_ID, kind, body: body as never, signer: from.publicKey, nonce },
    from,
  );
}

/**
 * Two validators in this process over real TCP libp2p and HTTP: what the mempool refuses for
 * the signer's role is answered 403 with the executor's code, never gossiped, never committed.
 */
describe('role refusals over HTTP, between two validators', () => {
  let network: Network;
  const nodes: MedchainNode[] = [];

  beforeAll(async () => {
    network = await makeNetwork({ validators: 2 });
    for (const home of network.homes) nodes.push(await startNode(home));
  });

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await network?.remove();
  });

  async function post(node: MedchainNode, tx: Transaction) {
    const response = await fetch(`${node.parts.apiUrl}/v1/tx`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: encodeTransaction(tx),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const knows = (node: MedchainNode, tx: Transaction) =>
    node.parts.mempool.get(transactionHash(tx)) !== undefined ||
    node.parts.chain.hasTransaction(transactionHash(tx));

  it("a stranger's provider.register and governance.propose, a grant for someone else's patient", async () => {
    const [a, b] = nodes as [MedchainNode, MedchainNode];
    const stranger = key('stranger');
    const alice = key('alice');
    const refused: Array<[Transaction, string]> = [
      [
        signed(stranger, 1, 'provider.register', { provider: key('p').publicKey, role: 'admin' }),
        'NOT_ORG_ADMIN',
      ],
      [
        signed(stranger, 2, 'governance.propose', {
          change: { type: 'remove', orgId: sha256(utf8('cluster-test:org:0')) },
        }),
        'NOT_MEMBER_ADMIN',
      ],
      [
        signed(stranger, 3, 'consent.grant', {
          patient: alice.publicKey,
          grantee: { type: 'organization', id: sha256(utf8('cluster-test:org:1')) },
          recordIds: [],
          resourceTypes: ['Observation'],
          actions: ['access'],
          purposes: ['TREAT'],
          validFrom: Date.now(),
          validUntil: Date.now() + 86_400_000,
        }),
        'NOT_PATIENT_OR_DELEGATE',
      ],
    ];
    for (const [tx, code] of refused) {
      const answer = await post(a, tx);
      expect(answer.status, JSON.stringify(answer.body)).toBe(403);
      expect(answer.body).toMatchObject({ error: { code } });
    }
    // A transaction behind a nonce gap is admitted, counted against the HTTP client's address
    // and gossiped; then one that commits, so every gossip frame sent before it has arrived.
    const gapped = signed(alice, 3, 'patient.policy', {
      patient: alice.publicKey,
      breakGlassOptOut: true,
      researchOptOut: false,
    });
    expect((await post(a, gapped)).status).toBe(202);
    expect(a.parts.mempool.pendingFromAddress('127.0.0.1')).toBe(1);
    const joining = signed(key('bob'), 1, 'patient.register', {});
    expect((await post(a, joining)).status).toBe(202);
    for (const node of nodes) {
      await waitUntil('both nodes commit the registration', () =>
        node.parts.chain.hasTransaction(transactionHash(joining)),
      );
    }
    expect(knows(b, gapped)).toBe(true);
    for (const [tx, code] of refused) {
      for (const node of nodes) expect(knows(node, tx), toHex(transactionHash(tx))).toBe(false);
      expect(await counterValue(a.metrics.mempool.rejected, { reason: code })).toBe(1);
      // Never gossiped: the other validator never had to refuse it.
      expect(await counterValue(b.metrics.mempool.rejected, { reason: code })).toBe(0);
    }
  });
});
