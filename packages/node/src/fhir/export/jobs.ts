import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bytesEqual, type Canonical, CodedError, toHex } from '@medchain/crypto';
import {
  decideAccess,
  getPatient,
  getRecord,
  type KeyValueReader,
  MAX_SCOPE_ITEMS,
  type ResearchReleaseBody,
  type TxKind,
} from '@medchain/ledger';
import type { ApiBackend, CommittedBlockEvent } from '../../api/backend.js';
import type { Logger } from '../../logger.js';
import { RecordError } from '../../records/errors.js';
import type { Vault } from '../../vault/index.js';
import { deidentifyRecord, type FhirJson, Pseudonyms, safeHarborFindings } from './deidentify.js';

/** What the export needs of the records service: log, then serve (`commitTransaction`). */
export interface ReleaseCommitter {
  commitTransaction(kind: TxKind, body: Canonical): Promise<Uint8Array>;
}

export interface ExportJobsOptions {
  readonly backend: Pick<ApiBackend, 'state' | 'subscribe'>;
  readonly vault: Pick<Vault, 'entries' | 'get'>;
  readonly committer: ReleaseCommitter;
  /** The member organization whose validator key this node holds (the custodian). */
  readonly ownOrganization: () => Uint8Array | undefined;
  /** Where the ndjson files of running and finished exports are written. */
  readonly dir: string;
  /** Wall clock (ms). */
  readonly now: () => number;
  readonly logger: Logger;
  /**
   * Releases in flight at once, per job: below the mempool's 256 pending per signer, which the
   * record exchange shares (the same validator key). Default 192.
   */
  readonly concurrency?: number;
  /**
   * Tries per release when the refusal is transient (the mempool's per-signer or size limit, a
   * nonce race, or no commit within the records service's timeout). Default 5.
   */
  readonly releaseAttempts?: number;
  /** Wait before the first retry of a release, doubled before each next one. Default 1 s. */
  readonly retryDelayMs?: number;
  /** How long a finished export's files are kept. Default 1 hour. */
  readonly retainMs?: number;
  /** Exports running at once on this node; more are refused (429). Default 4. */
  readonly maxRunning?: number;
}

/** What kicked the export off: the study's signed request, kept so it can be checked again. */
export interface KickOff {
  readonly study: Uint8Array;
  /** The absolute request URL as signed. */
  readonly url: string;
  readonly requestHash: Uint8Array;
  /** Resource types asked for (`_type`); empty: all. */
  readonly types: readonly string[];
  /** `_since` (ms): only records changed on the ledger at or after it. */
  readonly since?: number;
  /** The manifest's transactionTime: the last committed block's time at kick-off. */
  readonly transactionTime: number;
}

/**
 * One patient's release, in the order log-then-serve requires: the disclosure entry committed
 * (`height`, `blockTime`, seen by this node at `committedAt`) before the first byte of the
 * patient's data was written (`firstByteAt`, undefined when nothing was written).
 */
export interface Release {
  readonly patient: string;
  readonly txHash: string;
  readonly height: number;
  readonly blockTime: number;
  readonly committedAt: number;
  firstByteAt?: number;
}

export interface OutputFile {
  readonly type: string;
  readonly name: string;
  count: number;
}

export type JobStatus = 'running' | 'complete' | 'failed' | 'cancelled';

export interface ExportJob {
  readonly id: string;
  readonly kickOff: KickOff;
  status: JobStatus;
  /** Patients to release, and released so far (X-Progress). */
  planned: number;
  released: number;
  /** Patients left out, by why: no research consent covering their records, opted out, or a release that did not commit. */
  readonly excluded: Record<string, number>;
  readonly releases: Release[];
  readonly files: Map<string, OutputFile>;
  /** Problems the study may see (no patient named): OperationOutcome lines of the error file. */
  readonly errors: string[];
  failure?: string;
}

export class ExportError extends CodedError<
  'EXPORT_BUSY' | 'EXPORT_NOT_FOUND' | 'EXPORT_FILE_NOT_FOUND'
> {
  override readonly name = 'ExportError';
}

/** The OperationOutcome lines of an export (the manifest's `error`). */
export const ERRORS_FILE = 'errors.ndjson';

/**
 * Why a release may commit if tried again: admission limits (per signer, pool size), a nonce
 * another entry took, and a commit not seen within the wait.
 */
const TRANSIENT_RELEASE_FAILURES = new Set([
  'RATE_LIMITED',
  'MEMPOOL_FULL',
  'BAD_NONCE',
  'LOG_TIMEOUT',
]);

/** Vault answers that leave one record out of an export rather than fail it. */
const SKIPPED_READS = new Set(['RECORD_ERASED', 'RECORD_NOT_IN_VAULT']);

