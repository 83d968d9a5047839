// The notices on a schema's channel: wake-up hints from inserts, staging and retries, and the
// control notices (queue controls changed; a job that may be running was taken away). Anyone
// who can reach the database can NOTIFY the channel, so parsing never throws and a notice only
// ever makes a node look at the database, never act on the notice's word alone.

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
