// A workflow as stored and read back: its summary (what events carry) and its steps.
import type { Job } from './job.js';
import type { WorkflowState } from './workflow.js';

/**
 * One step of a workflow as `queue.getWorkflow()` returns it: its name, the job that runs it
 * (state, result, errors...), and the names of its dependencies.
 *
 * @example
 * ```ts
 * const notify = (await queue.getWorkflow(id))?.steps.find((s) => s.name === 'notify');
 * notify?.deps; // ['thumb', 'ocr']
 * ```
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

/**
 * A workflow without its steps, as the `workflow:complete` and `workflow:fail` events carry it.
 *
 * @example
 * ```ts
 * queue.on('workflow:fail', ({ workflow }) => alert(`${workflow.name} #${workflow.id} ended ${workflow.state}`));
 * ```
 */
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
