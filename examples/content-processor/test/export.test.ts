// export-data on a real PostgreSQL: a tenant's export holds its own jobs only (selected by the
// `tenant:<id>` tag, ids interleaved with other tenants'), honours the queue and state filters
// and the snapshot, crosses page boundaries without losing or repeating a job whichever way the
// pages are read (by tag, every job, or adaptive), and reports progress without the scan ever
// waiting for a progress write. End to end through a docket Queue (drain) for the worker, and
// through exportLines (the worker's own code) where a test needs small pages or a pause mid-scan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Queue } from 'docket';
import { csvLine, exportLines, exportSnapshot, progressWriter, type ExportProgress, type ExportResult, type ExportRow } from '../src/workers/export.js';
import type { ScanMode } from '../src/workers/export-scan.js';
import type { ExportJobArgs } from '../src/jobs/schemas.js';
import { uniqueSchemaName } from './support/db.js';
import { createHarness, type Harness, type TestDocket } from './support/harness.js';

let h: Harness;
/** For the worker's tests. */
let d: TestDocket;
/** A schema of its own for the tests with small pages, so reading every job stays quick. */
let w: TestDocket;

beforeAll(async () => {
  h = await createHarness('cp_export');
  d = await h.docket();
  w = await h.docket({}, { schema: uniqueSchemaName('cp_export_pages') });
});

afterAll(async () => {
  await h?.close();
});

const HEADER = ['id', 'worker', 'queue', 'state', 'tenantId', 'attempt', 'maxAttempts', 'priority', 'tags', 'insertedAt', 'scheduledAt', 'attemptedAt', 'completedAt', 'errorCount', 'lastError', 'args', 'result'];
const email = (i: number, tenantId: string) => ({ to: `user${i}@example.org`, subject: i === 7 ? '=HYPERLINK("http://evil")' : `Hello, "user" ${i}`, text: 'hi', tenantId });
/** Scheduled emails (an hour ahead: nothing runs them) tagged as the API tags them. */
const emails = (tenantId: string, n: number, from = 0, on = w) =>
  on.queue.insertMany(on.workers.email, Array.from({ length: n }, (_, i) => email(from + i, tenantId)), { delay: 3_600_000, tags: [`tenant:${tenantId}`] });
/** An export job as POST /jobs/exports inserts it. */
const exportJob = (args: ExportJobArgs) => d.queue.insert(d.workers.exporter, args, { tags: [`tenant:${args.tenantId}`] });
const ids = (jobs: readonly Pick<Job, 'id'>[]) => jobs.map((j) => j.id);

/** A minimal RFC 4180 parser (quoted cells, doubled quotes, CRLF rows). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    else cell += c;
  }
  return rows;
}

/** The export's JSON rows as exportLines writes them (the worker's code, with small pages). */
async function exported(queue: Queue, args: ExportJobArgs, options: { pageSize?: number; mode?: ScanMode } = {}): Promise<{ rows: ExportRow[]; progress: ExportProgress; pages: number }> {
  const progress: ExportProgress = { rows: 0, scanned: 0, percent: 0, pages: { tagged: 0, all: 0 } };
  let text = '';
  let pages = 0;
  for await (const chunk of exportLines(queue, { ...args, format: 'json' }, await exportSnapshot(queue), progress, { ...options, onPage: () => void pages++ })) text += chunk;
  return { rows: JSON.parse(text) as ExportRow[], progress, pages };
}

