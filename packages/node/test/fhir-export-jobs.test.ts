import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Canonical, type Signer, toHex, utf8 } from '@medchain/crypto';
import {
  auditTrail,
  RECORD_SALT_BYTES,
  recordCommitment,
  recordId,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS_FILE, type ExportJob, ExportJobs } from '../src/fhir/export/jobs.js';
import { RecordError } from '../src/records/errors.js';
import { Vault } from '../src/vault/index.js';
import { bytes, LedgerBackend, type Org, signer } from './api-chain.js';

/**
 * ExportJobs on the real ledger (LedgerBackend: blocks built and executed, no consensus) and a
 * real vault: a release that fails at block time leaves its patient out entirely, a patient
 * whose consent covers only some records is released with those, opt-outs are counted, and
 * every written patient's release committed first.
 */

const DAY = 86_400_000;
const backend = new LedgerBackend();
const [a, b] = backend.orgs as [Org, Org];
const clinician = signer('export/clinician');
const study = signer('export/study');
const alice = signer('export/alice'); // consents: released
const bob = signer('export/bob'); // consents, revokes in the block of his release
const carol = signer('export/carol'); // consents, opted out
const dave = signer('export/dave'); // consents to one of his two records
let dir: string;
let vault: Vault;
let jobs: ExportJobs;
/** Another party's move, ordered just before the release in the same block. */
let beforeCommit: (kind: TxKind, body: Canonical) => void | Promise<void> = () => undefined;
/** A mempool refusal (its admission code) of the custodian's submission, if any. */
let refuse: (body: Canonical) => string | undefined = () => undefined;
const consents = new Map<string, Uint8Array>();
const records = new Map<string, Uint8Array[]>();

/** The custodian's log-then-serve commit, on this ledger: sign, admit, build the block, check OK. */
const committer = {
  async commitTransaction(kind: TxKind, body: Canonical): Promise<Uint8Array> {
    const refusal = refuse(body);
    if (refusal !== undefined) {
      throw new RecordError('RECORD_LOG_FAILED', `not admitted (${refusal})`, {
        admission: refusal,
      });
    }
    await beforeCommit(kind, body);
    const tx = backend.admit(backend.sign(a.validator, kind, body as object));
    const hash = transactionHash(tx);
    const receipt = backend.commit().receipts.find((r) => toHex(r.txHash) === toHex(hash))!;
    if (receipt.code !== 'OK') {
      throw new RecordError('RECORD_LOG_FAILED', receipt.message, { receipt: receipt.code });
    }
    return hash;
  },
};

