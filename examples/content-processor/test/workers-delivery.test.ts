// deliver-webhook end to end through a real docket Queue (drain) (export-data: export.test.ts), and the whole
// app docket started for real (LISTEN/NOTIFY, plugins, per-tenant partitions) on its own schema.
// Receivers are local HTTP servers on 127.0.0.1.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueSchemaName } from './support/db.js';
import { verifyWebhook, type WebhookBody } from '../src/workers/webhook.js';
import { SECRET, createHarness, until, type Harness, type TestDocket } from './support/harness.js';
import { makePng, startReceiver, type Receiver } from './support/receivers.js';

let h: Harness;
let d: TestDocket;
let receiver: Receiver;

beforeAll(async () => {
  h = await createHarness('cp_delivery');
  d = await h.docket();
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

const hook = (path: string, extra: Record<string, unknown> = {}) => ({ url: `${receiver.url}${path}`, event: 'order.paid', payload: { orderId: 42, total: '19.90', ...extra }, tenantId: 'tenant-a' });

describe('deliver-webhook', () => {
  it('POSTs the event, signed with HMAC-SHA256 over timestamp.body', async () => {
    receiver.handle((_req, res) => res.writeHead(204).end());
    const n = receiver.requests.length;
    const job = await d.queue.insert(d.workers.webhook, hook('/hooks/orders'));
    const done = await h.run(d, job);
    expect(done.state).toBe('completed');
    expect(done.result).toEqual({ status: 204, attempts: 1, durationMs: expect.any(Number) });

    const request = receiver.requests[n]!;
    expect(request).toMatchObject({ method: 'POST', url: '/hooks/orders' });
    const { headers, body } = request;
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-docket-event']).toBe('order.paid');
    expect(headers['x-docket-delivery']).toBe(job.id);
    const timestamp = headers['x-docket-timestamp'] as string;
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(30);
    const expected = createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex');
    expect(headers['x-docket-signature']).toBe(`sha256=${expected}`);
    expect(JSON.parse(body) as WebhookBody).toEqual({ id: job.id, event: 'order.paid', tenantId: 'tenant-a', createdAt: job.insertedAt.toISOString(), payload: { orderId: 42, total: '19.90' } });

    const signature = headers['x-docket-signature'] as string;
    expect(verifyWebhook(SECRET, { signature, timestamp }, body)).toBe(true);
    expect(verifyWebhook('another-secret-of-some-length', { signature, timestamp }, body)).toBe(false);
    expect(verifyWebhook(SECRET, { signature, timestamp }, body.replace('42', '43'))).toBe(false);
    expect(verifyWebhook(SECRET, { signature, timestamp }, body, 300, (Number(timestamp) + 301) * 1000)).toBe(false);
  });

  it('retries a 5xx with the same delivery id, then completes', async () => {
    let calls = 0;
    receiver.handle((_req, res) => res.writeHead(++calls === 1 ? 502 : 200).end());
    const n = receiver.requests.length;
    const job = await d.queue.insert(d.workers.webhook, hook('/flaky'));
    const first = await h.run(d, job);
    expect([first.state, first.errors.at(-1)?.message]).toEqual(['retryable', 'webhook receiver answered HTTP 502']);
    const done = await h.run(d, job, { withScheduled: true });
    expect(done.state).toBe('completed');
    expect(done.result).toMatchObject({ status: 200, attempts: 2 });
    const [a, b] = receiver.requests.slice(n);
    expect([a!.headers['x-docket-delivery'], b!.headers['x-docket-delivery']]).toEqual([job.id, job.id]);
    expect([a!.headers['x-docket-attempt'], b!.headers['x-docket-attempt']]).toEqual(['1', '2']);
  });

  it('discards a 4xx at once; 429 waits for Retry-After', async () => {
    receiver.handle((_req, res) => res.writeHead(410).end('gone'));
    const gone = await h.run(d, await d.queue.insert(d.workers.webhook, hook('/gone')));
    expect([gone.state, gone.attempt, gone.errors.at(-1)?.message]).toEqual(['discarded', 1, 'webhook receiver answered HTTP 410']);

    receiver.handle((_req, res) => res.writeHead(429, { 'retry-after': '120' }).end());
    const limited = await h.run(d, await d.queue.insert(d.workers.webhook, hook('/limited')));
    expect(limited.state).toBe('retryable');
    const waitMs = limited.scheduledAt.getTime() - Date.now();
    expect(waitMs).toBeGreaterThan(100_000);
    expect(waitMs).toBeLessThanOrEqual(121_000);
    await d.queue.cancel(limited.id);
  });

  it('fails an attempt on a receiver that does not answer in time', async () => {
    receiver.handle(() => {}); // never answers
    // The fetch limit (FETCH_TIMEOUT) ends it...
    const slowFetch = await h.docket({ FETCH_TIMEOUT: '300', WORKER_WEBHOOKS_TIMEOUT: '10000' });
    const a = await h.run(slowFetch, await slowFetch.queue.insert(slowFetch.workers.webhook, hook('/silent')));
    expect([a.state, a.errors.at(-1)?.message]).toEqual(['retryable', expect.stringMatching(/did not finish within 300 ms/)]);
    // ...or docket's per-attempt timeout (WORKER_WEBHOOKS_TIMEOUT) aborts the request through the signal.
    const slowWorker = await h.docket({ FETCH_TIMEOUT: '10000', WORKER_WEBHOOKS_TIMEOUT: '300' });
    const b = await h.run(slowWorker, await slowWorker.queue.insert(slowWorker.workers.webhook, hook('/silent')));
    expect([b.state, b.errors.at(-1)?.name]).toEqual(['retryable', 'JobTimeoutError']);
    await d.queue.cancelJobs({ ids: [a.id, b.id] });
  });

  it('refuses private targets unless ALLOW_PRIVATE_TARGETS, without retrying', async () => {
    const strict = await h.docket({ ALLOW_PRIVATE_TARGETS: 'false' });
    const n = receiver.requests.length;
    for (const url of [`${receiver.url}/x`, `http://localhost:${receiver.port}/x`, 'http://[::1]/x', 'http://2130706433/x', 'http://169.254.169.254/latest/meta-data/']) {
      const done = await h.run(strict, await strict.queue.insert(strict.workers.webhook, { ...hook('/'), url }));
      expect([done.state, done.attempt]).toEqual(['discarded', 1]);
      expect(done.errors.at(-1)?.message).toMatch(/^blocked target/);
    }
    expect(receiver.requests.length).toBe(n);
  });
});

describe('a started queue (LISTEN/NOTIFY, plugins, partitions)', () => {
  it('runs jobs as they are inserted, at most TENANT_CONCURRENCY per tenant at once', async () => {
    const live = await h.docket({ QUEUE_IMAGES_LIMIT: '5', TENANT_CONCURRENCY: '2' }, { started: true, schema: uniqueSchemaName('cp_started') });
    const png = await makePng(200, 150);
    const active = new Map<string, number>();
    const peak = new Map<string, number>();
    let peakTotal = 0;
    const images = await startReceiver((req, res) => {
      const tenant = new URL(req.url ?? '/', 'http://x').searchParams.get('tenant') ?? '?';
      active.set(tenant, (active.get(tenant) ?? 0) + 1);
      peak.set(tenant, Math.max(peak.get(tenant) ?? 0, active.get(tenant)!));
      peakTotal = Math.max(peakTotal, [...active.values()].reduce((a, b) => a + b, 0));
      // A slow origin: answers after 300 ms, so jobs overlap.
      setTimeout(() => {
        active.set(tenant, active.get(tenant)! - 1);
        res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      }, 300);
    });
    try {
      const completed = new Set<string>();
      live.queue.on('job:complete', ({ job }) => void completed.add(job.id));
      const args = (tenantId: string, i: number) => ({ imageId: `${tenantId}-${i}`, sourceUrl: `${images.url}/p.png?tenant=${tenantId}&i=${i}`, operations: { format: 'png' as const, thumbnails: [32] }, tenantId });
      const inserted = [
        ...(await live.queue.insertMany(live.workers.image, Array.from({ length: 6 }, (_, i) => args('big', i)))),
        ...(await live.queue.insertMany(live.workers.image, Array.from({ length: 2 }, (_, i) => args('small', i)))),
      ];
      await until(() => inserted.every((j) => completed.has(j.id)), 30_000, 'all image jobs to complete');
      expect(peak.get('big')).toBe(2); // 5 slots, but one tenant never holds more than 2
      expect(peak.get('small')).toBeGreaterThanOrEqual(1);
      expect(peakTotal).toBeGreaterThanOrEqual(3); // the other tenant ran beside it
      const stored = await live.queue.getJob(inserted[0]!.id);
      expect(stored?.result).toMatchObject({ files: [{ name: 'image.png', width: 200, height: 150 }, { name: 'thumb-32.png', width: 32, height: 24 }] });
      await until(() => live.queue.isLeader, 15_000, 'the node to lead (Lifeline, Pruner, Cron)');
    } finally {
      await images.close();
    }
  });
});