describe('export-data through the worker', () => {
  let jobsA: Job[];
  beforeAll(async () => {
    // 1,100 emails of exp-a (two pages of 1000) with exp-b's between them, ids interleaved.
    jobsA = [];
    for (let round = 0; round < 10; round++) {
      jobsA.push(...(await emails('exp-a', 110, round * 110, d)));
      await emails('exp-b', 2, round * 2, d);
    }
  });

  it('streams the tenant’s matching jobs to CSV, oldest first, none of another tenant’s', async () => {
    const job = await exportJob({ format: 'csv', filter: { queue: 'emails', state: 'scheduled' }, tenantId: 'exp-a' });
    const done = await h.run(d, job);
    expect(done.state).toBe('completed');
    const result = done.result as ExportResult;
    // scanned: the tenant's jobs read, its export job (queue exports) among them.
    expect(result).toMatchObject({ file: 'export.csv', rows: 1100, format: 'csv', scanned: 1101 });
    const file = await h.storage.forTenant('exp-a').readFile(job.id, 'export.csv');
    expect(file.length).toBe(result.bytes);
    const [header, ...rows] = parseCsv(file.toString('utf8'));
    expect(header).toEqual(HEADER);
    expect(rows.map((r) => r[0])).toEqual(ids(jobsA)); // each once, in id order, across the page boundary
    expect(new Set(rows.map((r) => `${r[1]}|${r[2]}|${r[3]}|${r[4]}|${r[8]}`))).toEqual(new Set(['send-email|emails|scheduled|exp-a|tenant:exp-a']));
    expect(JSON.parse(rows[3]![15]!)).toEqual({ to: 'user3@example.org', subject: 'Hello, "user" 3', text: 'hi', tenantId: 'exp-a' });
    expect(JSON.parse(rows[7]![15]!)).toEqual(email(7, 'exp-a')); // a JSON cell starts with {: no formula guard needed
    expect(done.lastProgress).toMatchObject({ percent: 100, data: { rows: 1100, scanned: 1101 } });
  });

  it('streams to JSON; an export with nothing to show is an empty array', async () => {
    const job = await exportJob({ format: 'json', filter: { queue: 'emails' }, tenantId: 'exp-b' });
    const done = await h.run(d, job);
    const rows = JSON.parse((await h.storage.forTenant('exp-b').readFile(job.id, 'export.json')).toString('utf8')) as ExportRow[];
    expect(rows).toHaveLength(20);
    expect(done.result).toMatchObject({ file: 'export.json', rows: 20, scanned: 21 });
    expect(rows[0]).toMatchObject({ worker: 'send-email', queue: 'emails', state: 'scheduled', tenantId: 'exp-b', attempt: 0, tags: ['tenant:exp-b'], errorCount: 0, lastError: null, result: null });
    expect(Object.keys(rows[0]!)).toEqual(HEADER);

    const none = await h.run(d, await exportJob({ format: 'json', filter: { queue: 'emails', state: 'completed' }, tenantId: 'nobody' }));
    expect(none.result).toMatchObject({ rows: 0 });
    expect(JSON.parse((await h.storage.forTenant('nobody').readFile(none.id, 'export.json')).toString())).toEqual([]);
  });

  it('quotes CSV per RFC 4180 and defuses spreadsheet formulas', () => {
    expect(csvLine(['=SUM(A1)', 'a,b', 'say "hi"', -1, null, ['x', 'y'], '@cmd', 'plain'])).toBe(`'=SUM(A1),"a,b","say ""hi""",-1,,x;y,'@cmd,plain\r\n`);
  });
});

