// /jobs/:id/events on an instance that does not run the job: two API processes on one database,
// the first with no document workers (QUEUE_DOCUMENTS_LIMIT=0). A document job enqueued and
// followed on the first runs on the second, and the first streams its progress reports as the
// second announces them (docket's jobEvents + queue.watch), then its end. Without announcements
// the stream could only show the job's last progress, read once at the end.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';
import { parseSse } from './support/app.js';
import { freshDatabase, startServer, tenantKey, type RunningServer } from './support/server.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

let front: RunningServer;
let back: RunningServer;
let key: { 'x-api-key': string };
beforeAll(async () => {
  const db = await freshDatabase(databaseUrl(), 'cp_sse');
  cleanups.push(db.drop);
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-sse-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: db.url, DATA_DIR: dir, WEBHOOK_SECRET: 'sse-webhook-secret-0123456789abcdef', ADMIN_API_KEY: 'sse-admin-key-0123456789' };
  // The front instance migrates first; the back one starts on the migrated schema.
  front = await startServer({ ...env, QUEUE_DOCUMENTS_LIMIT: '0' });
  cleanups.push(front.stop);
  back = await startServer(env);
  cleanups.push(back.stop);
  // One key works on every instance: they share the database.
  key = { 'x-api-key': await tenantKey(front, 'sse-admin-key-0123456789', 'tenant-sse') };
}, 120_000);

describe('job events across API instances', () => {
  it('streams the progress and end of a job that another instance runs', async () => {
    const paragraphs = Array.from({ length: 400 }, (_, i) => `Paragraph ${i + 1}: ${'words '.repeat(40)}`);
    // Documents wait (paused on every instance) until the stream is open.
    const admin = { 'x-api-key': 'sse-admin-key-0123456789' };
    const post = (action: string, body?: object): Promise<Response> =>
      fetch(`${front.base}/admin/queues/documents/${action}`, {
        method: 'POST',
        headers: body === undefined ? admin : { ...admin, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    expect((await post('pause')).status).toBe(200);
    // The back instance obeys the pause when it has read the control row, a moment after the
    // NOTIFY; a job inserted before that could be claimed there before the stream opens. A pause
    // shows nowhere on a node, but a node applies a control row whole (paused and limit
    // together), so scale to a marker limit as well (the trick of the library's
    // queue-controls.test.ts): once the back instance's own limit is the marker, it applied a row
    // written after the pause, and is paused.
    const MARKER = 7; // neither the back's limit (5) nor the front's (0)
    expect((await post('scale', { limit: MARKER })).status).toBe(200);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const view = (await (await fetch(`${back.base}/admin/queues/documents`, { headers: admin })).json()) as { localConcurrency: number | null };
      if (view.localConcurrency === MARKER) break;
      if (Date.now() > deadline) throw new Error(`the back instance did not apply the pause: ${JSON.stringify(view)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const created = await fetch(`${front.base}/jobs/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...key },
      body: JSON.stringify({ documentId: 'doc-sse', title: 'Followed elsewhere', paragraphs }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const job = (await created.json()) as { id: string };
    const res = await fetch(`${front.base}/jobs/${job.id}/events`, { headers: key });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('event: state')) text += new TextDecoder().decode((await reader.read()).value);
    // Back to each instance's own limit before resuming (the marker would let the front run
    // documents too). A node that reads the resume reads this with it: one row, a later version.
    expect((await post('scale', { limit: null })).status).toBe(200);
    expect((await post('resume')).status).toBe(200);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    const events = parseSse(text); // the stream ends after `end`
    const progress = events.filter((e) => e.event === 'progress').map((e) => (e.data as { percent: number }).percent);
    const states = events.filter((e) => e.event === 'state').map((e) => (e.data as { state: string }).state);
    expect(events.at(-1), JSON.stringify(events)).toEqual({ event: 'end', data: { state: 'completed' } });
    expect(states[0]).toBe('available');
    expect(states).toContain('executing');
    expect(states.at(-1)).toBe('completed');
    // Reports announced while it ran, in order, ending at 100.
    expect(progress.length, JSON.stringify(events)).toBeGreaterThanOrEqual(2);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(progress.at(-1)).toBe(100);
    const done = (await (await fetch(`${back.base}/jobs/${job.id}`, { headers: key })).json()) as { state: string; attemptedBy: string };
    expect(done.state).toBe('completed');
    const last = events.filter((e) => e.event === 'state').at(-1)!.data as { attemptedBy: string };
    expect(last.attemptedBy).toBe(done.attemptedBy);
  });
});