/** A line of the error file: a warning OperationOutcome that names no patient. */
function warningLine(text: string): string {
  return JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'warning', code: 'suppressed', details: { text } }],
  });
}

/** The admission or receipt code a release failed with, else the records service's code. */
function releaseFailure(error: RecordError): string {
  const { admission, receipt } = error.details;
  return String(admission ?? receipt ?? error.code);
}

/** A patient's records in this vault that the study's consent covers, by consent. */
interface Plan {
  readonly patient: Uint8Array;
  readonly byConsent: Map<string, { consentId: Uint8Array; recordIds: Uint8Array[] }>;
}

/**
 * Research exports (see README.md beside this file): for each patient whose records this node
 * keeps and whose research consent covers the study, one `research.release` is committed on
 * the ledger, and only then are that patient's records read from the vault, de-identified
 * (Safe Harbor) and written to the export's ndjson files, one per resource type.
 */
export class ExportJobs {
  private readonly jobs = new Map<string, ExportJob>();
  /** Blocks seen: tx hash -> where it committed, for the releases' ordering record. */
  private readonly committed = new Map<string, { height: number; time: number; at: number }>();
  private readonly unsubscribe: () => void;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Jobs live in memory only: files a previous run left behind are deleted first. */
  private readonly cleared: Promise<void>;

  constructor(private readonly options: ExportJobsOptions) {
    this.unsubscribe = options.backend.subscribe((event) => this.onBlock(event));
    this.cleared = rm(options.dir, { recursive: true, force: true });
  }

  private onBlock(event: CommittedBlockEvent): void {
    if (![...this.jobs.values()].some((job) => job.status === 'running')) return;
    const at = this.options.now();
    event.txs.forEach((tx, i) => {
      if (tx.kind !== 'research.release' || event.receipts[i]?.code !== 'OK') return;
      const hash = toHex(event.receipts[i]!.txHash);
      this.committed.set(hash, { height: event.header.height, time: event.header.time, at });
    });
  }

  get(id: string): ExportJob | undefined {
    return this.jobs.get(id);
  }

  /** Starts an export; resolves with its job at once (the work runs on). */
  start(kickOff: KickOff): ExportJob {
    const running = [...this.jobs.values()].filter((job) => job.status === 'running').length;
    if (running >= (this.options.maxRunning ?? 4)) {
      throw new ExportError('EXPORT_BUSY', `${running} exports are running; retry later`);
    }
    const job: ExportJob = {
      id: toHex(new Uint8Array(randomBytes(16))),
      kickOff,
      status: 'running',
      planned: 0,
      released: 0,
      excluded: {},
      releases: [],
      files: new Map(),
      errors: [],
    };
    this.jobs.set(job.id, job);
    void this.run(job).catch((error: unknown) => {
      // A cancelled job's files are deleted under it: nothing failed.
      if (job.status === 'cancelled') return;
      job.status = 'failed';
      job.failure = error instanceof Error ? error.message : String(error);
      this.options.logger.error({ err: error, job: job.id }, 'research export failed');
    });
    return job;
  }

  /** Cancels a running export or deletes a finished one, with its files. */
  async remove(id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (job === undefined) throw new ExportError('EXPORT_NOT_FOUND', `no export ${id}`);
    if (job.status === 'running') job.status = 'cancelled';
    this.jobs.delete(id);
    await rm(this.jobDir(id), { recursive: true, force: true });
  }

  /** An output file's path, if the job is complete and has it. */
  async file(id: string, name: string): Promise<{ path: string; size: number }> {
    const job = this.jobs.get(id);
    if (job?.status !== 'complete' || !(job.files.has(name) || name === ERRORS_FILE)) {
      throw new ExportError('EXPORT_FILE_NOT_FOUND', `no file ${name} in export ${id}`);
    }
    const path = join(this.jobDir(id), name);
    return { path, size: (await stat(path)).size };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    for (const job of this.jobs.values()) if (job.status === 'running') job.status = 'cancelled';
  }

  private jobDir(id: string): string {
    return join(this.options.dir, id);
  }

  private get state(): KeyValueReader {
    return this.options.backend.state();
  }

