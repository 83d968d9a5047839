// The statements of cluster control: cancel/retry/discard/delete (by id, prepared; by filter,
// planned per call), queue controls, stats, listing, progress, the check that running jobs were
// not taken away, and the testing modes' claims. Same rules as jobs.ts: values are parameters,
// batches are one JSON parameter; job filters alone are typed arrays (see filterWhere).
import { NOTICE_SQL } from '../notice.js';
import { CLAIMED_AT, CLAIM_STAMP, JOB_COLUMNS, STORED_LIST, epochMs, storedRow, workflowRef } from './columns.js';
import { statement } from './jobs.js';
import { FINAL, errorEntry, intoHistory, jobTables, releaseKeys } from './tables.js';

/**
 * A job filter over parameters $n..$n+4 (each a PostgreSQL array literal, or NULL for "any"): ids,
 * queues, states, workers, and tags (all of which a job must carry). The filter statements are
 * planned for each call's values (unprepared), so each parameter is typed as the array its column
 * compares with: the planner then sees the values themselves (a tag that 99% of jobs carry, a
 * state) where a subquery expanding JSON would hide them behind a default guess, and the state
 * column is compared uncast (as the enum) so the history's partitions for other states are pruned.
 */
function filterWhere(n: number, state: string, alias = ''): string {
  const a = alias === '' ? '' : `${alias}.`;
  return `($${n}::bigint[] IS NULL OR ${a}id = ANY($${n}::bigint[]))
      AND ($${n + 1}::text[] IS NULL OR ${a}queue = ANY($${n + 1}::text[]))
      AND ($${n + 2}::${state}[] IS NULL OR ${a}state = ANY($${n + 2}::${state}[]))
      AND ($${n + 3}::text[] IS NULL OR ${a}worker = ANY($${n + 3}::text[]))
      AND ($${n + 4}::text[] IS NULL OR ${a}tags @> $${n + 4}::text[])`;
}

// By id: the job as it is now. By filter: how many changed (a bulk action can touch millions).
// Both read `notified` in the select list: a CTE nobody reads is never run, and the planner
// drops a join to a one-row subquery whose columns are unused, so a join would not do.
function tail(many: boolean): string {
  return many
    ? `SELECT (SELECT count(*)::int FROM changed) AS n, (SELECT count(*)::int FROM notified) AS notified`
    : `SELECT changed.*, (SELECT count(*) FROM notified) AS notified FROM changed`;
}

/** All control statements for one schema. */
export type ControlStatements = ReturnType<typeof buildControlStatements>;

