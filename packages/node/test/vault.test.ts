import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { concatBytes, sha256, toHex, utf8 } from '@medchain/crypto';
import { matchesRecordAnchor, recordCommitment } from '@medchain/ledger';
import fc from 'fast-check';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordError } from '../src/records/errors.js';
import { checkFhirResource, Vault } from '../src/vault/index.js';
import { tempDir } from './helpers.js';

const SEED = sha256(utf8('vault-test:validator'));
const PATIENT = sha256(utf8('vault-test:patient'));
const ID = sha256(utf8('vault-test:record-1'));
/** Anchor salts (the anchoring client draws them at random; fixed here). */
const SALT_1 = sha256(utf8('vault-test:salt-1'));
const SALT_2 = sha256(utf8('vault-test:salt-2'));

/** A FHIR Patient with a distinctive name: the string the file scans look for. */
function patientResource(name: string): Uint8Array {
  return utf8(
    JSON.stringify({
      resourceType: 'Patient',
      id: 'example',
      name: [{ family: name, given: ['Ottoline'] }],
      identifier: [{ system: 'urn:oid:2.16.840.1.113883.4.1', value: '999-44-7781' }],
      birthDate: '1951-03-09',
    }),
  );
}

/** Every file under `dir`, recursively, as one list of [path, bytes]. */
async function filesUnder(dir: string): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.push([path, await readFile(path)]);
  }
  return out;
}

async function filesContaining(dir: string, needle: Uint8Array): Promise<string[]> {
  return (await filesUnder(dir))
    .filter(([, bytes]) => bytes.indexOf(Buffer.from(needle)) !== -1)
    .map(([path]) => path);
}

function code(error: unknown): string {
  return error instanceof RecordError ? error.code : String(error);
}

