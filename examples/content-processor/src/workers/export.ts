// export-data (queue exports): writes the job records of the requesting tenant (jobs whose args
// carry its tenantId), filtered by queue and state, to export.csv or export.json in storage. Rows
// stream from docket's keyset-paged listJobs (500 per page, oldest first) through a generator
// into the file, so memory holds one page whatever the size of the export. The export is a
// snapshot: jobs inserted after it started are left out. CSV is RFC 4180 with a header row, and
// text cells that a spreadsheet would run as a formula (=, +, -, @) are prefixed with '.
import { Readable } from 'node:stream';
import type { Job, ListJobsOptions } from 'docket';
import { Worker } from 'docket';
import { exportJobArgs, type ExportJobArgs } from '../jobs/schemas.js';
import type { WorkerDeps } from './common.js';

export interface ExportResult {
  file: string;
  rows: number;
  bytes: number;
  format: ExportJobArgs['format'];
  /** Jobs read (of every tenant) to find the rows. */
  scanned: number;
}

/** One exported record. */
export interface ExportRow {
  id: string;
  worker: string;
  queue: string;
  state: string;
  tenantId: string;
  attempt: number;
  maxAttempts: number;
  priority: number;
  tags: string[];
  insertedAt: string;
  scheduledAt: string;
  attemptedAt: string | null;
  completedAt: string | null;
  errorCount: number;
  lastError: string | null;
  args: unknown;
  result: unknown;
}

const PAGE = 500;
const COLUMNS: (keyof ExportRow)[] = [
  'id', 'worker', 'queue', 'state', 'tenantId', 'attempt', 'maxAttempts', 'priority', 'tags',
  'insertedAt', 'scheduledAt', 'attemptedAt', 'completedAt', 'errorCount', 'lastError', 'args', 'result',
];

export function toExportRow(job: Job): ExportRow {
  return {
    id: job.id,
    worker: job.worker,
    queue: job.queue,
    state: job.state,
    tenantId: tenantOf(job) ?? '',
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    priority: job.priority,
    tags: [...job.tags],
    insertedAt: job.insertedAt.toISOString(),
    scheduledAt: job.scheduledAt.toISOString(),
    attemptedAt: job.attemptedAt?.toISOString() ?? null,
    completedAt: job.completedAt?.toISOString() ?? null,
    errorCount: job.errors.length,
    lastError: job.errors.at(-1)?.message ?? null,
    args: job.args,
    result: job.result,
  };
}

/** One CSV line (CRLF-terminated, RFC 4180). */
export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  let text = Array.isArray(value) && value.every((v) => typeof v === 'string') ? value.join(';') : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`; // CSV/formula injection
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function tenantOf(job: Job): string | undefined {
  const args = job.args as { tenantId?: unknown } | null;
  return args !== null && typeof args === 'object' && typeof args.tenantId === 'string' ? args.tenantId : undefined;
}

export function createExportWorker(deps: WorkerDeps) {
  const { config, storage, logger } = deps;
  return new Worker({
    name: 'export-data',
    queue: 'exports',
    args: exportJobArgs,
    maxAttempts: 3,
    timeout: config.timeouts.exports,
    perform: async (job, { signal }) => {
      const queue = deps.queue();
      const { format, filter, tenantId } = job.args;
      const file = `export.${format}`;
      const base: ListJobsOptions = { ...(filter.queue === undefined ? {} : { queue: filter.queue }), ...(filter.state === undefined ? {} : { state: filter.state }) };

      // Snapshot: the newest matching job now is the last one exported.
      const newest = (await queue.listJobs({ ...base, limit: 1 })).jobs[0];
      const lastId = newest === undefined ? 0n : BigInt(newest.id);
      // For progress only: how many jobs the filter covers (all tenants).
      const stats = await queue.queueStats();
      const total = stats
        .filter((q) => filter.queue === undefined || q.name === filter.queue)
        .reduce((sum, q) => sum + (filter.state === undefined ? q.total : q.counts[filter.state]), 0);

      let rows = 0;
      let scanned = 0;
      async function* lines(): AsyncGenerator<string> {
        yield format === 'csv' ? csvLine(COLUMNS) : '[';
        let after: string | undefined;
        for (;;) {
          signal.throwIfAborted();
          const page = await queue.listJobs({ ...base, order: 'asc', limit: PAGE, ...(after === undefined ? {} : { after }) });
          let chunk = '';
          let done = page.next === null;
          for (const listed of page.jobs) {
            if (BigInt(listed.id) > lastId) {
              done = true;
              break;
            }
            scanned++;
            if (tenantOf(listed) !== tenantId) continue;
            const row = toExportRow(listed);
            chunk += format === 'csv' ? csvLine(COLUMNS.map((c) => row[c])) : `${rows === 0 ? '\n' : ',\n'}${JSON.stringify(row)}`;
            rows++;
          }
          if (chunk) yield chunk;
          if (total > 0) await job.progress(Math.min(99, Math.round((scanned / total) * 100)), { rows, scanned });
          if (done) break;
          after = page.next!;
        }
        if (format === 'json') yield rows === 0 ? ']\n' : '\n]\n';
      }

      const { bytes } = await storage.write(job.id, file, Readable.from(lines()), { signal });
      logger.info('export written', { jobId: job.id, tenantId, rows, bytes, format });
      const result: ExportResult = { file, rows, bytes, format, scanned };
      return result;
    },
  });
}
