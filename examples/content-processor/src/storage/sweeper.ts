// File retention tied to job retention. A job's folder lives as long as the job: when docket
// deletes the job (the Pruner by age, POST /admin/jobs/prune, queue.delete, deleteJobs) the
// folder goes too; an upload lives until its job is final.
//
// Two ways, because docket tells only the node concerned what it did:
// - prompt: a job that completes, is discarded or cancelled on this node (Queue events) has its
//   upload removed at once, and so does one an operator cancels here (jobFinished); jobs the
//   admin API deletes have their folders removed (jobsDeleted);
// - the sweep, which needs no event: for each tenant folder, the job folders whose job no longer
//   exists (checked by id, 1000 at a time, with queue.listJobs) are removed, and so are uploads
//   no unfinished image or media-source job refers to, once older than UPLOAD_GRACE_MS (an
//   upload is saved just before its job is inserted; the grace keeps it meanwhile), and staged
//   uploads of requests that never finished. It runs every STORAGE_SWEEP_INTERVAL seconds on
//   each instance, after docket's `jobs:pruned` event (emitted on the node whose Pruner pruned)
//   and after POST /admin/jobs/prune.
// Sweeps on one instance run one at a time; two instances sweeping at once is fine (a file
// already gone is not an error). Each sweep logs what it removed.
import type { Job, JobState, Queue } from 'docket';
import type { PinoLike } from '../docket.js';
import type { Storage } from '../storage.js';
import { UnsafeNameError } from '../storage.js';

/** How old an unreferenced upload (or a staged one) must be before the sweep takes it. */
export const UPLOAD_GRACE_MS = 15 * 60_000;
/** Ids per listJobs call (docket's maximum page). */
const BATCH = 1000;
const DOCKET_ID = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 9223372036854775807n;
const FINAL: readonly JobState[] = ['completed', 'discarded', 'cancelled'];
const UNFINISHED: readonly JobState[] = ['held', 'available', 'scheduled', 'executing', 'retryable'];

export interface SweepReport {
  jobFolders: number;
  uploads: number;
  staged: number;
  bytes: number;
}

export interface SweeperOptions {
  queue: Pick<Queue, 'listJobs' | 'on' | 'off'>;
  storage: Storage;
  log: PinoLike;
  /** Workers whose jobs carry `args.uploadPath` (process-image, fetch-media-source). */
  uploadWorkers: readonly string[];
  /** ms between sweeps (STORAGE_SWEEP_INTERVAL); 0: no timer (events and the admin route still sweep). */
  intervalMs: number;
  uploadGraceMs?: number;
}

type JobLike = Pick<Job, 'id' | 'tags' | 'args'> & { state?: JobState };

/** The tenant of a job: its args' tenantId, else its `tenant:<id>` tag. */
export function jobTenant(job: Pick<Job, 'tags' | 'args'>): string | undefined {
  const args = job.args as { tenantId?: unknown } | null;
  if (args !== null && typeof args === 'object' && typeof args.tenantId === 'string') return args.tenantId;
  return job.tags.find((t) => t.startsWith('tenant:'))?.slice('tenant:'.length);
}

function uploadOfJob(job: Pick<Job, 'args'>): string | undefined {
  const args = job.args as { uploadPath?: unknown } | null;
  return args !== null && typeof args === 'object' && typeof args.uploadPath === 'string' ? args.uploadPath : undefined;
}

export class StorageSweeper {
  readonly #o: SweeperOptions;
  readonly #grace: number;
  #tail: Promise<unknown> = Promise.resolve();
  #queued = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  readonly #onFinal = ({ job }: { readonly job: Job }) => void this.jobFinished(job);
  readonly #onPruned = () => this.request();