describe('vault', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function openVault(seed = SEED) {
    const dir = await tempDir('vault');
    const vault = await Vault.open(join(dir.path, 'vault'), { masterSeed: seed });
    cleanups.push(async () => {
      await vault.close().catch(() => undefined);
      await dir.remove();
    });
    return { vault, dir: dir.path, path: join(dir.path, 'vault') };
  }

  it('stores, reads back by latest version and by anchored hash, and amends', async () => {
    const { vault } = await openVault();
    const v1 = patientResource('Quackenbush');
    const v2 = patientResource('Quackenbush-Smythe');
    const first = await vault.put({ recordId: ID, patient: PATIENT, version: 1, content: v1 });
    expect(first).toEqual({ version: 1, contentHash: sha256(v1), resourceType: 'Patient' });
    await vault.put({ recordId: ID, patient: PATIENT, version: 2, content: v2 });
    expect((await vault.get(ID)).content).toEqual(v2);
    const old = await vault.get(ID, sha256(v1));
    expect(old).toMatchObject({ version: 1, content: v1, resourceType: 'Patient' });
    expect(old.patient).toEqual(PATIENT);
    expect((await vault.describe(ID))?.versions.map((v) => v.version)).toEqual([1, 2]);
    await expect(
      vault.put({ recordId: ID, patient: PATIENT, version: 2, content: v1 }),
    ).rejects.toMatchObject({ code: 'RECORD_VERSION_EXISTS' });
    await expect(vault.get(ID, sha256(utf8('other')))).rejects.toMatchObject({
      code: 'RECORD_NOT_IN_VAULT',
    });
    await expect(vault.get(sha256(utf8('absent')))).rejects.toMatchObject({
      code: 'RECORD_NOT_IN_VAULT',
    });
  });

  it("keeps each version's anchor salt beside the key, sealed, and answers it with the content", async () => {
    const { vault, path } = await openVault();
    const v1 = patientResource('Quackenbush');
    const v2 = patientResource('Quackenbush-Smythe');
    const first = await vault.put({
      recordId: ID,
      patient: PATIENT,
      version: 1,
      content: v1,
      salt: SALT_1,
    });
    expect(first.contentHash).toEqual(recordCommitment(SALT_1, v1));
    // An amendment commits under its own salt.
    const second = await vault.put({
      recordId: ID,
      patient: PATIENT,
      version: 2,
      content: v2,
      salt: SALT_2,
    });
    expect(second.contentHash).toEqual(recordCommitment(SALT_2, v2));
    expect(await vault.get(ID, first.contentHash)).toMatchObject({ content: v1, salt: SALT_1 });
    expect(await vault.get(ID)).toMatchObject({ version: 2, content: v2, salt: SALT_2 });
    await expect(vault.get(ID, sha256(v1))).rejects.toMatchObject({ code: 'RECORD_NOT_IN_VAULT' });
    // A version anchored by its plain sha256 (before salts) has none.
    const legacyId = sha256(utf8('vault-test:legacy'));
    await vault.put({ recordId: legacyId, patient: PATIENT, version: 1, content: v1 });
    const legacy = await vault.get(legacyId, sha256(v1));
    expect(legacy.content).toEqual(v1);
    expect(legacy).not.toHaveProperty('salt');
    await expect(
      vault.put({ recordId: ID, patient: PATIENT, version: 3, content: v1, salt: SALT_1.slice(1) }),
    ).rejects.toMatchObject({ code: 'CRYPTO_BAD_LENGTH' });
    await vault.close();
    expect(await filesContaining(path, SALT_1)).toEqual([]);
    expect(await filesContaining(path, SALT_2)).toEqual([]);
  });

  it('refuses content that is not a FHIR resource or bundle', async () => {
    const { vault } = await openVault();
    const bad = [
      'not json',
      '[]',
      '{"id": "x"}',
      '{"resourceType": "patient"}',
      '{"resourceType": 7}',
      '{"resourceType": "Bundle", "entry": {}}',
      '{"resourceType": "Bundle", "entry": [{"resource": {"id": 1}}]}',
    ];
    for (const text of bad) {
      await expect(
        vault.put({ recordId: ID, patient: PATIENT, version: 1, content: utf8(text) }),
      ).rejects.toMatchObject({ code: 'RECORD_INVALID_FHIR' });
    }
    expect(
      checkFhirResource(
        utf8('{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation"}}]}'),
      ),
    ).toBe('Bundle');
    expect(await vault.describe(ID)).toBeUndefined();
  });

  it('keeps content encrypted at rest and opens only under the same node key', async () => {
    const { vault, path } = await openVault();
    await vault.put({
      recordId: ID,
      patient: PATIENT,
      version: 1,
      content: patientResource('Quackenbush'),
    });
    await vault.close();
    expect(await filesContaining(path, utf8('Quackenbush'))).toEqual([]);
    expect(await filesContaining(path, utf8('999-44-7781'))).toEqual([]);
    const other = await Vault.open(path, { masterSeed: sha256(utf8('another node')) });
    try {
      await expect(other.get(ID)).rejects.toMatchObject({ code: 'RECORD_VAULT_CORRUPT' });
    } finally {
      await other.close();
    }
  });

  it('erase shreds key, salt and ciphertext: gone from every file, never served or stored again', async () => {
    const { vault, path } = await openVault();
    // Enough records that LevelDB has flushed tables as well as its log before the erase.
    for (let i = 0; i < 40; i++) {
      await vault.put({
        recordId: sha256(utf8(`filler-${i}`)),
        patient: PATIENT,
        version: 1,
        content: utf8(JSON.stringify({ resourceType: 'Observation', note: 'x'.repeat(4000) })),
      });
    }
    const content = patientResource('Quackenbush');
    const { contentHash: anchor } = await vault.put({
      recordId: ID,
      patient: PATIENT,
      version: 1,
      content,
      salt: SALT_1,
    });
    await vault.put({
      recordId: ID,
      patient: PATIENT,
      version: 2,
      content: patientResource('Q2'),
      salt: SALT_2,
    });
    await vault.close();

    const raw = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await raw.open();
    const ciphertext = await raw.get(concatBytes(Uint8Array.of(3), ID, Uint8Array.of(0, 0, 0, 1)));
    const wrappedKey = await raw.get(concatBytes(Uint8Array.of(2), ID));
    const sealedSalt = await raw.get(concatBytes(Uint8Array.of(5), ID, Uint8Array.of(0, 0, 0, 1)));
    await raw.close();
    expect(ciphertext).toBeDefined();
    // A slice of the stored ciphertext, the wrapped key and the sealed salt is on disk before
    // the erase...
    const cipherSlice = new Uint8Array(ciphertext!).subarray(20, 52);
    const keySlice = new Uint8Array(wrappedKey!).subarray(12, 44);
    const saltSlice = new Uint8Array(sealedSalt!).subarray(12, 44);
    expect((await filesContaining(path, cipherSlice)).length).toBeGreaterThan(0);
    expect((await filesContaining(path, keySlice)).length).toBeGreaterThan(0);
    expect((await filesContaining(path, saltSlice)).length).toBeGreaterThan(0);

    const reopened = await Vault.open(path, { masterSeed: SEED });
    expect(await reopened.erase(ID)).toBe(true);
    await expect(reopened.get(ID)).rejects.toMatchObject({ code: 'RECORD_ERASED' });
    await expect(
      reopened.put({ recordId: ID, patient: PATIENT, version: 3, content }),
    ).rejects.toMatchObject({ code: 'RECORD_ERASED' });
    expect((await reopened.get(sha256(utf8('filler-3')))).version).toBe(1);
    expect(await reopened.describe(ID)).toBeUndefined();
    await reopened.close();
    // ...and in no file after it, nor is the plaintext.
    expect(await filesContaining(path, cipherSlice)).toEqual([]);
    expect(await filesContaining(path, keySlice)).toEqual([]);
    expect(await filesContaining(path, saltSlice)).toEqual([]);
    expect(await filesContaining(path, utf8('Quackenbush'))).toEqual([]);
    // The vault keeps nothing under the record's id but the erased marker (bucket 4).
    const after = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await after.open();
    const left: number[] = [];
    for await (const key of after.keys()) {
      if (toHex(key).includes(toHex(ID))) left.push(key[0]!);
    }
    await after.close();
    expect(left).toEqual([4]);
    // Whoever holds the document cannot tie it to its anchor without the shredded salt.
    expect(matchesRecordAnchor(anchor, content)).toBe(false);
    expect(matchesRecordAnchor(anchor, content, SALT_2)).toBe(false);
  });

  it('any FHIR-shaped content and version sequence round-trips exactly (property)', async () => {
    const { vault } = await openVault();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 300 }), { minLength: 1, maxLength: 4 }),
        async (notes) => {
          const recordId = sha256(utf8(`prop-${n++}`));
          const contents = notes.map((note) =>
            utf8(JSON.stringify({ resourceType: 'Condition', note })),
          );
          for (const [i, content] of contents.entries()) {
            await vault.put({ recordId, patient: PATIENT, version: i + 1, content });
          }
          for (const content of contents) {
            expect(toHex((await vault.get(recordId, sha256(content))).content)).toBe(
              toHex(content),
            );
          }
          expect((await vault.get(recordId)).content).toEqual(contents.at(-1));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a record erased concurrently with a put ends erased either way', async () => {
    const { vault } = await openVault();
    const results = await Promise.allSettled([
      vault.put({ recordId: ID, patient: PATIENT, version: 1, content: patientResource('A') }),
      vault.erase(ID),
      vault.put({ recordId: ID, patient: PATIENT, version: 2, content: patientResource('B') }),
    ]);
    expect(results[0]?.status).toBe('fulfilled');
    expect(results[2]?.status === 'rejected' && code(results[2].reason)).toBe('RECORD_ERASED');
    await expect(vault.get(ID)).rejects.toMatchObject({ code: 'RECORD_ERASED' });
  });
});