function observation(label: string, value: number): Uint8Array {
  return utf8(
    JSON.stringify({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2339-0' }] },
      subject: { reference: `Patient/${label}`, display: label },
      effectiveDateTime: '2024-03-05T10:00:00Z',
      valueQuantity: { value, unit: 'mg/dL' },
    }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medchain-export-jobs-'));
  vault = await Vault.open(join(dir, 'vault'), { masterSeed: bytes('vault seed') });
  backend.admit(
    backend.sign(a.admin, 'provider.register', {
      provider: clinician.publicKey,
      role: 'clinician',
    }),
  );
  backend.admit(
    backend.sign(b.admin, 'provider.register', { provider: study.publicKey, role: 'researcher' }),
  );
  for (const p of [alice, bob, carol, dave]) backend.admit(backend.sign(p, 'patient.register', {}));
  backend.commit();
  const patients: [Signer, number][] = [
    [alice, 1],
    [bob, 1],
    [carol, 1],
    [dave, 2],
  ];
  for (const [n, [p, count]] of patients.entries()) {
    const ids: Uint8Array[] = [];
    for (let r = 0; r < count; r++) {
      const nonce = bytes(`${toHex(p.publicKey)}-${r}`, 16);
      const content = observation(`${toHex(p.publicKey).slice(0, 8)}-${r}`, 100 * n + r);
      const salt = new Uint8Array(randomBytes(RECORD_SALT_BYTES));
      backend.admit(
        backend.sign(clinician, 'record.anchor', {
          patient: p.publicKey,
          custodian: a.id,
          resourceType: 'Observation',
          contentHash: recordCommitment(salt, content),
          nonce,
        }),
      );
      const id = recordId(a.id, p.publicKey, nonce);
      await vault.put({ recordId: id, patient: p.publicKey, version: 1, content, salt });
      ids.push(id);
    }
    records.set(toHex(p.publicKey), ids);
  }
  backend.commit();
  for (const [p] of patients) {
    const onlyFirst = p === dave;
    const grant = backend.admit(
      backend.sign(p, 'consent.grant', {
        patient: p.publicKey,
        grantee: { type: 'provider', id: study.publicKey },
        recordIds: onlyFirst ? [records.get(toHex(p.publicKey))![0]!] : [],
        resourceTypes: onlyFirst ? [] : ['Observation'],
        actions: ['disclose'],
        purposes: ['HRESCH'],
        validFrom: backend.time,
        validUntil: backend.time + 30 * DAY,
      }),
    );
    consents.set(toHex(p.publicKey), transactionHash(grant));
  }
  backend.admit(
    backend.sign(carol, 'patient.policy', {
      patient: carol.publicKey,
      breakGlassOptOut: false,
      researchOptOut: true,
    }),
  );
  backend.commit();
  jobs = new ExportJobs({
    backend,
    vault,
    committer,
    ownOrganization: () => a.id,
    dir: join(dir, 'exports'),
    // The ledger's clock: the job decides at the time the next block will have.
    now: () => backend.time,
    logger: pino({ level: 'silent' }),
    concurrency: 1,
    retryDelayMs: 1,
    releaseAttempts: 3,
  });
});

afterAll(async () => {
  await jobs.close();
  await vault.close();
  await rm(dir, { recursive: true, force: true });
});

/** Starts the study's export (its kick-off named `kickOff`) of `types`, and waits for its end. */
async function exported(kickOff: string, types: string[] = []): Promise<ExportJob> {
  const job = jobs.start({
    study: study.publicKey,
    url: 'http://127.0.0.1/fhir/r4/$export',
    requestHash: bytes(kickOff),
    types,
    transactionTime: backend.time,
  });
  for (let i = 0; i < 200 && job.status === 'running'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return job;
}

describe('research export jobs on the real ledger', () => {
  it('leaves out whoever the ledger refuses at block time, and serves only what was released', async () => {
    // Bob revokes his consent in the very block that carries his release, just before it.
    beforeCommit = (kind, body) => {
      const patient = toHex((body as { patient: Uint8Array }).patient);
      if (kind === 'research.release' && patient === toHex(bob.publicKey)) {
        backend.admit(backend.sign(bob, 'consent.revoke', { consentId: consents.get(patient)! }));
      }
    };
    const job = await exported('kick-off');
    expect(job.status).toBe('complete');
    expect(job.planned).toBe(3);
    expect(job.released).toBe(2);
    expect(job.excluded).toEqual({ 'opted-out': 1, NO_RESEARCH_CONSENT: 1 });
    expect(job.releases.map((r) => r.patient).sort()).toEqual(
      [alice, dave].map((p) => toHex(p.publicKey)).sort(),
    );
    const lines = (await readFile(join(dir, 'exports', job.id, 'Observation.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { valueQuantity: { value: number } });
    // Alice's one record (0) and the first of Dave's two (300: the one his consent names).
    expect(lines.map((o) => o.valueQuantity.value).sort()).toEqual([0, 300]);
    expect(job.files.get('Observation.ndjson')?.count).toBe(2);
    const errors = await readFile(join(dir, 'exports', job.id, ERRORS_FILE), 'utf8');
    expect(errors).toContain('NO_RESEARCH_CONSENT');
    expect(errors).not.toContain(toHex(bob.publicKey));
    for (const release of job.releases) {
      expect(release.committedAt).toBeLessThanOrEqual(release.firstByteAt!);
      const trail = auditTrail(backend.history(), Buffer.from(release.patient, 'hex')).items;
      expect(trail.map((e) => toHex(e.txHash))).toContain(release.txHash);
    }
    // Dave's release names only the record his consent covers.
    const daveRelease = job.releases.find((r) => r.patient === toHex(dave.publicKey))!;
    const tx = backend.blocks[daveRelease.height - 1]!.block.txs.find(
      (t) => toHex(transactionHash(t)) === daveRelease.txHash,
    )!;
    expect((tx.body as { recordIds: Uint8Array[] }).recordIds).toEqual([
      records.get(toHex(dave.publicKey))![0],
    ]);
    expect(auditTrail(backend.history(), bob.publicKey).total).toBe(0);
  });

  it('refuses files of unknown exports and names outside the output', async () => {
    const job = await exported('kick-off 2', ['Patient']);
    expect(job.status).toBe('complete');
    // _type=Patient: nothing of the Observations is written.
    expect([...job.files.keys()]).toEqual([]);
    await expect(jobs.file(job.id, 'Observation.ndjson')).rejects.toMatchObject({
      code: 'EXPORT_FILE_NOT_FOUND',
    });
    await expect(jobs.file(job.id, '..')).rejects.toMatchObject({ code: 'EXPORT_FILE_NOT_FOUND' });
    await expect(jobs.file('0'.repeat(32), ERRORS_FILE)).rejects.toMatchObject({
      code: 'EXPORT_FILE_NOT_FOUND',
    });
    await jobs.remove(job.id);
    expect(jobs.get(job.id)).toBeUndefined();
  });

  it('retries transiently refused releases, and counts whoever is still left out', async () => {
    beforeCommit = () => undefined;
    const tries = new Map<string, number>();
    refuse = (body) => {
      const patient = toHex((body as { patient: Uint8Array }).patient);
      const n = (tries.get(patient) ?? 0) + 1;
      tries.set(patient, n);
      // Alice is refused twice (the mempool's per-signer limit), then admitted; Dave always.
      if (patient === toHex(alice.publicKey) && n <= 2) return 'RATE_LIMITED';
      if (patient === toHex(dave.publicKey)) return 'MEMPOOL_FULL';
      return undefined;
    };
    const job = await exported('kick-off 3');
    refuse = () => undefined;
    expect(job.status).toBe('complete');
    expect(tries.get(toHex(alice.publicKey))).toBe(3);
    expect(tries.get(toHex(dave.publicKey))).toBe(3);
    expect(job.releases.map((r) => r.patient)).toEqual([toHex(alice.publicKey)]);
    expect(job.excluded).toMatchObject({ MEMPOOL_FULL: 1 });
    const errors = await readFile(join(dir, 'exports', job.id, ERRORS_FILE), 'utf8');
    expect(errors).toContain('1 consenting patient(s) left out');
    expect(errors).toContain('MEMPOOL_FULL, after 3 attempts');
    expect(errors).not.toContain(toHex(dave.publicKey));
  });

  it('leaves out a record shredded between its release and its read, and completes', async () => {
    const [aliceRecord] = records.get(toHex(alice.publicKey))!;
    // The vault shreds Alice's record while her release is on its way (the ledger still has it).
    beforeCommit = async (_kind, body) => {
      if (toHex((body as { patient: Uint8Array }).patient) === toHex(alice.publicKey)) {
        await vault.erase(aliceRecord!);
      }
    };
    const job = await exported('kick-off 4');
    beforeCommit = () => undefined;
    expect(job.status).toBe('complete');
    expect(job.releases.map((r) => r.patient).sort()).toEqual(
      [alice, dave].map((p) => toHex(p.publicKey)).sort(),
    );
    const lines = (await readFile(join(dir, 'exports', job.id, 'Observation.ndjson'), 'utf8'))
      .trim()
      .split('\n');
    expect(lines).toHaveLength(1);
    const errors = await readFile(join(dir, 'exports', job.id, ERRORS_FILE), 'utf8');
    expect(errors).toContain('a released record was erased before it was read');
  });
});
