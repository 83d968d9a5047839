// The job path's operations: insert (plain and keyed), hints, fetch (SKIP LOCKED, and the
// serialized limited fetch), ack, staging, and the testing modes' claims.
import type { Job, JobRow, JobState } from '../../definitions/job.js';
import { rowToJob } from '../../definitions/job.js';
import type { JobOperations } from '../engine.js';
import { fetchedJob, insertedJob, insertParams, packedFetchedJob } from '../rows.js';
import type { FetchedJob } from '../types.js';
import type { EngineParts } from './parts.js';

type ClaimedRow = JobRow & { claim: string; queue_ms: number; rate_wait_ms: number | null; workflow_ref: string | null };

/** The job path's operations over `parts`. */
export function jobOperations(parts: EngineParts): JobOperations {
  const { driver, sql, control, keyed, channel, on, dropCompleted } = parts;
  const fetchLockPrefix = `docket:fetch:${parts.schema}:`;
  return {
    async insertJobs({ batch, notify, scope }) {
      const [row] = await on(scope).query<{ ids: string; state: string; inserted_at: number; scheduled_at: number }>(
        sql.insertJobs,
        [...insertParams(batch, batch.args_json ?? JSON.stringify(batch.args), channel, notify), batch.meta_json ?? '{}'],
      );
      const ids = JSON.parse(row!.ids) as string[];
      const state = row!.state as JobState;
      return ids.map((id, i) => insertedJob(batch, id, batch.args[i], state, Number(row!.inserted_at), Number(row!.scheduled_at)));
    },

    async insertKeyed({ batch, rows, unique, partitionLimit, notify, scope }) {
      const [row] = await on(scope).query<{ rows: string; suffix: string; state: string; inserted_at: number; scheduled_at: number }>(
        keyed.insertKeyed,
        [
          ...insertParams(batch, JSON.stringify(rows), channel, notify),
          unique === null ? null : JSON.stringify(unique.states),
          unique?.period ?? null,
          partitionLimit,
          batch.meta_json ?? '{}',
        ],
      );
      return {
        inserted: JSON.parse(row!.rows) as [string, string | null][],
        suffix: row!.suffix,
        state: row!.state,
        insertedAt: Number(row!.inserted_at),
        scheduledAt: Number(row!.scheduled_at),
      };
    },

    lookupUnique: ({ keys, scope }) => on(scope).query(keyed.lookupUnique, [JSON.stringify(keys)]),

    async sendHint({ payload }) {
      await driver.query(sql.notify, [channel, payload]);
    },

    async fetchJobs({ queue, limit, nodeId, scope }) {
      const rows = await on(scope).query<{ packed: string }>(sql.fetchJobs, [queue, limit, nodeId]);
      return rows.map((row) => packedFetchedJob(row.packed, queue, nodeId));
    },

    async fetchLimited({ queue, limit, nodeId, rate, unkeyed }) {
      const rows = await driver.transaction(async (tx) => {
        await tx.query(keyed.fetchLock, [`${fetchLockPrefix}${queue}`]);
        return tx.query<ClaimedRow>(keyed.fetchLimited, [queue, limit, nodeId, rate?.allowed ?? null, rate?.periodMs ?? 0, unkeyed]);
      });
      const jobs: FetchedJob[] = [];
      let rateWaitMs: number | null = null;
      for (const row of rows) {
        if (row.rate_wait_ms !== null) rateWaitMs = Number(row.rate_wait_ms);
        if (row.id === null) continue;
        jobs.push(fetchedJob(row));
      }
      return { jobs, rateWaitMs };
    },

    ackJobs: ({ batchJson, detailed, scope }) => on(scope).query(detailed ? sql.ackJobs : sql.ackJobsLean, [batchJson, dropCompleted, channel]),

    async stageJobs({ limit }) {
      const [row] = await driver.query<{ queues: string; staged: number; next_due_ms: number | null }>(sql.stageJobs, [limit, channel]);
      return {
        queues: row === undefined ? [] : (JSON.parse(row.queues) as string[]),
        staged: Number(row?.staged ?? 0),
        nextDueMs: row?.next_due_ms === null || row?.next_due_ms === undefined ? null : Number(row.next_due_ms),
      };
    },

    async getJob({ id }): Promise<Job | null> {
      const [row] = await driver.query<JobRow>(sql.getJob, [id]);
      return row === undefined ? null : rowToJob(row);
    },

    async claimIds({ ids, nodeId, scope }) {
      const rows = await on(scope).query<ClaimedRow>(control.claimIds, [JSON.stringify(ids), nodeId]);
      return rows.map(fetchedJob);
    },

    async dueNow({ queues, scope }) {
      await on(scope).query(control.dueNow, [JSON.stringify(queues)]);
    },
  };
}
