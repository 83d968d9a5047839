// Test helpers that change jobs behind docket's back with plain SQL (no NOTIFY), the way an
// operator's script or a lost notification would: finishing a live job moves it into the history
// exactly as docket's own statements do.
import type { Pool } from 'pg';
import { storedRow } from '../../src/engine/sql/columns.js';
import { intoHistory, jobTables, releaseKeys } from '../../src/engine/sql/tables.js';

/**
 * Moves the live jobs matching `where` (over columns of jobs_live, `$1`.. from `params`) into
 * the history in `state`, releasing their unique keys when `state` is not one of theirs.
 * Returns how many moved.
 */
export async function finishBySql(
  pool: Pool,
  schema: string,
  state: 'completed' | 'discarded' | 'cancelled',
  where: string,
  params: readonly unknown[],
): Promise<number> {
  // The fragments docket's own finishing statements are built from.
  const t = jobTables(`"${schema}"`);
  const { rows } = await pool.query<{ n: number }>(
    `WITH done AS (DELETE FROM ${t.live} j WHERE ${where} RETURNING ${storedRow('j', { state: `'${state}'::${t.state}`, completed_at: 'now()' })}),
          moved AS (${intoHistory(t, 'done')}),
          released AS (${releaseKeys(t, 'done', false)})
     SELECT count(*)::int AS n FROM done`,
    [...params],
  );
  return rows[0]!.n;
}
