// Secrets stay secret (issue 15, scenario 11, library side): a password in the connection string
// and the values of args (keys such as `password`, `token`, `authorization`) appear in none of
// docket's errors or log lines, including when the database cannot be reached.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Queue, Worker } from '../../src/index.js';
import { freePort } from '@docket/dev-postgres';

const PASSWORD = 'S3cret-Pa55word';
const [TOKEN, AUTH, PW] = ['hunter2-token-value', 'Bearer abc.def.ghi', 'pw-hunter3'] as const;
const VALUES = [TOKEN, AUTH, PW];

const login = new Worker({
  name: 'login',
  args: z.object({ user: z.string(), password: z.string().min(40), token: z.string().regex(/^tok_/), authorization: z.string().startsWith('Basic ') }),
  perform: async () => null,
});

function capture(): { logger: Record<'debug' | 'info' | 'warn' | 'error', (m: string, meta?: object) => void>; text: () => string } {
  const lines: string[] = [];
  const log = (m: string, meta?: object) => lines.push(`${m} ${safeJson(meta)}`);
  return { logger: { debug: log, info: log, warn: log, error: log }, text: () => lines.join('\n') };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v));
  } catch {
    return String(value);
  }
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return `${String(error)}\n${(error as Error).stack ?? ''}\n${safeJson(error)}`;
}

describe('secrets', () => {
  it('a password in the connection string is in no error or log line when the database cannot be reached', async () => {
    const port = await freePort(); // nothing listens there
    const { logger, text } = capture();
    const queue = new Queue({ connection: `postgres://alice:${PASSWORD}@127.0.0.1:${port}/app`, workers: [login], logger, pollInterval: 50 });
    const seen = [
      await failure(queue.migrate()),
      await failure(queue.start({ waitForDatabase: 300 })), // tries, warns once, gives up
      await failure(queue.insert(login, { user: 'a', password: 'x'.repeat(40), token: 'tok_1', authorization: 'Basic x' })),
      await failure(queue.getJob('1')),
    ];
    await queue.stop().catch(() => undefined);
    for (const seenText of [...seen, text()]) expect(seenText).not.toContain(PASSWORD);
    expect(seen[0]).toContain('ECONNREFUSED'); // the errors still say what went wrong
  });

  it('args values are in no validation error, whether the schema or storage refuses them', async () => {
    const queue = new Queue({ connection: 'postgres://alice:pw@127.0.0.1:1/app', workers: [login] });
    const refused = [
      await failure(queue.insert(login, { user: 'a', password: PW, token: TOKEN, authorization: AUTH })),
      await failure(queue.insert(login, { user: 'a', password: `${'p'.repeat(40)}\u0000${PW}`, token: 'tok_1', authorization: 'Basic x' })),
      await failure(queue.insertMany(login, [{ user: 'a', password: PW, token: 'tok_x', authorization: AUTH }])),
    ];
    for (const seenText of refused) {
      for (const value of VALUES) expect(seenText).not.toContain(value);
      expect(seenText).toMatch(/password|token|authorization/); // the fields are named
    }
    await queue.stop().catch(() => undefined);
  });
});
