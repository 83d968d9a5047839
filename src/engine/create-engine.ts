// The one implementation of the Engine: resolves the driver for the host's connection, builds
// the statements of one schema, and assembles the operation groups over them. Nothing else in
// docket holds the driver.
import { JOB_UPDATES_SUFFIX } from './notice.js';
import type { Connection } from '../config/config.js';
import type { Logger } from '../definitions/logger.js';
import { resolveDriver, resolveTransaction } from '../driver/resolve.js';
import type { Queryable } from '../driver/types.js';
import type { Engine } from './engine.js';
import { currentVersion, migrate } from './migrate/migrator.js';
import { clusterOperations } from './ops/cluster.js';
import { controlOperations } from './ops/control.js';
import { jobOperations } from './ops/jobs.js';
import type { EngineParts } from './ops/parts.js';
import { buildClusterStatements } from './sql/cluster.js';
import { buildControlStatements } from './sql/control.js';
import { buildKeyedStatements } from './sql/keyed.js';
import { buildStatements } from './sql/jobs.js';
import { buildWorkflowStatements } from './sql/workflow.js';
import { workflowOperations } from './ops/workflow.js';
import { insightOperations } from './ops/insights.js';
import { buildInsightStatements } from './sql/insights.js';
import type { Scope } from './types.js';

/** Where and how an engine connects. */
export interface EngineOptions {
  readonly connection: Connection;
  /** Size of the pool docket creates for a connection string. */
  readonly poolSize: number;
  readonly logger: Logger;
  /** docket's schema, unquoted, and quoted once (validated by the config). */
  readonly schema: string;
  readonly quotedSchema: string;
  /** The schema's NOTIFY channel. */
  readonly channel: string;
  /** Whether acks keep completed jobs in the history (default) or delete them. */
  readonly retention?: 'history' | 'none';
  /** False: never name (prepare) statements, for poolers in transaction mode. Default true. */
  readonly preparedStatements?: boolean;
  /** Where LISTEN connects when not through `connection` (a direct route past a pooler). */
  readonly listenConnection?: Connection;
}

/** The Engine of one Queue's schema. */
export function createEngine(options: EngineOptions): Engine {
  const driver = resolveDriver(options.connection, options.poolSize, options.logger, options.preparedStatements);
  // LISTEN holds one session for the queue's life, which a pooler in transaction mode cannot
  // give: the host may name a direct connection for it. Only its LISTEN is ever used.
  const listener =
    options.listenConnection === undefined
      ? driver
      : resolveDriver(options.listenConnection, 1, options.logger, false, 'listenConnection');
  // A scope is an opaque handle for the runner behind it, which stays inside the engine.
  const runners = new WeakMap<Scope, Queryable>();
  const scopeOf = (runner: Queryable): Scope => {
    const scope: Scope = { kind: 'scope' };
    runners.set(scope, runner);
    return scope;
  };
  const parts: EngineParts = {
    driver,
    sql: buildStatements(options.quotedSchema),
    control: buildControlStatements(options.quotedSchema),
    keyed: buildKeyedStatements(options.quotedSchema),
    cluster: buildClusterStatements(options.quotedSchema),
    workflow: buildWorkflowStatements(options.quotedSchema),
    channel: options.channel,
    schema: options.schema,
    dropCompleted: options.retention === 'none',
    on: (scope) => (scope === undefined ? driver : (runners.get(scope) ?? driver)),
  };
  return {
    ...jobOperations(parts),
    ...controlOperations(parts),
    ...clusterOperations(parts),
    ...workflowOperations(parts),
    ...insightOperations(driver, buildInsightStatements(options.quotedSchema)),
    migrate: () => migrate(driver, parts.sql, options.schema, options.quotedSchema),
    schemaVersion: () => currentVersion(driver, parts.sql, options.schema),
    listen: (handlers) =>
      listener.listen(options.channel, { onNotify: handlers.onNotice, onConnect: handlers.onConnect, onError: handlers.onError }),
    listenJobs: (handlers) =>
      listener.listen(options.channel + JOB_UPDATES_SUFFIX, { onNotify: handlers.onNotice, onConnect: handlers.onConnect, onError: handlers.onError }),
    hostScope: (tx) => scopeOf(resolveTransaction(tx, driver.prepared)),
    query: ({ text, params, scope }) => parts.on(scope).query({ name: '', text, prepare: false }, params),
    ownsConnection: driver.owned,
    close: async () => {
      try {
        await driver.close();
      } finally {
        if (listener !== driver) await listener.close();
      }
    },
  };
}