/** Builds the control statements for the given (already quoted) schema. */
export function buildControlStatements(s: string) {
  const t = jobTables(s);
  const jobs = t.live;

  // Cancel or discard: final at once, even when executing (the running attempt is then told to
  // stop, and its own outcome is fenced off by the claim). The job moves into the history in
  // this statement. $C: channel for the abort notice. The targets are deleted by id lookups, as
  // fetch does: with typed filter values the planner knows how many there are and would
  // otherwise hash-join them against a scan of the whole live table.
  const finish = (target: 'cancelled' | 'discarded', where: string, reason: number, channel: number, many: boolean): string => `
    WITH target AS (
      SELECT id AS tid, state AS was FROM ${jobs} WHERE ${where} ORDER BY id FOR UPDATE
    ), done AS (
      DELETE FROM ${jobs} j WHERE j.id = ANY(ARRAY(SELECT tid FROM target))
      RETURNING ${storedRow('j', {
        state: `'${target}'::${t.state}`,
        completed_at: 'now()',
        errors: errorEntry('j', `'${target === 'cancelled' ? 'Cancelled' : 'Discarded'}'`, `$${reason}::text`),
      })}, j.state AS was
    ), moved AS (
      ${intoHistory(t, 'done')}
    ), released AS (
      ${releaseKeys(t, 'done', false)}
    ), changed AS (
      SELECT ${JOB_COLUMNS}, was::text AS was FROM done
    ), notified AS MATERIALIZED (
      SELECT pg_notify($${channel}, ${NOTICE_SQL.abort}) WHERE EXISTS (SELECT 1 FROM changed WHERE was = 'executing')
    )
    ${tail(many)}`;

  // Retry: back to available now. A job that used up its attempts gets one more. A finished job
  // moves back into the live table, taking its unique key again (or keeping it, when it still
  // holds it); one whose key another job holds now stays as it is (re-entering would break
  // uniqueness), and of several finished jobs sharing a key only the newest may come back.
  const retry = (where: string, channel: number, many: boolean): string => `
    WITH target AS (
      SELECT id AS tid FROM ${jobs} j WHERE ${where} AND j.state IN ('scheduled', 'retryable') ORDER BY id FOR UPDATE
    ), again AS (
      UPDATE ${jobs} SET state = 'available', scheduled_at = now(), max_attempts = greatest(max_attempts, attempt + 1)
      FROM target WHERE id = tid
      RETURNING ${JOB_COLUMNS}
    ), finished AS (
      SELECT j.id, j.unique_key FROM ${t.finished} j WHERE ${where} AND j.unique_key IS NULL
      UNION ALL
      (SELECT DISTINCT ON (j.unique_key) j.id, j.unique_key FROM ${t.finished} j WHERE ${where} AND j.unique_key IS NOT NULL
       ORDER BY j.unique_key, j.id DESC)
    ), keyed AS (
      INSERT INTO ${t.keys} AS k (key, job_id) SELECT unique_key, id FROM finished WHERE unique_key IS NOT NULL ORDER BY unique_key
      ON CONFLICT (key) DO UPDATE SET job_id = EXCLUDED.job_id WHERE k.job_id = EXCLUDED.job_id
      RETURNING job_id
    ), back AS (
      DELETE FROM ${t.finished} j
      WHERE j.id = ANY(ARRAY(SELECT id FROM finished WHERE unique_key IS NULL UNION ALL SELECT job_id FROM keyed))
      RETURNING ${storedRow('j', {
        state: `'available'::${t.state}`,
        scheduled_at: 'now()',
        completed_at: 'NULL::timestamptz',
        claim: 'NULL::uuid',
        max_attempts: 'greatest(j.max_attempts, j.attempt + 1)::smallint',
        // A finished workflow step run again alone: its children already counted its finish,
        // so its next finish must not release them again (retryWorkflow is the way back for them).
        dependents: 'CASE WHEN j.workflow_id IS NULL THEN j.dependents ELSE 0 END',
      })}
    ), revived AS (
      INSERT INTO ${jobs} (${STORED_LIST}) OVERRIDING SYSTEM VALUE
      SELECT ${STORED_LIST} FROM back
      RETURNING ${JOB_COLUMNS}
    ), changed AS (
      SELECT * FROM again UNION ALL SELECT * FROM revived
    ), notified AS MATERIALIZED (
      SELECT pg_notify($${channel}, ${NOTICE_SQL.queues('array_agg(DISTINCT queue)')})
      FROM changed HAVING count(*) > 0
    )
    ${tail(many)}`;

  // Delete, live or finished; the unique keys the jobs held are released with them.
  const remove = (where: string, channel: number, many: boolean): string => `
    WITH target AS (
      SELECT id AS tid FROM ${jobs} WHERE ${where} ORDER BY id FOR UPDATE
    ), gone_live AS (
      DELETE FROM ${jobs} USING target WHERE id = tid
      RETURNING ${STORED_LIST}
    ), gone_finished AS (
      DELETE FROM ${t.finished} WHERE ${where}
      RETURNING ${STORED_LIST}
    ), gone AS (
      SELECT * FROM gone_live UNION ALL SELECT * FROM gone_finished
    ), released AS (
      ${releaseKeys(t, 'gone', true)}
    ), changed AS (
      SELECT ${JOB_COLUMNS} FROM gone
    ), notified AS MATERIALIZED (
      SELECT pg_notify($${channel}, ${NOTICE_SQL.abort}) WHERE EXISTS (SELECT 1 FROM changed WHERE state = 'executing')
    )
    ${tail(many)}`;

  const byId = '$1::bigint = id';
  const filtered = filterWhere(1, t.state);

  return {
    /** $1 id, $2 reason, $3 channel. */
    cancelJob: statement('cancel_job', finish('cancelled', byId, 2, 3, false)),
    /** $1..$5 filter, $6 reason, $7 channel. */
    cancelJobs: statement('cancel_jobs', finish('cancelled', filtered, 6, 7, true), false),
    discardJob: statement('discard_job', finish('discarded', byId, 2, 3, false)),
    discardJobs: statement('discard_jobs', finish('discarded', filtered, 6, 7, true), false),
    /** $1 id, $2 channel. */
    retryJob: statement('retry_job', retry(`$1::bigint = j.id`, 2, false)),
    /** $1..$5 filter, $6 channel. */
    retryJobs: statement('retry_jobs', retry(filterWhere(1, t.state, 'j'), 6, true), false),
    /** $1 id, $2 channel. */
    deleteJob: statement('delete_job', remove(byId, 2, false)),
    /** $1..$5 filter, $6 channel. */
    deleteJobs: statement('delete_jobs', remove(filtered, 6, true), false),

    /**
     * $1..$5 filter, $6 cursor id or NULL, $7 limit. (Ordered by j.id: a bare `id` would sort
     * by the text alias JOB_COLUMNS gives it.) Keyset pagination by id, oldest first
     * (listAsc) or newest first (listDesc).
     */
    listAsc: statement(
      'list_asc',
      `SELECT ${JOB_COLUMNS} FROM ${t.all} j WHERE ${filterWhere(1, t.state, 'j')} AND j.id > coalesce($6::bigint, 0) ORDER BY j.id LIMIT $7`,
      false,
    ),
    listDesc: statement(
      'list_desc',
      `SELECT ${JOB_COLUMNS} FROM ${t.all} j WHERE ${filterWhere(1, t.state, 'j')} AND j.id < coalesce($6::bigint, 9223372036854775807)
       ORDER BY j.id DESC LIMIT $7`,
      false,
    ),

    /** Counts by queue and state, and how long the oldest available job has waited (ms). */
    stats: statement(
      'stats',
      `SELECT queue, state::text AS state, count(*)::int AS n,
              ${epochMs('now() - min(scheduled_at)')} AS oldest_ms
       FROM ${t.all} GROUP BY queue, state`,
    ),

    /** Every queue's persisted controls. */
    queueControls: statement('queue_controls', `SELECT name, paused, concurrency, version::float8 AS version FROM ${s}.queues ORDER BY name`),
    /**
     * $1 name, $2 paused or NULL (unchanged), $3 concurrency, $4 whether to set concurrency,
     * $5 channel. Persists a control and tells every node to re-read.
     */
    setQueueControl: statement(
      'set_queue_control',
      `WITH up AS (
         INSERT INTO ${s}.queues AS q (name, paused, concurrency) VALUES ($1, coalesce($2::bool, false), $3::int)
         ON CONFLICT (name) DO UPDATE SET
           paused = coalesce($2::bool, q.paused),
           concurrency = CASE WHEN $4::bool THEN $3::int ELSE q.concurrency END,
           updated_at = now(),
           version = nextval('${s}.queue_control_version')
         RETURNING name, paused, concurrency, version::float8 AS version
       ), notified AS MATERIALIZED (SELECT pg_notify($5, ${NOTICE_SQL.controls}))
       SELECT up.*, (SELECT count(*) FROM notified) AS notified FROM up`,
    ),
    /** $1 name. Makes sure a rate-limited queue has its row. */
    ensureQueue: statement('ensure_queue', `INSERT INTO ${s}.queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`),

    /** $1: JSON array of {id, claim, percent, data}. Fenced like acks. */
    progress: statement(
      'progress',
      `UPDATE ${jobs} AS j SET progress = jsonb_build_object('percent', v.percent, 'data', v.data, 'at', now())
       FROM jsonb_to_recordset($1::text::jsonb) AS v(id bigint, claim uuid, percent float8, data jsonb)
       WHERE j.id = v.id AND j.state = 'executing' AND j.claim = v.claim
       RETURNING j.id::text AS id, j.progress::text AS progress`,
    ),

    /**
     * $1: JSON array of {id, claim} running on this node. Those no longer executing under that
     * claim (cancelled, discarded, deleted, rescued), with their state now (NULL: deleted).
     */
    movedOn: statement(
      'moved_on',
      `SELECT v.id::text AS id, (SELECT state::text FROM ${t.all} WHERE id = v.id) AS state
       FROM jsonb_to_recordset($1::text::jsonb) AS v(id bigint, claim uuid)
       WHERE NOT EXISTS (SELECT 1 FROM ${jobs} j WHERE j.id = v.id AND j.state = 'executing' AND j.claim = v.claim)`,
    ),

    /**
     * Testing modes. $1: JSON array of ids, $2: node id. Claims those of the given jobs that are
     * available (inline mode runs what an insert just wrote).
     */
    claimIds: statement(
      'claim_ids',
      `WITH ${CLAIM_STAMP}
       UPDATE ${jobs}
       SET state = 'executing', attempt = attempt + 1, attempted_at = ${CLAIMED_AT}, attempted_by = $2, claim = gen_random_uuid()
       WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)::bigint)) AND state = 'available'
       RETURNING ${JOB_COLUMNS}, claim::text AS claim, ${epochMs('attempted_at - scheduled_at')} AS queue_ms,
         (${workflowRef(t.workflows)})::text AS workflow_ref`,
    ),
    /** Testing modes. $1: JSON array of queues. Makes their scheduled and retryable jobs due now. */
    dueNow: statement(
      'due_now',
      `UPDATE ${jobs} SET state = 'available', scheduled_at = now()
       WHERE state IN ('scheduled', 'retryable') AND queue = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)))`,
    ),

  };
}
