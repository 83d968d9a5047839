// Every statement docket runs, named and parameterized, templated with the quoted schema once
// per Queue. Values always travel as parameters; batches travel as one JSON parameter expanded
// with jsonb_to_recordset, which both drivers send identically.
import { NOTICE_SQL } from '../notice.js';
import { createHash } from 'node:crypto';
import { CLAIMED_AT, CLAIM_STAMP, JOB_COLUMNS, epochMs, packedClaim, storedRow } from './columns.js';
import type { JobTables } from './tables.js';
import { FINAL, intoHistory, jobTables, releaseKeys, releasedState } from './tables.js';
import type { Statement } from '../../driver/types.js';

/** A named statement; `prepare: false` plans it for every call's parameters (see Statement). */
export function statement(label: string, text: string, prepare = true): Statement {
  // Prepared-statement names must be unique per text: the schema is part of the text.
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 12);
  const compact = text.replace(/\s+/g, ' ').trim();
  return prepare ? { name: `docket_${label}_${hash}`, text: compact } : { name: `docket_${label}_${hash}`, text: compact, prepare: false };
}

/** All statements for one schema. */
export type Statements = ReturnType<typeof buildStatements>;

/** Builds the statements for the given (already quoted) schema. */
export function buildStatements(s: string) {
  const t = jobTables(s);
  const jobs = t.live;
  const state = t.state;
  return {
    /**
     * Inserts jobs of one worker that share their options: $1 queue, $2 worker, $3 JSON array of
     * args, $4 JSON array of tags, $5 priority, $6 max attempts, $7 scheduled_at or NULL, $8 delay
     * in ms, $9 channel, $10 NOTIFY payload or NULL, $11 meta (JSON object). The NOTIFY runs on the inserting connection,
     * so inside a host transaction it is delivered only on commit. Returns one row: the ids in
     * input order (identity values follow the ORDER BY) and what the jobs share.
     */
    insertJobs: statement(
      'insert',
      `WITH shared AS MATERIALIZED (
         SELECT coalesce($7::timestamptz, now() + $8::float8 * interval '1 millisecond') AS due,
                ARRAY(SELECT jsonb_array_elements_text($4::text::jsonb)) AS tags
       ), ins AS (
         INSERT INTO ${jobs} (state, queue, worker, args, tags, priority, max_attempts, scheduled_at, meta)
         SELECT CASE WHEN shared.due > now() THEN 'scheduled' ELSE 'available' END::${state},
                $1, $2, a.value, shared.tags, $5, $6, shared.due, $11::text::jsonb
         FROM shared, jsonb_array_elements($3::text::jsonb) WITH ORDINALITY AS a
         ORDER BY a.ordinality
         RETURNING id
       ), notified AS MATERIALIZED (
         SELECT pg_notify($9, $10) WHERE $10::text IS NOT NULL
       )
       SELECT (SELECT json_agg(id::text ORDER BY id) FROM ins)::text AS ids,
              (CASE WHEN due > now() THEN 'scheduled' ELSE 'available' END) AS state,
              ${epochMs('now()')} AS inserted_at, ${epochMs('due')} AS scheduled_at
       FROM shared LEFT JOIN notified ON true`,
    ),

    /**
     * $1: queue; $2: how many; $3: node id. Claims due jobs in priority, time, id order, each
     * returned packed in one JSON text column (see packedClaim).
     * The claim commits without waiting for its WAL flush (synchronous_commit off for this
     * statement only): if the server crashed before the flush, the claim is lost and the job is
     * simply available again; the ack that follows is flushed normally and makes both durable.
     * attempted_at: see CLAIMED_AT.
     */
    fetchJobs: statement(
      'fetch',
      `WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
       ${CLAIM_STAMP}
       UPDATE ${jobs}
       SET state = 'executing', attempt = attempt + 1, attempted_at = ${CLAIMED_AT}, attempted_by = $3,
           claim = gen_random_uuid()
       WHERE EXISTS (SELECT 1 FROM async_commit) AND id = ANY(ARRAY(
         SELECT id FROM ${jobs}
         WHERE state = 'available' AND queue = $1
         ORDER BY priority, scheduled_at, id
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ))
       RETURNING ${packedClaim(t.workflows)}`,
    ),

    /**
     * $1: JSON array of outcomes; $2: whether completed jobs are deleted rather than kept
     * (retention 'none': workflow steps are kept, their results feed their dependents); $3: channel (workflow steps released by a completion wake their queues). Fenced: only a job still `executing` under the claim that ran it is
     * changed, so a stale worker can never overwrite a newer outcome. A final outcome moves the
     * job into the history in this statement; any other updates it in place.
     */
    ackJobs: statement('ack', ackSql(t, true)),
    /** The same, returning only ids: for batches whose outcomes nobody listens to. */
    ackJobsLean: statement('ack_lean', ackSql(t, false)),

    /**
     * $1: batch size; $2: channel. Makes due scheduled/retryable jobs available, wakes every
     * node for their queues, and says when the next one is due (ms, by the database clock).
     */
    stageJobs: statement(
      'stage',
      `WITH due AS (
         UPDATE ${jobs} SET state = 'available'
         WHERE id = ANY(ARRAY(
           SELECT id FROM ${jobs}
           WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= now()
           ORDER BY scheduled_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED
         ))
         RETURNING queue
       ), queues AS MATERIALIZED (
         SELECT coalesce(array_agg(DISTINCT queue), '{}') AS names, count(*) AS staged FROM due
       ), notified AS MATERIALIZED (
         SELECT pg_notify($2, ${NOTICE_SQL.queues('names')}) FROM queues WHERE staged > 0
       )
       SELECT array_to_json(q.names)::text AS queues, q.staged::int AS staged,
         (SELECT ${epochMs('min(scheduled_at) - now()')}
            FROM ${jobs} WHERE state IN ('scheduled', 'retryable') AND scheduled_at > now()) AS next_due_ms
       FROM queues q LEFT JOIN notified ON true`,
    ),

    /** $1: channel; $2: payload. A wake-up hint sent on its own, after inserts committed. */
    notify: statement('notify', `SELECT pg_notify($1, $2)`),

    /** $1: id. */
    getJob: statement('get', `SELECT ${JOB_COLUMNS} FROM ${t.all} WHERE id = $1::bigint`),

    /** $1: schema name, for the migration lock key. */
    migrationLock: statement('migration_lock', `SELECT pg_advisory_xact_lock(hashtext('docket:migrate:' || $1))`),
    /** Applied migration versions, or none when the table does not exist yet. */
    appliedMigrations: statement(
      'applied_migrations',
      `SELECT version FROM ${s}.migrations ORDER BY version`,
    ),
    /** $1: schema name (unquoted). Whether the migrations table exists. */
    migrationsTableExists: statement(
      'migrations_table_exists',
      `SELECT to_regclass(format('%I.migrations', $1::text)) IS NOT NULL AS present`,
    ),
    /** $1: version; $2: name. */
    recordMigration: statement(
      'record_migration',
      `INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`,
    ),
  };
}