describe('export-data: which jobs', () => {
  it('a job belongs to the tenant of its tag, whatever its args say', async () => {
    const [own] = await emails('tag-a', 1);
    // Tagged for tag-b, args naming tag-a: tag-b's job (the job routes read the tag too).
    const [other] = await w.queue.insertMany(w.workers.email, [email(1, 'tag-a')], { delay: 3_600_000, tags: ['tenant:tag-b'] });
    for (const mode of ['tagged', 'all', 'adaptive'] as const) {
      expect(ids((await exported(w.queue, { format: 'json', filter: {}, tenantId: 'tag-a' }, { mode })).rows)).toEqual([own!.id]);
      expect(ids((await exported(w.queue, { format: 'json', filter: {}, tenantId: 'tag-b' }, { mode })).rows)).toEqual([other!.id]);
    }
  });

  it('honours the queue and state filters, in the live and the finished tables', async () => {
    const scheduled = await emails('flt', 5);
    const cancelled = await emails('flt', 4, 5);
    await w.queue.cancelJobs({ ids: ids(cancelled) }); // moved into the finished history
    const [document] = await w.queue.insertMany(w.workers.document, [{ documentId: 'd1', title: 'T', paragraphs: ['p'], tenantId: 'flt' }], { delay: 3_600_000, tags: ['tenant:flt'] });
    const args = (filter: ExportJobArgs['filter']): ExportJobArgs => ({ format: 'json', filter, tenantId: 'flt' });
    for (const mode of ['tagged', 'all'] as const) {
      const options = { pageSize: 4, mode };
      expect(ids((await exported(w.queue, args({ queue: 'emails', state: 'cancelled' }), options)).rows)).toEqual(ids(cancelled));
      expect(ids((await exported(w.queue, args({ queue: 'emails', state: 'scheduled' }), options)).rows)).toEqual(ids(scheduled));
      expect(ids((await exported(w.queue, args({ queue: 'documents' }), options)).rows)).toEqual([document!.id]);
      expect(ids((await exported(w.queue, args({ state: 'scheduled' }), options)).rows)).toEqual([...ids(scheduled), document!.id]);
      const all = await exported(w.queue, args({}), options);
      expect(ids(all.rows)).toEqual([...ids(scheduled), ...ids(cancelled), document!.id]);
      expect(all.rows.find((r) => r.state === 'cancelled')).toMatchObject({ errorCount: 1, lastError: expect.any(String), completedAt: expect.any(String) });
    }
  });

  it('crosses page boundaries without losing or repeating a job, whichever way pages are read', async () => {
    // Three tenants in turns of uneven size; pg-a ends up with exactly 4 pages of 7.
    const expected: Record<string, string[]> = { 'pg-a': [], 'pg-b': [], 'pg-c': [] };
    for (let round = 0; round < 7; round++) {
      expected['pg-a']!.push(...ids(await emails('pg-a', 4, round * 4)));
      if (round % 2 === 0) expected['pg-b']!.push(...ids(await emails('pg-b', 9, round * 9)));
      expected['pg-c']!.push(...ids(await emails('pg-c', 1, round)));
    }
    expect(expected['pg-a']).toHaveLength(28);
    for (const mode of ['tagged', 'all', 'adaptive'] as const) {
      for (const tenantId of Object.keys(expected)) {
        const { rows, progress } = await exported(w.queue, { format: 'json', filter: {}, tenantId }, { pageSize: 7, mode });
        expect(ids(rows), `${tenantId} read ${mode}`).toEqual(expected[tenantId]);
        expect(progress).toMatchObject({ rows: expected[tenantId]!.length, scanned: expected[tenantId]!.length, percent: 100 });
      }
    }
  });

  it('is a snapshot: jobs inserted after it began are left out', async () => {
    const before = await emails('snap', 10);
    const progress: ExportProgress = { rows: 0, scanned: 0, percent: 0, pages: { tagged: 0, all: 0 } };
    const lines = exportLines(w.queue, { format: 'csv', filter: {}, tenantId: 'snap' }, await exportSnapshot(w.queue), progress, { pageSize: 3, mode: 'tagged' });
    let text = '';
    text += (await lines.next()).value; // the header
    text += (await lines.next()).value; // the first page
    const after = await emails('snap', 5, 10); // mid-export
    for await (const chunk of lines) text += chunk;
    expect(parseCsv(text).slice(1).map((r) => r[0])).toEqual(ids(before));
    expect(progress).toMatchObject({ rows: 10, scanned: 10 });
    // The next export sees them.
    expect(ids((await exported(w.queue, { format: 'json', filter: {}, tenantId: 'snap' })).rows)).toEqual([...ids(before), ...ids(after)]);
  });
});

describe('export-data: large jobs', () => {
  it('hands a page of large jobs to the file in pieces, not as one string', async () => {
    const text = 'x'.repeat(190_000); // each job's args are ~380 kB: a page of 6 would be one 2.3 MB string
    const big = await w.queue.insertMany(w.workers.email, [0, 1, 2, 3, 4, 5].map((i) => ({ ...email(i, 'big'), text, html: text })), { delay: 3_600_000, tags: ['tenant:big'] });
    const progress: ExportProgress = { rows: 0, scanned: 0, percent: 0, pages: { tagged: 0, all: 0 } };
    const chunks: string[] = [];
    for await (const chunk of exportLines(w.queue, { format: 'json', filter: {}, tenantId: 'big' }, await exportSnapshot(w.queue), progress, { pageSize: 10, mode: 'tagged' })) chunks.push(chunk);
    expect(progress.pages.tagged).toBe(1);
    // Pieces of about 1 MiB: at most one row past it.
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(2 ** 20 + 2 * text.length + 2000);
    expect((JSON.parse(chunks.join('')) as ExportRow[]).map((r) => r.id)).toEqual(ids(big));
  });
});

