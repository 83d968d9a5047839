// Queue options: what users pass, and the checked, defaulted form the runtime uses.
import { ConfigError } from '../definitions/errors.js';
import type { Logger } from '../definitions/logger.js';
import { silentLogger } from '../definitions/logger.js';
import type { Plugin } from '../plugins/plugin.js';
import type { JobMiddleware } from '../definitions/middleware.js';
import { quoteSchema } from '../engine/sql/identifier.js';
import type { ResolvedThreadPoolOptions, ThreadPoolOptions } from './threads.js';
import { resolveThreadPoolOptions } from './threads.js';
import type { PartitionOptions, Worker } from '../definitions/worker.js';
import { checkInt, checkPartition, checkQueueName } from '../definitions/worker.js';
import { DEFAULT_MAX_ARGS_BYTES, MAX_ARGS_BYTES_LIMIT } from '../definitions/limits.js';

/**
 * A global rate limit for one queue: at most `allowed` jobs start in any `period` seconds,
 * counted across every node (a sliding window, by the database clock).
 *
 * @example
 * ```ts
 * queues: { webhooks: { concurrency: 20, rateLimit: { allowed: 100, period: 60 } } }
 * ```
 */
export interface RateLimit {
  /** Jobs that may start per window (1–10,000). */
  readonly allowed: number;
  /** Window length in seconds (1–86,400). */
  readonly period: number;
}

/**
 * Settings of one queue on this node, in the `queues` option.
 *
 * @example
 * ```ts
 * queues: { images: { concurrency: 5, partition: { by: (args) => (args as { tenant: string }).tenant, limit: 2 } } }
 * ```
 */
export interface QueueSettings {
  /**
   * Jobs of this queue that may run at once on this node. Default 10. `0`: this node never runs
   * the queue's jobs, but its settings (a queue-level `partition`) still apply to its inserts.
   */
  readonly concurrency?: number;
  /** Cluster-wide rate limit. Set it alike on every node that runs the queue. */
  readonly rateLimit?: RateLimit;
  /**
   * Per-key concurrency for jobs of workers that have no `partition` of their own. The key is
   * computed at insert, so set it alike on every node that inserts into the queue.
   */
  readonly partition?: PartitionOptions;
}

/** Checked settings of one queue. */
export interface ResolvedQueueSettings {
  readonly concurrency: number;
  readonly rateLimit: { readonly allowed: number; readonly periodMs: number } | undefined;
  readonly partition: PartitionOptions | undefined;
}

/**
 * What docket relies on in a `pg` Pool. Described by shape, so docket's types need neither
 * driver installed: a user of postgres.js alone type-checks without `pg`.
 *
 * @example
 * ```ts
 * const pool: PgPoolLike = new pg.Pool({ connectionString });
 * ```
 */
export interface PgPoolLike {
  connect(): Promise<unknown>;
  query(...args: never[]): unknown;
  readonly totalCount: number;
}

/**
 * What docket relies on in a postgres.js `sql` instance (by shape, see {@link PgPoolLike}).
 *
 * @example
 * ```ts
 * const sql: PostgresJsLike = postgres(connectionString);
 * ```
 */
export interface PostgresJsLike {
  (...args: never[]): unknown;
  unsafe(...args: never[]): unknown;
  begin(...args: never[]): unknown;
}

/**
 * How docket reaches PostgreSQL: a `pg` Pool, a postgres.js `sql` instance (both stay the
 * host's: docket never ends them), or a connection string (docket creates and owns a `pg` Pool,
 * which needs the `pg` package).
 *
 * @example
 * ```ts
 * new Queue({ connection: new pg.Pool({ connectionString }) });
 * new Queue({ connection: postgres(connectionString) });
 * new Queue({ connection: process.env.DATABASE_URL! });
 * ```
 */
export type Connection = PgPoolLike | PostgresJsLike | string;

/**
 * Options of a {@link Queue}.
 *
 * @example
 * ```ts
 * const queue = new Queue({
 *   connection: process.env.DATABASE_URL!,
 *   schema: 'docket',
 *   queues: { default: 10, images: 5 },
 *   workers: [resize, sendEmail],
 * });
 * ```
 */
