// Workflow operations: insert a DAG, read it back, settle it (failure policies down the graph,
// recount and release held steps, finish), cancel, retry, add steps from a running step, and
// the sweep's reads. Settling runs in a transaction holding the workflow's row lock, so settles,
// cancels, retries and additions of one workflow never interleave; a workflow's finish is
// checked by a statement of its own after the change committed (see finishWorkflows).
import type { JobRow } from '../../definitions/job.js';
import { WorkflowError } from '../../definitions/errors.js';
import type { Queryable } from '../../driver/types.js';
import type { WorkflowOperations } from '../engine.js';
import type { StepEdgeRow, StepInsertRow, WorkflowRow } from '../types.js';
import type { EngineParts } from './parts.js';

type IdList = { ids: string };

/**
 * Steps as the statements take them (see stepsFrom in sql/workflow.ts): what they share once
 * per distinct shape, then one short array per step; edges as [parent, child, policy].
 */
function encode(steps: readonly StepInsertRow[], edges: readonly StepEdgeRow[]): { shapes: string; rows: string; edges: string } {
  const index = new Map<string, number>();
  const shapes: string[] = [];
  const rows = steps.map((s) => {
    const shape = JSON.stringify({
      queue: s.queue,
      worker: s.worker,
      tags: s.tags,
      priority: s.priority,
      max_attempts: s.max_attempts,
      scheduled_at: s.scheduled_at,
      delay_ms: s.delay_ms,
      plimit: s.plimit,
    });
    let k = index.get(shape);
    if (k === undefined) {
      k = shapes.length;
      index.set(shape, k);
      shapes.push(shape);
    }
    return [s.i, s.step, k, s.args, s.deps, s.kids, s.pkey];
  });
  return { shapes: `[${shapes.join(',')}]`, rows: JSON.stringify(rows), edges: JSON.stringify(edges.map((e) => [e.p, e.c, e.f, e.w])) };
}
const list = (rows: readonly IdList[]): string[] => JSON.parse(rows[0]?.ids ?? '[]') as string[];

