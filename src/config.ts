// Queue options: what users pass, and the checked, defaulted form the runtime uses.
import type pg from 'pg';
import type postgres from 'postgres';
import { ConfigError } from './errors.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import { quoteSchema } from './sql/identifier.js';
import type { Worker } from './worker.js';
import { checkInt, checkQueueName } from './worker.js';

/**
 * How docket reaches PostgreSQL: a `pg` Pool, a postgres.js `sql` instance (both stay the
 * host's: docket never ends them), or a connection string (docket creates and owns a `pg` Pool).
 */
export type Connection = pg.Pool | postgres.Sql | string;

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
   */
  readonly queues?: Readonly<Record<string, number>>;
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
}

/** Checked options. */
export interface ResolvedConfig {
  readonly schema: string;
  readonly quotedSchema: string;
  readonly channel: string;
  readonly queues: ReadonlyMap<string, number>;
  readonly workers: ReadonlyMap<string, Worker>;
  readonly pollInterval: number;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly poolSize: number;
}

/** Validates options; throws ConfigError naming the first problem. */
export function resolveConfig(options: QueueOptions, defaultNodeId: () => string): ResolvedConfig {
  if (typeof options !== 'object' || options === null) throw new ConfigError('Queue options are required');
  if (options.connection === undefined || options.connection === null || options.connection === '') {
    throw new ConfigError('Queue option "connection" is required: a pg Pool, a postgres.js sql, or a connection string');
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
  if (options.queues !== undefined) {
    for (const [name, limit] of Object.entries(options.queues)) {
      checkQueueName(name, 'Queue option "queues"');
      queues.set(name, checkInt(limit, 1, 10_000, `Concurrency of queue "${name}"`));
    }
  } else {
    for (const worker of workers.values()) queues.set(worker.queue, 10);
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
    workers,
    pollInterval: checkInt(options.pollInterval ?? 1000, 10, 3_600_000, 'Queue option "pollInterval"'),
    logger: options.logger ?? silentLogger(),
    nodeId,
    poolSize: checkInt(options.poolSize ?? 10, 1, 1000, 'Queue option "poolSize"'),
  };
}
