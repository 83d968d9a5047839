// The tables a job lives in and the statement fragments that move it between them. Live jobs
// (available, scheduled, executing, retryable) sit in `jobs_live`, the only table workers fetch
// from; a finished job is moved into `jobs_finished` (partitioned by state and day) by the very
// statement that finishes it; `job_keys` holds every unique key taken, by a live or finished
// job; `jobs` is a read-only view of both job tables.
import { STORED_LIST } from './columns.js';

/** The qualified names of one schema's job tables. */
export interface JobTables {
  readonly live: string;
  readonly finished: string;
  readonly keys: string;
  /** The view of live and finished jobs, for reads. */
  readonly all: string;
  /** The job_state enum. */
  readonly state: string;
  /** Workflows, and the edges between their steps. */
  readonly workflows: string;
  readonly deps: string;
  /** Completions of wide fan-ins' parents not yet counted on the child. */
  readonly releases: string;
}

/** The job tables of an (already quoted) schema. */
export function jobTables(s: string): JobTables {
  return { live: `${s}.jobs_live`, finished: `${s}.jobs_finished`, keys: `${s}.job_keys`, all: `${s}.jobs`, state: `${s}.job_state`,
    workflows: `${s}.workflows`, deps: `${s}.workflow_deps`, releases: `${s}.workflow_releases` };
}

/** The finished states, as an SQL list. */
export const FINAL = `('completed', 'discarded', 'cancelled')`;


/** Writes the rows of CTE `source` (stored columns, final states) into the history. */
export function intoHistory(t: JobTables, source: string, where = 'true'): string {
  return `INSERT INTO ${t.finished} (${STORED_LIST}) SELECT ${STORED_LIST} FROM ${source} WHERE ${where}`;
}

/**
 * Releases the unique keys the jobs of CTE `source` held: all of them (`always`: the jobs are
 * gone), or those whose new state is not one of the job's unique states. A key is only released
 * by the job holding it (another job may hold the same key since).
 */
export function releaseKeys(t: JobTables, source: string, always: boolean): string {
  return `DELETE FROM ${t.keys} k USING ${source} g
    WHERE g.unique_key IS NOT NULL AND k.key = g.unique_key AND k.job_id = g.id${always ? '' : ' AND NOT (g.state = ANY (g.unique_states))'}`;
}

/** The state a held workflow step (alias `alias`) takes once nothing holds it any more. */
export function releasedState(t: JobTables, alias: string): string {
  return `(CASE WHEN ${alias}.scheduled_at > now() THEN 'scheduled' ELSE 'available' END)::${t.state}`;
}

/** An entry appended to a job's errors by docket itself (cancel, discard, rescue). */
export function errorEntry(alias: string, name: string, message: string): string {
  return `${alias}.errors || jsonb_build_array(jsonb_build_object('attempt', ${alias}.attempt, 'at', now(), 'message', ${message}, 'name', ${name}))`;
}
