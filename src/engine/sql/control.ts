// The statements of cluster control: unique and partitioned inserts, cancel/retry/discard/delete
// (by id, prepared; by filter, planned per call), queue controls, stats, listing, progress, the
// check that running jobs were not taken away, and the fetch that honours partitions and rate
// limits. Same rules as statements.ts: values are parameters, batches are one JSON parameter.
import { NOTICE_SQL } from '../notice.js';
import { JOB_COLUMNS, epochMs } from './columns.js';
import { statement } from './jobs.js';

const FINAL = `('completed', 'discarded', 'cancelled')`;
const UNIQUE_ARBITER = `(unique_key) WHERE unique_key IS NOT NULL AND state = ANY (unique_states)`;

/**
 * A job filter over parameters $n..$n+4 (each a JSON array, or NULL for "any"): ids, queues,
 * states, workers, and tags (all of which a job must carry).
 */
function filterWhere(n: number, alias = ''): string {
  const list = (p: number): string => `ARRAY(SELECT jsonb_array_elements_text($${p}::text::jsonb))`;
  const a = alias === '' ? '' : `${alias}.`;
  return `($${n}::text IS NULL OR ${a}id = ANY(${list(n)}::bigint[]))
      AND ($${n + 1}::text IS NULL OR ${a}queue = ANY(${list(n + 1)}))
      AND ($${n + 2}::text IS NULL OR ${a}state::text = ANY(${list(n + 2)}))
      AND ($${n + 3}::text IS NULL OR ${a}worker = ANY(${list(n + 3)}))
      AND ($${n + 4}::text IS NULL OR ${a}tags @> ${list(n + 4)})`;
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
  const jobs = `${s}.jobs`;
  const state = `${s}.job_state`;

  // Cancel or discard: final at once, even when executing (the running attempt is then told to
  // stop, and its own outcome is fenced off by the claim). $C: channel for the abort notice.
  const finish = (target: 'cancelled' | 'discarded', where: string, reason: number, channel: number, many: boolean): string => `
    WITH target AS (
      SELECT id AS tid, state AS was FROM ${jobs} WHERE ${where} AND state NOT IN ${FINAL}
      ORDER BY id FOR UPDATE
    ), changed AS (
      UPDATE ${jobs} SET state = '${target}', completed_at = now(),
        errors = errors || jsonb_build_array(jsonb_build_object(
          'attempt', attempt, 'at', now(), 'message', $${reason}::text, 'name', '${target === 'cancelled' ? 'Cancelled' : 'Discarded'}'))
      FROM target WHERE id = tid
      RETURNING ${JOB_COLUMNS}, was::text AS was
    ), notified AS MATERIALIZED (
      SELECT pg_notify($${channel}, ${NOTICE_SQL.abort}) WHERE EXISTS (SELECT 1 FROM changed WHERE was = 'executing')
    )
    ${tail(many)}`;

  // Retry: back to available now. A job that used up its attempts gets one more. Jobs whose
  // unique key a newer job holds stay as they are (re-entering would break uniqueness).
  const retry = (where: string, channel: number, many: boolean): string => `
    WITH eligible AS (
      SELECT j.id, j.unique_key FROM ${jobs} j WHERE ${where} AND j.state IN ('scheduled', 'retryable', ${FINAL.slice(1, -1)})
        AND NOT (j.unique_key IS NOT NULL AND j.state IN ${FINAL} AND EXISTS (
          SELECT 1 FROM ${jobs} o WHERE o.unique_key = j.unique_key AND o.id <> j.id AND o.state = ANY (o.unique_states)))
    ), target AS (
      /* Of several finished jobs sharing a unique key, only the newest may come back. */
      SELECT id AS tid FROM ${jobs} WHERE id IN (
        SELECT id FROM eligible WHERE unique_key IS NULL
        UNION ALL
        (SELECT DISTINCT ON (unique_key) id FROM eligible WHERE unique_key IS NOT NULL ORDER BY unique_key, id DESC))
      AND state IN ('scheduled', 'retryable', ${FINAL.slice(1, -1)})
      ORDER BY id FOR UPDATE
    ), changed AS (
      UPDATE ${jobs} SET state = 'available', scheduled_at = now(), completed_at = NULL,
        max_attempts = greatest(max_attempts, attempt + 1)
      FROM target WHERE id = tid
      RETURNING ${JOB_COLUMNS}
    ), notified AS MATERIALIZED (
      SELECT pg_notify($${channel}, ${NOTICE_SQL.queues('array_agg(DISTINCT queue)')})
      FROM changed HAVING count(*) > 0
    )
    ${tail(many)}`;

  const remove = (where: string, channel: number, many: boolean): string => `
    WITH target AS (
      SELECT id AS tid FROM ${jobs} WHERE ${where} ORDER BY id FOR UPDATE
    ), changed AS (
      DELETE FROM ${jobs} USING target WHERE id = tid
      RETURNING ${JOB_COLUMNS}
    ), notified AS MATERIALIZED (
      SELECT pg_notify($${channel}, ${NOTICE_SQL.abort}) WHERE EXISTS (SELECT 1 FROM changed WHERE state = 'executing')
    )
    ${tail(many)}`;

  const byId = '$1::bigint = id';
  const filtered = filterWhere(1);

  return {
    /**
     * Inserts jobs that carry a unique key and/or a partition key: $1 queue, $2 worker, $3 JSON
     * array of {i, args, ukey, pkey}, $4 tags, $5 priority, $6 max attempts, $7 scheduled_at,
     * $8 delay ms, $9 channel, $10 NOTIFY payload or NULL, $11 unique states (JSON) or NULL,
     * $12 unique period (s) or NULL, $13 partition limit or NULL. A row whose key is taken is
     * skipped by the unique index (ON CONFLICT DO NOTHING: waits for an uncommitted holder,
     * never reports a job that did not commit). Rows go in key order so concurrent batches lock
     * keys in the same order. Returns [id, unique_key] of inserted rows and the window suffix.
     */
    insertKeyed: statement(
      'insert_keyed',
      `WITH shared AS MATERIALIZED (
         SELECT coalesce($7::timestamptz, now() + $8::float8 * interval '1 millisecond') AS due,
                ARRAY(SELECT jsonb_array_elements_text($4::text::jsonb)) AS tags,
                ARRAY(SELECT jsonb_array_elements_text($11::text::jsonb))::${state}[] AS ustates,
                CASE WHEN $12::int IS NULL THEN ''
                     ELSE ':' || $12::int || ':' || floor(extract(epoch FROM now()) / $12::int)::bigint END AS suffix
       ), ins AS (
         INSERT INTO ${jobs} (state, queue, worker, args, tags, priority, max_attempts, scheduled_at,
                              unique_key, unique_states, partition_key, partition_limit)
         SELECT CASE WHEN shared.due > now() THEN 'scheduled' ELSE 'available' END::${state},
                $1, $2, r.args, shared.tags, $5, $6, shared.due,
                r.ukey || shared.suffix, CASE WHEN r.ukey IS NULL THEN NULL ELSE shared.ustates END,
                r.pkey, CASE WHEN r.pkey IS NULL THEN NULL ELSE $13::int END
         FROM shared, jsonb_to_recordset($3::text::jsonb) AS r(i int, args jsonb, ukey text, pkey text)
         ORDER BY r.ukey, r.i
         ON CONFLICT ${UNIQUE_ARBITER} DO NOTHING
         RETURNING id, unique_key
       ), notified AS MATERIALIZED (
         SELECT pg_notify($9, $10) WHERE $10::text IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
       )
       SELECT (SELECT coalesce(json_agg(json_build_array(id::text, unique_key) ORDER BY id), '[]') FROM ins)::text AS rows,
              suffix, (CASE WHEN due > now() THEN 'scheduled' ELSE 'available' END) AS state,
              ${epochMs('now()')} AS inserted_at, ${epochMs('due')} AS scheduled_at,
              (SELECT count(*) FROM notified) AS notified
       FROM shared`,
    ),

    /** $1: JSON array of unique keys. The jobs holding them now. */
    lookupUnique: statement(
      'lookup_unique',
      `SELECT ${JOB_COLUMNS}, unique_key FROM ${jobs}
       WHERE unique_key = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb))) AND state = ANY (unique_states)`,
    ),

    /** $1 id, $2 reason, $3 channel. */
    cancelJob: statement('cancel_job', finish('cancelled', byId, 2, 3, false)),
    /** $1..$5 filter, $6 reason, $7 channel. */
    cancelJobs: statement('cancel_jobs', finish('cancelled', filtered, 6, 7, true), false),
    discardJob: statement('discard_job', finish('discarded', byId, 2, 3, false)),
    discardJobs: statement('discard_jobs', finish('discarded', filtered, 6, 7, true), false),
    /** $1 id, $2 channel. */
    retryJob: statement('retry_job', retry(`$1::bigint = j.id`, 2, false)),
    /** $1..$5 filter, $6 channel. */
    retryJobs: statement('retry_jobs', retry(filterWhere(1, 'j'), 6, true), false),
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
      `SELECT ${JOB_COLUMNS} FROM ${jobs} j WHERE ${filterWhere(1, 'j')} AND j.id > coalesce($6::bigint, 0) ORDER BY j.id LIMIT $7`,
      false,
    ),
    listDesc: statement(
      'list_desc',
      `SELECT ${JOB_COLUMNS} FROM ${jobs} j WHERE ${filterWhere(1, 'j')} AND j.id < coalesce($6::bigint, 9223372036854775807)
       ORDER BY j.id DESC LIMIT $7`,
      false,
    ),

    /** Counts by queue and state, and how long the oldest available job has waited (ms). */
    stats: statement(
      'stats',
      `SELECT queue, state::text AS state, count(*)::int AS n,
              ${epochMs('now() - min(scheduled_at)')} AS oldest_ms
       FROM ${jobs} GROUP BY queue, state`,
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
           version = q.version + 1
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
      `SELECT v.id::text AS id, (SELECT state::text FROM ${jobs} WHERE id = v.id) AS state
       FROM jsonb_to_recordset($1::text::jsonb) AS v(id bigint, claim uuid)
       WHERE NOT EXISTS (SELECT 1 FROM ${jobs} j WHERE j.id = v.id AND j.state = 'executing' AND j.claim = v.claim)`,
    ),

    /**
     * Testing modes. $1: JSON array of ids, $2: node id. Claims those of the given jobs that are
     * available (inline mode runs what an insert just wrote).
     */
    claimIds: statement(
      'claim_ids',
      `UPDATE ${jobs}
       SET state = 'executing', attempt = attempt + 1, attempted_at = now(), attempted_by = $2, claim = gen_random_uuid()
       WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)::bigint)) AND state = 'available'
       RETURNING ${JOB_COLUMNS}, claim::text AS claim, ${epochMs('now() - scheduled_at')} AS queue_ms`,
    ),
    /** Testing modes. $1: JSON array of queues. Makes their scheduled and retryable jobs due now. */
    dueNow: statement(
      'due_now',
      `UPDATE ${jobs} SET state = 'available', scheduled_at = now()
       WHERE state IN ('scheduled', 'retryable') AND queue = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)))`,
    ),

    /** $1: lock key. Serializes limited fetches of one queue across the cluster (in a transaction). */
    // A node that froze holding the lock must not stall every other node's fetch of the queue:
    // waits give up after lock_timeout (the producer retries), and a transaction left idle is
    // ended by the server.
    fetchLock: statement(
      'fetch_lock',
      `SELECT pg_advisory_xact_lock(hashtext($1))
       FROM (SELECT set_config('lock_timeout', '5s', true), set_config('idle_in_transaction_session_timeout', '30s', true)) settings`,
    ),

    /**
     * The fetch of a queue with partitions and/or a rate limit, run right after fetchLock in the
     * same transaction (so it sees every claim committed before it). $1 queue, $2 how many,
     * $3 node id, $4 rate allowed or NULL, $5 rate period ms, $6 whether the queue may hold jobs
     * without a partition key (when it cannot, that branch would only scan the keyed backlog).
     * Per partition key, takes at most (its limit - its executing jobs) in fetch order; jobs
     * without a key are taken as usual; the rate budget caps the total and logs the starts.
     * Returns the claimed jobs; when the rate limit held it back, every row (or a lone row of
     * NULLs) carries rate_wait_ms: when the window frees a slot.
     * Its clock is statement_timestamp(), not now(): now() is when the transaction began, before
     * the lock was granted, and a fetch delayed there would judge (and log) an older window.
     */
    fetchLimited: statement(
      'fetch_limited',
      `WITH RECURSIVE q AS MATERIALIZED (
         SELECT coalesce((SELECT rate_log FROM ${s}.queues WHERE name = $1), '{}') AS log
       ), rate AS MATERIALIZED (
         SELECT CASE WHEN $4::int IS NULL THEN $2::int
                ELSE greatest(0, least($2::int, $4::int - (SELECT count(*)::int FROM q, unnest(q.log) t
                                                          WHERE t > statement_timestamp() - $5::float8 * interval '1 ms'))) END AS budget,
                (SELECT min(t) FROM q, unnest(q.log) t WHERE t > statement_timestamp() - $5::float8 * interval '1 ms') AS oldest
       ), keys(k) AS (
         (SELECT partition_key FROM ${jobs} WHERE state = 'available' AND queue = $1 AND partition_key IS NOT NULL
          ORDER BY partition_key LIMIT 1)
         UNION ALL
         SELECT (SELECT partition_key FROM ${jobs} WHERE state = 'available' AND queue = $1 AND partition_key > keys.k
                 ORDER BY partition_key LIMIT 1)
         FROM keys WHERE keys.k IS NOT NULL
       ), running AS MATERIALIZED (
         SELECT partition_key AS k, count(*)::int AS n FROM ${jobs}
         WHERE state = 'executing' AND queue = $1 AND partition_key IS NOT NULL GROUP BY partition_key
       ), candidates AS (
         SELECT c.id, c.priority, c.scheduled_at FROM keys
         LEFT JOIN running ON running.k = keys.k
         CROSS JOIN LATERAL (
           SELECT id, priority, scheduled_at FROM ${jobs}
           WHERE state = 'available' AND queue = $1 AND partition_key = keys.k
           ORDER BY priority, scheduled_at, id
           LIMIT greatest(0, least($2::int,
             (SELECT partition_limit FROM ${jobs} WHERE state = 'available' AND queue = $1 AND partition_key = keys.k
              ORDER BY priority, scheduled_at, id LIMIT 1)
             - coalesce(running.n, 0)))
         ) c
         WHERE keys.k IS NOT NULL
         UNION ALL
         (SELECT id, priority, scheduled_at FROM ${jobs}
          WHERE $6::bool AND state = 'available' AND queue = $1 AND partition_key IS NULL
          ORDER BY priority, scheduled_at, id LIMIT $2)
       ), picked AS (
         SELECT id FROM ${jobs} WHERE id = ANY(ARRAY(
           SELECT id FROM candidates ORDER BY priority, scheduled_at, id LIMIT (SELECT budget FROM rate)))
           AND state = 'available'
         FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE ${jobs}
         SET state = 'executing', attempt = attempt + 1, attempted_at = statement_timestamp(), attempted_by = $3,
             claim = gen_random_uuid()
         WHERE id IN (SELECT id FROM picked) AND state = 'available'
         RETURNING ${JOB_COLUMNS}, claim::text AS claim, ${epochMs('statement_timestamp() - scheduled_at')} AS queue_ms
       ), logged AS (
         UPDATE ${s}.queues SET rate_log = ARRAY(
             SELECT t FROM unnest(rate_log) t WHERE t > statement_timestamp() - $5::float8 * interval '1 ms'
             UNION ALL SELECT statement_timestamp() FROM claimed)
         WHERE name = $1 AND $4::int IS NOT NULL
           AND (EXISTS (SELECT 1 FROM claimed)
                OR EXISTS (SELECT 1 FROM unnest(rate_log) t WHERE t <= statement_timestamp() - $5::float8 * interval '1 ms'))
         RETURNING 1
       )
       SELECT claimed.*,
              CASE WHEN $4::int IS NOT NULL AND (SELECT budget FROM rate) < $2::int
                        AND (SELECT count(*) FROM claimed) >= (SELECT budget FROM rate)
                   THEN greatest(1, ${epochMs(`coalesce((SELECT oldest FROM rate), statement_timestamp()) + $5::float8 * interval '1 ms' - statement_timestamp()`)})
              END AS rate_wait_ms,
              (SELECT count(*) FROM logged) AS logged
       FROM (SELECT 1) one LEFT JOIN claimed ON true`,
    ),
  };
}
