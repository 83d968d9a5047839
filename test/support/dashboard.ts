// Helpers for the dashboard tests: a node:http server on 127.0.0.1 around a handler, plain HTTP
// requests with full control of their headers (Origin, Sec-Fetch-Site, which fetch would not let
// a test set freely), the CSRF token of a served page, and the workers and finished jobs both
// dashboard tests show.
import { request as httpRequest, createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { Lifeline, Worker } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { nextEvent } from './queue.js';

export const echo = new Worker({ name: 'echo', args: z.object({ n: z.number() }), perform: async (job) => ({ echoed: job.args.n }) });
export const broken = new Worker({ name: 'broken', queue: 'mail', maxAttempts: 1, args: z.object({}), perform: async () => { throw new Error('SMTP said no'); } });
// A queue no node runs: its jobs wait for the tests' actions.
export const idle = new Worker({ name: 'idle-work', queue: 'idle', args: z.object({}).passthrough(), perform: async () => undefined });

/**
 * An admin Queue (never started) and a running leader (Lifeline, so it leads) that has completed
 * three echo jobs and discarded one broken job, inserted through the admin.
 */
export async function withFinishedJobs(queue: (options: { workers: Worker[]; queues?: Record<string, number>; plugins?: Lifeline[] }) => Promise<Queue>, workers: Worker[]): Promise<{ admin: Queue; runner: Queue }> {
  const admin = await queue({ workers });
  const runner = await queue({ workers, queues: { default: 2, mail: 1 }, plugins: [new Lifeline({ interval: 500 })] });
  const elected = nextEvent(runner, 'leader:elected');
  await runner.start();
  await elected;
  const done = [1, 2, 3].map((n) => nextEvent(runner, 'job:complete', ({ job }) => (job.args as { n: number }).n === n));
  const failed = nextEvent(runner, 'job:discard');
  await admin.insertMany(echo, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  await admin.insert(broken, {});
  await Promise.all([...done, failed]);
  return { admin, runner };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** A server on 127.0.0.1 (a free port) calling `handler`; `close()` stops it. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** One request; `body` is sent as given (a string) or as JSON. */
export function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const payload = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: { ...(payload === undefined ? {} : { 'content-length': String(Buffer.byteLength(payload)) }), ...init.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The CSRF token in a served page. */
export function csrfTokenOf(html: string): string {
  const token = /<meta name="docket-csrf" content="([^"]+)">/.exec(html)?.[1];
  if (token === undefined) throw new Error('the page carries no CSRF token');
  return token;
}
