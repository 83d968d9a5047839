// The statements of the plugin layer: node heartbeats, the leader lease, Lifeline's rescue,
// Pruner's batched deletes and the persisted cron schedules. Same rules as jobs.ts.
import { NOTICE_SQL } from '../notice.js';
import { JOB_COLUMNS, storedRow } from './columns.js';
import { statement } from './jobs.js';
import type { JobTables } from './tables.js';
import { errorEntry, intoHistory, jobTables, releaseKeys } from './tables.js';

// One batch of a prune by age over `table` (the history, or one of its partitions). Every row
// past the age goes, so the batch takes any $5 of them, in no order: ordered by age over the
// partitioned history, PostgreSQL sorted all of them for each batch (measured: 1.9 s a batch,
// 0.24 s unordered, with 490k rows of a queue due over ten day partitions).
function pruneAgeSql(t: JobTables, table: string): string {
  return `WITH doomed AS (
         SELECT id, completed_at FROM ${table}
         WHERE state = $1::text::${t.state} AND completed_at < now() - $2::float8 * interval '1 ms'
           AND ($3::text IS NULL OR queue = $3)
           AND NOT (queue = ANY(ARRAY(SELECT jsonb_array_elements_text($4::text::jsonb))))
         LIMIT $5
         FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${table} f USING doomed d
         WHERE f.state = $1::text::${t.state} AND f.completed_at < now() - $2::float8 * interval '1 ms'
           AND f.id = d.id AND f.completed_at = d.completed_at
         RETURNING f.id, f.unique_key
       ), released AS (
         ${releaseKeys(t, 'gone', true)}
       )
       SELECT count(*)::int AS n FROM gone`;
}

/** All cluster, maintenance and schedule statements for one schema. */
export type ClusterStatements = ReturnType<typeof buildClusterStatements>;

