// process-image, generate-document and send-email end to end: a job inserted through a real
// docket Queue on the real database, run with drain(), its files checked by decoding them
// again (sharp for images, pdf-parse for the PDF, the raw RFC 5322 text for mail).
// Webhooks, exports and a started queue are in workers-delivery.test.ts.
import { Readable } from 'node:stream';
import { PDFParse } from 'pdf-parse';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageResult } from '../src/workers/image.js';
import type { DocumentResult } from '../src/workers/document.js';
import type { EmailResult } from '../src/workers/email.js';
import { createHarness, words, type Harness, type TestDocket } from './support/harness.js';
import { makePng, startReceiver, startSmtpServer, type Receiver, type SmtpServer } from './support/receivers.js';

let h: Harness;
let d: TestDocket;
let receiver: Receiver;
let png640: Buffer;

beforeAll(async () => {
  h = await createHarness('cp_workers');
  d = await h.docket();
  png640 = await makePng(640, 480);
  receiver = await startReceiver((req, res) => {
    if (req.url === '/img.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png640);
    else if (req.url === '/text') res.writeHead(200, { 'content-type': 'text/plain' }).end('not an image at all');
    else if (req.url === '/unavailable') res.writeHead(503).end('try later');
    else res.writeHead(404).end('no such thing');
  });
});

afterAll(async () => {
  await receiver?.close();
  await h?.close();
});

describe('process-image', () => {
  it('fetches, resizes, converts and makes thumbnails, reporting what it wrote', async () => {
    const job = await d.queue.insert(d.workers.image, {
      imageId: 'img-1',
      sourceUrl: `${receiver.url}/img.png`,
      operations: { resize: { width: 320 }, format: 'webp', thumbnails: [128, 64, 64] },
      tenantId: 'tenant-a',
    });
    const done = await h.run(d, job);
    expect(done.state).toBe('completed');
    const result = done.result as ImageResult;
    expect(result.source).toEqual({ format: 'png', width: 640, height: 480, bytes: png640.length });
    expect(result.files.map((f) => [f.name, f.width, f.height, f.format])).toEqual([
      ['image.webp', 320, 240, 'webp'],
      ['thumb-64.webp', 64, 48, 'webp'],
      ['thumb-128.webp', 128, 96, 'webp'],
    ]);
    for (const file of result.files) {
      const data = await h.storage.forTenant('tenant-a').readFile(job.id, file.name);
      expect(data.length).toBe(file.bytes);
      const meta = await sharp(data).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['webp', file.width, file.height]);
    }
    expect((await h.storage.forTenant('tenant-a').list(job.id)).map((f) => f.name)).toEqual(['image.webp', 'thumb-128.webp', 'thumb-64.webp']);
    expect(done.lastProgress?.percent).toBe(100);
  });

  it('reads an upload from storage and writes every output format', async () => {
    const source = await makePng(400, 200);
    const { uploadPath } = await h.storage.forTenant('tenant-a').saveUpload(Readable.from([source]), 1024 * 1024);
    const expected = { jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'heif' } as const; // sharp reports AVIF as HEIF/av1
    for (const format of ['jpeg', 'png', 'webp', 'avif'] as const) {
      const job = await d.queue.insert(d.workers.image, {
        imageId: `up-${format}`,
        uploadPath,
        operations: { resize: { width: 100, height: 100 }, format, optimize: format !== 'jpeg' },
        tenantId: 'tenant-a',
      });
      const done = await h.run(d, job);
      expect(done.state).toBe('completed');
      const [main] = (done.result as ImageResult).files;
      expect(main).toMatchObject({ width: 100, height: 50, format }); // fits inside 100x100, aspect kept
      const meta = await sharp(await h.storage.forTenant('tenant-a').readFile(job.id, main!.name)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([expected[format], 100, 50]);
    }
  });

  it('never enlarges, and optimizing makes a smaller file', async () => {
    const { uploadPath } = await h.storage.forTenant('tenant-a').saveUpload(Readable.from([await makePng(300, 300)]), 1024 * 1024);
    const sizes: number[] = [];
    for (const optimize of [true, false]) {
      const job = await d.queue.insert(d.workers.image, { imageId: 'big', uploadPath, operations: { resize: { width: 2000 }, format: 'jpeg', optimize }, tenantId: 'tenant-a' });
      const [main] = ((await h.run(d, job)).result as ImageResult).files;
      expect([main!.width, main!.height]).toEqual([300, 300]);
      sizes.push(main!.bytes);
    }
    expect(sizes[0]).toBeLessThan(sizes[1]!);
  });

  it('discards what can never work, retries what might', async () => {
    const outcome = async (args: Record<string, unknown>, docket = d) => {
      const job = await docket.queue.insert(docket.workers.image, { imageId: 'x', tenantId: 'tenant-b', ...args } as never);
      const done = await h.run(docket, job);
      return { state: done.state, attempt: done.attempt, error: done.errors.at(-1)?.message ?? '' };
    };
    expect(await outcome({ sourceUrl: `${receiver.url}/missing.png` })).toEqual({ state: 'discarded', attempt: 1, error: 'image source answered HTTP 404' });
    expect(await outcome({ sourceUrl: `${receiver.url}/text` })).toMatchObject({ state: 'discarded', error: expect.stringContaining('not a readable image') });
    expect(await outcome({ sourceUrl: 'http://169.254.169.254/latest/meta-data/' })).toMatchObject({ state: 'discarded', error: expect.stringContaining('cloud metadata endpoint') });
    expect(await outcome({ uploadPath: '../../../../etc/passwd' })).toMatchObject({ state: 'discarded', error: expect.stringContaining('unsafe upload path') });
    expect(await outcome({ uploadPath: 'uploads/00000000-0000-4000-8000-000000000000' })).toMatchObject({ state: 'discarded', error: expect.stringContaining('ENOENT') });
    const svg = await h.storage.forTenant('tenant-b').saveUpload(Readable.from([Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="http://169.254.169.254/x"/></svg>')]), 4096);
    expect(await outcome({ uploadPath: svg.uploadPath })).toMatchObject({ state: 'discarded', error: expect.stringContaining('format svg is not accepted') });

    const truncated = await h.storage.forTenant('tenant-b').saveUpload(Readable.from([png640.subarray(0, Math.floor(png640.length / 2))]), 1024 * 1024);
    expect(await outcome({ uploadPath: truncated.uploadPath })).toMatchObject({ state: 'discarded', attempt: 1, error: expect.stringContaining('could not be processed') });

    const retry = await outcome({ sourceUrl: `${receiver.url}/unavailable` });
    expect(retry).toEqual({ state: 'retryable', attempt: 1, error: 'image source answered HTTP 503' });
    await d.queue.cancelJobs({ queue: 'images', state: 'retryable' });

    // Without ALLOW_PRIVATE_TARGETS the loopback receiver is refused before any request.
    const strict = await h.docket({ ALLOW_PRIVATE_TARGETS: 'false' });
    const before = receiver.requests.length;
    expect(await outcome({ sourceUrl: `${receiver.url}/img.png` }, strict)).toMatchObject({ state: 'discarded', error: expect.stringContaining('loopback address') });
    expect(receiver.requests.length).toBe(before);
  });
});

describe('generate-document', () => {
  it('writes a multi-page PDF and the text extracted back from it', async () => {
    const paragraphs = Array.from({ length: 40 }, (_, i) =>
      `Paragraph ${i + 1}. ` + Array.from({ length: 90 }, (_, w) => ['queue', 'worker', 'tenant', 'postgres', 'lease', 'retry'][(i + w) % 6]).join(' ') + '.',
    );
    paragraphs.push('Non-Latin text: 日本語 ✓ is replaced, while “curly quotes” – and café – stay.');
    const title = 'Quarterly report – Q3'; // an en dash: Windows-1252, drawn as is
    const job = await d.queue.insert(d.workers.document, { documentId: 'doc-1', title, paragraphs, tenantId: 'tenant-a' });
    const done = await h.run(d, job);
    expect(done.state).toBe('completed');
    const result = done.result as DocumentResult;
    expect(result.replacedChars).toBe(4);
    expect(result.pdf.name).toBe('document.pdf');
    expect(result.pdf.pages).toBeGreaterThanOrEqual(3);

    const pdf = await h.storage.forTenant('tenant-a').readFile(job.id, 'document.pdf');
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.length).toBe(result.pdf.bytes);
    const parser = new PDFParse({ data: pdf });
    const info = await parser.getInfo();
    await parser.destroy();
    expect(info.total).toBe(result.pdf.pages);
    expect(info.info?.Title).toBe(title);

    const text = (await h.storage.forTenant('tenant-a').readFile(job.id, 'document.txt')).toString('utf8');
    expect(text.length).toBe(result.text.chars);
    expect(words(text)).toContain(`${title} · page ${result.pdf.pages}`);
    // Footers are drawn as each page starts, so they sit inside a paragraph broken by a page.
    const flat = words(text.replace(/Quarterly report – Q3 · page \d+/g, ' '));
    expect(flat.startsWith(title)).toBe(true);
    for (const p of paragraphs.slice(0, 40)) expect(flat).toContain(words(p));
    expect(flat).toContain('Non-Latin text: ??? ? is replaced, while “curly quotes” – and café – stay.');
  });
});

describe('send-email', () => {
  it('without SMTP, stores the real message as an .eml file', async () => {
    const job = await d.queue.insert(d.workers.email, { to: 'ada@example.org', subject: 'Welcome, Ada', html: '<h1>Hi Ada</h1>', text: 'Hi Ada', tenantId: 'tenant-a' });
    const done = await h.run(d, job);
    expect(done.state).toBe('completed');
    const result = done.result as EmailResult;
    expect(result).toEqual({ messageId: `<job-${job.id}@content-processor.localhost>`, eml: 'message.eml', bytes: expect.any(Number) });
    const eml = (await h.storage.forTenant('tenant-a').readFile(job.id, 'message.eml')).toString('utf8');
    expect(eml.length).toBe(result.bytes);
    expect(eml).toMatch(/^From: Content Processor <no-reply@content-processor\.localhost>\r$/m);
    expect(eml).toMatch(/^To: ada@example\.org\r$/m);
    expect(eml).toMatch(/^Subject: Welcome, Ada\r$/m);
    expect(eml).toContain(`Message-ID: <job-${job.id}@content-processor.localhost>`);
    expect(eml).toMatch(/^X-Tenant-Id: tenant-a\r$/im);
    expect(eml).toMatch(/Content-Type: multipart\/alternative/);
    expect(eml).toContain('<h1>Hi Ada</h1>');
  });

  describe('through SMTP', () => {
    let smtp: SmtpServer;
    let mail: TestDocket;
    beforeAll(async () => {
      smtp = await startSmtpServer();
      mail = await h.docket({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_USER: 'mailer', SMTP_PASSWORD: 'smtp-password', SMTP_FROM: 'Ops <ops@example.org>' });
    });
    afterAll(async () => {
      await smtp?.close();
    });
    const send = async (to = 'bob@example.org') => {
      const job = await mail.queue.insert(mail.workers.email, { to, subject: 'Your export is ready', text: 'Line one\n.\nLine three', tenantId: 'tenant-a' });
      return { job, done: await h.run(mail, job) };
    };

    it('delivers, authenticated, and stores no .eml', async () => {
      const { job, done } = await send();
      expect(done.state).toBe('completed');
      expect(done.result).toEqual({ messageId: `<job-${job.id}@example.org>`, accepted: ['bob@example.org'], response: '250 2.0.0 queued as test' });
      const [message] = smtp.messages;
      expect(message).toMatchObject({ from: 'ops@example.org', to: ['bob@example.org'], auth: { user: 'mailer', password: 'smtp-password' } });
      expect(message!.data).toMatch(/^Subject: Your export is ready\r$/m);
      expect(message!.data).toContain('Line one\r\n.\r\nLine three'); // dot-stuffed on the wire, unstuffed here
      expect(await h.storage.forTenant('tenant-a').list(job.id)).toEqual([]);
    });

    it('discards a permanent refusal, retries a temporary one', async () => {
      smtp.script.rcpt = '550 5.1.1 no such user';
      const refused = (await send('nobody@example.org')).done;
      expect([refused.state, refused.attempt]).toEqual(['discarded', 1]);
      expect(refused.errors.at(-1)?.message).toMatch(/refused the message for good.*550/);

      smtp.script.rcpt = '450 4.2.0 mailbox busy';
      expect((await send()).done.state).toBe('retryable');
      delete smtp.script.rcpt;
      smtp.script.greeting = '421 4.3.2 too busy';
      expect((await send()).done.state).toBe('retryable');
      delete smtp.script.greeting;
      await mail.queue.cancelJobs({ queue: 'emails', state: 'retryable' });
    });
  });
});
