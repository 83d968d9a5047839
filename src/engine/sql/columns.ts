// Column lists shared by every statement that returns jobs; rowToJob (job.ts) reads these aliases.

/**
 * The columns every statement that returns jobs selects. Ids and JSON come back as text and are
 * parsed by rowToJob, so a host's custom type parsers on a shared pool (or postgres.js without
 * `fetch_types`, which leaves arrays unparsed) cannot change what we see, and both drivers
 * yield identical Job objects.
 */
export const JOB_COLUMNS = [
  'id::text AS id',
  'state::text AS state',
  'queue',
  'worker',
  'args::text AS args',
  'array_to_json(tags)::text AS tags',
  'priority',
  'attempt',
  'max_attempts',
  'errors::text AS errors',
  'result::text AS result',
  'attempted_by',
  'progress::text AS progress',
  'workflow_id::text AS workflow_id',
  'step',
  'meta::text AS meta',
  ...['inserted_at', 'scheduled_at', 'attempted_at', 'completed_at'].map((c) => `${epochMs(c)} AS ${c}`),
].join(', ');

/**
 * A timestamp as float8 milliseconds since the epoch. Parsing timestamp text in the driver
 * cost more than the rest of a fetched row together; a number costs nothing.
 */
export function epochMs(expression: string): string {
  return `(extract(epoch FROM ${expression}) * 1000)::float8`;
}

/** Every stored column of a job, in table order: the live table and the history share them. */
export const STORED_COLUMNS = [
  'id', 'state', 'queue', 'worker', 'args', 'tags', 'priority', 'attempt', 'max_attempts', 'errors', 'result',
  'attempted_by', 'inserted_at', 'scheduled_at', 'attempted_at', 'completed_at', 'claim', 'unique_key',
  'unique_states', 'partition_key', 'partition_limit', 'progress', 'workflow_id', 'step', 'deps_left',
  'dependents', 'meta',
] as const;

/** The stored columns as an SQL list. */
export const STORED_LIST = STORED_COLUMNS.join(', ');

/** A stored column. */
export type StoredColumn = (typeof STORED_COLUMNS)[number];

/**
 * A select (or RETURNING) list of every stored column of `alias`, with some replaced by
 * expressions: the row a statement writes elsewhere (a finished job into the history, a
 * retried one back into the live table).
 */
export function storedRow(alias: string, replace: Partial<Record<StoredColumn, string>> = {}): string {
  return STORED_COLUMNS.map((c) => (replace[c] === undefined ? `${alias}.${c}` : `${replace[c]} AS ${c}`)).join(', ');
}

/**
 * The time a claim stamps as attempted_at: the CTE `CLAIM_STAMP` (put it in the claim's WITH)
 * read as `CLAIMED_AT`. clock_timestamp() read once while the claim runs, after its snapshot; not
 * now(), which is when the statement's first message arrived, before the snapshot: a job whose
 * insert committed in between is visible to the claim with a later scheduled_at, and would get
 * an attempt before its time (a negative queue time). So attempted_at >= scheduled_at always
 * holds, and the jobs of one claim share one attempted_at.
 */
export const CLAIM_STAMP = 'stamp AS MATERIALIZED (SELECT clock_timestamp() AS ts)';
export const CLAIMED_AT = '(SELECT ts FROM stamp)';

/**
 * A claimed row packed into one JSON text column `packed`: [id, claim, worker, args, tags,
 * priority, attempt, max_attempts, errors, result, progress, inserted_at, scheduled_at,
 * attempted_at (ms), queue_ms, workflow ([id, name, step] or null), meta]. The claim is docket's hottest read: one column parsed by one
 * JSON.parse costs the client a fraction of seventeen typed columns (and args, tags, errors
 * and result parsed again each), and the server builds it in one call. The state is
 * 'executing', the queue and node are the fetch's own, completed_at is NULL: not sent.
 */
export function packedClaim(workflows: string): string {
  return `json_build_array(id::text, claim, worker, args, tags, priority, attempt, max_attempts, errors,
  result, progress, ${epochMs('inserted_at')}, ${epochMs('scheduled_at')}, ${epochMs('attempted_at')},
  ${epochMs('attempted_at - scheduled_at')}, ${workflowRef(workflows)}, meta)::text AS packed`;
}

/**
 * A workflow step's workflow as one JSON value [id, name, step], or NULL for a plain job (the
 * name's lookup in the (qualified) `workflows` table only runs for steps).
 */
export function workflowRef(workflows: string): string {
  return `CASE WHEN workflow_id IS NULL THEN NULL
    ELSE json_build_array(workflow_id::text, (SELECT w.name FROM ${workflows} w WHERE w.id = workflow_id), step) END`;
}
