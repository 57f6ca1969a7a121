import { bytesEqual, sha256, toHex, utf8 } from '@medchain/crypto';
import { stateKeys } from '@medchain/ledger';
import { describe, expect, it } from 'vitest';
import {
  identify,
  REPLAY_WINDOW_SECONDS,
  ReplayCache,
  standingsOf,
  stateKeyAccess,
} from '../src/api/auth.js';
import {
  type AccessKey,
  allows,
  ROUTE_ACCESS,
  STANDINGS,
  STATE_TABLE_ACCESS,
  type Standing,
} from '../src/api/authorization.js';
import { ROUTES } from '../src/api/routes.js';
import { EXPORT_ROUTES } from '../src/fhir/export/routes.js';
import { CONSENT_CREATE_ACCESS } from '../src/fhir/import.js';
import { FHIR_ROUTES } from '../src/fhir/rest.js';
import { populatedBackend, signer } from './api-chain.js';

/**
 * The authorization table cell by cell, against the table as the API README prints it (written
 * out here again, so a change to either shows up), and the pieces that feed it: standings from
 * committed state, state-key classification, the replay cache.
 */

const P = 'patient';
const D = 'delegate';
const EXPECTED: Record<AccessKey, string> = {
  health: 'public',
  status: 'public',
  submitTransaction: 'transaction',
  submitTransactions: 'transaction',
  getTransaction: 'self member-admin validator',
  getLatestBlock: 'member-admin validator',
  getBlock: 'member-admin validator',
  getHeader: 'public',
  getGenesis: 'public',
  listValidatorSets: 'public',
  getPatient: `${P} ${D}`,
  getDelegate: `${P} ${D} self`,
  listConsents: `${P} ${D}`,
  listAudit: `${P} ${D}`,
  getAuditInclusion: `${P} ${D}`,
  listPatientRecords: `${P} ${D}`,
  getConsent: `${P} ${D} grantee`,
  getRecord: `${P} ${D} org-admin org-provider`,
  fetchRecord: 'access-request',
  accessDecision: 'record-custodian',
  putVaultRecord: 'own-org-provider',
  eraseVaultRecord: 'own-org-admin own-org-provider',
  listOrganizations: 'public',
  getOrganization: 'org-admin org-provider member-admin validator',
  getProvider: 'registered',
  listProviderConsents: 'self org-admin',
  getStateProof: '',
  events: 'member-admin validator',
  patientEvents: `${P} ${D}`,
  listEvidence: 'public',
  metrics: 'metrics',
  getLogLevels: 'own-org-admin',
  setLogLevels: 'own-org-admin',
  fhirMetadata: 'public',
  fhirSearchConsent: `${P} ${D} grantee`,
  fhirReadConsent: `${P} ${D} grantee`,
  fhirSearchAuditEvent: `${P} ${D} self`,
  fhirReadAuditEvent: `${P} ${D} self`,
  fhirReadProvenance: `${P} ${D} self grantee`,
  fhirCreateConsent: `${P} ${D}`,
  fhirExportKickOff: 'self',
  fhirExportStatus: 'self',
  fhirExportCancel: 'self',
  fhirExportFile: 'self',
};

const EXPECTED_TABLES: Record<string, string> = {
  chain: 'public',
  members: 'public',
  org: 'public',
  admin: 'public',
  validator: 'public',
  peer: 'public',
  provider: 'registered',
  patient: `${P} ${D}`,
  delegate: `${P} ${D} self`,
  record: `${P} ${D} org-admin org-provider`,
  consent: `${P} ${D} grantee`,
  'grantee-consents': `${P} ${D} grantee`,
  'audit-acc': `${P} ${D}`,
  'access-nonce': 'self',
  nonce: 'self member-admin validator',
  proposal: 'member-admin validator',
  unknown: 'member-admin validator',
};

function cell(policy: (typeof ROUTE_ACCESS)[AccessKey]): string {
  return policy.kind === 'signed' ? policy.allow.join(' ') : policy.kind;
}

describe('the authorization table', () => {
  it('has a row for every route of the route table (and the patient event stream, and FHIR)', () => {
    const operations = ROUTES.map((route) => route.operationId as string);
    // A search by GET and by POST _search share their row.
    const fhir = new Set([
      ...[...FHIR_ROUTES, ...Object.values(EXPORT_ROUTES)].map((route) => route.access as string),
      CONSENT_CREATE_ACCESS,
    ]);
    expect(Object.keys(ROUTE_ACCESS).sort()).toEqual(
      [...operations, 'patientEvents', ...fhir].sort(),
    );
  });

  it('every cell, route x standing, is what the README says', () => {
    for (const [key, expected] of Object.entries(EXPECTED) as [AccessKey, string][]) {
      const policy = ROUTE_ACCESS[key];
      expect(cell(policy), key).toBe(expected);
      const admitted = new Set(expected.split(' '));
      for (const standing of STANDINGS) {
        const signed = policy.kind === 'signed';
        expect(allows(policy, new Set([standing])), `${key} x ${standing}`).toBe(
          !signed || admitted.has(standing),
        );
      }
      if (policy.kind === 'signed') expect(allows(policy, new Set()), key).toBe(false);
    }
  });

  it('state proofs by raw key: every table has the rule of the entry it proves', () => {
    const cells = Object.fromEntries(
      Object.entries(STATE_TABLE_ACCESS).map(([table, policy]) => [table, cell(policy)]),
    );
    expect(cells).toEqual(EXPECTED_TABLES);
  });
});

