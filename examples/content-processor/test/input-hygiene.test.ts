// Text PostgreSQL cannot store, and images too large to decode, through fastify.inject on a real
// docket Queue (testing: 'manual'). A NUL or a lone surrogate anywhere in a request (a body
// string, an object key at any depth, an array item, a batch item, a multipart field, the query
// string, a path parameter) is a 400 naming the field in the app's error shape, echoing none of
// the bad text, and writes nothing; it once was a 500 with a raw database error, or a job
// stored with U+FFFD. A 50000×50000 PNG (a few hundred bytes) is refused naming the pixel limit:
// as a 400 when uploaded, as the discard reason when a worker fetches it.
import fs from 'node:fs/promises';
import zlib from 'node:zlib';
import type { InjectOptions } from 'fastify';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain } from 'docket/testing';
import { createPgPool, databaseUrl, dropSchema, uniqueSchemaName } from './support/db.js';
import type { TestApp } from './support/app.js';
import { ADMIN_KEY, createTestApp, jobCount, multipart, png, tempDir, uploads } from './support/app.js';
import { startReceiver, type Receiver } from './support/receivers.js';

let pool: pg.Pool;
let schema: string;
let dataDir: string;
let t: TestApp;
let receiver: Receiver;
let existing: string;

const admin = { 'x-api-key': ADMIN_KEY };
const email = { to: 'ada@example.org', subject: 'Hello', text: 'Hi Ada', tenantId: 't1' };
const HUGE = 50_000;
const PIXEL_LIMIT = `the image is ${HUGE}×${HUGE} pixels, over the limit of 100 megapixels`;

beforeAll(async () => {
  pool = createPgPool(databaseUrl(), 'cp-input-hygiene');
  schema = uniqueSchemaName('cp_hygiene');
  dataDir = await tempDir('cp-hygiene');
  t = await createTestApp(pool, schema, dataDir, { env: { ALLOW_PRIVATE_TARGETS: 'true' } });
  const huge = hugePng(HUGE, HUGE);
  receiver = await startReceiver((req, res) => {
    if (req.url === '/huge.png') res.writeHead(200, { 'content-type': 'image/png' }).end(huge);
    else res.writeHead(404).end();
  });
  const created = await t.app.inject({ method: 'POST', url: '/jobs/emails', payload: email });
  expect(created.statusCode, created.body).toBe(201);
  existing = created.json<{ id: string }>().id;
});

afterAll(async () => {
  await t?.close();
  await receiver?.close();
  await dropSchema(databaseUrl(), schema);
  await pool.end();
  await fs.rm(dataDir, { recursive: true, force: true });
});

/**
 * A PNG that claims `width`×`height` pixels in its header, with one row of data: a few hundred
 * bytes, which no test ever decodes (sharp reads the header only).
 */