  private async run(job: ExportJob): Promise<void> {
    const { logger } = this.options;
    const own = this.options.ownOrganization();
    if (own === undefined) throw new Error('this node does not hold a member organization key');
    await this.cleared;
    await mkdir(this.jobDir(job.id), { recursive: true });
    const plans = await this.plan(job, own);
    job.planned = plans.length;
    logger.info(
      { job: job.id, study: toHex(job.kickOff.study).slice(0, 16), patients: plans.length },
      'research export planned',
    );
    const pseudonymSource = () => toHex(new Uint8Array(randomBytes(16)));
    const writer = new Writer(this.jobDir(job.id), job);
    /** Patients left out because a release did not commit, by why (never whose). */
    const failed = new Map<string, number>();
    let next = 0;
    // Releases commit `concurrency` at a time; each patient's data is read and written as soon
    // as their releases are committed, while the next releases are already on their way.
    const serving: Promise<void>[] = [];
    // A failed write fails the job, once every started step has settled (a rejection is
    // caught at once: one left waiting for Promise.all would be unhandled meanwhile).
    let broken: { error: unknown } | undefined;
    const worker = async () => {
      while (next < plans.length && job.status === 'running' && !this.closed && !broken) {
        const plan = plans[next++]!;
        const releases = await this.commitReleases(job, plan, failed);
        if (releases !== undefined && job.status === 'running') {
          const served = this.serve(job, plan, releases, writer, new Pseudonyms(pseudonymSource));
          serving.push(
            served.catch((error: unknown) => {
              broken ??= { error };
            }),
          );
        }
      }
    };
    const concurrency = Math.max(1, this.options.concurrency ?? 192);
    await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, worker));
    await Promise.all(serving);
    if (broken !== undefined) throw broken.error;
    for (const [code, count] of failed) {
      job.errors.push(
        warningLine(
          `${count} consenting patient(s) left out: their release did not commit (${code}${TRANSIENT_RELEASE_FAILURES.has(code) ? `, after ${this.options.releaseAttempts ?? 5} attempts` : ''}); none of their data is included`,
        ),
      );
    }
    await writer.close();
    // Releases of a cancelled job may have committed unclaimed.
    if (![...this.jobs.values()].some((other) => other.status === 'running' && other !== job)) {
      this.committed.clear();
    }
    if (job.status !== 'running') return;
    job.status = 'complete';
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.remove(job.id).catch(() => undefined);
    }, this.options.retainMs ?? 3_600_000);
    timer.unref();
    this.timers.add(timer);
    logger.info(
      { job: job.id, released: job.released, excluded: job.excluded },
      'research export complete',
    );
  }

  /**
   * The patients to release: those with live records here (at their anchored version) that
   * the study's research consent covers; a patient who opted out, or none of whose records is
   * covered, is only counted.
   */
  private async plan(job: ExportJob, own: Uint8Array): Promise<Plan[]> {
    const { study, since } = job.kickOff;
    const time = this.options.now();
    const patients = new Map<string, Plan & { optedOut: boolean }>();
    for await (const entry of this.options.vault.entries()) {
      const state = this.state;
      const record = getRecord(state, entry.recordId);
      if (record === undefined || record.erased || !bytesEqual(record.custodian, own)) continue;
      if (!entry.versions.some((v) => bytesEqual(v.contentHash, record.contentHash))) continue;
      if (since !== undefined && record.updatedAt < since) continue;
      const id = toHex(record.patient);
      const plan = patients.get(id) ?? {
        patient: record.patient,
        byConsent: new Map(),
        optedOut: getPatient(state, record.patient)?.researchOptOut === true,
      };
      patients.set(id, plan);
      if (plan.optedOut) continue;
      const decision = decideAccess(state, {
        requester: study,
        action: 'disclose',
        recordId: record.id,
        purpose: 'HRESCH',
        time,
      });
      if (decision.decision !== 'permit' || decision.consentId === null) continue;
      const consent = toHex(decision.consentId);
      const group = plan.byConsent.get(consent) ?? { consentId: decision.consentId, recordIds: [] };
      group.recordIds.push(record.id);
      plan.byConsent.set(consent, group);
    }
    const plans: Plan[] = [];
    for (const plan of patients.values()) {
      const why = plan.optedOut
        ? 'opted-out'
        : plan.byConsent.size === 0
          ? 'no-consent'
          : undefined;
      if (why === undefined) plans.push(plan);
      else job.excluded[why] = (job.excluded[why] ?? 0) + 1;
    }
    return plans;
  }

  /**
   * Log: a patient's releases (one per consent and 64 records), each committed OK; undefined
   * when one does not commit even after retries (the patient is then left out, and counted in
   * `failed` by why).
   */
  private async commitReleases(
    job: ExportJob,
    plan: Plan,
    failed: Map<string, number>,
  ): Promise<Release[] | undefined> {
    const patient = toHex(plan.patient);
    const releases: Release[] = [];
    try {
      for (const { consentId, recordIds } of plan.byConsent.values()) {
        for (let i = 0; i < recordIds.length; i += MAX_SCOPE_ITEMS) {
          const body: ResearchReleaseBody = {
            study: job.kickOff.study,
            patient: plan.patient,
            consentId,
            recordIds: recordIds.slice(i, i + MAX_SCOPE_ITEMS),
            requestHash: job.kickOff.requestHash,
          };
          const hash = toHex(await this.commitRelease(job, body));
          const where = this.committed.get(hash);
          this.committed.delete(hash);
          if (where === undefined) throw new Error(`release ${hash} committed unseen`);
          releases.push({
            patient,
            txHash: hash,
            height: where.height,
            blockTime: where.time,
            committedAt: where.at,
          });
        }
      }
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      const code = releaseFailure(error);
      job.excluded[code] = (job.excluded[code] ?? 0) + 1;
      failed.set(code, (failed.get(code) ?? 0) + 1);
      return undefined;
    }
    return releases;
  }

  /**
   * One release, tried again with a doubling wait while the refusal is transient, so a busy
   * mempool does not silently cost the study a consenting patient. A retry after LOG_TIMEOUT
   * may commit a second release of the same records if the first was only slow: the ledger
   * then shows one disclosure twice, never one that is missing.
   */
  private async commitRelease(job: ExportJob, body: ResearchReleaseBody): Promise<Uint8Array> {
    const attempts = Math.max(1, this.options.releaseAttempts ?? 5);
    const delayMs = this.options.retryDelayMs ?? 1_000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.options.committer.commitTransaction(
          'research.release',
          body as unknown as Canonical,
        );
      } catch (error) {
        const retry =
          error instanceof RecordError &&
          TRANSIENT_RELEASE_FAILURES.has(releaseFailure(error)) &&
          attempt < attempts &&
          job.status === 'running' &&
          !this.closed;
        if (!retry) throw error;
        await sleep(delayMs * 2 ** (attempt - 1), undefined, { ref: false });
      }
    }
  }

  /** Then serve: the patient's records, de-identified, appended to the export's files. */
  private async serve(
    job: ExportJob,
    plan: Plan,
    releases: Release[],
    writer: Writer,
    pseudonyms: Pseudonyms,
  ): Promise<void> {
    job.releases.push(...releases);
    const resources: FhirJson[] = [];
    const year = new Date(this.options.now()).getUTCFullYear();
    for (const { recordIds } of plan.byConsent.values()) {
      for (const recordId of recordIds) {
        const anchored = getRecord(this.state, recordId);
        if (anchored === undefined || anchored.erased) continue;
        let stored: Awaited<ReturnType<Vault['get']>>;
        try {
          stored = await this.options.vault.get(recordId, anchored.contentHash);
        } catch (error) {
          // Shredded (or amended past this version) since the plan: the erasure wins.
          if (!(error instanceof RecordError) || !SKIPPED_READS.has(error.code)) throw error;
          job.errors.push(warningLine('a released record was erased before it was read; left out'));
          continue;
        }
        const content = JSON.parse(Buffer.from(stored.content).toString('utf8')) as FhirJson;
        for (const resource of deidentifyRecord(content, { pseudonyms, year })) {
          const types = job.kickOff.types;
          if (types.length > 0 && !types.includes(String(resource.resourceType))) continue;
          // Belt and braces: a resource the scanner objects to is not written at all.
          if (safeHarborFindings(resource).length > 0) {
            job.errors.push(
              warningLine(`a ${resource.resourceType} was withheld by the Safe Harbor check`),
            );
            continue;
          }
          resources.push(resource);
        }
      }
    }
    await writer.write(resources, () => {
      const at = this.options.now();
      for (const release of releases) release.firstByteAt = at;
    });
    job.released += 1;
  }
}

