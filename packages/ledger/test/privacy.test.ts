import { concatBytes, sha256, utf8 } from '@medchain/crypto';
import { encodeBlock, recordId, transactionHash } from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import { hl7Examples } from './fhir-schema.js';
import { bytes, DAY, grantBody, signedRequest, world } from './helpers.js';

/** Every string in a FHIR Patient that identifies a person: names, identifiers, phones, birth date, address. */
function identifyingStrings(patient: Record<string, unknown>): string[] {
  const out: string[] = [];
  const take = (value: unknown) => {
    if (typeof value === 'string' && value.length >= 3) out.push(value);
  };
  for (const name of (patient.name ?? []) as {
    family?: string;
    given?: string[];
    text?: string;
  }[]) {
    take(name.family);
    take(name.text);
    for (const given of name.given ?? []) take(given);
  }
  for (const id of (patient.identifier ?? []) as { value?: string }[]) take(id.value);
  for (const t of (patient.telecom ?? []) as { value?: string }[]) take(t.value);
  take(patient.birthDate);
  for (const a of (patient.address ?? []) as {
    line?: string[];
    city?: string;
    postalCode?: string;
    text?: string;
  }[]) {
    for (const line of a.line ?? []) take(line);
    take(a.city);
    take(a.postalCode);
    take(a.text);
  }
  return [...new Set(out)];
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

describe('no personal data on the ledger', () => {
  it("fixture patients' names and identifiers appear in no stored state byte, op or block", () => {
    const fixtures = hl7Examples('Patient')
      .filter(({ file }) => ['Patient-example.json', 'Patient-f001.json'].includes(file))
      .map(({ resource }) => resource);
    expect(fixtures).toHaveLength(2);
    const needles = fixtures.flatMap(identifyingStrings);
    expect(needles).toEqual(expect.arrayContaining(['Chalmers', 'Peter', '12345', '1974-12-25']));

    // The full life of a record: everything identifying stays in the vault; the ledger gets hashes.
    const w = world();
    const { chain, alice, guardian, p, a } = w;
    const vault = fixtures.map((resource) => utf8(JSON.stringify(resource)));
    const ids = vault.map((_, i) => recordId(a.spec.id, alice.publicKey, bytes(`vault-${i}`, 16)));
    chain.block(
      vault.map((content, i) =>
        chain.tx(p.clinician, 'record.anchor', {
          patient: alice.publicKey,
          custodian: a.spec.id,
          resourceType: 'Patient',
          contentHash: sha256(content),
          nonce: bytes(`vault-${i}`, 16),
        }),
      ),
    );
    chain.run(alice, 'patient.delegate', {
      patient: alice.publicKey,
      delegate: guardian.publicKey,
      relation: 'guardian',
      expiresAt: chain.time + DAY,
    });
    const grant = chain.tx(
      guardian,
      'consent.grant',
      grantBody(alice, { type: 'provider', id: p.nurse.publicKey }, chain.time, {
        recordIds: ids,
        resourceTypes: ['Patient'],
      }),
    );
    chain.block([grant]);
    const t = chain.time + 1000;
    const results = chain.block(
      [
        chain.tx(a.validator, 'access.log', {
          ...signedRequest(p.nurse, ids[0]!, t),
          decision: 'permit',
          consentId: transactionHash(grant),
        }),
        chain.tx(a.validator, 'access.emergency', {
          ...signedRequest(p.emergency, ids[1]!, t, {
            purpose: 'ETREAT',
            emergencyReason: 'life-threatening',
          }),
          decision: 'permit',
          consentId: null,
        }),
        chain.tx(p.nurse, 'record.amend', {
          recordId: ids[0]!,
          contentHash: sha256(concatBytes(vault[0]!, utf8('v2'))),
        }),
        chain.tx(alice, 'record.erase', { recordId: ids[1]! }),
      ],
      t,
    );
    expect(results.receipts.map((r) => r.code)).toEqual(['OK', 'OK', 'OK', 'OK']);

    const stored = [
      ...chain.store.entries().flat(),
      ...chain.written.flat().flatMap((op) => (op.type === 'put' ? [op.key, op.value] : [op.key])),
      ...chain.blocks.map(encodeBlock),
    ];
    expect(stored.length).toBeGreaterThan(100);
    for (const needle of needles) {
      for (const form of [needle, needle.toLowerCase(), needle.toUpperCase()]) {
        const found = stored.some((b) => contains(b, utf8(form)));
        expect(found, `"${form}" found on the ledger`).toBe(false);
      }
    }
    // The scan itself works: it finds every needle in the off-ledger vault copy.
    for (const needle of needles) {
      expect(
        vault.some((b) => contains(b, utf8(needle))),
        needle,
      ).toBe(true);
    }
  });
});
