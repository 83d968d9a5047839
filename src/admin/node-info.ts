// What the cluster looks like from the nodes table: each node's host, pid, queues, age, how long
// it has been silent and whether it holds the leader lease (read from the database, so any
// process, even one that runs no queue, sees the same answer).
import type { NodeRow } from '../engine/types.js';

/**
 * One docket node (a started Queue) as the database knows it, from {@link Queue.nodes}.
 *
 * @example
 * ```ts
 * const nodes = await queue.nodes();
 * const leader = nodes.find((n) => n.leader);
 * for (const n of nodes) console.log(n.id, n.host, n.pid, n.queues, `${n.silentMs} ms silent`);
 * ```
 */
export interface NodeInfo {
  /** The node's id (`attemptedBy` of the jobs it runs). */
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  /** The queues it runs and its concurrency in each. */
  readonly queues: Readonly<Record<string, number>>;
  /** When it started (epoch ms, database clock). */
  readonly startedAt: Date;
  /** ms since its last heartbeat, by the database clock: a node silent past Lifeline's `staleAfter` is considered gone. */
  readonly silentMs: number;
  /** Whether it holds the cluster's leader lease now. */
  readonly leader: boolean;
}

/**
 * Which stuck jobs {@link Queue.rescueJobs} takes back: those executing on a node silent for
 * longer than `staleAfter`, or attempted longer than `rescueAfter` ago by a node that left no
 * heartbeat row at all. Jobs of nodes still heartbeating are never touched.
 *
 * @example
 * ```ts
 * const rescued = await queue.rescueJobs({ staleAfter: 10_000 });
 * ```
 */
export interface RescueOptions {
  /** ms without a heartbeat after which a node counts as gone. Default 5,000 (as Lifeline's). */
  readonly staleAfter?: number;
  /** ms after which an attempt by a node with no heartbeat row counts as lost. Default 30 minutes. */
  readonly rescueAfter?: number;
  /** At most this many jobs per call (1–10,000). Default 1,000. */
  readonly limit?: number;
}

/** A nodes row as the public shape. */
export function rowToNode(row: NodeRow): NodeInfo {
  let queues: Record<string, number> = {};
  try {
    const parsed: unknown = JSON.parse(row.queues);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) queues = parsed as Record<string, number>;
  } catch {
    // A row written by hand: show no queues rather than fail the listing.
  }
  return {
    id: row.id,
    host: row.host,
    pid: Number(row.pid),
    queues,
    startedAt: new Date(Number(row.started_at)),
    silentMs: Math.max(0, Math.round(Number(row.silent_ms))),
    leader: row.leader === true,
  };
}