/** Workflow operations over `parts`. */
export function workflowOperations(parts: EngineParts): WorkflowOperations {
  const { driver, workflow: sql, channel, on } = parts;
  // Most calls (a step of a workflow with others still live) end at the first, lock-free read.
  const finish = async (ids: readonly string[]): Promise<WorkflowRow[]> => {
    if (ids.length === 0) return [];
    const candidates = list(await driver.query<IdList>(sql.finishable, [JSON.stringify(ids)]));
    if (candidates.length === 0) return [];
    return driver.transaction(async (tx) => {
      await tx.query(sql.lockRunning, [JSON.stringify(candidates)]);
      return tx.query<WorkflowRow>(sql.finishWorkflows, [JSON.stringify(candidates)]);
    });
  };

  // Applies failure policies from `candidates` (held steps) down the graph, then recounts every
  // step it looked at and releases those with no live dependency left.
  async function settle(tx: Queryable, id: string, candidates: string[]): Promise<void> {
    const seen = new Set(candidates);
    let frontier = candidates;
    while (frontier.length > 0) {
      await tx.query(sql.lockHeld, [JSON.stringify(frontier)]);
      const [whole] = await tx.query<{ fails: boolean }>(sql.wholeFails, [JSON.stringify(frontier)]);
      if (whole?.fails) {
        await tx.query(sql.cancelAll, [id, 'a dependency failed and the step cancels its workflow (cancel-workflow)', channel]);
        return;
      }
      const doomed = list(await tx.query<IdList>(sql.cancelDoomed, [JSON.stringify(frontier)]));
      if (doomed.length === 0) break;
      frontier = list(await tx.query<IdList>(sql.childrenOf, [JSON.stringify(doomed)])).filter((c) => !seen.has(c));
      for (const c of frontier) seen.add(c);
    }
    if (seen.size === 0) return;
    const all = JSON.stringify([...seen]);
    await tx.query(sql.lockHeld, [all]);
    await tx.query(sql.recount, [all, channel]);
  }

  return {
    async insertWorkflow({ name, tags, steps, edges, notify, metaJson, scope }) {
      const encoded = encode(steps, edges);
      const [row] = await on(scope).query<{ id: string; inserted_at: number; steps: string }>(sql.insertWorkflow, [
        name,
        JSON.stringify(tags),
        encoded.rows,
        encoded.edges,
        channel,
        notify,
        encoded.shapes,
        metaJson,
      ]);
      return {
        id: row!.id,
        insertedAt: Number(row!.inserted_at),
        steps: (JSON.parse(row!.steps) as [string, string, string, number][]).map(([id, step, state, scheduledAt]) => ({
          id,
          step,
          state,
          scheduledAt,
        })),
      };
    },
    async getWorkflow({ id }) {
      const [row] = await driver.query<WorkflowRow>(sql.getWorkflow, [id]);
      if (row === undefined) return null;
      const [steps, edges] = await Promise.all([
        driver.query<JobRow>(sql.workflowSteps, [id]),
        driver.query<{ parent: string; child: string }>(sql.workflowEdges, [id]),
      ]);
      return { row, steps, edges };
    },
    async stepResults({ id }) {
      const [row] = await driver.query<{ results: string }>(sql.stepResults, [id]);
      return JSON.parse(row?.results ?? '{}') as Record<string, unknown>;
    },
    async settleWorkflow({ id, failed }) {
      await driver.transaction(async (tx) => {
        const [w] = await tx.query<{ state: string }>(sql.lockWorkflow, [id]);
        if (w?.state !== 'running') return;
        const candidates =
          failed === null
            ? list(await tx.query<IdList>(sql.heldSteps, [id]))
            : list(await tx.query<IdList>(sql.childrenOf, [JSON.stringify(failed)]));
        await settle(tx, id, candidates);
      });
      return (await finish([id]))[0];
    },
    finishWorkflows: ({ ids }) => finish(ids),
    async cancelWorkflow({ id, reason }) {
      return driver.transaction(async (tx) => {
        const [w] = await tx.query<{ state: string }>(sql.lockWorkflow, [id]);
        if (w === undefined) return null;
        const [cancelled] = await tx.query<{ n: number }>(sql.cancelAll, [id, reason, channel]);
        const [row] = await tx.query<WorkflowRow>(sql.endWorkflow, [id, 'cancelled']);
        return { row, cancelled: Number(cancelled?.n ?? 0) };
      });
    },
    async retryWorkflow({ id }) {
      return driver.transaction(async (tx) => {
        const [w] = await tx.query<{ state: string }>(sql.lockWorkflow, [id]);
        if (w === undefined) return null;
        const [back] = await tx.query<{ ids: string; reopened: number }>(sql.retryFailed, [id]);
        const revived = JSON.parse(back?.ids ?? '[]') as string[];
        if (revived.length > 0) {
          const held = list(await tx.query<IdList>(sql.heldSteps, [id]));
          await tx.query(sql.lockHeld, [JSON.stringify(held)]);
          await tx.query(sql.recount, [JSON.stringify(held), channel]);
        }
        return { retried: revived.length };
      });
    },
    async addSteps({ jobId, claim, plan }) {
      return driver.transaction(async (tx) => {
        const [running] = await tx.query<{ workflow_id: string | null }>(sql.runningStep, [jobId, claim]);
        if (running === undefined) throw new WorkflowError(`Job ${jobId} can add steps only while its attempt runs (it was taken away or has finished)`);
        if (running.workflow_id === null) throw new WorkflowError(`Job ${jobId} is not a workflow step: it has no workflow to add steps to`);
        const workflowId = running.workflow_id;
        // The workflow's lock first (cancel, retry and settle take it first too), then the fence
        // again, holding the step's row: a cancel or rescue of the step waits for this addition,
        // or this addition sees it and refuses.
        const [wf] = await tx.query<{ state: string }>(sql.lockWorkflow, [workflowId]);
        if (wf?.state !== 'running') throw new WorkflowError(`Workflow ${workflowId} is ${wf?.state ?? 'gone'}: no steps can be added to it`);
        const [still] = await tx.query<{ workflow_id: string | null }>(sql.runningStepLocked, [jobId, claim]);
        if (still === undefined) throw new WorkflowError(`Job ${jobId} can add steps only while its attempt runs (it was taken away or has finished)`);
        // Lock the held steps before reading the steps: a dependent must still be held when it
        // gains a dependency.
        await tx.query(sql.lockHeld, [JSON.stringify(list(await tx.query<IdList>(sql.heldSteps, [workflowId])))]);
        const steps = await tx.query<{ id: string; step: string; state: string }>(sql.stepStates, [workflowId]);
        const edges = await tx.query<{ parent: string; child: string; policy: string }>(sql.workflowEdges, [workflowId]);
        const addition = plan({ workflowId, callerId: jobId, steps, edges });
        if (addition.steps.length === 0) return [];
        const encoded = encode(addition.steps, addition.edges);
        const rows = await tx.query<JobRow & { edges: number; grown: number }>(sql.addSteps, [
          workflowId,
          encoded.rows,
          encoded.edges,
          JSON.stringify(addition.grow),
          encoded.shapes,
          jobId,
        ]);
        if (rows.length > 0 && Number(rows[0]!.grown) !== addition.grow.length) {
          throw new WorkflowError('A dependent step was released while steps were being added to it; nothing was added');
        }
        return rows;
      });
    },
    async applyReleases({ limit }) {
      const [row] = await driver.query<{ rows: number; released: number }>(sql.applyReleases, [limit, channel]);
      return { rows: Number(row?.rows ?? 0), released: Number(row?.released ?? 0) };
    },
    async unsettledWorkflows({ limit }) {
      return list(await driver.query<IdList>(sql.unsettled, [limit]));
    },
    async forgetWorkflows({ limit }) {
      const [row] = await driver.query<{ n: number }>(sql.forgetWorkflows, [limit]);
      return Number(row?.n ?? 0);
    },
  };
}
