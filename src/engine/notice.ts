// The notices on a schema's NOTIFY channel, written and read here and nowhere else: wake-up hints
// from inserts, staging, retries and rescues (queues to wake; "scheduled": re-check when the
// next scheduled job is due), and the control notices (queue controls changed; a job that may be
// running was taken away; the leader lease was released). The SQL statements embed the texts
// and builders below. Anyone who can reach the database can NOTIFY the channel, so parsing never
// throws and a notice only ever makes a node look at the database, never act on its word alone.
// Notices never carry args.

/** What a notice asks of a node. */
export interface Notice {
  /** Queues that have new available jobs. */
  readonly queues: readonly string[];
  /** A scheduled job was inserted: re-check when the next one is due. */
  readonly scheduled: boolean;
  /** Queue controls (pause, scale) changed: re-read them. */
  readonly controls: boolean;
  /** A job was cancelled, discarded or deleted: check the attempts running here. */
  readonly abort: boolean;
  /** The leader released its lease: try to take it. */
  readonly leaseReleased: boolean;
}

/** Fixed notices, as SQL string literals for the statements that send them. */
export const NOTICE_SQL = {
  /** A job that may be running was cancelled, discarded or deleted. */
  abort: `'{"abort":true}'`,
  /** Queue controls changed. */
  controls: `'{"control":"queues"}'`,
  /** The leader lease was released. */
  leaseReleased: `'{"lease":"released"}'`,
  /** Jobs became due later (a rescue made them retryable): re-check the schedule. */
  scheduled: `'{"queues":[],"scheduled":true}'`,
  /** The wake-up for the queues in a SQL text[] expression. */
  queues: (arrayExpression: string): string => `json_build_object('queues', ${arrayExpression})::text`,
} as const;

/** A wake-up hint for `queues`; `scheduled` asks nodes to re-check when the next scheduled job is due. */
export function hintPayload(queues: Iterable<string>, scheduled: boolean): string {
  return JSON.stringify(scheduled ? { queues: [...queues], scheduled: true } : { queues: [...queues] });
}

/** Parses a notice; undefined when it is not one of ours. */
export function parseNotice(payload: string): Notice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { queues, scheduled, control, abort, lease } = value as Record<string, unknown>;
  return {
    queues: Array.isArray(queues) ? queues.filter((q): q is string => typeof q === 'string') : [],
    scheduled: scheduled === true,
    controls: control === 'queues',
    abort: abort === true,
    leaseReleased: lease === 'released',
  };
}
