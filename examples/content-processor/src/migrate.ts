// `node --import tsx examples/content-processor/src/migrate.ts`: applies docket's migrations to
// the configured database and exits (fly.toml's release_command runs it before new instances
// start). Safe to run while other instances run: docket's migrate() takes an advisory lock.
import pg from 'pg';
import { ConfigurationError, loadConfig } from './config.js';
import { openDatabase } from './database.js';
import { createDocket } from './docket.js';
import { Storage } from './storage.js';
import { TenantKeys } from './tenancy/tenant-keys.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const database = await openDatabase(config);
  const pool = new pg.Pool({ connectionString: database.url, max: 2, application_name: 'content-processor-migrate' });
  try {
    const { queue } = createDocket(config, pool, new Storage(config.storageDir));
    const { applied, version } = await queue.migrate();
    await new TenantKeys(pool).migrate();
    console.log(`[content-processor] schema at version ${version}${applied.length > 0 ? ` (applied ${applied.join(', ')})` : ' (nothing to apply)'}`);
  } finally {
    await pool.end();
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(`[content-processor] migration failed: ${error instanceof ConfigurationError ? error.message : (error as Error).message}`);
  process.exit(1);
});