/** DDL run before any versioned migration: the schema and the table recording versions. */
export function bootstrapSql(s: string): string {
  return `SET LOCAL client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`;
}

// A hand-back (state 'available': claimed, never started) of a job never attempted before
// clears attempted_at/attempted_by: it leaves no trace of the claim it did not use.
// Both halves go by primary key (`id = ANY(ARRAY(...))`): a join on the batch can be planned
// through the partial executing index, and on a churning table that walks its dead entries
// (test/integration/plans.test.ts checks the plan).
function ackSql(t: JobTables, detailed: boolean): string {
  // `errored`: whether this outcome appended an error (then the last one is it).
  // `claim`: which outcome landed. A batch can hold two for one job (an attempt whose claim a
  // server crash lost, its job claimed again by the same node): only the current claim's lands.
  const returning = (a: string, errored: string): string =>
    detailed
      ? `${a}.id::text AS id, ${a}.claim::text AS claim, ${a}.attempt,
         ${epochMs(`${a}.scheduled_at`)} AS scheduled_at, ${epochMs(`${a}.completed_at`)} AS completed_at,
         CASE WHEN ${errored} THEN (${a}.errors -> -1)::text END AS error`
      : `${a}.id::text AS id, ${a}.claim::text AS claim`;
  // `state::text`: a bare `state = 'executing'` lets the planner prove the partial executing
  // index usable and walk it (filtering by id) instead of probing the primary key.
  const fenced = (which: string): string =>
    `j.id = ANY(ARRAY(SELECT id FROM v WHERE state ${which} ${FINAL})) AND j.id = v.id AND j.state::text = 'executing' AND j.claim = v.claim`;
  const errors = `CASE WHEN v.error IS NULL THEN j.errors
                  ELSE j.errors || jsonb_build_array(v.error || jsonb_build_object('at', now())) END`;
  const attempt = 'CASE WHEN v.refund THEN j.attempt - 1 ELSE j.attempt END';
  return `WITH v AS MATERIALIZED (
         SELECT * FROM jsonb_to_recordset($1::text::jsonb)
           AS v(id bigint, claim uuid, state text, result jsonb, error jsonb, delay_ms float8, refund boolean)
       ), done AS (
         DELETE FROM ${t.live} AS j USING v WHERE ${fenced('IN')}
         RETURNING ${storedRow('j', {
           state: `v.state::${t.state}`,
           attempt,
           errors,
           result: `CASE WHEN v.state = 'completed' THEN v.result ELSE j.result END`,
           completed_at: 'now()',
         })}, v.error IS NOT NULL AS errored
       ), moved AS (
         ${intoHistory(t, 'done', `NOT ($2::bool AND state = 'completed' AND workflow_id IS NULL AND NOT (unique_key IS NOT NULL AND state = ANY (unique_states)))`)}
       ), released AS (
         ${releaseKeys(t, 'done', false)}
       ), ${releaseChildren(t, '$3')}, kept AS (
         UPDATE ${t.live} AS j SET
           state = v.state::${t.state},
           errors = ${errors},
           attempt = ${attempt},
           attempted_at = CASE WHEN v.state = 'available' AND j.attempt = 1 THEN NULL ELSE j.attempted_at END,
           attempted_by = CASE WHEN v.state = 'available' AND j.attempt = 1 THEN NULL ELSE j.attempted_by END,
           scheduled_at = CASE WHEN v.state IN ('scheduled', 'retryable')
                          THEN now() + v.delay_ms * interval '1 millisecond' ELSE j.scheduled_at END
         FROM v WHERE ${fenced('NOT IN')}
         RETURNING ${returning('j', 'v.error IS NOT NULL')}
       )
       SELECT ${returning('done', 'done.errored')} FROM done WHERE (SELECT count(*) FROM woken_notified) >= 0
       UNION ALL SELECT * FROM kept`;
}

