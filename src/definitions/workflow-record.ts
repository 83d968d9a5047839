// A workflow as stored and read back: its summary (what events carry) and its steps.
import type { Job } from './job.js';
import type { WorkflowState } from './workflow.js';

/**
 * One step of a workflow as {@link QueueApi.getWorkflow} returns it: its name, the job that
 * runs it (state, result, errors...), and the names of its dependencies.
 */
export interface WorkflowStep {
  readonly name: string;
  readonly deps: readonly string[];
  readonly job: Job;
}

/**
 * A workflow as stored, with every step.
 *
 * @example
 * ```ts
 * const wf = await queue.getWorkflow(run.id);
 * console.log(wf?.state, wf?.steps.map((s) => `${s.name}: ${s.job.state}`));
 * ```
 */
export interface WorkflowDetails {
  /** A bigint, as a string. */
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly state: WorkflowState;
  readonly insertedAt: Date;
  /** When it left `running`. */
  readonly finishedAt: Date | null;
  /** Every step, in insertion order. */
  readonly steps: readonly WorkflowStep[];
}

/** A workflow without its steps, as events carry it. */
export type WorkflowSummary = Omit<WorkflowDetails, 'steps'>;


/**
 * What `insert()` of a workflow returns: the workflow, and each step's job by step name.
 *
 * @example
 * ```ts
 * const run = await builder.insert();
 * console.log(run.id, run.steps.fetch.state); // '42', 'available'
 * ```
 */
export interface InsertedWorkflow extends WorkflowSummary {
  readonly steps: Readonly<Record<string, Job>>;
}