export interface QueueOptions {
  readonly connection: Connection;
  /** Schema holding docket's tables. Default `'docket'`. */
  readonly schema?: string;
  /**
   * Queues this node processes, with how many jobs of each may run at once on this node.
   * Default: every queue the workers name, at 10. Use `{}` for a node that only inserts.
   * A number is the concurrency; an object also sets a rate limit or partitions.
   */
  readonly queues?: Readonly<Record<string, number | QueueSettings>>;
  /** Worker definitions; names must be unique. */
  readonly workers?: readonly Worker[];
  /** How often each queue polls when no notification arrives (ms). Default 1000. */
  readonly pollInterval?: number;
  /** Where docket logs. Default: nowhere. */
  readonly logger?: Logger;
  /** Identifies this process in `attemptedBy`. Default: host-pid-random. */
  readonly nodeId?: string;
  /** Size of the pool docket creates for a connection string. Default 10. */
  readonly poolSize?: number;
  /**
   * How often (ms) a node re-reads queue controls (pause, scale) and checks that the jobs it
   * runs were not cancelled or deleted meanwhile, in case it missed a notification. Default 2000.
   */
  readonly reconcileInterval?: number;
  /** Least time (ms) between two progress writes of one job. Default 500. */
  readonly progressInterval?: number;
  /** The thread pool that runs workers with a `thread` option. Default: `{ size: os.availableParallelism() }`. */
  readonly threads?: ThreadPoolOptions;
  /**
   * For the host's own test suite (see `docket/testing`): `'manual'` never fetches by itself
   * (jobs run when the test calls `drain(queue)`); `'inline'` also runs each inserted job at
   * once, before `insert` returns (inside the insert's transaction, when it has one).
   */
  readonly testing?: 'inline' | 'manual';
  /** Plugins this node runs: `new Lifeline()`, `new Pruner()`, `new Cron(...)`, or your own. */
  readonly plugins?: readonly Plugin[];
  /**
   * Code run around every insert call and every attempt on this node (see {@link JobMiddleware});
   * the first is outermost. Plugins may bring their own (e.g. `new OpenTelemetry()`), which run
   * inside these, in the order of `plugins`.
   */
  readonly middleware?: readonly JobMiddleware[];
  /** How often (ms) this node records its heartbeat. Default 1000. */
  readonly heartbeatInterval?: number;
  /**
   * How long (ms) the leader lease lasts without renewal; the leader renews every quarter of it
   * and steps down after three quarters without a renewal. Default 10,000.
   */
  readonly leaseTtl?: number;
  /**
   * What becomes of a job that completes: `'history'` (default) moves it into the finished-job
   * history, where `getJob`, `listJobs` and `retry` still find it until the Pruner retires it;
   * `'none'` deletes it at once, in the ack (discarded and cancelled jobs still go to history,
   * and so do a completed job whose unique key stays taken in `completed` and a completed
   * workflow step, whose result its dependents read). Set it the same
   * on every node: it applies to the jobs this node acks.
   */
  readonly retention?: 'history' | 'none';
  /**
   * Largest args a job may have, in bytes of JSON (default 1 MiB, at most 255 MiB). A bigger
   * job is refused at insert with an ArgsValidationError, before any round trip: keep large
   * payloads in object storage and pass their keys.
   */
  readonly maxArgsBytes?: number;
  /**
   * Whether docket names (prepares) its statements, so PostgreSQL plans each once per
   * connection. Default true. Set false behind a connection pooler in transaction mode that
   * does not track prepared statements (PgBouncer before 1.21, or without
   * `max_prepared_statements`); docket also turns it off by itself, with one warning, the
   * first time the database reports a prepared statement missing. (postgres.js: give your
   * `sql` instance `prepare: false` too, for your own queries.)
   */
  readonly preparedStatements?: boolean;
  /**
   * Announce what happens to jobs on this node (started, progress, finished, retried,
   * rescued, an operator's action) to the cluster, so that `queue.watch(id)` and
   * `queue.watchJobs()` on any node follow jobs wherever they run. Default false. Costs one
   * NOTIFY per few milliseconds of updates (batched) on nodes that run jobs; turn it on on
   * every node whose jobs someone follows. Following works without it, by reading the job
   * every `recheckInterval` instead.
   */
  readonly jobEvents?: boolean;
  /**
   * A connection used only for LISTEN, when `connection` goes through a pooler in transaction
   * mode (PgBouncer), where LISTEN cannot work: a connection string, pg Pool or postgres.js
   * instance that reaches PostgreSQL directly. docket opens one connection of its own from it.
   * Without it, such a node notices that LISTEN hears nothing, warns once, and relies on
   * polling (`pollInterval`): jobs still run, only later.
   */
  readonly listenConnection?: Connection;
}