  constructor(options: SweeperOptions) {
    this.#o = options;
    this.#grace = options.uploadGraceMs ?? UPLOAD_GRACE_MS;
    for (const event of ['job:complete', 'job:discard', 'job:cancel'] as const) options.queue.on(event, this.#onFinal);
    options.queue.on('jobs:pruned', this.#onPruned);
  }

  /** Starts the timer (STORAGE_SWEEP_INTERVAL); server.ts calls it once listening. */
  start(): void {
    if (this.#stopped || this.#timer !== undefined || this.#o.intervalMs <= 0) return;
    this.#timer = setInterval(() => this.request(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Stops listening and ticking, ends a running sweep early and waits for it and for pending removals. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const event of ['job:complete', 'job:discard', 'job:cancel'] as const) this.#o.queue.off(event, this.#onFinal);
    this.#o.queue.off('jobs:pruned', this.#onPruned);
    this.#abort.abort();
    await Promise.allSettled([this.#tail, ...this.#pending]);
  }

  /** Asks for a sweep soon (coalesced: at most one waits behind the running one). */
  request(): void {
    if (this.#queued || this.#stopped) return;
    this.#queued = true;
    this.#track(
      this.#enqueue(() => {
        this.#queued = false;
        return this.#sweepOnce();
      }).catch((error: unknown) => this.#o.log.warn({ err: error }, 'storage sweep failed; it runs again later')),
    );
  }

  /** Sweeps now (after a running sweep ends) and returns what it removed. */
  sweep(): Promise<SweepReport> {
    return this.#enqueue(() => this.#sweepOnce());
  }

  /** A job reached a final state: its upload (if it had one) goes now. */
  async jobFinished(job: JobLike): Promise<void> {
    const uploadPath = uploadOfJob(job);
    const tenant = jobTenant(job);
    if (this.#stopped || uploadPath === undefined || tenant === undefined) return;
    if (job.state !== undefined && !FINAL.includes(job.state)) return;
    await this.#track(this.#removeUpload(tenant, uploadPath));
  }

  /** Jobs were deleted: their folders (and uploads) go now. */
  async jobsDeleted(jobs: readonly JobLike[]): Promise<number> {
    let bytes = 0;
    for (const job of jobs) {
      const tenant = jobTenant(job);
      if (tenant === undefined) continue;
      try {
        bytes += await this.#o.storage.forTenant(tenant).remove(job.id);
      } catch (error) {
        if (!(error instanceof UnsafeNameError)) throw error;
      }
      const uploadPath = uploadOfJob(job);
      if (uploadPath !== undefined) await this.#removeUpload(tenant, uploadPath);
    }
    return bytes;
  }

  #enqueue<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(run, run);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    void promise.finally(() => this.#pending.delete(promise)).catch(() => undefined);
    return promise;
  }

  async #removeUpload(tenant: string, uploadPath: string): Promise<void> {
    try {
      await this.#o.storage.forTenant(tenant).removeUpload(uploadPath);
    } catch (error) {
      if (!(error instanceof UnsafeNameError)) this.#o.log.warn({ err: error, tenant, uploadPath }, 'could not remove an upload');
    }
  }

  async #sweepOnce(): Promise<SweepReport> {
    const report: SweepReport = { jobFolders: 0, uploads: 0, staged: 0, bytes: 0 };
    if (this.#stopped) return report;
    const { storage } = this.#o;
    const started = Date.now();
    // Uploads unfinished jobs still need, read before the files are listed: an upload saved
    // after this read is younger than the grace, so it is never taken.
    const referenced = await this.#referencedUploads();
    const oldEnough = (modifiedAt: Date) => started - modifiedAt.getTime() > this.#grace;
    for (const tenant of await storage.tenants()) {
      if (this.#abort.signal.aborted) return report;
      const files = storage.forTenant(tenant);
      const ids = (await files.jobFolders()).filter((id) => DOCKET_ID.test(id) && BigInt(id) <= MAX_ID);
      for (let i = 0; i < ids.length; i += BATCH) {
        if (this.#abort.signal.aborted) return report;
        const batch = ids.slice(i, i + BATCH);
        const page = await this.#o.queue.listJobs({ ids: batch, limit: BATCH });
        const alive = new Set(page.jobs.map((j) => j.id));
        for (const id of batch) {
          if (alive.has(id)) continue;
          report.bytes += await files.remove(id);
          report.jobFolders++;
        }
      }
      for (const upload of await files.uploads()) {
        if (referenced.has(`${tenant}/${upload.name}`) || !oldEnough(upload.modifiedAt)) continue;
        await files.removeUpload(upload.name);
        report.uploads++;
        report.bytes += upload.bytes;
      }
    }
    for (const staged of await storage.stagedEntries()) {
      if (!oldEnough(staged.modifiedAt)) continue;
      await storage.discardStaged({ id: staged.name });
      report.staged++;
      report.bytes += staged.bytes;
    }
    const removed = report.jobFolders + report.uploads + report.staged;
    if (removed > 0) this.#o.log.info({ ...report, ms: Date.now() - started }, 'storage sweep removed files of deleted jobs and unused uploads');
    else this.#o.log.debug({ ms: Date.now() - started }, 'storage sweep: nothing to remove');
    return report;
  }

  /** `<tenant>/uploads/<uuid>` of every unfinished job that reads an upload (keyset paged). */
  async #referencedUploads(): Promise<Set<string>> {
    const out = new Set<string>();
    let after: string | undefined;
    for (;;) {
      const page = await this.#o.queue.listJobs({
        worker: this.#o.uploadWorkers,
        state: UNFINISHED,
        order: 'asc',
        limit: BATCH,
        ...(after === undefined ? {} : { after }),
      });
      for (const job of page.jobs) {
        const uploadPath = uploadOfJob(job);
        const tenant = jobTenant(job);
        if (uploadPath !== undefined && tenant !== undefined) out.add(`${tenant}/${uploadPath}`);
      }
      if (page.next === null) return out;
      after = page.next;
    }
  }
}
