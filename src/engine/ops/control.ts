// Operator actions on jobs (by id or by filter) and queues (pause, scale), the admin reads, and
// the running-job checks (progress, moved-on attempts). Every action NOTIFYs in its statement.
import type { JobRow } from '../../definitions/job.js';
import type { ControlOperations } from '../engine.js';
import type { ChangedJobRow, QueueControlRow, StatsRow } from '../types.js';
import type { EngineParts } from './parts.js';
import { count } from './parts.js';

/** Control operations over `parts`. */
export function controlOperations(parts: EngineParts): ControlOperations {
  const { driver, control: sql, channel } = parts;
  const one = async (rows: Promise<ChangedJobRow[]>): Promise<ChangedJobRow | undefined> => (await rows)[0];
  return {
    finishJob: ({ target, id, reason }) =>
      one(driver.query<ChangedJobRow>(target === 'cancelled' ? sql.cancelJob : sql.discardJob, [id, reason, channel])),
    finishJobs: async ({ target, filter, reason }) =>
      count(await driver.query<{ n: number }>(target === 'cancelled' ? sql.cancelJobs : sql.discardJobs, [...filter, reason, channel])),
    retryJob: ({ id }) => one(driver.query<ChangedJobRow>(sql.retryJob, [id, channel])),
    retryJobs: async ({ filter }) => count(await driver.query<{ n: number }>(sql.retryJobs, [...filter, channel])),
    deleteJob: ({ id }) => one(driver.query<ChangedJobRow>(sql.deleteJob, [id, channel])),
    deleteJobs: async ({ filter }) => count(await driver.query<{ n: number }>(sql.deleteJobs, [...filter, channel])),
    listJobs: ({ filter, after, limit, order }) =>
      driver.query<JobRow>(order === 'asc' ? sql.listAsc : sql.listDesc, [...filter, after, limit]),
    queueStats: () => driver.query<StatsRow>(sql.stats, []),
    queueControls: () => driver.query<QueueControlRow>(sql.queueControls, []),
    async setQueueControl({ name, paused, concurrency }) {
      const [row] = await driver.query<QueueControlRow>(sql.setQueueControl, [
        name,
        paused,
        concurrency?.value ?? null,
        concurrency !== null,
        channel,
      ]);
      return row!;
    },
    async ensureQueue({ name }) {
      await driver.query(sql.ensureQueue, [name]);
    },
    writeProgress: ({ batchJson }) => driver.query(sql.progress, [batchJson]),
    movedOn: ({ batchJson }) => driver.query(sql.movedOn, [batchJson]),
  };
}