/** The export's ndjson files, one per resource type, appended to one patient at a time. */
class Writer {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly handles = new Map<string, Awaited<ReturnType<typeof open>>>();

  constructor(
    private readonly dir: string,
    private readonly job: ExportJob,
  ) {}

  /** Appends one patient's resources; `firstByte` runs just before the first byte is written. */
  write(resources: readonly FhirJson[], firstByte: () => void): Promise<void> {
    const work = async () => {
      if (resources.length === 0 || this.job.status !== 'running') return;
      const byType = new Map<string, string[]>();
      for (const resource of resources) {
        const type = String(resource.resourceType);
        byType.set(type, [...(byType.get(type) ?? []), `${JSON.stringify(resource)}\n`]);
      }
      firstByte();
      for (const [type, lines] of byType) {
        const name = `${type}.ndjson`;
        let handle = this.handles.get(name);
        if (handle === undefined) {
          handle = await open(join(this.dir, name), 'a', 0o600);
          this.handles.set(name, handle);
          this.job.files.set(name, { type, name, count: 0 });
        }
        await handle.appendFile(lines.join(''));
        this.job.files.get(name)!.count += lines.length;
      }
    };
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
    for (const handle of this.handles.values()) await handle.close();
    const errors = this.job.errors;
    if (this.job.status !== 'running') return;
    const handle = await open(join(this.dir, ERRORS_FILE), 'w', 0o600);
    await handle.appendFile(errors.map((line) => `${line}\n`).join(''));
    await handle.close();
  }
}

/** `_since` as ms, or undefined; refuses what is not a FHIR instant. */
export function parseSince(value: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    return undefined;
  }
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
