import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KeySigner, MedchainClient, randomBytes } from '@medchain/client';
import { bytesEqual, fromHex, sha256, toHex, utf8 } from '@medchain/crypto';
import { getRecord, matchesRecordAnchor, recordCommitment, recordId } from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MedchainNode } from '../../src/index.js';
import { makeNetwork, type Network, orgIdOf, startNode } from '../cluster-harness.js';

/** HL7's International Patient Summary example bundles (hl7.fhir.uv.ips, a dev dependency). */
const IPS_EXAMPLES = join(
  dirname(createRequire(import.meta.url).resolve('hl7.fhir.uv.ips/package.json')),
  'example',
);

async function filesUnder(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name)));
  }
  return out;
}

/**
 * The record round trip as EHRs do it, through `@medchain/client` against two validators on
 * real libp2p (127.0.0.1): a clinician of hospital A stores every IPS example bundle (salted
 * anchor first, then the vault), the patient consents, a clinician of hospital B fetches each
 * through B's node, which relays to A; the bytes come back identical.
 */
describe('IPS bundles: stored at hospital A, read by hospital B under consent', () => {
  let network: Network;
  const nodes: MedchainNode[] = [];
  const A = () => nodes[0]!;
  const B = () => nodes[1]!;
  const author = new KeySigner(sha256(utf8('ips-roundtrip:author-at-A')));
  const reader = new KeySigner(sha256(utf8('ips-roundtrip:clinician-at-B')));
  const patient = new KeySigner(sha256(utf8('ips-roundtrip:patient')));
  const client = (node: MedchainNode, signer: KeySigner) =>
    new MedchainClient({ url: node.parts.apiUrl, signer });
  let bundles: Array<{ name: string; bytes: Uint8Array; recordId: string }> = [];

  beforeAll(async () => {
    network = await makeNetwork({ validators: 2 });
    for (const home of network.homes) nodes.push(await startNode(home));
    const admin = (i: number) =>
      new KeySigner(sha256(utf8(`cluster-test:admin:${i}:${network.root}`)));
    await client(A(), admin(0)).sendTransaction('provider.register', {
      provider: author.publicKey,
      role: 'clinician',
    });
    await client(B(), admin(1)).sendTransaction('provider.register', {
      provider: reader.publicKey,
      role: 'clinician',
    });
    await client(A(), patient).sendTransaction('patient.register', {});
    const names = (await readdir(IPS_EXAMPLES)).filter((name) => /^Bundle-.*\.json$/.test(name));
    bundles = await Promise.all(
      names.sort().map(async (name) => ({
        name,
        bytes: new Uint8Array(await readFile(join(IPS_EXAMPLES, name))),
        recordId: '',
      })),
    );
  }, 120_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await network?.remove();
  });

  it('every example bundle is stored under a salted anchor and comes back byte for byte', async () => {
    expect(bundles.length).toBeGreaterThanOrEqual(5);
    const custodian = client(A(), author);
    for (const bundle of bundles) {
      const stored = await custodian.putRecord({
        patient: patient.publicKey,
        content: bundle.bytes,
      });
      expect(stored).toMatchObject({ version: 1, resourceType: 'Bundle' });
      bundle.recordId = stored.recordId;
      // The ledger holds a commitment, not the content's hash; the vault holds its salt.
      const anchor = getRecord(A().parts.backend.state(), fromHex(stored.recordId))!.contentHash;
      expect(toHex(anchor)).toBe(stored.contentHash);
      expect(bytesEqual(anchor, sha256(bundle.bytes))).toBe(false);
      const kept = await A().parts.vault.get(fromHex(stored.recordId));
      expect(anchor).toEqual(recordCommitment(kept.salt!, bundle.bytes));
    }
    await client(A(), patient).sendTransaction('consent.grant', {
      patient: patient.publicKey,
      grantee: { type: 'provider', id: reader.publicKey },
      recordIds: bundles.map((bundle) => fromHex(bundle.recordId)),
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: Date.now() - 60_000,
      validUntil: Date.now() + 3_600_000,
    });
    const ehrAtB = client(B(), reader);
    for (const bundle of bundles) {
      const fetched = await ehrAtB.fetchRecord(reader, {
        recordId: bundle.recordId,
        action: 'access',
        purpose: 'TREAT',
      });
      expect(Buffer.from(fetched.content).equals(Buffer.from(bundle.bytes)), bundle.name).toBe(
        true,
      );
      // The salt crossed B's node only sealed: not in B's answer, nor in any file of either
      // node outside A's vault, where it is sealed under the record's key.
      const { salt } = await A().parts.vault.get(fromHex(bundle.recordId));
      expect(JSON.stringify(fetched.answer)).not.toContain(toHex(salt!));
      for (const home of network.homes) {
        for (const file of await filesUnder(home.home)) {
          expect(file.includes(Buffer.from(salt!))).toBe(false);
          expect(file.includes(Buffer.from(toHex(salt!)))).toBe(false);
        }
      }
    }
  });

  it('an amendment is anchored under a fresh salt and served as the current version', async () => {
    const [first] = bundles;
    const before = await A().parts.vault.get(fromHex(first!.recordId));
    const amended = utf8(
      `${new TextDecoder().decode(first!.bytes).trimEnd().slice(0, -1)},"language":"en"}`,
    );
    const stored = await client(A(), author).amendRecord({
      recordId: first!.recordId,
      content: amended,
    });
    expect(stored.version).toBe(2);
    const after = await A().parts.vault.get(fromHex(first!.recordId));
    expect(after.version).toBe(2);
    expect(bytesEqual(after.salt!, before.salt!)).toBe(false);
    const fetched = await client(B(), reader).fetchRecord(reader, {
      recordId: first!.recordId,
      action: 'access',
      purpose: 'TREAT',
    });
    expect(toHex(fetched.content)).toBe(toHex(amended));
    expect(fetched.answer.version).toBe(2);
  });

  /** Anchors `content` at hospital A under `salt`, signed by the author; its record id. */
  async function anchorAtA(content: Uint8Array, salt: Uint8Array) {
    const nonce = randomBytes(16);
    const orgA = orgIdOf(0);
    const custodian = client(A(), author);
    await custodian.sendTransaction('record.anchor', {
      patient: patient.publicKey,
      custodian: orgA,
      resourceType: 'Observation',
      contentHash: recordCommitment(salt, content),
      nonce,
    });
    return { custodian, id: recordId(orgA, patient.publicKey, nonce) };
  }

  it('the vault refuses an upload whose salt is not the one the anchor commits with', async () => {
    const content = utf8('{"resourceType":"Observation","status":"final"}');
    const salt = randomBytes(32);
    const { custodian, id } = await anchorAtA(content, salt);
    const upload = { recordId: id, patient: patient.publicKey, version: 1, content };
    for (const wrong of [{}, { salt: randomBytes(32) }]) {
      await expect(custodian.storeVaultRecord({ ...upload, ...wrong })).rejects.toMatchObject({
        status: 403,
        code: 'VAULT_NOT_ANCHORED_BY_SIGNER',
      });
    }
    expect(await A().parts.vault.describe(id)).toBeUndefined();
    await custodian.storeVaultRecord({ ...upload, salt });
    expect((await A().parts.vault.get(id)).salt).toEqual(salt);
  });

  it('an upload lost after its anchor committed is recovered as the next version', async () => {
    const content = utf8('{"resourceType":"Observation","status":"preliminary"}');
    // The anchor commits, then the salt is lost with the failed upload.
    const anchored = await anchorAtA(content, randomBytes(32));
    const { custodian } = anchored;
    const id = toHex(anchored.id);
    expect((await custodian.amendRecord({ recordId: id, content })).version).toBe(2);
    const fetched = await client(A(), patient).fetchRecord(patient, {
      recordId: id,
      action: 'access',
      purpose: 'PATRQT',
    });
    expect(toHex(fetched.content)).toBe(toHex(content));
  });

  it('erasure shreds the salt with the key: the anchor no longer links to the bundle', async () => {
    const last = bundles.at(-1)!;
    const id = fromHex(last.recordId);
    const anchor = getRecord(A().parts.backend.state(), id)!.contentHash;
    const erased = await client(A(), author).eraseRecord(last.recordId);
    expect(erased.shredded).toBe(true);
    expect(await A().parts.vault.describe(id)).toBeUndefined();
    await expect(A().parts.vault.get(id)).rejects.toMatchObject({ code: 'RECORD_ERASED' });
    // Holding the document is not enough to find it on the ledger.
    expect(matchesRecordAnchor(anchor, last.bytes)).toBe(false);
    await expect(
      client(B(), reader).fetchRecord(reader, {
        recordId: last.recordId,
        action: 'access',
        purpose: 'TREAT',
      }),
    ).rejects.toMatchObject({ code: 'RECORD_ACCESS_DENIED', status: 403 });
  });
});