describe('standings from committed state', () => {
  const world = populatedBackend();
  const { backend, a, b, clinician, bClinician, alice } = world;
  const state = backend.state();
  const stranger = signer('table/stranger');
  const of = (key: Uint8Array, subject: Parameters<typeof standingsOf>[2], own = a.id) =>
    [...standingsOf(state, identify(state, key), subject, own, backend.time)].sort();

  it('patient, provider, admin and validator keys, each relative to the subject', () => {
    expect(of(alice.publicKey, { patient: alice.publicKey })).toEqual(['patient', 'registered']);
    expect(of(alice.publicKey, { patient: bClinician.publicKey })).toEqual(['registered']);
    expect(of(clinician.publicKey, { org: a.id })).toEqual<Standing[]>([
      'org-provider',
      'own-org-provider',
      'registered',
    ]);
    expect(of(bClinician.publicKey, { org: a.id })).toEqual(['registered']);
    expect(of(b.admin.publicKey, { org: b.id })).toEqual<Standing[]>([
      'member-admin',
      'org-admin',
      'registered',
    ]);
    expect(of(a.admin.publicKey, {})).toEqual<Standing[]>([
      'member-admin',
      'own-org-admin',
      'registered',
    ]);
    expect(of(a.validator.publicKey, {})).toEqual(['registered', 'validator']);
    expect(of(stranger.publicKey, { patient: alice.publicKey, org: a.id })).toEqual([]);
  });

  it('a grantee: the named provider, or the named organization’s admins and providers', () => {
    const toProvider = { type: 'provider' as const, id: bClinician.publicKey };
    const toOrg = { type: 'organization' as const, id: b.id };
    expect(of(bClinician.publicKey, { grantee: toProvider })).toContain('grantee');
    expect(of(b.admin.publicKey, { grantee: toProvider })).not.toContain('grantee');
    expect(of(b.admin.publicKey, { grantee: toOrg })).toContain('grantee');
    expect(of(bClinician.publicKey, { grantee: toOrg })).toContain('grantee');
    expect(of(clinician.publicKey, { grantee: toOrg })).not.toContain('grantee');
  });

  it("a record's custodian: its organization's admins and active providers, not its validator key", () => {
    const subject = { custodian: a.id };
    expect(of(clinician.publicKey, subject)).toContain('record-custodian');
    expect(of(a.admin.publicKey, subject)).toContain('record-custodian');
    expect(of(a.validator.publicKey, subject)).not.toContain('record-custodian');
    expect(of(bClinician.publicKey, subject)).not.toContain('record-custodian');
    expect(of(b.admin.publicKey, subject)).not.toContain('record-custodian');
    expect(of(clinician.publicKey, { org: a.id })).not.toContain('record-custodian');
  });

  it('state keys name their table and subject; anything else is "unknown"', () => {
    const record = stateKeyAccess(state, stateKeys.record(world.record));
    expect(record.table).toBe('record');
    expect(bytesEqual(record.subject.patient!, alice.publicKey)).toBe(true);
    expect(bytesEqual(record.subject.org!, a.id)).toBe(true);
    expect(bytesEqual(record.subject.custodian!, a.id)).toBe(true);
    const consent = stateKeyAccess(state, stateKeys.consent(world.consentId));
    expect(consent.subject.grantee?.type).toBe('provider');
    const trail = stateKeyAccess(state, stateKeys.auditAccumulator(alice.publicKey));
    expect(trail.table).toBe('audit-acc');
    expect(bytesEqual(trail.subject.patient!, alice.publicKey)).toBe(true);
    expect(stateKeyAccess(state, stateKeys.members()).policy.kind).toBe('public');
    for (const junk of [utf8('x'), new Uint8Array([0x91, 0x01]), sha256(utf8('junk'))]) {
      expect(stateKeyAccess(state, junk).table, toHex(junk)).toBe('unknown');
    }
    // A known table with parts of the wrong shape proves nothing to anyone but members.
    expect(stateKeyAccess(state, stateKeys.peerId('x')).table).toBe('peer');
  });
});

describe('the replay cache', () => {
  it('accepts a (keyid, nonce) once', () => {
    const cache = new ReplayCache(10);
    expect(cache.admit('k', 'n1', 0)).toBe('ok');
    expect(cache.admit('k', 'n1', 1000)).toBe('replayed');
    expect(cache.admit('k2', 'n1', 1000)).toBe('ok');
  });

  it('when full of pairs that could still be replayed, refuses new ones instead of evicting', () => {
    const cache = new ReplayCache(3);
    for (const nonce of ['a', 'b', 'c']) expect(cache.admit('k', nonce, 0)).toBe('ok');
    expect(cache.admit('k', 'd', 10_000)).toBe('full');
    // Once a window has passed every earlier signature has expired: eviction is safe again.
    const later = (REPLAY_WINDOW_SECONDS + 1) * 1000;
    expect(cache.admit('k', 'd', later)).toBe('ok');
    expect(cache.admit('k', 'a', later)).toBe('ok');
    expect(cache.admit('k', 'd', later)).toBe('replayed');
  });
});
