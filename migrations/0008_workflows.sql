-- docket 0008: workflows (DAGs of jobs).
--
-- A step is an ordinary job with four more columns: its workflow, its name within it,
-- `deps_left`, how many of its dependencies are still live (unfinished), and `dependents`, how
-- many steps wait for it (so the finish of a step nobody waits for, the leaves of a fan-out,
-- never looks for children, whatever the planner thinks of the edges table). A step with
-- dependencies left is `held`; the statement that completes its last dependency makes it
-- `available` (or `scheduled`). Edges live in `workflow_deps`, read by parent at each finish
-- and by child for results and repairs. A workflow row holds what belongs to the whole: its
-- name, tags and overall state.

CREATE TABLE {{schema}}.workflows (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
  tags         text[] NOT NULL DEFAULT '{}',
  -- running until no step is live; then completed (every step completed), failed (a step
  -- ended discarded or cancelled) or cancelled (cancelWorkflow).
  state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'failed', 'cancelled')),
  inserted_at  timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
-- The sweeper's forgetting of finished workflows whose steps were all pruned.
CREATE INDEX workflows_finished_idx ON {{schema}}.workflows (finished_at) WHERE state <> 'running';
-- The sweep's running workflows. (Its held steps are read through the live table, which holds
-- only unfinished jobs: an index on them would cost every step insert for a 5-second read.)
CREATE INDEX workflows_running_idx ON {{schema}}.workflows (id) WHERE state = 'running';

ALTER TABLE {{schema}}.jobs_live
  ADD COLUMN workflow_id bigint,
  ADD COLUMN step text,
  ADD COLUMN deps_left integer,
  ADD COLUMN dependents integer;
ALTER TABLE {{schema}}.jobs_finished
  ADD COLUMN workflow_id bigint,
  ADD COLUMN step text,
  ADD COLUMN deps_left integer,
  ADD COLUMN dependents integer;

ALTER TABLE {{schema}}.jobs_live DROP CONSTRAINT jobs_live_state;
ALTER TABLE {{schema}}.jobs_live
  ADD CONSTRAINT jobs_live_state CHECK (state IN ('held', 'available', 'scheduled', 'executing', 'retryable')),
  ADD CONSTRAINT jobs_live_held CHECK (state <> 'held' OR workflow_id IS NOT NULL),
  ADD CONSTRAINT jobs_live_step CHECK ((workflow_id IS NULL) = (step IS NULL));

-- A step's name is unique among its workflow's live steps (and the insert checks the history);
-- the same index finds a workflow's live steps. Plain jobs are not in it.
CREATE UNIQUE INDEX jobs_live_step_idx ON {{schema}}.jobs_live (workflow_id, step) WHERE workflow_id IS NOT NULL;
CREATE INDEX jobs_finished_workflow_idx ON {{schema}}.jobs_finished (workflow_id) WHERE workflow_id IS NOT NULL;

-- child waits for parent. on_failure is the child's policy when the parent ends discarded or
-- cancelled: cancel the child (and so on down), ignore (the edge counts as satisfied), or
-- cancel the whole workflow.
CREATE TABLE {{schema}}.workflow_deps (
  parent_id    bigint NOT NULL,
  child_id     bigint NOT NULL,
  workflow_id  bigint NOT NULL,
  on_failure   text NOT NULL DEFAULT 'cancel' CHECK (on_failure IN ('cancel', 'ignore', 'cancel-workflow')),
  -- The child waits for many steps (a wide fan-in): a completion does not update the child in
  -- its ack (every parent's ack would queue on that one row until commit) but records a
  -- release in workflow_releases, which the acking node applies right after its commit.
  wide         boolean NOT NULL DEFAULT false,
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX workflow_deps_child_idx ON {{schema}}.workflow_deps (child_id);
-- Every finish looks its step's children up by parent_id, at a rate of thousands a second. Left
-- to ANALYZE, a table holding one finished fan-out (one parent, all its edges) says parent_id
-- has one value, and the planner then scans the whole table for every ack (measured: 850 µs of
-- database time per step of a 10,000-step fan-in). Most parents and children have few edges:
-- say so, and the lookups stay index probes whatever the last ANALYZE saw.
ALTER TABLE {{schema}}.workflow_deps
  ALTER COLUMN parent_id SET (n_distinct = -0.5),
  ALTER COLUMN child_id SET (n_distinct = -0.5);
CREATE INDEX workflow_deps_workflow_idx ON {{schema}}.workflow_deps (workflow_id);

-- Completions of wide fan-ins' parents not yet counted on the child: appended by acks (no row
-- contention), applied (deleted, summed, subtracted from deps_left) after their commit by the
-- node that acked, or by the Workflow plugin's sweep. A repair that recounts a child from its
-- edges deletes the child's pending rows in the same statement.
CREATE TABLE {{schema}}.workflow_releases (
  child_id  bigint NOT NULL,
  n         integer NOT NULL
);
CREATE INDEX workflow_releases_child_idx ON {{schema}}.workflow_releases (child_id);

-- The view gains the new columns (both tables list them in the same order).
CREATE OR REPLACE VIEW {{schema}}.jobs AS
  SELECT * FROM {{schema}}.jobs_live
  UNION ALL
  SELECT * FROM {{schema}}.jobs_finished;
