-- docket 0009: dropping days of history holds the state's exclusive lock for the drops alone.
--
-- drop_finished_partitions (0006) counted each day and released its keys between the drops, in
-- its one transaction: from the first DROP on, the state's table stayed locked while the next
-- days were counted, and every finish of that state waited. (Measured when a big history is
-- first pruned, six days of 500k jobs dropped under 200 jobs/s: pickup p99 from 6 ms to 137 ms.)
-- Now every day is counted and its keys released first, under ordinary locks; then the table
-- is locked once and the days dropped, which takes milliseconds however many rows they held.
CREATE OR REPLACE FUNCTION {{schema}}.drop_finished_partitions(st text, cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql SET lock_timeout = '200ms' AS $fn$
DECLARE
  part text;
  parts text[] := '{}';
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
    -- Nothing finishes into a past day, and a job retried out of one meanwhile takes its key
    -- back itself: counting and releasing need no lock beyond the ordinary ones.
    EXECUTE format('SELECT count(*) FROM {{schema}}.%I', part) INTO n;
    -- Most days hold no keyed job: the ordered probe reads the (empty) partial key index only.
    -- (A scalar subquery: EXISTS would drop the ORDER BY and scan the table.)
    EXECUTE format('SELECT (SELECT unique_key FROM {{schema}}.%I WHERE unique_key IS NOT NULL ORDER BY unique_key LIMIT 1) IS NOT NULL', part) INTO keyed;
    IF keyed THEN
      EXECUTE format('DELETE FROM {{schema}}.job_keys k USING {{schema}}.%I p '
                     'WHERE p.unique_key IS NOT NULL AND k.key = p.unique_key AND k.job_id = p.id', part);
    END IF;
    parts := parts || part;
    dropped := dropped + n;
  END LOOP;
  IF cardinality(parts) = 0 THEN
    RETURN 0;
  END IF;
  -- The state's table first, the order a finish locks them in; held until commit, which follows
  -- the drops at once.
  EXECUTE format('LOCK TABLE {{schema}}.%I IN ACCESS EXCLUSIVE MODE', 'jobs_finished_' || st);
  FOREACH part IN ARRAY parts LOOP
    EXECUTE format('DROP TABLE {{schema}}.%I', part);
  END LOOP;
  RETURN dropped;
END
$fn$;
