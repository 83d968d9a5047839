// The CLI's database connection: a pg Pool of its own (from --database-url or DATABASE_URL), a
// Queue over it that runs no jobs (admin calls only), a first connect that tells "cannot reach
// the database" (exit 3) apart from everything later, and both closed whatever happens.
// pg is an optional peer dependency of docket: it is loaded only here, when a command needs the
// database, so `docket --help` works without it and its absence is reported by name.
import { createRequire } from 'node:module';
import type pg from 'pg';
import { Queue } from '../index.js';
import { CliError, EXIT, UsageError, describeError } from './exit.js';

const requireHere = createRequire(import.meta.url);

/** Where to connect, from the global options and the environment. */
export interface Target {
  readonly url: string | undefined;
  readonly schema: string | undefined;
}

function loadPg(): typeof pg {
  try {
    return requireHere('pg') as typeof pg;
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.startsWith("Cannot find module 'pg'")) {
      throw new CliError(EXIT.failed, 'docket needs the "pg" package to connect to the database (a peer dependency it does not install): npm install pg');
    }
    throw error;
  }
}

/** The URL without its password, to name the database in messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the database';
  }
}

/**
 * Runs `fn` with a Queue on the target database; the Queue is stopped and the pool ended
 * afterwards, whether `fn` succeeded or not.
 */
export async function withQueue<T>(target: Target, fn: (queue: Queue) => Promise<T>): Promise<T> {
  if (target.url === undefined || target.url === '') {
    throw new UsageError('no database given: set DATABASE_URL or pass --database-url <url>');
  }
  const { Pool } = loadPg();
  // A short connect timeout: an operator waiting on an unroutable host gets exit 3 in seconds,
  // not the kernel's two minutes.
  const pool = new Pool({ connectionString: target.url, max: 4, connectionTimeoutMillis: 10_000, application_name: 'docket-cli' });
  // An idle connection dropping emits 'error' on the pool (fatal when unhandled); the query in
  // flight, if any, fails with its own error, which is what gets reported.
  pool.on('error', () => {});
  try {
    // Before connecting: a bad --schema is a usage error (ConfigError), not a database one.
    const queue = new Queue({ connection: pool, ...(target.schema === undefined ? {} : { schema: target.schema }), queues: {} });
    try {
      try {
        (await pool.connect()).release();
      } catch (error) {
        throw new CliError(EXIT.unreachable, `cannot connect to ${redact(target.url)}: ${describeError(error)}`, { cause: error });
      }
      try {
        return await fn(queue);
      } catch (error) {
        // A table or the schema missing: the usual cause is a schema never migrated (or a typo).
        const { code } = (error ?? {}) as { code?: unknown };
        if (code === '42P01' || code === '3F000') {
          throw new CliError(EXIT.failed, `${describeError(error)}: is schema "${queue.schema}" migrated? (docket migrate --schema ${queue.schema})`, { cause: error });
        }
        throw error;
      }
    } finally {
      await queue.stop();
    }
  } finally {
    await pool.end();
  }
}