function hugePng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf: Buffer) => (buf.reduce((crc, byte) => crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(width + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Sends a request with bad text: 400 with exactly `path: message` in the app's error shape, the
 * bad text not echoed (neither raw nor as a JSON escape), and no job written.
 */
async function refused(request: InjectOptions | string, path: string, message: string): Promise<void> {
  const before = await jobCount(pool, schema);
  const res = await t.app.inject(request as InjectOptions);
  expect(res.statusCode, res.body).toBe(400);
  expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message: `${path}: ${message}`, issues: [{ path, message }] });
  expect(res.body).not.toMatch(/[\u0000\uD800-\uDFFF]/);
  // Only the escaped backslash of the message's own "\u0000" may appear, never a JSON escape.
  expect(res.body).not.toMatch(/(^|[^\\])(\\\\)*\\u(0000|d[89a-f])/i);
  expect(await jobCount(pool, schema)).toBe(before);
}

const NUL = 'must not contain a NUL byte (\\u0000)';
const HIGH = 'must not contain a lone surrogate (\\ud800)';
const LOW = 'must not contain a lone surrogate (\\udc00)';

describe('NUL bytes and lone surrogates: a 400 naming the field, nothing written', () => {
  it('a body string, sent as a JSON escape (POST /jobs/emails) or as a value (POST /workflows/media)', async () => {
    const raw = JSON.stringify(email).replace('"Hello"', '"nul\\u0000byte"');
    await refused({ method: 'POST', url: '/jobs/emails', headers: { 'content-type': 'application/json' }, payload: raw }, 'body.subject', NUL);
    const media = { imageId: 'i1', sourceUrl: `${receiver.url}/x.png`, notify: { type: 'email', to: 'ada@example.org' }, tenantId: 't1' };
    await refused({ method: 'POST', url: '/workflows/media', payload: { ...media, title: 'half \ud800' } }, 'body.title', HIGH);
    await refused({ method: 'POST', url: '/workflows/media', payload: { ...media, notify: { ...media.notify, subject: '\udc00' } } }, 'body.notify.subject', LOW);
  });

  it('an object key, at the top of an object or nested, named by its object (POST /jobs/webhooks)', async () => {
    const webhook = { url: `${receiver.url}/hook`, event: 'order.paid', tenantId: 't1' };
    await refused({ method: 'POST', url: '/jobs/webhooks', payload: { ...webhook, payload: { 'k\u0000': 1 } } }, 'body.payload', 'a key contains a NUL byte (\\u0000)');
    await refused({ method: 'POST', url: '/jobs/webhooks', payload: { ...webhook, payload: { a: [{ ok: 1 }, { 'k\udc00': 1 }] } } }, 'body.payload.a.1', 'a key contains a lone surrogate (\\udc00)');
    await refused({ method: 'POST', url: '/jobs/webhooks', payload: { ...webhook, payload: { a: { b: ['x', 'y\ud800'] } } } }, 'body.payload.a.b.1', HIGH);
  });

  it('an array item (POST /jobs/documents) and a nested filter (POST /jobs/exports)', async () => {
    await refused({ method: 'POST', url: '/jobs/documents', payload: { documentId: 'd1', title: 'T', paragraphs: ['fine', 'x\u0000'], tenantId: 't1' } }, 'body.paragraphs.1', NUL);
    await refused({ method: 'POST', url: '/jobs/exports', payload: { format: 'csv', filter: { queue: 'emails\ud800' }, tenantId: 't1' } }, 'body.filter.queue', HIGH);
  });

  it('a batch item, named by its index (POST /jobs/batch)', async () => {
    const jobs = [{ type: 'email', args: email }, { type: 'email', args: { ...email, subject: 'a\u0000b' } }];
    await refused({ method: 'POST', url: '/jobs/batch', payload: { jobs } }, 'body.jobs.1.args.subject', NUL);
  });

  it('a multipart field, as raw text or as a \\u escape in a JSON field, leaving no upload behind', async () => {
    const parts = async (overrides: Record<string, string>) =>
      multipart([
        { name: 'file', value: await png(), filename: 'p.png', type: 'image/png' },
        ...Object.entries({ imageId: 'img-1', tenantId: 't1', operations: '{"format":"webp"}', ...overrides }).map(([name, value]) => ({ name, value })),
      ]);
    await refused({ method: 'POST', url: '/jobs/images', ...(await parts({ imageId: 'img\u0000' })) }, 'body.imageId', NUL);
    await refused({ method: 'POST', url: '/jobs/images', ...(await parts({ operations: '{"format":"webp","x\\ud800":1}' })) }, 'body.operations', 'a key contains a lone surrogate (\\ud800)');
    const notify = '{"type":"email","to":"ada@example.org","subject":"\\udc00"}';
    await refused({ method: 'POST', url: '/workflows/media', ...(await parts({ notify })) }, 'body.notify.subject', LOW);
    expect(await uploads(t.storage)).toEqual([]);
  });

  it('the query string and path parameters', async () => {
    await refused({ method: 'GET', url: '/admin/jobs/recent?queue=emails%00', headers: admin }, 'querystring.queue', NUL);
    await refused({ method: 'GET', url: '/jobs/1%00' }, 'params.id', NUL);
    await refused({ method: 'GET', url: '/admin/schedules/a%00b', headers: admin }, 'params.name', NUL);
  });

  it('admin bodies: DELETE /jobs filters and reason, schedule tags; the queued job is left alone', async () => {
    await refused({ method: 'DELETE', url: '/jobs', headers: admin, payload: { tags: ['tenant:t1\u0000'] } }, 'body.tags.0', NUL);
    await refused({ method: 'DELETE', url: '/jobs', headers: admin, payload: { worker: 'send-email\ud800' } }, 'body.worker', HIGH);
    await refused({ method: 'DELETE', url: '/jobs', headers: admin, payload: { ids: [existing], reason: 'because \udc00' } }, 'body.reason', LOW);
    const schedule = { name: 'nightly', expression: '0 3 * * *', worker: 'send-email', args: email };
    await refused({ method: 'POST', url: '/admin/schedules', headers: admin, payload: { ...schedule, opts: { tags: ['x\u0000'] } } }, 'body.opts.tags.0', NUL);
    expect((await t.queue.getJob(existing))!.state).toBe('available');
    expect(await t.queue.schedules.list()).toEqual([]);
  });
});

describe('the pixel limit, named', () => {
  it('refuses an uploaded 50000×50000 PNG with a 400 naming the limit, keeping nothing', async () => {
    const { payload, headers } = multipart([
      { name: 'file', value: hugePng(HUGE, HUGE), filename: 'huge.png', type: 'image/png' },
      { name: 'imageId', value: 'huge' },
      { name: 'tenantId', value: 't1' },
    ]);
    await refused({ method: 'POST', url: '/jobs/images', payload, headers }, 'body.file', PIXEL_LIMIT);
    expect(await uploads(t.storage)).toEqual([]);
  });

  it('discards an image job and the media workflow whose fetched source is over it, saying so in the same words', async () => {
    const sourceUrl = `${receiver.url}/huge.png`;
    const image = await t.app.inject({ method: 'POST', url: '/jobs/images', payload: { imageId: 'huge', sourceUrl, tenantId: 't1' } });
    expect(image.statusCode, image.body).toBe(201);
    const media = await t.app.inject({
      method: 'POST',
      url: '/workflows/media',
      payload: { imageId: 'huge', sourceUrl, notify: { type: 'email', to: 'ada@example.org' }, tenantId: 't1' },
    });
    expect(media.statusCode, media.body).toBe(202);
    const sourceStep = media.json<{ steps: { name: string; jobId: string }[] }>().steps.find((s) => s.name === 'source')!;
    await drain(t.queue);
    for (const id of [image.json<{ id: string }>().id, sourceStep.jobId]) {
      const job = (await t.queue.getJob(id))!;
      expect(job.state, job.worker).toBe('discarded');
      expect(job.errors.at(-1)!.message, job.worker).toBe(`source: ${PIXEL_LIMIT}`);
    }
  });
});
