// The content-processor API end to end, as users run it: the real server in a child process on
// a database of its own. An uploaded PNG becomes a thumbnail of the asked size; a webhook reaches
// a local receiver with a valid signature (when private targets are allowed) and is refused for
// 127.0.0.1 by default; the dashboard renders in headless Chromium (skipped, with the reason
// printed, where Chromium is absent); and `npm run example` comes up on an embedded PostgreSQL
// with no database configured, then stops cleanly on SIGTERM.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';
import { browserPage } from './support/browser.js';
import { freePort, freshDatabase, startServer, tenantKey, type RunningServer } from './support/server.js';

const SECRET = 'e2e-webhook-secret-0123456789abcdef';
const ADMIN_KEY = 'e2e-admin-key-0123456789';
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-e2e-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A server in production mode, and a tenant key for it: its job routes need one. */
async function server(extra: Record<string, string>): Promise<RunningServer & { key: { 'x-api-key': string } }> {
  const db = await freshDatabase(databaseUrl(), 'cp_e2e');
  const dir = await tempDir();
  const running = await startServer({ DATABASE_URL: db.url, DATA_DIR: dir, WEBHOOK_SECRET: SECRET, ADMIN_API_KEY: ADMIN_KEY, ...extra });
  cleanups.push(db.drop, running.stop);
  return Object.assign(running, { key: { 'x-api-key': await tenantKey(running, ADMIN_KEY, 'tenant-e2e') } });
}

async function json(res: Response): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>;
  return body;
}

async function waitForJob(on: typeof strict, id: string, states: readonly string[]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = await json(await fetch(`${on.base}/jobs/${id}`, { headers: on.key }));
    if (states.includes(job.state as string)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(job.state)}: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let strict: Awaited<ReturnType<typeof server>>;
let open: Awaited<ReturnType<typeof server>>;
beforeAll(async () => {
  [strict, open] = await Promise.all([server({}), server({ ALLOW_PRIVATE_TARGETS: 'true' })]);
}, 120_000);

describe('the running API', () => {
  it('turns an uploaded PNG into a thumbnail of the asked size, downloadable from the API', async () => {
    const png = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toBuffer();
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'photo.png');
    form.append('imageId', 'img-e2e');
    form.append('operations', JSON.stringify({ resize: { width: 320 }, format: 'webp', thumbnails: [64] }));
    const created = await fetch(`${strict.base}/jobs/images`, { method: 'POST', body: form, headers: strict.key });
    expect(created.status, await created.clone().text()).toBe(201);
    const job = await json(created);

    const done = await waitForJob(strict, job.id as string, ['completed', 'discarded']);
    expect(done.state, JSON.stringify(done.errors)).toBe('completed');
    const listing = await json(await fetch(`${strict.base}/jobs/${job.id as string}/files`, { headers: strict.key }));
    const files = listing.files as { name: string; url: string }[];
    expect(files.length).toBeGreaterThanOrEqual(2);
    const sizes = await Promise.all(
      files
        .filter((f) => /\.(webp|png|jpe?g|avif)$/.test(f.name))
        .map(async (f) => {
          const res = await fetch(`${strict.base}${f.url}`, { headers: strict.key });
          expect(res.status).toBe(200);
          const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
          return `${meta.width}x${meta.height}:${meta.format}`;
        }),
    );
    // The resized image keeps the aspect ratio (640x480 -> 320x240); the thumbnail is 64 wide.
    expect(sizes).toContain('320x240:webp');
    expect(sizes.some((s) => s.startsWith('64x'))).toBe(true);
  });

  it('delivers a webhook to a local receiver with a valid HMAC-SHA256 signature when private targets are allowed', async () => {
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));

    const created = await fetch(`${open.base}/jobs/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...open.key },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/hook`, event: 'order.paid', payload: { order: 42 } }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const job = await json(created);
    const done = await waitForJob(open, job.id as string, ['completed', 'discarded']);
    expect(done.state, JSON.stringify(done.errors)).toBe('completed');

    expect(received).toHaveLength(1);
    const [{ headers, body }] = received as [{ headers: IncomingMessage['headers']; body: string }];
    const timestamp = headers['x-docket-timestamp'] as string;
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`;
    expect(headers['x-docket-signature']).toBe(expected);
    expect(headers['x-docket-event']).toBe('order.paid');
    expect(JSON.parse(body)).toMatchObject({ event: 'order.paid', payload: { order: 42 } });
  });

  it('refuses a webhook to 127.0.0.1 by default, and enqueues nothing', async () => {
    const res = await fetch(`${strict.base}/jobs/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...strict.key },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/hook', event: 'x', payload: {} }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/url/i);
    const queues = (await json(await fetch(`${strict.base}/admin/queues`, { headers: { 'x-api-key': ADMIN_KEY } }))) as { queues?: { name: string; total: number }[] };
    const webhooks = (queues.queues ?? []).find((q) => q.name === 'webhooks');
    expect(webhooks?.total ?? 0).toBe(0);
  });
});

