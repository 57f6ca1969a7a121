import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fhirSchemaErrors, hl7Examples } from '../../ledger/test/fhir-schema.js';
import {
  deidentifyRecord,
  type FhirJson,
  Pseudonyms,
  RESTRICTED_ZIP3,
  safeHarborFindings,
} from '../src/fhir/export/deidentify.js';

/**
 * Safe Harbor de-identification (src/fhir/export/deidentify.ts): generated people full of
 * identifiers, HL7's own R4 examples and the IPS example bundles. Whatever goes in, nothing
 * identifying comes out (no planted value survives, the scanner finds nothing), and what comes
 * out is still valid FHIR R4.
 */

const require = createRequire(import.meta.url);
const YEAR = 2026;

function options() {
  let next = 0;
  return {
    pseudonyms: new Pseudonyms(() => `p${(next++).toString(16).padStart(8, '0')}`),
    year: YEAR,
  };
}

/** Every string under an identifying element of the source (what must not come out). */
function identifyingStrings(resource: unknown): string[] {
  const found: string[] = [];
  const collect = (node: unknown): void => {
    if (typeof node === 'string') found.push(node);
    else if (Array.isArray(node)) node.forEach(collect);
    else if (typeof node === 'object' && node !== null) Object.values(node).forEach(collect);
  };
  const visit = (node: unknown, name: string): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, name);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const o = node as FhirJson;
    for (const [key, child] of Object.entries(o)) {
      if (key === 'identifier' || key === 'telecom' || key === 'photo') {
        const values: string[] = [];
        const pick = (n: unknown): void => {
          if (Array.isArray(n)) n.forEach(pick);
          else if (typeof n === 'object' && n !== null) {
            const v = (n as FhirJson).value;
            if (typeof v === 'string') values.push(v);
            const url = (n as FhirJson).url;
            if (typeof url === 'string') values.push(url);
          }
        };
        pick(child);
        found.push(...values);
      } else if (key === 'name' && typeof child !== 'string' && name !== 'code') {
        const parts: unknown[] = [];
        for (const n of [child].flat() as FhirJson[]) parts.push(n.family, n.given, n.text);
        collect(parts);
      } else if (key === 'line' || key === 'city' || key === 'district') {
        collect(child);
      } else {
        visit(child, key);
      }
    }
  };
  visit(resource, '');
  // Short values ("1", "M") are not identifying on their own and occur everywhere.
  return [...new Set(found)].filter((value) => value.length >= 5);
}

/** Every string value in JSON but codes (terminology: HL7's examples reuse "123456" for both). */
function leafStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(leafStrings);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, child]) =>
      key === 'code' ? [] : leafStrings(child),
    );
  }
  return [];
}

/**
 * Nothing the scanner finds, valid R4, and no identifying string of the source in any value of
 * the output (equal to it, or containing it when it is long enough not to be part of a code).
 */
function expectDeidentified(source: FhirJson, out: FhirJson[], label: string) {
  for (const resource of out) {
    expect(safeHarborFindings(resource), label).toEqual([]);
    expect(fhirSchemaErrors(resource as { resourceType: string }), label).toEqual([]);
  }
  const values = leafStrings(out);
  for (const value of identifyingStrings(source)) {
    const survived = values.find((v) => v === value || (value.length >= 8 && v.includes(value)));
    expect(survived, `${label}: ${JSON.stringify(value)} survived`).toBeUndefined();
  }
}

