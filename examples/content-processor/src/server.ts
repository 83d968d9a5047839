// Entry point (`npx tsx examples/content-processor/src/server.ts`): configuration → database
// (DATABASE_URL, or an embedded PostgreSQL) → storage → docket Queue (migrated, started) → HTTP
// app → listen. SIGTERM/SIGINT stop it in order: stop taking requests (open event streams end),
// let running jobs finish (up to SHUTDOWN_TIMEOUT ms, then they are left for another node),
// close the pool, stop the embedded database. Every startup failure prints one clear line and
// exits 1.
import pg from 'pg';
import { buildApp } from './app.js';
import { ConfigurationError, loadConfig } from './config.js';
import { openDatabase, type Database } from './database.js';
import { createDocket, type PinoLike } from './docket.js';
import { Storage } from './storage.js';
import { TenantKeys } from './tenancy/tenant-keys.js';

const SHUTDOWN_TIMEOUT = 25_000; // below fly.toml's kill_timeout (30 s)

function fail(message: string, error?: unknown): never {
  const detail = error instanceof Error ? error.message : error === undefined ? '' : String(error);
  console.error(`[content-processor] ${message}${detail ? `: ${detail}` : ''}`);
  process.exit(1);
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, { warn: (message) => console.warn(`[content-processor] warning: ${message}`) });
  } catch (error) {
    if (error instanceof ConfigurationError) fail(error.message);
    throw error;
  }

  let database: Database;
  try {
    if (config.databaseUrl === undefined) console.log(`[content-processor] DATABASE_URL is not set: starting an embedded PostgreSQL, data in ${config.dataDir}`);
    database = await openDatabase(config);
  } catch (error) {
    fail('cannot open the database', error);
  }
  if (database.logFile !== undefined) console.log(`[content-processor] embedded PostgreSQL ready (its log: ${database.logFile})`);

  const pool = new pg.Pool({ connectionString: database.url, max: 20, application_name: 'content-processor' });
  // Idle clients report a database restart here; without a listener Node would exit. During
  // shutdown it is expected: Ctrl-C in a terminal also reaches an embedded server, which stops.
  let stopping = false;
  pool.on('error', (error) => {
    if (!stopping) console.warn(`[content-processor] idle database connection failed: ${error.message}`);
  });
  const closeDatabase = async () => {
    await pool.end().catch(() => undefined);
    await database.close().catch(() => undefined);
  };
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await closeDatabase();
    fail(`cannot reach the database at ${redact(database.url)}`, error);
  }

  const storage = new Storage(config.storageDir, { quota: config.tenantStorageQuota });
  try {
    await storage.init();
  } catch (error) {
    await closeDatabase();
    fail(`cannot create the storage folder ${config.storageDir}`, error);
  }

  // The app's logger is created by buildApp; docket's logs go to it once it exists.
  let log: PinoLike | undefined;
  const docketLogger = {
    debug: (m: string, meta?: object) => log?.debug(meta ?? {}, m),
    info: (m: string, meta?: object) => log?.info(meta ?? {}, m),
    warn: (m: string, meta?: object) => (log ? log.warn(meta ?? {}, m) : console.warn(`[docket] ${m}`)),
    error: (m: string, meta?: object) => (log ? log.error(meta ?? {}, m) : console.error(`[docket] ${m}`)),
  };
  const { queue, workers } = createDocket(config, pool, storage, { logger: docketLogger });
  try {
    await queue.migrate();
    await queue.start();
  } catch (error) {
    await queue.stop().catch(() => undefined);
    await closeDatabase();
    fail('cannot start the job queue', error);
  }

  const tenants = new TenantKeys(pool);
  try {
    await tenants.migrate();
  } catch (error) {
    await queue.stop().catch(() => undefined);
    await closeDatabase();
    fail('cannot create the tenant API key table', error);
  }
  const app = await buildApp({ config, queue, workers, storage, pool, tenants });
  log = app.log;
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    await queue.stop().catch(() => undefined);
    await closeDatabase();
    if (code === 'EADDRINUSE') fail(`port ${config.port} on ${config.host} is already in use (set PORT)`);
    if (code === 'EACCES') fail(`not allowed to listen on ${config.host}:${config.port} (set PORT above 1024)`);
    fail('cannot listen', error);
  }
  // Files of deleted jobs and unused uploads are swept every STORAGE_SWEEP_INTERVAL s (app.close() stops it).
  app.storageSweeper.start();
  const dashboard = config.adminApiKeyHash !== undefined || config.insecureDev;
  app.log.info(
    { database: database.embedded ? 'embedded' : redact(database.url), storage: config.storageDir, queues: config.queues },
    `content-processor ready; API docs at /documentation${dashboard ? ', dashboard at /dashboard' : ''}`,
  );
  // The same for a person at a terminal (`npm run example` logs only warnings), with full links.
  const base = `http://${['0.0.0.0', '::'].includes(config.host) ? '127.0.0.1' : config.host}:${config.port}`;
  console.log(`[content-processor] listening on ${base}; files in ${config.storageDir}`);
  console.log(`[content-processor] API docs: ${base}/documentation${dashboard ? `  dashboard: ${base}/dashboard` : ''}`);

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT + 5_000);
    force.unref();
    try {
      await app.close();
      await queue.stop({ timeout: SHUTDOWN_TIMEOUT });
    } catch (error) {
      app.log.error({ err: error }, 'error while shutting down');
    }
    await closeDatabase();
    app.log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => fail('unexpected startup failure', error));
