// Membership (heartbeats, the leader lease), leader maintenance (rescue, pruning) and the
// persisted cron schedules.
import type { JobRow } from '../../definitions/job.js';
import { rowToJob } from '../../definitions/job.js';
import type { ClusterOperations, MaintenanceOperations, ScheduleOperations } from '../engine.js';
import type { NodeRow, ScheduleRow } from '../types.js';
import type { EngineParts } from './parts.js';
import { count } from './parts.js';
import { JOB_UPDATES_SUFFIX } from '../notice.js';

/** Membership, maintenance and schedule operations over `parts`. */
export function clusterOperations(parts: EngineParts): ClusterOperations & MaintenanceOperations & ScheduleOperations {
  const { driver, cluster: sql, channel } = parts;
  return {
    async heartbeat({ nodeId, host, pid, queues }) {
      const [row] = await driver.query<{ db_now: number }>(sql.heartbeat, [nodeId, host, pid, JSON.stringify(queues)]);
      return Number(row!.db_now);
    },
    async removeNode({ nodeId }) {
      await driver.query(sql.removeNode, [nodeId]);
    },
    async acquireLease({ name, owner, ttlMs }) {
      const rows = await driver.query<{ owner: string }>(sql.acquireLease, [name, owner, ttlMs]);
      return rows[0]?.owner === owner;
    },
    async releaseLease({ name, owner }) {
      await driver.query(sql.releaseLease, [name, owner, channel]);
    },
    listNodes: () => driver.query<NodeRow>(sql.nodes, []),
    async announceJobs({ payloads }) {
      if (payloads.length > 0) await driver.query(sql.announceJobs, [channel + JOB_UPDATES_SUFFIX, JSON.stringify(payloads)]);
    },

    async rescueJobs({ staleAfterMs, rescueAfterMs, limit }) {
      const rows = await driver.query<JobRow>(sql.rescue, [staleAfterMs, rescueAfterMs, limit, channel]);
      return rows.map(rowToJob);
    },
    async forgetNodes({ silentForMs }) {
      await driver.query(sql.forgetNodes, [silentForMs]);
    },
    pruneByAge: async ({ state, ageMs, queue, excluded, limit, where }) =>
      count(
        await driver.query<{ n: number }>(where === 'default-partition' ? sql.pruneDefaultByAge[state] : sql.pruneByAge, [
          state,
          ageMs,
          queue,
          JSON.stringify(excluded),
          limit,
        ]),
      ),
    finishedQueues: async () => (await driver.query<{ queue: string }>(sql.finishedQueues, [])).map((r) => r.queue),
    pruneByCount: async ({ queue, keep, limit }) => count(await driver.query<{ n: number }>(sql.pruneByCount, [queue, keep, limit])),
    async liveHealth() {
      const [row] = await driver.query<{ dead: number; live: number }>(sql.liveHealth, []);
      return { dead: Number(row?.dead ?? 0), live: Number(row?.live ?? 0) };
    },
    async vacuumLive() {
      await driver.query(sql.vacuumLive, []);
    },
    createPartitions: async ({ daysAhead }) => count(await driver.query<{ n: number }>(sql.createPartitions, [daysAhead])),
    dropPartitions: async ({ state, ageMs }) => count(await driver.query<{ n: number }>(sql.dropPartitions, [state, ageMs])),

    listSchedules: () => driver.query<ScheduleRow>(sql.schedules, []),
    getSchedule: async ({ name }) => (await driver.query<ScheduleRow>(sql.schedule, [name]))[0],
    async upsertSchedule({ name, expression, timezone, worker, args, opts, missed }) {
      const [row] = await driver.query<ScheduleRow>(sql.upsertSchedule, [name, expression, timezone, worker, JSON.stringify(args), JSON.stringify(opts), missed]);
      return row!;
    },
    removeSchedule: async ({ name }) => (await driver.query(sql.removeSchedule, [name])).length > 0,
    dueSchedules: () => driver.query<ScheduleRow & { db_now: number }>(sql.dueSchedules, []),
    async advanceSchedule({ name, readNext, next, last }) {
      await driver.query(sql.advanceSchedule, [name, readNext, next, last]);
    },
  };
}