/** Checked options. */
export interface ResolvedConfig {
  readonly schema: string;
  readonly quotedSchema: string;
  readonly channel: string;
  readonly queues: ReadonlyMap<string, number>;
  readonly queueSettings: ReadonlyMap<string, ResolvedQueueSettings>;
  readonly workers: ReadonlyMap<string, Worker>;
  readonly pollInterval: number;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly poolSize: number;
  readonly reconcileInterval: number;
  readonly progressInterval: number;
  readonly threads: ResolvedThreadPoolOptions;
  readonly testing: 'inline' | 'manual' | undefined;
  readonly plugins: readonly Plugin[];
  /** The option's middleware, then the plugins'. */
  readonly middleware: readonly JobMiddleware[];
  readonly heartbeatInterval: number;
  readonly leaseTtl: number;
  readonly retention: 'history' | 'none';
  readonly maxArgsBytes: number;
  readonly preparedStatements: boolean;
  readonly jobEvents: boolean;
}

function checkRetention(value: unknown): 'history' | 'none' {
  if (value === undefined || value === 'history') return 'history';
  if (value === 'none') return value;
  throw new ConfigError(`Queue option "retention" must be 'history' or 'none', got ${JSON.stringify(value)}`);
}

function checkBoolean(value: unknown, fallback: boolean, what: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  throw new ConfigError(`${what} must be true or false, got ${JSON.stringify(value)}`);
}

function checkTesting(value: unknown): 'inline' | 'manual' | undefined {
  if (value === undefined || value === 'inline' || value === 'manual') return value;
  throw new ConfigError(`Queue option "testing" must be 'inline' or 'manual', got ${JSON.stringify(value)}`);
}

function resolveQueueSettings(name: string, value: number | QueueSettings): ResolvedQueueSettings {
  const where = `Queue option "queues.${name}"`;
  if (typeof value === 'number') {
    return { concurrency: checkInt(value, 0, 10_000, `Concurrency of queue "${name}"`), rateLimit: undefined, partition: undefined };
  }
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(`${where} must be a concurrency (number) or { concurrency, rateLimit, partition }`);
  }
  let rateLimit: ResolvedQueueSettings['rateLimit'];
  if (value.rateLimit !== undefined) {
    if (typeof value.rateLimit !== 'object' || value.rateLimit === null) {
      throw new ConfigError(`${where}: rateLimit must be { allowed, period }`);
    }
    rateLimit = {
      allowed: checkInt(value.rateLimit.allowed, 1, 10_000, `${where}: rateLimit.allowed`),
      periodMs: checkInt(value.rateLimit.period, 1, 86_400, `${where}: rateLimit.period (seconds)`) * 1000,
    };
  }
  return {
    concurrency: checkInt(value.concurrency ?? 10, 0, 10_000, `Concurrency of queue "${name}"`),
    rateLimit,
    partition: value.partition === undefined ? undefined : checkPartition(value.partition, where),
  };
}