const word = fc.stringMatching(/^[A-Z][a-z]{4,10}$/);
const digits = (n: number) => fc.stringMatching(new RegExp(`^[1-9][0-9]{${n - 1}}$`));
const date = fc
  .date({ min: new Date('1900-01-01'), max: new Date('2025-12-31'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

/** A Patient with an identifier of every kind Safe Harbor names. */
const patientArb = fc
  .record({
    family: word,
    given: fc.array(word, { minLength: 1, maxLength: 3 }),
    street: word.map((w) => `${w} Street`),
    number: digits(3),
    city: word,
    zip: digits(5),
    birthDate: date,
    phone: digits(10),
    email: word,
    ssn: fc.tuple(digits(3), digits(2), digits(4)).map((p) => p.join('-')),
    mrn: digits(8),
    plan: digits(9),
    ip: fc.ipV4(),
    photo: fc.base64String({ minLength: 8, maxLength: 40 }),
    relative: word,
    deceased: fc.option(date, { nil: undefined }),
  })
  .map(
    (p): FhirJson => ({
      resourceType: 'Patient',
      id: `mrn-${p.mrn}`,
      meta: { lastUpdated: `${p.birthDate}T10:00:00Z`, source: `http://ehr.example/${p.mrn}` },
      text: {
        status: 'generated',
        div: `<div xmlns="http://www.w3.org/1999/xhtml">${p.family}</div>`,
      },
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName',
          valueString: p.relative,
        },
        {
          url: 'http://hl7.org/fhir/StructureDefinition/geolocation',
          extension: [
            { url: 'latitude', valueDecimal: 42.25 },
            { url: 'longitude', valueDecimal: -71.5 },
          ],
        },
      ],
      identifier: [
        { system: 'http://hl7.org/fhir/sid/us-ssn', value: p.ssn },
        { type: { text: 'MRN' }, value: p.mrn },
        { system: 'urn:oid:2.16.840.1.113883.4.3', value: `PLAN${p.plan}` },
      ],
      name: [{ family: p.family, given: p.given, text: `${p.given.join(' ')} ${p.family}` }],
      telecom: [
        {
          system: 'phone',
          value: `(${p.phone.slice(0, 3)}) ${p.phone.slice(3, 6)}-${p.phone.slice(6)}`,
        },
        { system: 'email', value: `${p.email.toLowerCase()}@mail.example.org` },
        { system: 'url', value: `https://${p.email.toLowerCase()}.example.net/` },
      ],
      gender: 'female',
      birthDate: p.birthDate,
      ...(p.deceased === undefined ? {} : { deceasedDateTime: `${p.deceased}T08:30:00+01:00` }),
      address: [
        {
          use: 'home',
          line: [`${p.number} ${p.street}`],
          city: p.city,
          district: `${p.city} County`,
          state: 'MA',
          postalCode: p.zip,
          country: 'US',
          period: { start: p.birthDate },
        },
      ],
      photo: [
        { contentType: 'image/jpeg', data: p.photo, url: `https://img.example/${p.mrn}.jpg` },
      ],
      contact: [
        {
          relationship: [
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] },
          ],
          name: { family: p.relative, given: ['Ann'] },
          telecom: [{ system: 'phone', value: `+1 617 555 ${p.phone.slice(6)}` }],
          address: { line: [`${p.number} ${p.street}`], city: p.city, postalCode: p.zip },
        },
      ],
      generalPractitioner: [
        { reference: `Practitioner/dr-${p.mrn}`, display: `Dr. ${p.relative}` },
      ],
      managingOrganization: { reference: 'Organization/1', display: `${p.city} General Hospital` },
    }),
  );

