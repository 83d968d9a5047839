-- docket 0006: live jobs apart from finished ones.
--
-- Workers fetch from `jobs_live`, which holds only unfinished jobs (available, scheduled,
-- executing, retryable) and so stays small whatever the history holds. A job that finishes
-- (completed, discarded, cancelled) is moved by the statement that finishes it into
-- `jobs_finished`: partitioned by state, then by day of completed_at (UTC), so the Pruner drops
-- whole days instead of deleting rows. `jobs` becomes a read-only view of both, so reads
-- written against the one table (reports, ad-hoc SQL) keep working.
--
-- Run it with every node of the old version stopped: it moves the finished rows in one
-- transaction, and an old node would go on writing finished states into the live table.

-- Unique keys, in a table of their own so one key can be held by a live or a finished job:
-- an insert takes its key here (INSERT ... ON CONFLICT DO NOTHING, the same statement as the
-- job), and every statement that moves a job out of its unique states releases it here.
CREATE TABLE {{schema}}.job_keys (
  key     text PRIMARY KEY,
  job_id  bigint NOT NULL
);
INSERT INTO {{schema}}.job_keys (key, job_id)
SELECT unique_key, id FROM {{schema}}.jobs
WHERE unique_key IS NOT NULL AND state = ANY (unique_states);

-- History: same columns as the live table. LIST by state, then RANGE by day.
CREATE TABLE {{schema}}.jobs_finished (LIKE {{schema}}.jobs INCLUDING DEFAULTS)
  PARTITION BY LIST (state);
ALTER TABLE {{schema}}.jobs_finished ALTER COLUMN completed_at SET NOT NULL;

CREATE TABLE {{schema}}.jobs_finished_completed PARTITION OF {{schema}}.jobs_finished
  FOR VALUES IN ('completed') PARTITION BY RANGE (completed_at);
CREATE TABLE {{schema}}.jobs_finished_discarded PARTITION OF {{schema}}.jobs_finished
  FOR VALUES IN ('discarded') PARTITION BY RANGE (completed_at);
CREATE TABLE {{schema}}.jobs_finished_cancelled PARTITION OF {{schema}}.jobs_finished
  FOR VALUES IN ('cancelled') PARTITION BY RANGE (completed_at);
-- A finish never fails for want of a partition: days not created (yet) land here.
CREATE TABLE {{schema}}.jobs_finished_completed_default PARTITION OF {{schema}}.jobs_finished_completed DEFAULT;
CREATE TABLE {{schema}}.jobs_finished_discarded_default PARTITION OF {{schema}}.jobs_finished_discarded DEFAULT;
CREATE TABLE {{schema}}.jobs_finished_cancelled_default PARTITION OF {{schema}}.jobs_finished_cancelled DEFAULT;

-- By id (getJob, listJobs, retry, delete), by age (pruning), by queue and age (per-queue rules,
-- maxCount, the distinct queues).
CREATE INDEX jobs_finished_id_idx ON {{schema}}.jobs_finished (id);
CREATE INDEX jobs_finished_age_idx ON {{schema}}.jobs_finished (completed_at);
CREATE INDEX jobs_finished_queue_idx ON {{schema}}.jobs_finished (queue, completed_at);
-- Keyed jobs only (most have no key, and cost this index nothing): the keys a dropped day
-- releases, and retry's newest-per-key.
CREATE INDEX jobs_finished_key_idx ON {{schema}}.jobs_finished (unique_key) WHERE unique_key IS NOT NULL;

-- Creates the day partitions of every finished state for the days `first_day` to `last_day`
-- counted from today (UTC, database clock; 0 is today, 2 the day after tomorrow, -1 yesterday),
-- moving rows of those days out of the DEFAULT partition first (a day can only be attached
-- while the DEFAULT partition holds none of it). Run by the Pruner on the leader; a short
-- lock_timeout keeps it from queueing finishes behind it: on timeout it fails whole and runs
-- again at the next tick. Returns how many partitions it created.
CREATE FUNCTION {{schema}}.create_finished_partitions(first_day integer, last_day integer) RETURNS integer
LANGUAGE plpgsql SET lock_timeout = '200ms' AS $fn$
DECLARE
  st text;
  day date;
  part text;
  lo timestamptz;
  created integer := 0;
