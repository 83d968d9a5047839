// Test helpers that change jobs behind docket's back with plain SQL (no NOTIFY), the way an
// operator's script or a lost notification would: finishing a live job moves it into the history
// exactly as docket's own statements do.
import type { Pool } from 'pg';
import { STORED_COLUMNS as COLUMNS } from '../../src/engine/sql/columns.js';

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
  const s = `"${schema}"`;
  const select = COLUMNS.map((c) => (c === 'state' ? `'${state}'::${s}.job_state AS state` : c === 'completed_at' ? 'now() AS completed_at' : c)).join(', ');
  const { rows } = await pool.query<{ n: number }>(
    `WITH done AS (DELETE FROM ${s}.jobs_live WHERE ${where} RETURNING ${select}),
          moved AS (INSERT INTO ${s}.jobs_finished (${COLUMNS.join(', ')}) SELECT ${COLUMNS.join(', ')} FROM done),
          released AS (DELETE FROM ${s}.job_keys k USING done d
                       WHERE k.key = d.unique_key AND k.job_id = d.id AND NOT (d.state = ANY (d.unique_states)))
     SELECT count(*)::int AS n FROM done`,
    [...params],
  );
  return rows[0]!.n;
}