/**
 * The CTEs `freed`, `woken` and `woken_notified` that release workflow steps in the statement
 * finishing their dependencies (CTE `done`: finished rows, new state): each completed step's
 * children lose one dependency per completed parent, and those left with none become available
 * (or scheduled), their queues woken on channel `channel` at commit. Children are locked in id
 * order first, so acks on many nodes completing parents of one child at once (a fan-in) queue
 * on its row, each seeing the last one's count: exactly one takes it to zero. The lookup of a
 * finished job's children is a parameterized index probe per workflow step; plain jobs skip it.
 * Failures are not handled here: the runtime settles them after the commit (settleWorkflow),
 * and the Workflow plugin's sweep catches whatever a crash in between left.
 */
export function releaseChildren(t: JobTables, channel: string): string {
  // A wide fan-in's child (edges marked `wide`) is not updated here: every parent's ack would
  // queue on its row until commit. Those completions are appended to workflow_releases and
  // applied after the commit (applyReleases in sql/workflow.ts).
  return `freed AS (
         SELECT k.child_id AS id, (count(*) FILTER (WHERE NOT k.wide))::int AS n, (count(*) FILTER (WHERE k.wide))::int AS w
         FROM done JOIN LATERAL (SELECT d.child_id, d.wide FROM ${t.deps} d WHERE d.parent_id = done.id OFFSET 0) k ON true
         WHERE done.workflow_id IS NOT NULL AND done.dependents > 0 AND done.state = 'completed'
         GROUP BY k.child_id
       ), deferred AS (
         INSERT INTO ${t.releases} (child_id, n) SELECT id, w FROM freed WHERE w > 0
       ), ${applyFreed(t, 'freed', 'n', channel, 'woken')}`;
}

/**
 * CTEs `<name>_map`, `<name>` and `<name>_notified`: subtract `count` (a column of CTE
 * `source`, by child `id`) from each held child's deps_left, make those left with none
 * available (or scheduled), and wake their queues. Children are locked in id order first.
 * No join with a CTE here: with statistics that knew no such fan-out, the planner made each
 * one a nested loop rescanning the CTE (10,000 children released by one root took 3–5 s:
 * quadratic). Children are found by `= ANY(array)` (index probes), and the map is one row, a
 * JSON object of child id → count, looked up by key per child.
 */
export function applyFreed(t: JobTables, source: string, count: string, channel: string, name: string): string {
  return `${name}_map AS MATERIALIZED (
         SELECT jsonb_object_agg(id::text, ${count}) AS m FROM ${source} WHERE ${count} > 0
       ), ${name} AS (
         UPDATE ${t.live} c SET deps_left = c.deps_left - (f.m ->> c.id::text)::int,
           state = CASE WHEN c.deps_left > (f.m ->> c.id::text)::int THEN 'held'::${t.state} ELSE ${releasedState(t, 'c')} END
         FROM ${name}_map f
         WHERE f.m IS NOT NULL
           AND c.id = ANY(ARRAY(SELECT l.id FROM ${t.live} l WHERE l.id = ANY(ARRAY(SELECT id FROM ${source} WHERE ${count} > 0))
                                  AND l.state = 'held' ORDER BY l.id FOR UPDATE))
           AND c.state = 'held'
         RETURNING c.queue, c.state
       ), ${name}_notified AS MATERIALIZED (
         SELECT pg_notify(${channel}, json_build_object('queues', coalesce(array_agg(DISTINCT queue) FILTER (WHERE state = 'available'), '{}'),
                                                   'scheduled', bool_or(state = 'scheduled'))::text)
         FROM ${name} WHERE state <> 'held' HAVING count(*) > 0
       )`;
}
