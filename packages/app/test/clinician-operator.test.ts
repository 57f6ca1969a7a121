/**
 * The pure parts of the clinician and operator screens: FHIR in words (against HL7's own IPS
 * example resources), deny explanations, and the dashboard's sliding-window rates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ConsentJson } from '@medchain/client';
import { DENY_REASONS } from '@medchain/ledger';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  closestConsent,
  consentGap,
  DENY_EXPLANATIONS,
  type Question,
} from '../web/clinician/deny.js';
import {
  codingText,
  datatypeText,
  type FhirJson,
  type FhirObject,
  fieldLabel,
  isObject,
  orderedFields,
  quantityText,
  resourceSummary,
} from '../web/clinician/fhir-text.js';
import { SlidingRate } from '../web/operator/rates.js';

const IPS_EXAMPLES = new URL('../../node/node_modules/hl7.fhir.uv.ips/example/', import.meta.url);
const ips = (name: string) =>
  JSON.parse(readFileSync(new URL(name, IPS_EXAMPLES), 'utf8')) as FhirObject;

describe('FHIR in words', () => {
  it('writes codings, quantities and choice fields as a clinician reads them', () => {
    expect(codingText({ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' })).toBe(
      'Heart rate (LOINC 8867-4)',
    );
    expect(
      codingText({ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }),
    ).toBe('v2-0074 LAB');
    expect(quantityText({ value: 5, comparator: '<', unit: 'mg' })).toBe('<5 mg');
    expect(fieldLabel('effectiveDateTime')).toBe('Effective');
    expect(fieldLabel('valueCodeableConcept')).toBe('Value');
    expect(fieldLabel('verificationStatus')).toBe('Verification status');
    expect(datatypeText({ start: '2020-01-01' })).toBe('2020-01-01 – ongoing');
    expect(datatypeText({ reference: 'Patient/1', display: 'Alex' })).toBe('Alex');
    expect(datatypeText({ low: { value: 1, unit: 'mg' }, high: { value: 2, unit: 'mg' } })).toBe(
      '1 mg – 2 mg',
    );
    expect(datatypeText({ contentType: 'application/pdf', data: 'AAAA' })).toBe(
      'attachment: application/pdf (content not shown)',
    );
  });

  it('summarises HL7’s IPS hemoglobin observation and shows its key fields first', () => {
    const observation = ips('Observation-hemoglobin.json');
    expect(resourceSummary(observation)).toBe(
      'Hemoglobin A1c/Hemoglobin.total in Blood by HPLC (LOINC 17856-6): 7.5 %',
    );
    const fields = orderedFields(observation).map(([key]) => key);
    expect(fields.slice(0, 4)).toEqual(['status', 'category', 'code', 'subject']);
    // The XHTML narrative and bookkeeping are never shown as fields.
    expect(fields).not.toContain('text');
    expect(fields).not.toContain('meta');
  });

  it('handles every IPS example resource (bundles included) without throwing', () => {
    const files = readdirSync(IPS_EXAMPLES).filter((name) => name.endsWith('.json'));
    expect(files.length).toBeGreaterThan(20);
    let datatypes = 0;
    const walk = (value: FhirJson) => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (isObject(value)) {
        if (datatypeText(value) !== undefined) datatypes++;
        Object.values(value).forEach(walk);
      }
    };
    for (const file of files) {
      const resource = ips(file);
      expect(typeof resource.resourceType).toBe('string');
      resourceSummary(resource);
      orderedFields(resource);
      walk(resource);
    }
    expect(datatypes).toBeGreaterThan(100);
  });

  it('never throws on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const json = value as FhirJson;
        if (isObject(json)) {
          datatypeText(json);
          resourceSummary(json);
          orderedFields(json);
        }
      }),
    );
  });
});

describe('deny explanations', () => {
  it('explain every deny reason the ledger has', () => {
    for (const reason of DENY_REASONS) expect(DENY_EXPLANATIONS[reason]).toMatch(/\w/);
  });

  const record = 'aa'.repeat(32);
  const now = 1_000_000;
  const consent = (fields: Partial<ConsentJson>): ConsentJson => ({
    id: 'cc'.repeat(32),
    patient: '11'.repeat(32),
    grantee: { type: 'provider', id: '22'.repeat(32) },
    recordIds: [record],
    resourceTypes: [],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: now - 10,
    validUntil: now + 10,
    grantedBy: '11'.repeat(32),
    createdAt: now - 10,
    status: 'active',
    revokedAt: null,
    revokedBy: null,
    ...fields,
  });
  const question: Question = { recordId: record, action: 'access', purpose: 'TREAT', time: now };

  it('say why a consent falls short', () => {
    expect(consentGap(consent({}), question)).toBeUndefined();
    expect(consentGap(consent({ status: 'revoked', revokedAt: now - 1 }), question)).toMatch(
      /^The patient revoked this consent on /,
    );
    expect(consentGap(consent({ validUntil: now }), question)).toMatch(/^This consent expired on /);
    expect(consentGap(consent({ validFrom: now + 1 }), question)).toMatch(/not valid until/);
    expect(consentGap(consent({ purposes: ['HRESCH'] }), question)).toBe(
      'This consent is for purpose HRESCH, not TREAT.',
    );
    expect(consentGap(consent({ actions: ['use'] }), question)).toBe(
      'This consent allows use, not access.',
    );
    expect(consentGap(consent({ recordIds: ['bb'.repeat(32)] }), question)).toBe(
      'This consent names other records, not this one.',
    );
  });

  it('pick the consent naming the record, then the most recent', () => {
    const other = consent({ id: 'dd'.repeat(32), recordIds: ['bb'.repeat(32)], createdAt: now });
    const revoked = consent({ status: 'revoked', revokedAt: now - 1 });
    expect(closestConsent([other, revoked], question)?.consent).toBe(revoked);
    expect(closestConsent([other], question)?.consent).toBe(other);
    expect(closestConsent([], question)).toBeUndefined();
  });
});

describe('sliding-window rates', () => {
  it('are unknown until the samples span the minimum, then the slope over the window', () => {
    const rate = new SlidingRate(30_000, 2_000);
    rate.add(0, 10);
    rate.add(1_000, 12);
    expect(rate.perSecond()).toBeUndefined();
    rate.add(4_000, 18);
    expect(rate.perSecond()).toBe(2);
  });

  it('fall to zero when the counter stops moving for a whole window', () => {
    const rate = new SlidingRate(10_000);
    for (let t = 0; t <= 10_000; t += 1_000) rate.add(t, t / 100);
    expect(rate.perSecond()).toBe(10);
    for (let t = 11_000; t <= 30_000; t += 1_000) rate.add(t, 100);
    expect(rate.perSecond()).toBe(0);
  });

  it('restart when the counter goes back (another chain), and ignore samples out of order', () => {
    const rate = new SlidingRate(10_000);
    rate.add(0, 100);
    rate.add(5_000, 150);
    rate.add(6_000, 3);
    expect(rate.perSecond()).toBeUndefined();
    rate.add(4_000, 1_000);
    rate.add(9_000, 9);
    expect(rate.perSecond()).toBe(2);
  });

  it('equal the slope between the window’s first covering sample and the last', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 0, max: 50 })), {
          minLength: 1,
          maxLength: 60,
        }),
        (steps) => {
          const windowMs = 20_000;
          const rate = new SlidingRate(windowMs, 1);
          const samples: { at: number; value: number }[] = [];
          let at = 0;
          let value = 0;
          for (const [dt, dv] of steps) {
            at += dt;
            value += dv;
            samples.push({ at, value });
            rate.add(at, value);
          }
          const last = samples.at(-1)!;
          const covering = samples.filter((s) => s.at <= last.at - windowMs).at(-1) ?? samples[0]!;
          const span = last.at - covering.at;
          const expected = span < 1 ? undefined : ((last.value - covering.value) * 1000) / span;
          expect(rate.perSecond()).toBe(expected);
        },
      ),
    );
  });
});