describe('export-data: stopping early', () => {
  it('stops when aborted; a page fetched ahead that fails then is no unhandled rejection', async () => {
    await emails('stop', 9);
    const lastId = await exportSnapshot(w.queue);
    const fresh = (): ExportProgress => ({ rows: 0, scanned: 0, percent: 0, pages: { tagged: 0, all: 0 } });
    const args: ExportJobArgs = { format: 'csv', filter: {}, tenantId: 'stop' };

    const controller = new AbortController();
    const aborted = exportLines(w.queue, args, lastId, fresh(), { pageSize: 3, mode: 'tagged', signal: controller.signal });
    await aborted.next(); // header
    await aborted.next(); // first page
    controller.abort(new Error('timed out'));
    await expect(aborted.next()).rejects.toThrow('timed out');

    // The second page (fetched while the first is written) fails after the reader has gone.
    let calls = 0;
    let failed!: () => void;
    const gone = new Promise<void>((resolve) => (failed = resolve));
    const flaky: Pick<Queue, 'listJobs'> = {
      listJobs: (options) => {
        if (++calls === 1) return w.queue.listJobs(options);
        return new Promise((_, reject) => setTimeout(() => (reject(new Error('connection lost')), failed()), 20));
      },
    };
    const progress = fresh();
    for await (const chunk of exportLines(flaky, args, lastId, progress, { pageSize: 3, mode: 'tagged' })) if (chunk.includes('stop')) break;
    expect(progress.rows).toBe(3);
    await gone;
    await new Promise((resolve) => setImmediate(resolve)); // where an unhandled rejection would surface
  });
});

describe('export-data: progress', () => {
  it('reports rows, scanned and a rising percent per page, never waiting for a write', async () => {
    await emails('prog', 20);
    const writes: { percent: number; data: unknown }[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    // The first write hangs until released: the scan must finish without it.
    const writer = progressWriter((percent, data) => (writes.push({ percent, data }), writes.length === 1 ? blocked : Promise.resolve()), { warn: () => {} });
    const seen: ExportProgress[] = [];
    const progress: ExportProgress = { rows: 0, scanned: 0, percent: 0, pages: { tagged: 0, all: 0 } };
    let text = '';
    const lines = exportLines(w.queue, { format: 'json', filter: {}, tenantId: 'prog' }, await exportSnapshot(w.queue), progress, {
      pageSize: 6,
      mode: 'tagged',
      onPage: (p) => (seen.push({ ...p }), writer.report(p)),
    });
    for await (const chunk of lines) text += chunk;
    expect(JSON.parse(text)).toHaveLength(20);
    expect(seen.map((p) => [p.rows, p.scanned])).toEqual([[6, 6], [12, 12], [18, 18], [20, 20]]);
    const percents = seen.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents[0]).toBeGreaterThan(0);
    expect(progress.percent).toBe(100);
    // One write in flight (the first), the later reports merged into the latest.
    expect(writes).toEqual([{ percent: seen[0]!.percent, data: { rows: 6, scanned: 6 } }]);
    writer.report(progress);
    release();
    await writer.settled();
    expect(writes).toEqual([{ percent: seen[0]!.percent, data: { rows: 6, scanned: 6 } }, { percent: 100, data: { rows: 20, scanned: 20 } }]);
  });

  it('logs a failed progress write and goes on', async () => {
    const warned: unknown[] = [];
    let calls = 0;
    const writer = progressWriter(() => (calls++ === 0 ? Promise.reject(new Error('database away')) : Promise.resolve()), { warn: (message, meta) => void warned.push([message, meta]) });
    writer.report({ rows: 1, scanned: 1, percent: 10, pages: { tagged: 1, all: 0 } });
    writer.report({ rows: 2, scanned: 2, percent: 20, pages: { tagged: 2, all: 0 } });
    await writer.settled();
    expect(calls).toBe(2);
    expect(warned).toEqual([['export progress not written', { error: 'database away' }]]);
  });
});