/** Validates options; throws ConfigError naming the first problem. */
export function resolveConfig(options: QueueOptions, defaultNodeId: () => string): ResolvedConfig {
  if (typeof options !== 'object' || options === null) throw new ConfigError('Queue options are required');
  if (options.connection === undefined || options.connection === null || options.connection === '') {
    throw new ConfigError('Queue option "connection" is required: a pg Pool, a postgres.js sql, or a connection string');
  }
  if (options.listenConnection !== undefined && (options.listenConnection === null || options.listenConnection === '')) {
    throw new ConfigError('Queue option "listenConnection" must be a pg Pool, a postgres.js sql, or a connection string when given');
  }
  const schema = options.schema ?? 'docket';
  const quotedSchema = quoteSchema(schema);
  const workers = new Map<string, Worker>();
  for (const worker of options.workers ?? []) {
    if (typeof worker?.perform !== 'function' || typeof worker.name !== 'string') {
      throw new ConfigError('Queue option "workers" must contain Worker instances');
    }
    if (workers.has(worker.name)) throw new ConfigError(`Duplicate worker name "${worker.name}"`);
    workers.set(worker.name, worker);
  }
  const queues = new Map<string, number>();
  const queueSettings = new Map<string, ResolvedQueueSettings>();
  if (options.queues !== undefined) {
    if (typeof options.queues !== 'object' || options.queues === null) throw new ConfigError('Queue option "queues" must be an object');
    for (const [name, value] of Object.entries(options.queues)) {
      checkQueueName(name, 'Queue option "queues"');
      const settings = resolveQueueSettings(name, value);
      queueSettings.set(name, settings);
      queues.set(name, settings.concurrency);
    }
  } else {
    for (const worker of workers.values()) {
      queues.set(worker.queue, 10);
      queueSettings.set(worker.queue, { concurrency: 10, rateLimit: undefined, partition: undefined });
    }
  }
  const nodeId = options.nodeId ?? defaultNodeId();
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > 200) {
    throw new ConfigError('Queue option "nodeId" must be a non-empty string of at most 200 characters');
  }
  return {
    schema,
    quotedSchema,
    channel: `docket:${schema}`,
    queues,
    queueSettings,
    workers,
    pollInterval: checkInt(options.pollInterval ?? 1000, 10, 3_600_000, 'Queue option "pollInterval"'),
    logger: options.logger ?? silentLogger(),
    nodeId,
    poolSize: checkInt(options.poolSize ?? 10, 1, 1000, 'Queue option "poolSize"'),
    reconcileInterval: checkInt(options.reconcileInterval ?? 2000, 50, 3_600_000, 'Queue option "reconcileInterval"'),
    progressInterval: checkInt(options.progressInterval ?? 500, 0, 3_600_000, 'Queue option "progressInterval"'),
    threads: resolveThreadPoolOptions(options.threads, workers.values()),
    testing: checkTesting(options.testing),
    plugins: checkPlugins(options.plugins),
    middleware: checkMiddleware(options.middleware, options.plugins),
    heartbeatInterval: checkInt(options.heartbeatInterval ?? 1000, 50, 600_000, 'Queue option "heartbeatInterval"'),
    leaseTtl: checkInt(options.leaseTtl ?? 10_000, 200, 3_600_000, 'Queue option "leaseTtl"'),
    retention: checkRetention(options.retention),
    maxArgsBytes: checkInt(options.maxArgsBytes ?? DEFAULT_MAX_ARGS_BYTES, 1, MAX_ARGS_BYTES_LIMIT, 'Queue option "maxArgsBytes"'),
    preparedStatements: checkBoolean(options.preparedStatements, true, 'Queue option "preparedStatements"'),
    jobEvents: checkBoolean(options.jobEvents, false, 'Queue option "jobEvents"'),
  };
}

/** Checks the `middleware` option and collects the plugins' middleware after it. */
export function checkMiddleware(middleware: readonly JobMiddleware[] | undefined, plugins: readonly Plugin[] | undefined): readonly JobMiddleware[] {
  if (middleware !== undefined && !Array.isArray(middleware)) throw new ConfigError('Queue option "middleware" must be an array of middleware objects');
  const all = [...(middleware ?? []), ...(Array.isArray(plugins) ? plugins : []).flatMap((p) => (p?.middleware === undefined ? [] : [p.middleware]))];
  all.forEach((m, i) => {
    const bad =
      m === null ||
      typeof m !== 'object' ||
      (m.insert !== undefined && typeof m.insert !== 'function') ||
      (m.perform !== undefined && typeof m.perform !== 'function');
    if (bad) throw new ConfigError(`Queue option "middleware"[${i}] must be an object with optional insert and perform functions`);
  });
  return all;
}

/** Checks the `plugins` option: Plugin instances with unique names. */
export function checkPlugins(plugins: readonly Plugin[] | undefined): readonly Plugin[] {
  if (plugins === undefined) return [];
  if (!Array.isArray(plugins)) throw new ConfigError('Queue option "plugins" must be an array of Plugin instances');
  const names = new Set<string>();
  for (const plugin of plugins) {
    if (typeof plugin?.start !== 'function' || typeof plugin.stop !== 'function' || typeof plugin.name !== 'string') {
      throw new ConfigError('Queue option "plugins" must contain Plugin instances (new Lifeline(), new Pruner(), new Cron(), ...)');
    }
    if (names.has(plugin.name)) throw new ConfigError(`Two plugins are named "${plugin.name}"; plugin names must be unique`);
    names.add(plugin.name);
  }
  return plugins;
}
