// Read-only statements for operations tools (the dashboard, a CLI): what the history says about
// how much work got done. They read the finished-jobs history only, through its indexes, and
// never lock or write anything. Same rules as jobs.ts.
import { statement } from './jobs.js';
import { jobTables } from './tables.js';

/** One minute of finished jobs, as the throughput statements return it. */
export interface ThroughputRow {
  /** The minute's start (epoch ms, database clock). */
  readonly minute: number;
  readonly completed: number;
  readonly discarded: number;
  readonly cancelled: number;
}

/** All insight statements for one schema. */
export type InsightStatements = ReturnType<typeof buildInsightStatements>;

// Jobs finished per minute over the last $1 minutes (the current, partial minute last), zero
// filled. Each finished state is a partition of its own (0006_finished_history.sql), read apart
// so that its state is a constant: the scans then need only `completed_at` (and `queue`), which
// the history's indexes hold, (queue, completed_at) when one queue is asked for and
// (completed_at) otherwise, and the day partitions before the window are pruned at start-up
// (the bound is a stable expression).
function throughputSql(finished: string, oneQueue: boolean): string {
  const since = `date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute'`;
  const part = (state: string): string =>
    `SELECT '${state}'::text AS state, completed_at FROM ${finished}_${state}
     WHERE completed_at >= ${since}${oneQueue ? ' AND queue = $2' : ''}`;
  return `WITH f AS (
       ${part('completed')}
       UNION ALL
       ${part('discarded')}
       UNION ALL
       ${part('cancelled')}
     ), counted AS (
       SELECT date_trunc('minute', completed_at) AS minute,
              count(*) FILTER (WHERE state = 'completed')::int AS completed,
              count(*) FILTER (WHERE state = 'discarded')::int AS discarded,
              count(*) FILTER (WHERE state = 'cancelled')::int AS cancelled
       FROM f GROUP BY 1
     )
     SELECT (extract(epoch FROM m) * 1000)::float8 AS minute,
            coalesce(c.completed, 0) AS completed, coalesce(c.discarded, 0) AS discarded, coalesce(c.cancelled, 0) AS cancelled
     FROM generate_series(${since}, date_trunc('minute', now()), interval '1 minute') m
     LEFT JOIN counted c ON c.minute = m
     ORDER BY m`;
}

/** Builds the insight statements for the given (already quoted) schema. */
export function buildInsightStatements(s: string) {
  const t = jobTables(s);
  return {
    /** $1 minutes (1–1440). Finished jobs of every queue per minute, oldest first. */
    throughput: statement('throughput', throughputSql(t.finished, false)),
    /** $1 minutes, $2 queue. The same, for one queue. */
    queueThroughput: statement('queue_throughput', throughputSql(t.finished, true)),
  };
}
