// Picks the driver for a connection, and the Queryable for a host transaction, from the shape
// of the object the host passed: never by importing a driver package, which the app may not
// have installed (see load.ts).
import type { Connection } from '../config/config.js';
import { ConfigError } from '../definitions/errors.js';
import type { Logger } from '../definitions/logger.js';
import { loadDriverPackage } from './load.js';
import { createPgDriver, isPgClient, isPgPool, pgTransaction } from './pg.js';
import { createPostgresJsDriver, isPostgresJs, postgresJsTransaction } from './postgres-js.js';
import { PreparedStatements } from './prepared.js';
import type { Driver, Queryable } from './types.js';

/**
 * The driver for `connection`; a connection string gets a pg Pool that docket owns.
 * `preparedStatements: false` never names a statement (see prepared.ts).
 */
export function resolveDriver(
  connection: Connection,
  poolSize: number,
  logger: Logger,
  preparedStatements = true,
  option = 'connection',
): Driver {
  const prepared = new PreparedStatements(preparedStatements, logger);
  if (typeof connection === 'string') {
    // keepAlive: a peer that vanishes without a reset (network partition) is noticed by TCP, so a
    // query on it fails and is retried instead of waiting forever. connectionTimeoutMillis: a
    // connect to a host that drops packets gives up after 30 s (not the kernel's two minutes),
    // and is retried like any unreachable database.
    const pg = loadDriverPackage('pg', 'to connect with a connection string');
    return createPgDriver(new pg.Pool({ connectionString: connection, max: poolSize, keepAlive: true, connectionTimeoutMillis: 30_000 }), true, logger, prepared);
  }
  if (isPostgresJs(connection)) return createPostgresJsDriver(connection, prepared);
  if (isPgPool(connection)) return createPgDriver(connection, false, logger, prepared);
  if (isPgClient(connection)) {
    throw new ConfigError(
      option === 'connection'
        ? 'Queue option "connection" got a single pg Client: pass a pg Pool (docket runs queries concurrently)'
        : `Queue option "${option}" got a single pg Client: pass a pg Pool or a connection string (docket opens its own LISTEN connection from its settings)`,
    );
  }
  throw new ConfigError(`Queue option "${option}" must be a pg Pool, a postgres.js sql instance, or a connection string`);
}

/** The Queryable for a host transaction passed as `tx`, naming statements as `prepared` says. */
export function resolveTransaction(tx: unknown, prepared: PreparedStatements): Queryable {
  if (isPostgresJs(tx)) return postgresJsTransaction(tx, prepared);
  if (isPgClient(tx)) return pgTransaction(tx, prepared);
  if (isPgPool(tx)) {
    throw new ConfigError('Insert option "tx" got a pg Pool: pass the client you ran BEGIN on (const client = await pool.connect())');
  }
  throw new ConfigError('Insert option "tx" must be a pg client inside BEGIN or a postgres.js transaction (sql.begin(tx => ...))');
}
