-- docket 0001: the jobs table, its states, and the indexes the hot path relies on.
-- {{schema}} is replaced by the validated, quoted schema name before this runs.

CREATE TYPE {{schema}}.job_state AS ENUM (
  'available',   -- due now, waiting for a worker
  'scheduled',   -- waiting for scheduled_at (delay, snooze)
  'executing',   -- claimed by a worker
  'retryable',   -- failed, waiting for its backoff to pass
  'completed',
  'discarded',   -- failed for the last time, or discarded by the worker
  'cancelled'
);

CREATE TABLE {{schema}}.jobs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  state         {{schema}}.job_state NOT NULL DEFAULT 'available',
  queue         text        NOT NULL,
  worker        text        NOT NULL,
  args          jsonb       NOT NULL DEFAULT '{}'::jsonb,
  tags          text[]      NOT NULL DEFAULT '{}',
  priority      smallint    NOT NULL DEFAULT 0,
  attempt       smallint    NOT NULL DEFAULT 0,
  max_attempts  smallint    NOT NULL DEFAULT 20,
  errors        jsonb       NOT NULL DEFAULT '[]'::jsonb,
  result        jsonb,
  attempted_by  text,
  inserted_at   timestamptz NOT NULL DEFAULT now(),
  scheduled_at  timestamptz NOT NULL DEFAULT now(),
  attempted_at  timestamptz,
  completed_at  timestamptz,
  CONSTRAINT jobs_queue_length CHECK (char_length(queue) BETWEEN 1 AND 128),
  CONSTRAINT jobs_worker_length CHECK (char_length(worker) BETWEEN 1 AND 128),
  CONSTRAINT jobs_attempts CHECK (max_attempts > 0 AND attempt >= 0)
) WITH (fillfactor = 90);

-- Fetch: only due jobs live in this index, in exactly the order workers take them,
-- so the claim is an index range scan whatever the statistics say.
CREATE INDEX jobs_fetch_idx ON {{schema}}.jobs (queue, priority, scheduled_at, id)
  WHERE state = 'available';

-- Staging: scheduled and retryable jobs, by due time.
CREATE INDEX jobs_stage_idx ON {{schema}}.jobs (scheduled_at)
  WHERE state IN ('scheduled', 'retryable');

-- Finished jobs, for pruning and listing by age.
CREATE INDEX jobs_finished_idx ON {{schema}}.jobs (state, completed_at)
  WHERE state IN ('completed', 'discarded', 'cancelled');

-- Executing jobs, for rescue.
CREATE INDEX jobs_executing_idx ON {{schema}}.jobs (attempted_at)
  WHERE state = 'executing';
