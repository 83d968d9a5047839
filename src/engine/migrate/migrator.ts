// Applies the bundled migrations: each version in its own transaction under an advisory lock,
// recorded in <schema>.migrations, so 20 processes calling migrate() at once apply each version
// exactly once. Migration files are run whole (never split on ';').
import type { Driver } from '../../driver/types.js';
import { MigrationError } from '../../definitions/errors.js';
import type { Statements } from '../sql/jobs.js';
import { bootstrapSql } from '../sql/jobs.js';
import { BUNDLED_MIGRATIONS } from './bundled.js';
import type { MigrationReport } from '../types.js';

/** A migration with the schema filled in, ready for the host's own migration tool. */
export interface MigrationScript {
  readonly version: number;
  readonly name: string;
  /** The SQL, including the bookkeeping insert that lets `queue.migrate()` see it as applied. */
  readonly sql: string;
}


/** The newest migration version this build of docket knows. */
export const LATEST_VERSION = BUNDLED_MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

function render(sql: string, quotedSchema: string): string {
  return sql.replaceAll('{{schema}}', quotedSchema);
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The full SQL of every migration for `quotedSchema`, in order, for external migration tools. */
export function migrationScripts(quotedSchema: string): MigrationScript[] {
  return BUNDLED_MIGRATIONS.map((m, index) => ({
    version: m.version,
    name: m.name,
    sql: [
      'BEGIN;',
      index === 0 ? bootstrapSql(quotedSchema) : 'SET LOCAL client_min_messages = warning;',
      render(m.sql, quotedSchema).trim(),
      `INSERT INTO ${quotedSchema}.migrations (version, name) VALUES (${m.version}, ${literal(m.name)}) ON CONFLICT (version) DO NOTHING;`,
      'COMMIT;',
      '',
    ].join('\n'),
  }));
}

/** Applies pending migrations. Safe to call from many processes at once. */
export async function migrate(driver: Driver, sql: Statements, schema: string, quotedSchema: string): Promise<MigrationReport> {
  const applied: number[] = [];
  try {
    let done = await driver.transaction(async (tx) => {
      await tx.query(sql.migrationLock, [schema]);
      await tx.exec(bootstrapSql(quotedSchema));
      const rows = await tx.query<{ version: number }>(sql.appliedMigrations, []);
      return new Set(rows.map((r) => r.version));
    });
    for (const m of BUNDLED_MIGRATIONS) {
      if (done.has(m.version)) continue;
      done = await driver.transaction(async (tx) => {
        await tx.query(sql.migrationLock, [schema]);
        const rows = await tx.query<{ version: number }>(sql.appliedMigrations, []);
        const now = new Set(rows.map((r) => r.version));
        if (now.has(m.version)) return now;
        await tx.exec(`SET LOCAL client_min_messages = warning;\n${render(m.sql, quotedSchema)}`);
        await tx.query(sql.recordMigration, [m.version, m.name]);
        applied.push(m.version);
        return now.add(m.version);
      });
    }
    return { applied, version: Math.max(0, ...done) };
  } catch (error) {
    throw new MigrationError(`Migrating schema "${schema}" failed: ${(error as Error).message}`, { cause: error });
  }
}

/** The schema's applied version (0 when docket was never migrated there). */
export async function currentVersion(driver: Driver, sql: Statements, schema: string): Promise<number> {
  const [row] = await driver.query<{ present: boolean }>(sql.migrationsTableExists, [schema]);
  if (!row?.present) return 0;
  const rows = await driver.query<{ version: number }>(sql.appliedMigrations, []);
  return rows.reduce((max, r) => Math.max(max, r.version), 0);
}
