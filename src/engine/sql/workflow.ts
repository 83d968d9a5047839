// The statements of workflows: the insert of a whole DAG in one statement, the reads (a workflow
// with its steps and edges, a step's dependency results), and the pieces of settling: applying
// failure policies down the graph, recounting and releasing held steps, finishing workflows,
// cancelling and retrying them, and the sweep that finds what a lost release left behind. The
// hot release (a completion freeing its children) is part of the ack (jobs.ts). Same rules as
// jobs.ts: values are parameters, batches are one JSON parameter.
import { NOTICE_SQL } from '../notice.js';
import { JOB_COLUMNS, STORED_LIST, epochMs, storedRow } from './columns.js';
import { applyFreed, statement } from './jobs.js';
import { errorEntry, intoHistory, jobTables, releaseKeys, releasedState } from './tables.js';

/** All workflow statements for one schema. */
export type WorkflowStatements = ReturnType<typeof buildWorkflowStatements>;

/** The summary columns of a workflow row `w` (WorkflowRow in types.ts). */
const SUMMARY = `w.id::text AS id, w.name, array_to_json(w.tags)::text AS tags, w.state,
  ${epochMs('w.inserted_at')} AS inserted_at, ${epochMs('w.finished_at')} AS finished_at`;

/** A JSON array parameter of ids as bigint[]. */
const ids = (p: number): string => `ARRAY(SELECT jsonb_array_elements_text($${p}::text::jsonb)::bigint)`;

/**
 * The steps CTE body from two compact JSON parameters: `shapes` ($sh: what steps share, one
 * object per distinct worker and options) and `rows` ($rows: [i, step, shape, args, deps, kids,
 * pkey] per step). Arrays parsed as `json`: an object per step parsed as `jsonb` cost 190 ms of
 * a 10,000-step insert (every object's keys sorted), this 5 ms.
 */
function stepsFrom(rows: number, shapes: number): string {
  return `SELECT (e->>0)::int AS i, e->>1 AS step, sh.queue, sh.worker, (e->3)::jsonb AS args, sh.tags, sh.priority,
           sh.max_attempts, coalesce(sh.scheduled_at, now() + sh.delay_ms * interval '1 millisecond') AS due,
           e->>6 AS pkey, CASE WHEN e->>6 IS NULL THEN NULL ELSE sh.plimit END AS plimit,
           (e->>4)::int AS deps, (e->>5)::int AS kids
         FROM json_array_elements($${rows}::text::json) e
         JOIN (SELECT (o.n - 1)::int AS k, o.v->>'queue' AS queue, o.v->>'worker' AS worker,
                      ARRAY(SELECT json_array_elements_text(o.v->'tags')) AS tags, (o.v->>'priority')::int AS priority,
                      (o.v->>'max_attempts')::int AS max_attempts, (o.v->>'scheduled_at')::timestamptz AS scheduled_at,
                      (o.v->>'delay_ms')::float8 AS delay_ms, (o.v->>'plimit')::int AS plimit
               FROM json_array_elements($${shapes}::text::json) WITH ORDINALITY AS o(v, n)) sh ON sh.k = (e->>2)::int`;
}

/** Inserts the rows of CTE `st` (stepsFrom) into the live table as steps of workflow `workflow`, each with meta `meta` (a jsonb expression). */
function insertSteps(live: string, state: string, workflow: string, from: string, meta: string): string {
  return `INSERT INTO ${live} (state, queue, worker, args, tags, priority, max_attempts, scheduled_at,
                              partition_key, partition_limit, workflow_id, step, deps_left, dependents, meta)
         SELECT CASE WHEN st.deps > 0 THEN 'held' WHEN st.due > now() THEN 'scheduled' ELSE 'available' END::${state},
                st.queue, st.worker, st.args, st.tags, st.priority, st.max_attempts,
                st.due, st.pkey, st.plimit, ${workflow}, st.step, st.deps, st.kids, ${meta}
         FROM ${from} ORDER BY st.i`;
}

