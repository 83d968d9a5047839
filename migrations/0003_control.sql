-- docket 0003: what cluster-wide control needs: unique jobs, partitions (per-key concurrency),
-- progress, and a row per queue holding its pause flag, per-node limit and rate-limit log.

-- Unique jobs. A job inserted with `unique` carries its key and the states in which the key
-- stays taken; the partial unique index holds only rows in one of their own unique states, so
-- `INSERT ... ON CONFLICT DO NOTHING` against it is the whole check: no SELECT-then-INSERT race.
-- The states always include available, scheduled, executing and retryable (insert enforces
-- it), so a job's own lifecycle never moves it into the index after it left.
ALTER TABLE {{schema}}.jobs
  ADD COLUMN unique_key text,
  ADD COLUMN unique_states {{schema}}.job_state[],
  ADD COLUMN partition_key text,
  ADD COLUMN partition_limit integer,
  ADD COLUMN progress jsonb;

CREATE UNIQUE INDEX jobs_unique_idx ON {{schema}}.jobs (unique_key)
  WHERE unique_key IS NOT NULL AND state = ANY (unique_states);

-- Partitioned fetch: the distinct keys with due jobs, each in fetch order. Only rows with a key
-- live here, so queues without partitions pay nothing for it.
CREATE INDEX jobs_partition_idx ON {{schema}}.jobs (queue, partition_key, priority, scheduled_at, id)
  WHERE state = 'available' AND partition_key IS NOT NULL;

CREATE TABLE {{schema}}.queues (
  name        text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 128),
  paused      boolean     NOT NULL DEFAULT false,
  -- Jobs of this queue that may run at once on each node; NULL: each node's own setting.
  concurrency integer CHECK (concurrency IS NULL OR concurrency BETWEEN 0 AND 10000),
  -- Start times within the current rate-limit window, for queues with a global rate limit.
  rate_log    timestamptz[] NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now()
);
