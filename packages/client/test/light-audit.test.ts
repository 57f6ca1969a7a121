import { encodeCanonical, toHex } from '@medchain/crypto';
import { type AuditEntry, historyKeys, transactionHash } from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessRequest } from '../../node/test/api-chain.js';
import { auditFromJson, ClientError, MedchainClient } from '../src/index.js';
import { startNode } from './node-harness.js';

/**
 * Audit proofs of the light client: a trail is checked whole against the accumulator proven in
 * the state, and an entry by that trail plus its transaction in a certified block.
 */

let node: Awaited<ReturnType<typeof startNode>>;
let logged: Uint8Array[];

beforeAll(async () => {
  node = await startNode();
  const { backend, clinician, bClinician, alice, record, consentId } = node;
  // Two more entries for alice in one block (the harness logged the first).
  logged = [0, 1].map((i) =>
    transactionHash(
      backend.admit(
        backend.sign(clinician, 'access.log', {
          ...accessRequest(backend, i === 0 ? bClinician : clinician, record),
          decision: i === 0 ? 'permit' : 'deny',
          consentId: i === 0 ? consentId : null,
        }),
      ),
    ),
  );
  backend.commit();
  // The next header certifies the state those entries are in.
  backend.commit();
  expect(alice).toBeDefined();
});

afterAll(async () => {
  await node.close();
});

const light = () =>
  new MedchainClient({ url: node.url, signer: node.alice }).lightClient(node.backend.doc);

/** Replaces alice's served audit entry `index` (the node's history index, not the state). */
function serveInstead(index: number, entry: AuditEntry): () => void {
  const key = historyKeys.patientAudit(node.alice.publicKey).entry(index);
  const original = node.backend.historyIndex.get(key)!;
  node.backend.historyIndex.write([{ type: 'put', key, value: encodeCanonical(entry as never) }]);
  return () => node.backend.historyIndex.write([{ type: 'put', key, value: original }]);
}

async function refusal(promise: Promise<unknown>): Promise<ClientError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ClientError);
  return error as ClientError;
}

describe('audit proofs', () => {
  it('proves the whole trail against the accumulator in a certified state', async () => {
    const proven = await light().proveAuditTrail(node.alice.publicKey);
    expect(proven.check.verified).toBe(true);
    expect(proven.check.anchoredBy).toBe('commit certificate');
    expect(proven.value!.map((e) => e.index)).toEqual([0, 1, 2]);
    expect(proven.value!.slice(1).map((e) => toHex(e.txHash))).toEqual(logged.map(toHex));
    expect(await light().proveAuditLength(node.alice.publicKey)).toBe(3);
  });

  it('proves one entry: in the proven trail, its transaction in its certified block', async () => {
    const proven = await light().proveAuditEntry(node.alice.publicKey, 2);
    expect(proven.check.verified).toBe(true);
    expect(toHex(proven.value!.txHash)).toBe(toHex(logged[1]!));
    expect(proven.value!.decision).toBe('deny');
    expect(proven.check.steps.map((s) => s.check)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('chain to the proven accumulator'),
        expect.stringContaining('tx root covers transaction'),
        expect.stringContaining('block time'),
      ]),
    );
    // Beyond the certified trail: not provable (yet), no value; the node has no such entry.
    expect((await light().proveAuditEntry(node.alice.publicKey, 3)).value).toBeUndefined();
    const api = new MedchainClient({ url: node.url, signer: node.alice });
    expect((await refusal(api.auditInclusion(node.alice.publicKey, 3))).code).toBe(
      'AUDIT_ENTRY_NOT_FOUND',
    );
  });

  it('refuses a served trail with an entry altered or replaced by another', async () => {
    const trail = (await light().proveAuditTrail(node.alice.publicKey)).value!;
    const altered = { ...trail[2]!, decision: 'permit' as const };
    let restore = serveInstead(2, altered);
    try {
      const error = await refusal(light().proveAuditEntry(node.alice.publicKey, 2));
      expect(error.code).toBe('PROOF_INVALID');
      expect(error.message).toContain('accumulator');
    } finally {
      restore();
    }
    // Entry 1 served in place of entry 0 (reordered: its index too).
    restore = serveInstead(0, { ...trail[1]!, index: 0 });
    try {
      expect((await refusal(light().proveAuditTrail(node.alice.publicKey))).code).toBe(
        'PROOF_INVALID',
      );
    } finally {
      restore();
    }
    expect((await light().proveAuditTrail(node.alice.publicKey)).check.verified).toBe(true);
  });

  it('keeps a proven trail and chains only the new entries onto it, checked the same way', async () => {
    const client = light();
    expect((await client.proveAuditTrail(node.alice.publicKey)).value).toHaveLength(3);
    const { backend, clinician, bClinician, record, consentId } = node;
    backend.admit(
      backend.sign(clinician, 'access.log', {
        ...accessRequest(backend, bClinician, record),
        decision: 'permit',
        consentId,
      }),
    );
    backend.commit();
    backend.commit();
    // The new entry, altered as served: the fresh client and the one holding the proven
    // prefix (which fetches only the new entry) both refuse it.
    const listed = (
      await new MedchainClient({ url: node.url, signer: node.alice }).audit(node.alice.publicKey, {
        offset: 3,
      })
    ).items[0]!;
    const restore = serveInstead(3, { ...auditFromJson(listed), decision: 'deny' });
    try {
      for (const checker of [light(), client]) {
        expect((await refusal(checker.proveAuditTrail(node.alice.publicKey))).code).toBe(
          'PROOF_INVALID',
        );
      }
    } finally {
      restore();
    }
    const proven = (await client.proveAuditTrail(node.alice.publicKey)).value!;
    expect(proven.map((e) => e.index)).toEqual([0, 1, 2, 3]);
    expect((await client.proveAuditEntry(node.alice.publicKey, 3)).check.verified).toBe(true);
  });

  it('refuses a served trail cut short', async () => {
    const key = historyKeys.patientAudit(node.alice.publicKey).count;
    const original = node.backend.historyIndex.get(key)!;
    node.backend.historyIndex.write([{ type: 'put', key, value: encodeCanonical(2) }]);
    try {
      expect((await refusal(light().proveAuditTrail(node.alice.publicKey))).code).toBe(
        'PROOF_INVALID',
      );
    } finally {
      node.backend.historyIndex.write([{ type: 'put', key, value: original }]);
    }
  });
});
