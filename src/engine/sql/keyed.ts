// The statements of keyed and limited work: inserts of jobs carrying unique and/or partition
// keys (and the lookup of a key's holder), and the serialized fetch that honours partitions and
// rate limits. Same rules as jobs.ts: values are parameters, batches are one JSON parameter.
import { CLAIMED_AT, CLAIM_STAMP, JOB_COLUMNS, epochMs, workflowRef } from './columns.js';
import { statement } from './jobs.js';
import { jobTables } from './tables.js';

/** The keyed statements for one schema. */
export type KeyedStatements = ReturnType<typeof buildKeyedStatements>;

/** Builds the keyed statements for the given (already quoted) schema. */
export function buildKeyedStatements(s: string) {
  const t = jobTables(s);
  const jobs = t.live;
  const state = t.state;
  return {
    /**
     * Inserts jobs that carry a unique key and/or a partition key: $1 queue, $2 worker, $3 JSON
     * array of {i, args, ukey, pkey}, $4 tags, $5 priority, $6 max attempts, $7 scheduled_at,
     * $8 delay ms, $9 channel, $10 NOTIFY payload or NULL, $11 unique states (JSON) or NULL,
     * $12 unique period (s) or NULL, $13 partition limit or NULL. Each keyed row takes its key
     * in job_keys first, with the id it will have (ON CONFLICT DO NOTHING: waits for an
     * uncommitted holder, never reports a job that did not commit); a row whose key is taken is
     * not inserted. Keys go in order so concurrent batches lock them
     * in the same order. Returns [id, unique_key] of inserted rows and the window suffix.
     */
    insertKeyed: statement(
      'insert_keyed',
      `WITH shared AS MATERIALIZED (
         SELECT coalesce($7::timestamptz, now() + $8::float8 * interval '1 millisecond') AS due,
                ARRAY(SELECT jsonb_array_elements_text($4::text::jsonb)) AS tags,
                ARRAY(SELECT jsonb_array_elements_text($11::text::jsonb))::${state}[] AS ustates,
                CASE WHEN $12::int IS NULL THEN ''
                     ELSE ':' || $12::int || ':' || floor(extract(epoch FROM now()) / $12::int)::bigint END AS suffix,
                pg_get_serial_sequence('${jobs}', 'id')::regclass AS ids
       ), r AS MATERIALIZED (
         /* Ids drawn in key order (then input order): the first row of a key takes it. */
         SELECT nextval(shared.ids) AS id, o.args, o.ukey, o.pkey FROM shared, (
           SELECT r.args, r.ukey || shared.suffix AS ukey, r.pkey
           FROM shared, jsonb_to_recordset($3::text::jsonb) AS r(i int, args jsonb, ukey text, pkey text)
           ORDER BY r.ukey, r.i
           OFFSET 0) o
       ), taken AS (
         INSERT INTO ${t.keys} (key, job_id) SELECT ukey, id FROM r WHERE ukey IS NOT NULL ORDER BY ukey, id
         ON CONFLICT (key) DO NOTHING
         RETURNING job_id
       ), ins AS (
         INSERT INTO ${jobs} (id, state, queue, worker, args, tags, priority, max_attempts, scheduled_at,
                              unique_key, unique_states, partition_key, partition_limit, meta)
         OVERRIDING SYSTEM VALUE
         SELECT r.id, CASE WHEN shared.due > now() THEN 'scheduled' ELSE 'available' END::${state},
                $1, $2, r.args, shared.tags, $5, $6, shared.due,
                r.ukey, CASE WHEN r.ukey IS NULL THEN NULL ELSE shared.ustates END,
                r.pkey, CASE WHEN r.pkey IS NULL THEN NULL ELSE $13::int END, $14::text::jsonb
         FROM shared, r
         WHERE r.ukey IS NULL OR r.id IN (SELECT job_id FROM taken)
         ORDER BY r.id
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
      `SELECT ${JOB_COLUMNS}, k.key AS unique_key FROM ${t.keys} k JOIN ${t.all} j ON j.id = k.job_id
       WHERE k.key = ANY(ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)))`,
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
     * attempted_at is CLAIMED_AT, and the rate log records that same time: a start logged as
     * statement_timestamp() (earlier) could let a later claim's starts fall within one window of
     * it by attempted_at.
     */
    fetchLimited: statement(
      'fetch_limited',
      `WITH RECURSIVE ${CLAIM_STAMP}, q AS MATERIALIZED (
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
         SET state = 'executing', attempt = attempt + 1, attempted_at = ${CLAIMED_AT}, attempted_by = $3,
             claim = gen_random_uuid()
         WHERE id IN (SELECT id FROM picked) AND state = 'available'
         RETURNING ${JOB_COLUMNS}, claim::text AS claim, ${epochMs('attempted_at - scheduled_at')} AS queue_ms,
           (${workflowRef(t.workflows)})::text AS workflow_ref
       ), logged AS (
         UPDATE ${s}.queues SET rate_log = ARRAY(
             SELECT t FROM unnest(rate_log) t WHERE t > statement_timestamp() - $5::float8 * interval '1 ms'
             UNION ALL SELECT ${CLAIMED_AT} FROM claimed)
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
