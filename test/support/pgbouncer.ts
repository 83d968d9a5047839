// A PgBouncer in transaction pooling mode in front of the test database, run by the test that
// needs it (Debian's `pgbouncer` package: .ci/run installs it). A port of its own on 127.0.0.1,
// trust auth for its clients (a test fixture: it lives as long as the test file), everything in
// a temporary folder only its user can read; as root it drops to the `postgres` user, since
// PgBouncer refuses to run as root.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { freePort } from '@docket/dev-postgres';
import { join } from 'node:path';

/** A running PgBouncer. */
export interface PgBouncer {
  /** `url` with host and port replaced by PgBouncer's. */
  readonly url: string;
  /** PgBouncer's own log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Where Debian installs PgBouncer, or undefined when it is missing. */
export function pgbouncerBinary(): string | undefined {
  return ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((path) => existsSync(path));
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Starts PgBouncer (pool_mode = transaction) in front of the database `url` points at. */
export async function startPgBouncer(url: string, poolSize = 20): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (binary === undefined) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)');
  const target = new URL(url);
  const user = decodeURIComponent(target.username || 'postgres');
  // The config holds the server's password: readable by PgBouncer's user alone.
  const dir = await mkdtemp(join(tmpdir(), 'docket-pgbouncer-'));
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot
    ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
    : undefined;
  const port = await freePort();
  const logFile = join(dir, 'pgbouncer.log');
  const ini = [
    '[databases]',
    `* = host=${target.hostname} port=${target.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = transaction',
    'max_client_conn = 1000',
    `default_pool_size = ${poolSize}`,
    `logfile = ${logFile}`,
    // What the drivers send at startup that PgBouncer would otherwise refuse.
    'ignore_startup_parameters = extra_float_digits,options',
    'server_reset_query =',
  ].join('\n');
  await writeFile(join(dir, 'pgbouncer.ini'), `${ini}\n`, { mode: 0o600 });
  // Clients get in on trust; PgBouncer logs in to the server with this password (an embedded
  // server's scram-sha-256 needs it; a trust server ignores it).
  const password = decodeURIComponent(target.password).replace(/"/g, '""');
  await writeFile(join(dir, 'users.txt'), `"${user}" "${password}"\n`, { mode: 0o600 });
  await writeFile(logFile, '', { mode: 0o600 });
  if (owner !== undefined) {
    for (const path of [dir, join(dir, 'pgbouncer.ini'), join(dir, 'users.txt'), logFile]) await chown(path, owner.uid, owner.gid);
  }
  const child: ChildProcess = spawn(binary, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await accepting(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = await readFile(logFile, 'utf8').catch(() => '');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start: ${stderr}${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const bounced = new URL(url);
  bounced.hostname = '127.0.0.1';
  bounced.port = String(port);
  return {
    url: bounced.toString(),
    log: () => readFile(logFile, 'utf8'),
    async stop() {
      if (child.exitCode === null) {
        // SIGTERM: immediate shutdown (SIGINT would wait for every client to leave).
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
