import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MedchainClient } from '@medchain/client';
import { bytesEqual, type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { encodeTransaction, getOrganization, transactionHash } from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGenesis, type MedchainNode, VALIDATOR_KEYS_DIR } from '../../src/index.js';
import {
  makeNetwork,
  type Network,
  nextNonceSigner,
  orgAdminOf,
  orgIdOf,
  registration,
  startNode,
  waitUntil,
} from '../cluster-harness.js';

/**
 * Key rotation on a live 4-validator network: node 3's organization rotates its validator key
 * while node 3 runs (the new key written to its home's validator-keys/ first, as the CLI does),
 * and node 1's organization rotates its admin key.
 */
describe('a validator rotated by transaction keeps committing with its new key', () => {
  let network: Network;
  let nodes: MedchainNode[];
  const sign = nextNonceSigner();
  const fresh = new Signer(sha256(utf8('key-rotation-node:validator-3b')));

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    nodes = await Promise.all(network.homes.map(startNode));
  }, 60_000);

  afterAll(async () => {
    await Promise.all((nodes ?? []).map((node) => node.stop()));
    await network?.remove();
  });

  /** Submits to node 0 and waits for the receipt; returns the height it committed at. */
  async function commit(bytes: Uint8Array): Promise<number> {
    const submitted = nodes[0]!.parts.backend.submitTransaction(bytes);
    if (!submitted.accepted) throw new Error(`refused: ${submitted.code} ${submitted.message}`);
    let height = 0;
    await waitUntil('the receipt', () => {
      const status = nodes[0]!.parts.backend.transaction(submitted.hash);
      if (status.status !== 'committed') return false;
      expect(status.receipt.code).toBe('OK');
      height = status.height;
      return true;
    });
    return height;
  }

  /** Commits patient registrations until every node is past `height`. */
  async function blocksPast(height: number, label: string) {
    for (let i = 0; nodes.some((node) => node.parts.chain.height <= height); i++) {
      await commit(registration(`${label}-${i}`));
    }
  }

  const signers = (node: MedchainNode, height: number) =>
    node.parts.chain.loadBlock(height)!.certificate.votes.map((vote) => toHex(vote.from));

  it('the old key signs nothing from the switch height on, the new one does; records follow state', async () => {
    const home = network.homes[3]!;
    const old = home.validator;
    // The operator puts the new key in the home first (hex seed: the test's plain-key form).
    const dir = join(home.home, VALIDATOR_KEYS_DIR);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${toHex(fresh.publicKey)}.key`);
    await writeFile(file, toHex(sha256(utf8('key-rotation-node:validator-3b'))), { mode: 0o600 });
    await chmod(file, 0o600);

    const rotation = sign(orgAdminOf(network, 3), 'organization.rotate-key', {
      oldKey: old.publicKey,
      newKey: fresh.publicKey,
    } as unknown as Canonical);
    const committedAt = await commit(encodeTransaction(rotation));
    const switchAt = committedAt + 2;
    await blocksPast(switchAt + 3, 'after-rotation');

    const node = nodes[0]!;
    for (let h = 1; h <= node.parts.chain.height; h++) {
      const votes = signers(node, h);
      if (h < switchAt) expect(votes).not.toContain(toHex(fresh.publicKey));
      else expect(votes).not.toContain(toHex(old.publicKey));
    }
    // Node 3 votes with its new key: its COMMIT is in some certificate after the switch (a
    // certificate holds a quorum of 3 of the 4, so not necessarily in every one).
    const heights = Array.from(
      { length: node.parts.chain.height - switchAt + 1 },
      (_, i) => switchAt + i,
    );
    await waitUntil('a certificate with the new key', async () => {
      if (heights.some((h) => signers(node, h).includes(toHex(fresh.publicKey)))) return true;
      await commit(registration(`more-${heights.length}`));
      heights.push(node.parts.chain.height);
      return false;
    });
    expect(nodes[3]!.parts.chain.height).toBeGreaterThanOrEqual(switchAt + 3);
    // Records and the API act as the organization with the key state names now.
    expect(nodes[3]!.parts.records.ownOrganization()).toEqual(orgIdOf(3));
    const org = getOrganization(node.parts.chain.state, orgIdOf(3))!;
    expect(bytesEqual(org.validatorKey, fresh.publicKey)).toBe(true);
    // The peer id did not change: node 3 is still everyone's peer.
    expect(node.parts.host.libp2p.getPeers().map(String)).toContain(network.homes[3]!.peerId);
    // A light client following the sets from genesis (GET /v1/validator-sets, then the
    // certified headers) finds the rotated set deciding from the switch height.
    const client = new MedchainClient({ url: node.parts.apiUrl });
    const light = client.lightClient(await loadGenesis(network.homes[0]!.home));
    const deciding = (await light.validatorsDeciding(switchAt)).map((v) => toHex(v.publicKey));
    expect(deciding).toContain(toHex(fresh.publicKey));
    expect(deciding).not.toContain(toHex(old.publicKey));
    const before = (await light.validatorsDeciding(switchAt - 1)).map((v) => toHex(v.publicKey));
    expect(before).toContain(toHex(old.publicKey));
  }, 120_000);

  it('restarted, the node loads its rotated key from the home and goes on voting with it', async () => {
    await nodes[3]!.stop();
    nodes[3] = await startNode(network.homes[3]!);
    const from = nodes[0]!.parts.chain.height;
    await blocksPast(from + 2, 'after-restart');
    await waitUntil('node 3 to catch up', () => nodes[3]!.parts.chain.height > from + 2);
    const node = nodes[0]!;
    const heights = () =>
      Array.from({ length: node.parts.chain.height - from }, (_, i) => from + 1 + i);
    await waitUntil('a vote of the restarted node', async () => {
      if (heights().some((h) => signers(node, h).includes(toHex(fresh.publicKey)))) return true;
      await commit(registration(`restart-${node.parts.chain.height}`));
      return false;
    });
  }, 120_000);

  it("a rotated admin key's transactions are refused at admission; the new admin key's commit", async () => {
    const oldAdmin = orgAdminOf(network, 1);
    const newAdmin = new Signer(sha256(utf8('key-rotation-node:admin-1b')));
    await commit(
      encodeTransaction(
        sign(oldAdmin, 'organization.rotate-key', {
          oldKey: oldAdmin.publicKey,
          newKey: newAdmin.publicKey,
        } as unknown as Canonical),
      ),
    );
    const provider = (label: string) =>
      ({
        provider: new Signer(sha256(utf8(`key-rotation-node:${label}`))).publicKey,
        role: 'nurse',
      }) as unknown as Canonical;
    const refused = nodes[2]!.parts.backend.submitTransaction(
      encodeTransaction(sign(oldAdmin, 'provider.register', provider('by-old'))),
    );
    expect(refused).toMatchObject({ accepted: false, code: 'NOT_ORG_ADMIN' });
    const tx = sign(newAdmin, 'provider.register', provider('by-new'));
    await commit(encodeTransaction(tx));
    expect(nodes[0]!.parts.chain.hasTransaction(transactionHash(tx))).toBe(true);
    // Signed API requests too: node 1's admin-only route answers the new key, not the old one.
    const asAdmin = (signer: Signer) =>
      new MedchainClient({ url: nodes[1]!.parts.apiUrl, signer }).get('/admin/log-levels');
    // The retired key is nobody's now: 401, as for a key the ledger never knew.
    await expect(asAdmin(oldAdmin)).rejects.toMatchObject({ status: 401 });
    await expect(asAdmin(newAdmin)).resolves.toBeDefined();
  }, 60_000);
});