describe('Safe Harbor de-identification', () => {
  it('property: no identifier of a generated patient survives, and the result is valid R4', () => {
    fc.assert(
      fc.property(patientArb, (patient) => {
        const [out] = deidentifyRecord(patient, options());
        expectDeidentified(patient, [out!], 'generated patient');
        const born = Number((patient.birthDate as string).slice(0, 4));
        const died = patient.deceasedDateTime as string | undefined;
        const age = Number(died?.slice(0, 4) ?? YEAR) - born;
        expect(out!.birthDate).toBe(age >= 90 ? undefined : String(born));
        const address = (out!.address as FhirJson[])[0]!;
        expect(address).toEqual({
          use: 'home',
          state: 'MA',
          country: 'US',
          postalCode: expect.stringMatching(/^\d{3}$/),
        });
        const zip3 = ((patient.address as FhirJson[])[0]!.postalCode as string).slice(0, 3);
        expect(address.postalCode).toBe(RESTRICTED_ZIP3.has(zip3) ? '000' : zip3);
      }),
      { numRuns: 200, seed: 14 },
    );
  });

  it('generalizes: ZIP3 of small areas to 000, 90 and older, ages, dates to their year', () => {
    const out = (resource: FhirJson) => deidentifyRecord(resource, options())[0]!;
    const small = out({
      resourceType: 'Patient',
      address: [
        { postalCode: '03601', country: 'US' },
        { postalCode: 'SW1A 1AA', country: 'UK' },
      ],
    });
    expect(small.address).toEqual([{ postalCode: '000', country: 'US' }, { country: 'UK' }]);
    // Born 1936: 90 in 2026, so even the year goes; born 1937 keeps its year.
    expect(out({ resourceType: 'Patient', birthDate: '1936-12-31' }).birthDate).toBeUndefined();
    expect(out({ resourceType: 'Patient', birthDate: '1937-01-01' }).birthDate).toBe('1937');
    // Died at 70: the birth year does not say 90 or older.
    expect(
      out({ resourceType: 'Patient', birthDate: '1900-05-05', deceasedDateTime: '1970-01-02' }),
    ).toMatchObject({ birthDate: '1900', deceasedDateTime: '1970' });
    const history = out({
      resourceType: 'FamilyMemberHistory',
      status: 'completed',
      patient: { reference: 'Patient/1' },
      relationship: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'FTH' }],
      },
      ageAge: { value: 93, unit: 'yr', system: 'http://unitsofmeasure.org', code: 'a' },
      condition: [
        {
          code: { text: 'Heart attack' },
          onsetAge: { value: 74, unit: 'yr', system: 'http://unitsofmeasure.org', code: 'a' },
        },
      ],
      date: '2004-02-01T10:11:12Z',
    });
    expect(history.ageAge).toEqual({
      value: 90,
      comparator: '>=',
      unit: 'years',
      system: 'http://unitsofmeasure.org',
      code: 'a',
    });
    expect((history.condition as FhirJson[])[0]!.onsetAge).toMatchObject({ value: 74 });
    expect(history.date).toBe('2004');
    // (R) the condition's text is gone: only text, it is masked (a required element).
    expect((history.condition as FhirJson[])[0]!.code).toEqual({
      extension: [
        { url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' },
      ],
    });
  });

  it('(C) caps ages over 89 in Ranges and other units; (R) drops typed text that names someone', () => {
    const out = (resource: FhirJson) => deidentifyRecord(resource, options())[0]!;
    const years = (value: number, code = 'a') => ({
      value,
      unit: code,
      system: 'http://unitsofmeasure.org',
      code,
    });
    const history = out({
      resourceType: 'FamilyMemberHistory',
      status: 'completed',
      patient: { reference: 'Patient/1' },
      relationship: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'GRMTH' }],
        text: 'Grandmother Jane Doe',
      },
      ageRange: { low: years(85), high: years(95) },
      deceasedRange: { low: years(92), high: years(96) },
      condition: [
        {
          code: { coding: [{ system: 'http://snomed.info/sct', code: '22298006' }], text: 'MI' },
          onsetAge: years(4800, 'wk'),
          outcome: { text: 'Seen by Dr Jonathan Smithers' },
        },
        {
          code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] },
          onsetString: 'at 93',
        },
      ],
    });
    expect(history.ageRange).toEqual({ low: years(85) });
    expect(history.deceasedRange).toEqual({ low: { ...years(90), unit: 'years' } });
    const [first, second] = history.condition as FhirJson[];
    expect(first!.onsetAge).toMatchObject({ value: 90, comparator: '>=' });
    expect(JSON.stringify(history)).not.toMatch(/Jane|Smithers|MI"|at 93/);
    expect(second).not.toHaveProperty('onsetString');
    expect(safeHarborFindings(history)).toEqual([]);
    expect(fhirSchemaErrors(history as { resourceType: string })).toEqual([]);
    // The scan flags what the walk would have removed.
    expect(safeHarborFindings({ code: { text: 'Jane' }, ageAge: years(93) })).toEqual([
      { kind: 'text', path: '.code.text' },
      { kind: 'age', path: '.ageAge' },
    ]);
  });

  it("HL7's R4 examples of the resource types that carry people, places and care", () => {
    const types = [
      'Patient',
      'Practitioner',
      'PractitionerRole',
      'RelatedPerson',
      'Person',
      'Organization',
      'Location',
      'Encounter',
      'Observation',
      'Condition',
      'Procedure',
      'DiagnosticReport',
      'DocumentReference',
      'Device',
      'Media',
      'Immunization',
      'AllergyIntolerance',
      'MedicationRequest',
      'FamilyMemberHistory',
      'Coverage',
      'Claim',
    ];
    let count = 0;
    for (const type of types) {
      for (const { file, resource } of hl7Examples(type)) {
        expectDeidentified(resource, deidentifyRecord(resource, options()), file);
        count++;
      }
    }
    expect(count).toBeGreaterThan(200);
  });

  it('flattens the IPS example bundles, keeping every reference inside the patient consistent', () => {
    const dir = join(dirname(require.resolve('hl7.fhir.uv.ips/package.json')), 'example');
    const bundles = readdirSync(dir).filter((file) => file.startsWith('Bundle-'));
    expect(bundles.length).toBeGreaterThan(2);
    for (const file of bundles) {
      const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as FhirJson;
      const out = deidentifyRecord(bundle, options());
      expect(out).toHaveLength((bundle.entry as unknown[]).length);
      expectDeidentified(bundle, out, file);
      const ids = new Set(out.map((r) => `${r.resourceType}/${r.id}`));
      const references: string[] = [];
      const collect = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(collect);
        else if (typeof node === 'object' && node !== null) {
          for (const [key, child] of Object.entries(node)) {
            if (key === 'reference' && typeof child === 'string') references.push(child);
            else collect(child);
          }
        }
      };
      collect(out);
      expect(references.length, file).toBeGreaterThan(0);
      for (const reference of references)
        expect(ids.has(reference), `${file}: ${reference}`).toBe(true);
    }
  });
});