/** Builds the cluster statements for the given (already quoted) schema. */
export function buildClusterStatements(s: string) {
  const t = jobTables(s);
  const jobs = t.live;
  const state = t.state;
  const rescueError = errorEntry(
    'j',
    `'Rescued'`,
    `CASE WHEN stale.known THEN 'node ' || coalesce(j.attempted_by, '?') || ' stopped heartbeating while running the job'
          ELSE 'the node running the job left no heartbeat, and the attempt is older than rescueAfter' END`,
  );
  const SCHEDULE_COLUMNS = `name, expression, timezone, worker, args::text AS args, options::text AS options, missed,
    (extract(epoch FROM next_at) * 1000)::float8 AS next_at, (extract(epoch FROM last_at) * 1000)::float8 AS last_at`;
  return {
    /** $1 id, $2 host, $3 pid, $4 queues (JSON). Records this node as alive now; returns the database's clock (ms). */
    heartbeat: statement(
      'heartbeat',
      `INSERT INTO ${s}.nodes (id, host, pid, queues) VALUES ($1, $2, $3, $4::text::jsonb)
       ON CONFLICT (id) DO UPDATE SET beat_at = now(), queues = EXCLUDED.queues
       RETURNING (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS db_now`,
    ),
    /** $1 channel, $2 JSON array of payloads: one NOTIFY each (job updates, sent in one round trip). */
    announceJobs: statement('announce_jobs', `SELECT count(pg_notify($1, p))::int AS n FROM jsonb_array_elements_text($2::text::jsonb) AS p`),
    /** $1 id. A node that stops cleanly leaves no row behind. */
    removeNode: statement('remove_node', `DELETE FROM ${s}.nodes WHERE id = $1`),
    /** Nodes, how long ago each beat (ms), and whether it holds an unexpired leader lease. */
    nodes: statement(
      'nodes',
      `SELECT n.id, n.host, n.pid, n.queues::text AS queues, (extract(epoch FROM n.started_at) * 1000)::float8 AS started_at,
              (extract(epoch FROM now() - n.beat_at) * 1000)::float8 AS silent_ms,
              (l.owner IS NOT NULL) AS leader
       FROM ${s}.nodes n
       LEFT JOIN ${s}.leases l ON l.name = 'leader' AND l.owner = n.id AND l.expires_at > now()
       ORDER BY n.started_at, n.id`,
    ),

    /**
     * $1 lease name, $2 owner, $3 ttl ms. Takes the lease if it is free or expired, or renews it
     * if $2 holds it. Returns the owner afterwards (only when $2 got it).
     */
    acquireLease: statement(
      'acquire_lease',
      `INSERT INTO ${s}.leases AS l (name, owner, expires_at) VALUES ($1, $2, now() + $3::float8 * interval '1 ms')
       ON CONFLICT (name) DO UPDATE SET
         owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
         acquired_at = CASE WHEN l.owner = EXCLUDED.owner THEN l.acquired_at ELSE now() END
       WHERE l.owner = EXCLUDED.owner OR l.expires_at < now()
       RETURNING owner`,
    ),
    /** $1 lease name, $2 owner, $3 channel. Releases a lease at once and tells the others. */
    releaseLease: statement(
      'release_lease',
      `WITH gone AS (DELETE FROM ${s}.leases WHERE name = $1 AND owner = $2 RETURNING name),
            notified AS MATERIALIZED (SELECT pg_notify($3, ${NOTICE_SQL.leaseReleased}) FROM gone)
       SELECT (SELECT count(*) FROM gone)::int AS released, (SELECT count(*) FROM notified)::int AS notified`,
    ),

    /**
     * $1 stale after (ms), $2 rescue after (ms), $3 batch size, $4 channel. Jobs executing on a
     * node whose heartbeat is older than $1, or attempted more than $2 ago by a node that has no
     * row at all, go back to retryable (or discarded when their attempts are used up), their
     * claim cleared so a late ack from the lost attempt is fenced off.
     */
    rescue: statement(
      'rescue',
      `WITH stale AS (
         SELECT j.id AS sid, n.id IS NOT NULL AS known FROM ${jobs} j
         LEFT JOIN ${s}.nodes n ON n.id = j.attempted_by
         WHERE j.state = 'executing'
           AND CASE WHEN n.id IS NULL THEN j.attempted_at < now() - $2::float8 * interval '1 ms'
                    ELSE n.beat_at < now() - $1::float8 * interval '1 ms' END
         ORDER BY j.id LIMIT $3
         FOR UPDATE OF j SKIP LOCKED
       ), retried AS (
         UPDATE ${jobs} j SET state = 'retryable', scheduled_at = now(), claim = NULL, errors = ${rescueError}
         FROM stale WHERE j.id = stale.sid AND j.attempt < j.max_attempts
         RETURNING ${JOB_COLUMNS}
       ), spent AS (
         /* Out of attempts: discarded, so into the history. */
         DELETE FROM ${jobs} j USING stale WHERE j.id = stale.sid AND j.attempt >= j.max_attempts
         RETURNING ${storedRow('j', { state: `'discarded'::${state}`, completed_at: 'now()', claim: 'NULL::uuid', errors: rescueError })}
       ), moved AS (
         ${intoHistory(t, 'spent')}
       ), released AS (
         ${releaseKeys(t, 'spent', false)}
       ), rescued AS (
         SELECT * FROM retried UNION ALL SELECT ${JOB_COLUMNS} FROM spent
       ), notified AS MATERIALIZED (
         SELECT pg_notify($4, ${NOTICE_SQL.scheduled}) WHERE EXISTS (SELECT 1 FROM rescued)
       )
       SELECT rescued.*, (SELECT count(*) FROM notified) AS notified FROM rescued`,
    ),
    /** $1 stale after (ms). Forgets nodes long silent that run nothing any more. */
    forgetNodes: statement(
      'forget_nodes',
      `DELETE FROM ${s}.nodes n WHERE n.beat_at < now() - $1::float8 * interval '1 ms'
         AND NOT EXISTS (SELECT 1 FROM ${jobs} j WHERE j.state = 'executing' AND j.attempted_by = n.id)`,
    ),

    /**
     * $1 state, $2 max age (ms), $3 only this queue or NULL, $4 JSON array of queues to leave
     * out (they have their own rule), $5 batch size. Deletes one batch of finished jobs (and the
     * unique keys they held); returns how many. Whole days go by dropPartitions instead; this
     * handles what they cannot (per-queue rules, ages shorter than a day, the DEFAULT partition).
     */
    pruneByAge: statement('prune_age', pruneAgeSql(t, t.finished)),
    /** The same, over the DEFAULT partition of one state only (rows of days with no partition). */
    pruneDefaultByAge: {
      completed: statement('prune_default_completed', pruneAgeSql(t, `${t.finished}_completed_default`)),
      discarded: statement('prune_default_discarded', pruneAgeSql(t, `${t.finished}_discarded_default`)),
      cancelled: statement('prune_default_cancelled', pruneAgeSql(t, `${t.finished}_cancelled_default`)),
    },
    /** $1 queue, $2 how many finished jobs to keep, $3 batch size. Deletes the oldest beyond that. */
    pruneByCount: statement(
      'prune_count',
      `WITH doomed AS (
         SELECT id, completed_at FROM ${t.finished}
         WHERE queue = $1
         ORDER BY completed_at DESC, id DESC OFFSET $2 LIMIT $3
         FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${t.finished} f USING doomed d WHERE f.queue = $1 AND f.id = d.id AND f.completed_at = d.completed_at
         RETURNING f.id, f.unique_key
       ), released AS (
         ${releaseKeys(t, 'gone', true)}
       )
       SELECT count(*)::int AS n FROM gone`,
    ),

    /** Queues that have finished jobs (for a maxCount that applies to every queue): a skip scan of the queue index. */
    finishedQueues: statement(
      'finished_queues',
      `WITH RECURSIVE q(name) AS (
         (SELECT min(queue) FROM ${t.finished})
         UNION ALL
         SELECT (SELECT min(queue) FROM ${t.finished} WHERE queue > q.name) FROM q WHERE q.name IS NOT NULL
       )
       SELECT name AS queue FROM q WHERE name IS NOT NULL`,
    ),

    /** Dead and live row versions of the live table, as the statistics collector last saw them. */
    liveHealth: statement(
      'live_health',
      `SELECT coalesce(n_dead_tup, 0)::float8 AS dead, coalesce(n_live_tup, 0)::float8 AS live
       FROM pg_stat_user_tables WHERE relid = '${t.live}'::regclass`,
    ),
    /** Vacuums the live table (small: milliseconds), skipping it when a lock is busy. */
    vacuumLive: statement('vacuum_live', `VACUUM (SKIP_LOCKED) ${t.live}`),

    /** $1 days ahead. Creates the history's day partitions from today on; how many it created. */
    createPartitions: statement('create_partitions', `SELECT ${s}.create_finished_partitions(0, $1::int) AS n`),
    /**
     * $1 state, $2 max age (ms). Drops the history's day partitions of `state` that ended more
     * than $2 ago (and the keys their jobs held); how many jobs they held.
     */
    dropPartitions: statement(
      'drop_partitions',
      `SELECT ${s}.drop_finished_partitions($1::text, now() - $2::float8 * interval '1 ms')::int AS n`,
    ),

    /** Every schedule. */
    schedules: statement('schedules', `SELECT ${SCHEDULE_COLUMNS} FROM ${s}.schedules ORDER BY name`),
    /** $1 name. */
    schedule: statement('schedule', `SELECT ${SCHEDULE_COLUMNS} FROM ${s}.schedules WHERE name = $1`),
    /**
     * $1 name, $2 expression, $3 timezone, $4 worker, $5 args, $6 options, $7 missed. Creates or
     * changes a schedule; a changed expression or zone starts over from the next tick.
     */
    upsertSchedule: statement(
      'upsert_schedule',
      `INSERT INTO ${s}.schedules AS c (name, expression, timezone, worker, args, options, missed)
       VALUES ($1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb, $7)
       ON CONFLICT (name) DO UPDATE SET
         expression = EXCLUDED.expression, timezone = EXCLUDED.timezone, worker = EXCLUDED.worker,
         args = EXCLUDED.args, options = EXCLUDED.options, missed = EXCLUDED.missed, updated_at = now(),
         next_at = CASE WHEN c.expression = EXCLUDED.expression AND c.timezone = EXCLUDED.timezone THEN c.next_at END
       RETURNING ${SCHEDULE_COLUMNS}`,
    ),
    /** $1 name. */
    removeSchedule: statement('remove_schedule', `DELETE FROM ${s}.schedules WHERE name = $1 RETURNING name`),
    /** Schedules due now (or never computed), with the database's now (ms). */
    dueSchedules: statement(
      'due_schedules',
      `SELECT ${SCHEDULE_COLUMNS}, (extract(epoch FROM now()) * 1000)::float8 AS db_now
       FROM ${s}.schedules WHERE next_at IS NULL OR next_at <= now() ORDER BY name`,
    ),
    /**
     * $1 name, $2 the next_at this tick read (ms, NULL when none), $3 new next_at (ms), $4 last
     * tick enqueued (ms) or NULL. Advances a schedule unless another leader already did.
     */
    advanceSchedule: statement(
      'advance_schedule',
      `UPDATE ${s}.schedules SET
         next_at = to_timestamp($3::float8 / 1000),
         last_at = coalesce(to_timestamp($4::float8 / 1000), last_at)
       WHERE name = $1 AND CASE WHEN $2::float8 IS NULL THEN next_at IS NULL
                                ELSE abs(extract(epoch FROM next_at) * 1000 - $2::float8) < 1 END
       RETURNING name`,
    ),
  };
}
