-- docket 0010: a `meta` object on every job, for what is about the job rather than its work:
-- trace context written by tracing middleware (docket/opentelemetry), the schedule and tick of a
-- job the Cron plugin enqueued, and whatever the host passes as the insert's `meta` option.
-- A constant default: adding the column rewrites no row (PostgreSQL 11+).
ALTER TABLE {{schema}}.jobs_live ADD COLUMN meta jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE {{schema}}.jobs_finished ADD COLUMN meta jsonb NOT NULL DEFAULT '{}'::jsonb;

-- The view gains the column (both tables list it last).
CREATE OR REPLACE VIEW {{schema}}.jobs AS
  SELECT * FROM {{schema}}.jobs_live
  UNION ALL
  SELECT * FROM {{schema}}.jobs_finished;
