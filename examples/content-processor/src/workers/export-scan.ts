// The read side of an export: one tenant's jobs, oldest first, up to the snapshot's last id, in
// keyset pages of docket's listJobs (id > cursor), the next page fetched while the caller works
// on this one (so memory holds two pages of jobs at most, whatever the number of jobs exported).
//
// A stretch of ids can be read two ways that give the same jobs: asking the database for the
// tenant's tag (`tags: ['tenant:<id>']`), or reading every job and keeping the tenant's. The
// tagged query is the one to want (a tenant's few jobs without everyone else's): it walks the id
// index and keeps the tenant's rows, about one page of rows per page where the tenant is dense.
// Where it is sparse, a tagged page reads many rows to fill itself, and when one of the job
// tables (live jobs, a day of finished ones) has no job of the tenant after the cursor, every
// tagged page reads that table to its end (EXPLAIN ANALYZE on 1M jobs, see the README). Reading
// every job never does that: it reads one page of rows per page. So each page goes the
// way that covered ids faster lately, and the other way is tried again now and then, less often
// each time it loses; the jobs are the same either way.
import type { Job, Queue } from 'docket';
import { tenantOfJob } from '../tenancy/request-tenant.js';
import { tenantTag } from '../jobs/schemas.js';

/** How pages are read: by tag, every job, or whichever is faster (the default). */
export type ScanMode = Way | 'adaptive';
/** The two ways to read a page: the tenant's jobs by tag, or every job. */
export type Way = 'tagged' | 'all';

export interface ScanOptions {
  /** Jobs per listJobs page, 1–1000. */
  pageSize: number;
  mode?: ScanMode;
  signal?: AbortSignal;
}

/** One page of the tenant's jobs, and how far the scan got: ids up to `cursor` are done. */
export interface ScanPage {
  jobs: Job[];
  cursor: bigint;
  /** How this page was read. */
  way: Way;
}

const FIRST_RETRY = 8; // pages before the other way is tried again; doubles each time it loses
const MAX_RETRY = 1024;

/** The tenant's jobs with ids up to `lastId`, oldest first, a page at a time. */
export async function* scanTenantJobs(queue: Pick<Queue, 'listJobs'>, tenantId: string, lastId: bigint, options: ScanOptions): AsyncGenerator<ScanPage> {
  const tags = [tenantTag(tenantId)];
  const mode = options.mode ?? 'adaptive';
  // Ids covered per millisecond, by way (averaged over its recent pages; 0: not read yet).
  const rate: Record<Way, number> = { tagged: 0, all: 0 };
  let current: Way = mode === 'all' ? 'all' : 'tagged';
  let retryIn = FIRST_RETRY;
  let untilRetry = 2; // the second page tries the other way, so both have a figure early
  let cursor: bigint | undefined;

  const choose = (): Way => {
    if (mode !== 'adaptive') return mode;
    if (--untilRetry > 0) return current;
    return current === 'tagged' ? 'all' : 'tagged';
  };
  const read = (after: bigint | undefined) => {
    const way = choose();
    const started = performance.now();
    const page = queue.listJobs({ ...(way === 'tagged' ? { tags } : {}), order: 'asc', limit: options.pageSize, ...(after === undefined ? {} : { after: String(after) }) });
    return page.then((p) => ({ ...p, way, ms: performance.now() - started }));
  };
  const learn = (way: Way, ids: bigint, ms: number): void => {
    // Averaged with the previous figure, so one page slowed by a pause does not switch ways.
    const sample = Number(ids) / Math.max(ms, 0.01);
    rate[way] = rate[way] === 0 ? sample : (rate[way] + sample) / 2;
    const best: Way = rate.tagged >= rate.all ? 'tagged' : 'all';
    if (way !== current) {
      // A retry of the other way: it takes over if it won, else it waits twice as long.
      if (best === way) [current, retryIn] = [way, FIRST_RETRY];
      else retryIn = Math.min(retryIn * 2, MAX_RETRY);
      untilRetry = retryIn;
    } else if (best !== current) {
      current = best; // the current way slowed below the other's figure
      untilRetry = retryIn;
    }
  };

  let pending = lastId === 0n ? undefined : read(undefined);
  try {
    while (pending !== undefined) {
      options.signal?.throwIfAborted();
      const page = await pending;
      const last = page.jobs.at(-1);
      const end = page.next === null || (last !== undefined && BigInt(last.id) >= lastId);
      const reached = end ? lastId : BigInt(last!.id);
      if (mode === 'adaptive') learn(page.way, reached - (cursor ?? BigInt(page.jobs[0]?.id ?? reached) - 1n), page.ms);
      cursor = reached;
      // Fetch the next page now, so the database works on it while the caller formats this one.
      pending = end ? undefined : read(reached);
      // A job names one tenant: its first tenant tag, as the job routes read it.
      const jobs = page.jobs.filter((job) => BigInt(job.id) <= lastId && tenantOfJob(job) === tenantId);
      yield { jobs, cursor, way: page.way };
    }
  } finally {
    // Stopped early (aborted, or the file could not be written): nobody waits for the page
    // fetched ahead, and its failure must not surface as an unhandled rejection.
    pending?.catch(() => {});
  }
}
