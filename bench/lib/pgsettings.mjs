// The PostgreSQL settings a queue benchmark depends on, with PostgreSQL's built-in default and
// where a changed value was set, so the report can say which ones are not stock.
export const SETTINGS = [
  'shared_buffers', 'effective_cache_size', 'work_mem', 'maintenance_work_mem', 'max_connections', 'synchronous_commit', 'fsync',
  'full_page_writes', 'wal_level', 'wal_buffers', 'max_wal_size', 'checkpoint_timeout', 'random_page_cost', 'jit', 'autovacuum',
  'autovacuum_naptime', 'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_insert_scale_factor', 'autovacuum_analyze_scale_factor',
  'default_statistics_target',
];

export async function readSettings(client) {
  const { rows } = await client.query(
    `SELECT name, current_setting(name) AS value, setting, boot_val, unit, source, sourcefile
       FROM pg_settings WHERE name = ANY($1) ORDER BY name`,
    [SETTINGS],
  );
  return rows.map((r) => ({
    name: r.name,
    value: r.value,
    default: r.unit && r.boot_val !== null && /^\d+$/.test(r.boot_val) ? `${r.boot_val} × ${r.unit}` : r.boot_val,
    changed: r.source !== 'default' && r.setting !== r.boot_val,
    source: r.source === 'default' ? null : r.sourcefile ? `${r.source} (${r.sourcefile})` : r.source,
  }));
}