BEGIN
  FOREACH st IN ARRAY ARRAY['completed', 'discarded', 'cancelled'] LOOP
    FOR d IN first_day..last_day LOOP
      day := (now() AT TIME ZONE 'UTC')::date + d;
      part := format('jobs_finished_%s_%s', st, to_char(day, 'YYYYMMDD'));
      CONTINUE WHEN to_regclass(format('{{schema}}.%I', part)) IS NOT NULL;
      lo := day::timestamp AT TIME ZONE 'UTC';
      EXECUTE format('CREATE TABLE {{schema}}.%I (LIKE {{schema}}.jobs_finished INCLUDING DEFAULTS)', part);
      EXECUTE format(
        'WITH moved AS (DELETE FROM {{schema}}.%I WHERE completed_at >= $1 AND completed_at < $2 RETURNING *) '
        'INSERT INTO {{schema}}.%I SELECT * FROM moved', format('jobs_finished_%s_default', st), part)
        USING lo, lo + interval '1 day';
      EXECUTE format('ALTER TABLE {{schema}}.%I ATTACH PARTITION {{schema}}.%I FOR VALUES FROM (%L) TO (%L)',
        format('jobs_finished_%s', st), part, lo, lo + interval '1 day');
      created := created + 1;
    END LOOP;
  END LOOP;
  RETURN created;
END
$fn$;

-- Drops the day partitions of state `st` whose whole day ended before `cutoff`, releasing the
-- unique keys their jobs held. One transaction with a short lock_timeout, like the above.
-- Returns how many jobs the dropped partitions held.
CREATE FUNCTION {{schema}}.drop_finished_partitions(st text, cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SET lock_timeout = '200ms' AS $fn$
DECLARE
  part text;
  n bigint;
  keyed boolean;
  dropped bigint := 0;
BEGIN
  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(format('{{schema}}.%I', 'jobs_finished_' || st))
      AND c.relname ~ '_[0-9]{8}$'
      AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
    ORDER BY c.relname
  LOOP
    -- Count and release the keys first, under ordinary locks: nothing finishes into a past day,
    -- and a job retried out of it meanwhile takes its key back itself. Only the DROP takes the
    -- exclusive lock (on the state's table first, the order a finish locks them in), for as
    -- long as a DROP lasts, so finishes of that state wait milliseconds at most.
    EXECUTE format('SELECT count(*) FROM {{schema}}.%I', part) INTO n;
    -- Most days hold no keyed job: the ordered probe reads the (empty) partial key index only.
    -- (A scalar subquery: EXISTS would drop the ORDER BY and scan the table.)
    EXECUTE format('SELECT (SELECT unique_key FROM {{schema}}.%I WHERE unique_key IS NOT NULL ORDER BY unique_key LIMIT 1) IS NOT NULL', part) INTO keyed;
    IF keyed THEN
      EXECUTE format('DELETE FROM {{schema}}.job_keys k USING {{schema}}.%I p '
                     'WHERE p.unique_key IS NOT NULL AND k.key = p.unique_key AND k.job_id = p.id', part);
    END IF;
    EXECUTE format('LOCK TABLE {{schema}}.%I IN ACCESS EXCLUSIVE MODE', 'jobs_finished_' || st);
    EXECUTE format('DROP TABLE {{schema}}.%I', part);
    dropped := dropped + n;
  END LOOP;
  RETURN dropped;
END
$fn$;

-- Move the finished rows (in id order, so the history's id index is built in order).
INSERT INTO {{schema}}.jobs_finished
SELECT id, state, queue, worker, args, tags, priority, attempt, max_attempts, errors, result, attempted_by,
       inserted_at, scheduled_at, attempted_at, coalesce(completed_at, now()), claim, unique_key, unique_states,
       partition_key, partition_limit, progress
FROM {{schema}}.jobs WHERE state IN ('completed', 'discarded', 'cancelled') ORDER BY id;
DELETE FROM {{schema}}.jobs WHERE state IN ('completed', 'discarded', 'cancelled');

-- The live table keeps the hot indexes only: the unique index moved to job_keys, the finished
-- index is the history's now.
DROP INDEX {{schema}}.jobs_unique_idx;
DROP INDEX {{schema}}.jobs_finished_idx;
ALTER TABLE {{schema}}.jobs RENAME TO jobs_live;
ALTER TABLE {{schema}}.jobs_live
  ADD CONSTRAINT jobs_live_state CHECK (state IN ('available', 'scheduled', 'executing', 'retryable'));

CREATE VIEW {{schema}}.jobs AS
  SELECT * FROM {{schema}}.jobs_live
  UNION ALL
  SELECT * FROM {{schema}}.jobs_finished;

SELECT {{schema}}.create_finished_partitions(0, 2);
