import {
  ApiClient,
  type AuditEntryJson,
  auditToFhir,
  type ConsentJson,
  consentsToFhir,
  fhirCollection,
} from '@medchain/client';
import { toHex } from '@medchain/crypto';
import { describe, expect, it } from 'vitest';

const hex = (byte: number) => toHex(new Uint8Array(32).fill(byte));
const PATIENT = hex(1);
const CLINICIAN = hex(2);
const ORG = hex(3);
const OBSERVATION = hex(10);
const HIDDEN = hex(11);
const HEAD_TIME = 1_700_000_000_000;

/** A node answering status, header and record reads; every other record is 404. */
function node(height: number) {
  const calls: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    const path = new URL(String(input)).pathname;
    calls.push(path);
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json' },
      });
    if (path === '/v1/status') return json(200, { height });
    if (path === `/v1/headers/${height}`) return json(200, { header: { time: HEAD_TIME } });
    if (path === `/v1/records/${OBSERVATION}`) {
      return json(200, { record: { resourceType: 'Observation' } });
    }
    return json(404, { error: { code: 'NOT_FOUND', message: 'no such thing' } });
  };
  return { api: new ApiClient({ url: 'http://127.0.0.1:1', fetch }), calls };
}

function consent(validUntil: number, recordIds: readonly string[]): ConsentJson {
  return {
    id: hex(20),
    patient: PATIENT,
    grantee: { type: 'provider', id: CLINICIAN },
    recordIds: [...recordIds],
    resourceTypes: [],
    actions: ['access'],
    purposes: ['TREAT'],
    validFrom: HEAD_TIME - 1000,
    validUntil,
    grantedBy: PATIENT,
    createdAt: HEAD_TIME - 1000,
    status: 'active',
    revokedAt: null,
    revokedBy: null,
  };
}

const references = (resource: unknown) =>
  [...JSON.stringify(resource).matchAll(/"reference":"([A-Za-z]+\/[0-9a-f]{64})"/g)].map(
    (m) => m[1],
  );

describe('consentsToFhir', () => {
  it("judges 'active' by the head block's time, not the local clock", async () => {
    const { api } = node(7);
    // Ended a second after the head block: long past for the local clock, active on the ledger.
    const [resource] = await consentsToFhir(api, [consent(HEAD_TIME + 1000, [])]);
    expect(resource).toMatchObject({ resourceType: 'Consent', status: 'active' });
    const [ended] = await consentsToFhir(api, [consent(HEAD_TIME - 1, [])]);
    expect(ended).toMatchObject({ status: 'inactive' });
  });

  it('types each named record by reading it once; an unreadable one stays a DocumentReference', async () => {
    const { api, calls } = node(7);
    const resources = await consentsToFhir(api, [
      consent(HEAD_TIME + 1000, [OBSERVATION, HIDDEN]),
      consent(HEAD_TIME + 1000, [OBSERVATION]),
    ]);
    expect(references(resources[0])).toContain(`Observation/${OBSERVATION}`);
    expect(references(resources[0])).toContain(`DocumentReference/${HIDDEN}`);
    expect(references(resources[1])).toContain(`Observation/${OBSERVATION}`);
    expect(calls.filter((c) => c === `/v1/records/${OBSERVATION}`)).toHaveLength(1);
  });
});

describe('auditToFhir', () => {
  const entry: AuditEntryJson = {
    patient: PATIENT,
    index: 0,
    recordId: OBSERVATION,
    custodian: ORG,
    requester: CLINICIAN,
    action: 'access',
    purpose: 'TREAT',
    decision: 'permit',
    consentId: hex(20),
    denyReason: null,
    emergency: false,
    emergencyReason: null,
    time: HEAD_TIME,
    txHash: hex(21),
    requestHash: hex(22),
  };

  it('maps entries to AuditEvents naming the record with its type', async () => {
    const { api } = node(0);
    const [event] = await auditToFhir(api, [entry]);
    expect(event).toMatchObject({ resourceType: 'AuditEvent' });
    expect(references(event)).toContain(`Observation/${OBSERVATION}`);
  });

  it('types every record a research release disclosed, not only the first', async () => {
    const { api } = node(0);
    const release: AuditEntryJson = {
      ...entry,
      recordId: HIDDEN,
      recordIds: [HIDDEN, OBSERVATION],
      action: 'disclose',
      purpose: 'HRESCH',
    };
    const [event] = await auditToFhir(api, [release]);
    expect(references(event)).toContain(`DocumentReference/${HIDDEN}`);
    expect(references(event)).toContain(`Observation/${OBSERVATION}`);
  });
});

describe('fhirCollection', () => {
  it('is a collection Bundle holding each resource once, stamped with its time', () => {
    const resources = [{ resourceType: 'Consent' }, { resourceType: 'AuditEvent' }];
    expect(fhirCollection(resources, Date.UTC(2026, 0, 2))).toEqual({
      resourceType: 'Bundle',
      type: 'collection',
      timestamp: '2026-01-02T00:00:00.000Z',
      total: 2,
      entry: resources.map((resource) => ({ resource })),
    });
  });
});