/** Builds the workflow statements for the given (already quoted) schema. */
export function buildWorkflowStatements(s: string) {
  const t = jobTables(s);
  const live = t.live;
  const state = t.state;

  // Steps in `source` (ids) move into the history as cancelled, with `reason` ($n text).
  const cancelSteps = (where: string, reason: string): string => `
    done AS (
      DELETE FROM ${live} j WHERE ${where}
      RETURNING ${storedRow('j', {
        state: `'cancelled'::${state}`,
        completed_at: 'now()',
        errors: errorEntry('j', `'Cancelled'`, reason),
      })}, j.state AS was
    ), moved AS (
      ${intoHistory(t, 'done')}
    ), released AS (
      ${releaseKeys(t, 'done', false)}
    )`;

  return {
    /**
     * Inserts a workflow, every step and every edge: $1 name, $2 tags (JSON), $3 steps and $7
     * their shapes (see stepsFrom; deps and kids count a step's edges in and out), $4 edges
     * (JSON array of [parent, child, the child's policy, wide], by step name), $5 channel, $6 NOTIFY
     * payload or NULL (a host transaction's hint), $8 the steps' meta (a JSON object, one for
     * all). Steps with dependencies are `held`; ids follow the step order.
     */
    insertWorkflow: statement(
      'wf_insert',
      `WITH wf AS (
         INSERT INTO ${t.workflows} (name, tags) VALUES ($1, ARRAY(SELECT jsonb_array_elements_text($2::text::jsonb)))
         RETURNING id, inserted_at
       ), st AS MATERIALIZED (
         ${stepsFrom(3, 7)}
       ), ins AS (
         ${insertSteps(live, state, 'wf.id', 'st, wf', '$8::text::jsonb')}
         RETURNING id, step, state, scheduled_at, inserted_at
       ), ids AS MATERIALIZED (
         /* step name → id, one row: looked up by key, where a join of the edges with ins by
            name could be planned as a nested loop over a CTE (quadratic at 10,000 steps). */
         SELECT jsonb_object_agg(step, id) AS m FROM ins
       ), edges AS (
         INSERT INTO ${t.deps} (parent_id, child_id, workflow_id, on_failure, wide)
         SELECT (ids.m ->> (e->>0))::bigint, (ids.m ->> (e->>1))::bigint, wf.id, e->>2, (e->>3)::boolean
         FROM json_array_elements($4::text::json) e, ids, wf
         RETURNING 1
       ), notified AS MATERIALIZED (
         SELECT pg_notify($5, $6) WHERE $6::text IS NOT NULL
       )
       SELECT wf.id::text AS id, ${epochMs('wf.inserted_at')} AS inserted_at,
              (SELECT json_agg(json_build_array(ins.id::text, ins.step, ins.state, ${epochMs('ins.scheduled_at')}) ORDER BY ins.id)
               FROM ins)::text AS steps,
              (SELECT count(*) FROM edges)::int AS edges, (SELECT count(*) FROM notified)::int AS notified
       FROM wf`,
    ),

    /** $1: workflow id. The workflow row. */
    getWorkflow: statement('wf_get', `SELECT ${SUMMARY} FROM ${t.workflows} w WHERE w.id = $1::bigint`),
    /** $1: workflow id. Its steps (live and finished), in id order. */
    // (`j.id`: a bare `id` would sort by the text column JOB_COLUMNS selects.)
    workflowSteps: statement('wf_steps', `SELECT ${JOB_COLUMNS} FROM ${t.all} j WHERE j.workflow_id = $1::bigint ORDER BY j.id`),
    /** $1: workflow id. Its edges: parent id, child id, the child's policy. */
    workflowEdges: statement(
      'wf_edges',
      `SELECT parent_id::text AS parent, child_id::text AS child, on_failure AS policy FROM ${t.deps} WHERE workflow_id = $1::bigint`,
    ),

    /** $1: step id. The results of its completed dependencies, as a JSON object by step name. */
    stepResults: statement(
      'wf_results',
      `SELECT coalesce(json_object_agg(p.step, p.result), '{}')::text AS results
       FROM ${t.deps} d JOIN ${t.finished} p ON p.id = d.parent_id
       WHERE d.child_id = $1::bigint AND p.state = 'completed'`,
    ),

    /** $1: workflow id. Locks the workflow row (settling, cancelling, retrying and adding serialize on it). */
    lockWorkflow: statement('wf_lock', `SELECT id, state FROM ${t.workflows} WHERE id = $1::bigint FOR UPDATE`),

    /**
     * $1: step id, $2: claim. The workflow of a step still running under this claim (adding
     * steps is fenced like an ack).
     */
    runningStep: statement(
      'wf_running_step',
      `SELECT workflow_id::text AS workflow_id FROM ${live} WHERE id = $1::bigint AND state = 'executing' AND claim = $2::uuid`,
    ),
    /** The same, locking the row FOR SHARE (a cancel or rescue of the step waits for the addition). */
    runningStepLocked: statement(
      'wf_running_step_locked',
      `SELECT workflow_id::text AS workflow_id FROM ${live} WHERE id = $1::bigint AND state = 'executing' AND claim = $2::uuid FOR SHARE`,
    ),
    /** $1: workflow id. Every step (live and finished) as [id, step, state]. */
    stepStates: statement(
      'wf_step_states',
      `SELECT id::text AS id, step, state::text AS state FROM ${t.all} WHERE workflow_id = $1::bigint`,
    ),

    /**
     * Adds steps to a running workflow: $1 workflow id, $2 steps and $5 their shapes (as
     * insertWorkflow's), $3 edges (JSON array of [parent, child, the child's policy, wide]: ids, or
     * for a new step its name prefixed by '#'), $4 held steps that gain dependencies (JSON
     * array of {id, n}), $6 the adding step's id (the new steps carry its meta: the trace
     * context of the workflow's start, say).
     */
    addSteps: statement(
      'wf_add',
      `WITH st AS MATERIALIZED (
         ${stepsFrom(2, 5)}
       ), ins AS (
         ${insertSteps(live, state, '$1::bigint', 'st', `(SELECT meta FROM ${live} WHERE id = $6::bigint)`)}
         RETURNING ${JOB_COLUMNS}
       ), ids AS MATERIALIZED (
         SELECT jsonb_object_agg('#' || step, id::bigint) AS m FROM ins
       ), e AS MATERIALIZED (
         SELECT coalesce((ids.m ->> (e->>0))::bigint, (e->>0)::bigint) AS p, coalesce((ids.m ->> (e->>1))::bigint, (e->>1)::bigint) AS c,
                e->>2 AS f, (e->>3)::boolean AS w
         FROM json_array_elements($3::text::json) e, ids
       ), edges AS (
         INSERT INTO ${t.deps} (parent_id, child_id, workflow_id, on_failure, wide) SELECT p, c, $1::bigint, f, w FROM e
         RETURNING 1
       ), touched AS (
         /* One update per existing step (a row updated twice in one statement keeps one of
            them): held dependents gain dependencies, and live parents gain dependents (their
            finish must now look for children). */
         UPDATE ${live} j SET deps_left = j.deps_left + x.grow, dependents = coalesce(j.dependents, 0) + x.kids
         FROM (
           SELECT id, sum(grow)::int AS grow, sum(kids)::int AS kids FROM (
             SELECT g.id, g.n AS grow, 0 AS kids FROM jsonb_to_recordset($4::text::jsonb) AS g(id bigint, n int)
             UNION ALL
             SELECT p, 0, count(*) FROM e WHERE p NOT IN (SELECT id::bigint FROM ins) GROUP BY p
           ) u GROUP BY id
         ) x
         WHERE j.id = x.id AND (x.grow = 0 OR j.state = 'held')
         RETURNING x.grow > 0 AS grew
       )
       SELECT ins.*, (SELECT count(*) FROM edges)::int AS edges, (SELECT count(*) FROM touched WHERE grew)::int AS grown FROM ins`,
    ),

    /**
     * $1: how many children, $2: channel. Applies pending releases of wide fan-ins: locks the
     * children (id order) first, so two appliers, or an applier and a repair, take turns per
     * child; deletes their pending rows and subtracts them; releases those with none left.
     * Rows of children no longer live are dropped.
     */
    applyReleases: statement(
      'wf_apply',
      `WITH mine AS MATERIALIZED (
         SELECT DISTINCT child_id FROM ${t.releases} LIMIT $1
       ), locked AS MATERIALIZED (
         SELECT l.id FROM ${live} l WHERE l.id = ANY(ARRAY(SELECT child_id FROM mine)) ORDER BY l.id FOR UPDATE
       ), gone AS (
         DELETE FROM ${t.releases} r
         WHERE r.child_id = ANY(ARRAY(SELECT child_id FROM mine))
           AND (r.child_id = ANY(ARRAY(SELECT id FROM locked)) OR NOT EXISTS (SELECT 1 FROM ${live} x WHERE x.id = r.child_id))
         RETURNING r.child_id, r.n
       ), summed AS MATERIALIZED (
         SELECT child_id AS id, sum(n)::int AS n FROM gone GROUP BY child_id
       ), ${applyFreed(t, 'summed', 'n', '$2', 'applied')}
       SELECT (SELECT count(*) FROM gone)::int AS rows, (SELECT count(*) FROM applied WHERE state <> 'held')::int AS released,
              (SELECT count(*) FROM applied_notified)::int AS notified`,
    ),

    /** $1: workflow id. Its held steps' ids (JSON array). */
    heldSteps: statement(
      'wf_held',
      `SELECT coalesce(json_agg(id::text ORDER BY id), '[]')::text AS ids FROM ${live} WHERE workflow_id = $1::bigint AND state = 'held'`,
    ),
    /** $1: JSON array of step ids. The steps waiting for them (JSON array). */
    childrenOf: statement(
      'wf_children',
      `SELECT coalesce(json_agg(DISTINCT child_id::text), '[]')::text AS ids FROM ${t.deps} WHERE parent_id = ANY(${ids(1)})`,
    ),
    /** $1: JSON array of step ids. Locks those still held, in id order. */
    lockHeld: statement(
      'wf_lock_held',
      `SELECT id FROM ${live} WHERE id = ANY(${ids(1)}) AND state = 'held' ORDER BY id FOR UPDATE`,
    ),
    /** $1: JSON array of held step ids. Whether one has a failed dependency under 'cancel-workflow'. */
    wholeFails: statement(
      'wf_whole_fails',
      `SELECT EXISTS (
         SELECT 1 FROM ${live} c JOIN ${t.deps} d ON d.child_id = c.id JOIN ${t.finished} p ON p.id = d.parent_id
         WHERE c.id = ANY(${ids(1)}) AND c.state = 'held' AND d.on_failure = 'cancel-workflow' AND p.state <> 'completed'
       ) AS fails`,
    ),
    /**
     * $1: JSON array of held step ids. Cancels those with a failed dependency under 'cancel'
     * (moved into the history); returns their ids (JSON array).
     */
    cancelDoomed: statement(
      'wf_cancel_doomed',
      `WITH ${cancelSteps(
        `j.id = ANY(${ids(1)}) AND j.state = 'held' AND EXISTS (
           SELECT 1 FROM ${t.deps} d JOIN ${t.finished} p ON p.id = d.parent_id
           WHERE d.child_id = j.id AND d.on_failure = 'cancel' AND p.state <> 'completed')`,
        `'a dependency of step "' || j.step || '" failed'`,
      )}
       SELECT coalesce(json_agg(id::text), '[]')::text AS ids FROM done`,
    ),
    /**
     * $1: JSON array of held step ids (locked), $2: channel. Sets each one's count of live
     * dependencies (dropping its pending releases, which that count includes: one snapshot)
     * and releases those with none left; wakes their queues.
     */
    recount: statement(
      'wf_recount',
      `WITH pending AS (
         /* The count below already reflects these completions: they must not be applied again. */
         DELETE FROM ${t.releases} WHERE child_id = ANY(${ids(1)})
       ), counted AS (
         SELECT c.id, (SELECT count(*) FROM ${t.deps} d JOIN ${live} p ON p.id = d.parent_id WHERE d.child_id = c.id)::int AS n
         FROM ${live} c WHERE c.id = ANY(${ids(1)}) AND c.state = 'held'
       ), changed AS (
         UPDATE ${live} j SET deps_left = k.n, state = CASE WHEN k.n > 0 THEN 'held'::${state} ELSE ${releasedState(t, 'j')} END
         FROM counted k WHERE j.id = k.id AND (j.deps_left <> k.n OR k.n = 0)
         RETURNING j.queue, j.state
       ), notified AS MATERIALIZED (
         SELECT pg_notify($2, json_build_object('queues', coalesce(array_agg(DISTINCT queue) FILTER (WHERE state = 'available'), '{}'),
                                                'scheduled', bool_or(state = 'scheduled'))::text)
         FROM changed WHERE state <> 'held' HAVING count(*) > 0
       )
       SELECT (SELECT count(*) FROM changed WHERE state <> 'held')::int AS released, (SELECT count(*) FROM notified)::int AS notified`,
    ),
    /**
     * $1: workflow id, $2: reason, $3: channel. Cancels every live step (running ones are told
     * to stop, as `cancel` does); returns how many.
     */
    cancelAll: statement(
      'wf_cancel_all',
      `WITH target AS (
         /* Steps that are not held first, then held ones: the order an ack takes them in (the
            finished parent, then its children), so a cancel and an ack do not deadlock. */
         SELECT id AS tid FROM ${live} WHERE workflow_id = $1::bigint ORDER BY state = 'held', id FOR UPDATE
       ), ${cancelSteps('j.id = ANY(ARRAY(SELECT tid FROM target))', '$2::text')}, notified AS MATERIALIZED (
         SELECT pg_notify($3, ${NOTICE_SQL.abort}) WHERE EXISTS (SELECT 1 FROM done WHERE was = 'executing')
       )
       SELECT (SELECT count(*) FROM done)::int AS n, (SELECT count(*) FROM notified)::int AS notified`,
    ),

    /**
     * $1: JSON array of workflow ids. Those running with no live step left, by this statement's
     * snapshot (JSON array): the candidates finishWorkflows then locks and checks again.
     */
    finishable: statement(
      'wf_finishable',
      `SELECT coalesce(json_agg(w.id::text), '[]')::text AS ids FROM ${t.workflows} w
       WHERE w.id = ANY(${ids(1)}) AND w.state = 'running' AND NOT EXISTS (SELECT 1 FROM ${live} l WHERE l.workflow_id = w.id)`,
    ),
    /** $1: JSON array of workflow ids. Locks those still running (id order). */
    lockRunning: statement(
      'wf_lock_running',
      `SELECT id FROM ${t.workflows} WHERE id = ANY(${ids(1)}) AND state = 'running' ORDER BY id FOR UPDATE`,
    ),
    /**
     * $1: JSON array of workflow ids, locked by this transaction. Those with no live step left
     * become completed or failed; returns them. Run after the finishing statements committed
     * (the last finisher sees every other finish), and after the lock (a statement that waited
     * for a retry's commit would judge by a snapshot from before it, and end a workflow whose
     * steps the retry just brought back).
     */
    finishWorkflows: statement(
      'wf_finish',
      `UPDATE ${t.workflows} w SET finished_at = now(),
         state = CASE WHEN EXISTS (SELECT 1 FROM ${t.finished} f WHERE f.workflow_id = w.id AND f.state <> 'completed')
                      THEN 'failed' ELSE 'completed' END
       WHERE w.id = ANY(${ids(1)}) AND w.state = 'running'
         AND NOT EXISTS (SELECT 1 FROM ${live} l WHERE l.workflow_id = w.id)
       RETURNING ${SUMMARY}`,
    ),
    /** $1: workflow id, $2: state. Ends a workflow (cancelWorkflow); returns it. */
    endWorkflow: statement(
      'wf_end',
      `UPDATE ${t.workflows} w SET state = $2, finished_at = now() WHERE w.id = $1::bigint AND w.state = 'running' RETURNING ${SUMMARY}`,
    ),

    /**
     * $1: workflow id. Brings its discarded and cancelled steps back into the live
     * table as held (recounted next), and the workflow back to running. Returns the ids moved.
     */
    retryFailed: statement(
      'wf_retry',
      `WITH back AS (
         DELETE FROM ${t.finished} j WHERE j.workflow_id = $1::bigint AND j.state IN ('discarded', 'cancelled')
         RETURNING ${storedRow('j', {
           state: `'held'::${state}`,
           completed_at: 'NULL::timestamptz',
           claim: 'NULL::uuid',
           deps_left: '0',
           scheduled_at: 'now()',
           max_attempts: 'greatest(j.max_attempts, j.attempt + 1)::smallint',
         })}
       ), revived AS (
         INSERT INTO ${live} (${STORED_LIST}) OVERRIDING SYSTEM VALUE SELECT ${STORED_LIST} FROM back RETURNING id
       ), reopened AS (
         UPDATE ${t.workflows} SET state = 'running', finished_at = NULL
         WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM revived)
         RETURNING 1
       )
       SELECT coalesce(json_agg(id::text), '[]')::text AS ids, (SELECT count(*) FROM reopened)::int AS reopened FROM revived`,
    ),

    /**
     * $1: limit. Workflows that need settling: a held step whose count disagrees with its live
     * dependencies (a finish whose release was lost, a failure not yet applied), or a running
     * workflow with no live step left (its finish was lost).
     */
    unsettled: statement(
      'wf_unsettled',
      `SELECT coalesce(json_agg(id::text), '[]')::text AS ids FROM (
         SELECT DISTINCT c.workflow_id AS id FROM ${live} c
         WHERE c.state = 'held' AND c.workflow_id IS NOT NULL
           AND c.deps_left <> (SELECT count(*) FROM ${t.deps} d JOIN ${live} p ON p.id = d.parent_id WHERE d.child_id = c.id)
         UNION
         SELECT w.id FROM ${t.workflows} w
         WHERE w.state = 'running' AND NOT EXISTS (SELECT 1 FROM ${live} l WHERE l.workflow_id = w.id)
         LIMIT $1
       ) u`,
    ),
    /**
     * $1: limit. Forgets finished workflows none of whose steps is left (the Pruner dropped or
     * deleted them all), with their edges; returns how many.
     */
    forgetWorkflows: statement(
      'wf_forget',
      `WITH gone AS (
         /* Only the oldest $1 finished workflows are looked at: the Pruner retires steps by age,
            so when the oldest still have steps the newer ones do too, and a sweep never probes
            every finished workflow kept. */
         DELETE FROM ${t.workflows} w WHERE w.id = ANY(ARRAY(
           SELECT o.id FROM (SELECT id FROM ${t.workflows} WHERE state <> 'running' ORDER BY finished_at LIMIT $1) o
           WHERE NOT EXISTS (SELECT 1 FROM ${live} l WHERE l.workflow_id = o.id)
             AND NOT EXISTS (SELECT 1 FROM ${t.finished} f WHERE f.workflow_id = o.id)))
         RETURNING id
       ), edges AS (
         DELETE FROM ${t.deps} d USING gone WHERE d.workflow_id = gone.id RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::int AS n, (SELECT count(*) FROM edges)::int AS edges`,
    ),
  };
}