describe('the dashboard', () => {
  it('renders the queues in headless Chromium, without page errors', async (ctx) => {
    const opened = await browserPage(ctx, 'dashboard', cleanups);
    if (opened === undefined) return;
    const { page, pageErrors } = opened;
    await fetch(`${strict.base}/jobs/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...strict.key },
      body: JSON.stringify({ to: 'ada@test.local', subject: 'hi', text: 'hello' }),
    });
    // The browser's login prompt (the dashboard answers 401 with a Basic challenge): the admin key.
    await page.authenticate({ username: 'admin', password: ADMIN_KEY });
    await page.goto(`${strict.base}/dashboard`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(`(document.querySelector('#queues')?.textContent ?? '').includes('emails')`, { timeout: 15_000 });
    const text = await page.$eval('#queues', (el) => el.textContent ?? '');
    for (const name of ['images', 'documents', 'emails', 'webhooks', 'exports']) expect(text).toContain(name);
    expect(pageErrors).toEqual([]);
  });
});

// The node process running server.ts among the descendants of `root`.
function serverPid(root: number): number | undefined {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const family = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) if (family.has(r.ppid) && !family.has(r.pid)) (family.add(r.pid), (grew = true));
  }
  return rows.find((r) => family.has(r.pid) && /(^|\s)src\/server\.ts\b/.test(r.args) && /\bnode\b/.test(r.args.split(' ')[0]!))?.pid;
}

describe('npm run example', () => {
  it('serves the API on an embedded PostgreSQL when no database is configured, quietly, and stops on SIGTERM', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const port = await freePort();
    const dataDir = await tempDir();
    const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir };
    delete env.LOG_LEVEL;
    delete env.DATABASE_URL;
    delete env.WEBHOOK_SECRET;
    const child = spawn('npm', ['run', '--silent', 'example'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    });
    // npm, tsx and an initdb in a fresh DATA_DIR before /health answers: CPU-bound, several
    // times slower on a loaded 2-core machine.
    const deadline = Date.now() + 300_000;
    let health: Record<string, unknown> | undefined;
    while (health === undefined) {
      if (child.exitCode !== null) throw new Error(`npm run example exited early:\n${out}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.status === 200) health = await json(res);
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`npm run example did not come up:\n${out}`);
      if (health === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    const docs = await fetch(`http://127.0.0.1:${port}/documentation/json`);
    expect(docs.status).toBe(200);
    // SIGTERM to the server under npm (as a platform stops it); npm then exits with its code.
    const server = serverPid(child.pid!);
    expect(server, 'the server process under npm').toBeDefined();
    process.kill(server!, 'SIGTERM');
    expect(await exited).toBe(0);
    // A first run prints a few lines: where the data and the database's log are, the links.
    // initdb's and the server's own output go to that log file.
    const lines = out.trim().split('\n');
    expect(lines.length, out).toBeLessThanOrEqual(8);
    expect(out).toContain(`data in ${dataDir}`);
    expect(out).toContain(`its log: ${path.join(dataDir, 'postgres.log')}`);
    expect(out).toContain(`API docs: http://127.0.0.1:${port}/documentation`);
    expect(out).not.toMatch(/initdb|database system is ready|The files belonging to this database system/i);
    expect(await readFile(path.join(dataDir, 'postgres.log'), 'utf8')).toMatch(/initialising PostgreSQL \d+ data directory[\s\S]*database system is ready/);
  }, 330_000); // the 300 s start-up and the stop
});
