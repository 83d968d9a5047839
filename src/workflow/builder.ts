// The builder `queue.workflow(name)` returns: collects steps with `add`, then inserts the whole
// DAG with `insert` (one statement, in the host's transaction when given). Checks happen at
// insert, before anything is written (see plan.ts); `add` only catches a bad step name early.
import type { z } from 'zod';
import type { ArgsSchema, Worker } from '../definitions/worker.js';
import type { StepOptions, WorkflowOptions } from '../definitions/workflow.js';
import type { PlannedStep } from '../definitions/planned-step.js';
import { checkStepName } from '../definitions/planned-step.js';
import type { InsertedWorkflow } from '../definitions/workflow-record.js';

/** What the builder hands its steps to. */
export type WorkflowInsert = (name: string, options: WorkflowOptions, steps: readonly PlannedStep[], tx: unknown) => Promise<InsertedWorkflow>;

/**
 * A workflow being built: steps (each a job of some worker) and the dependencies between them.
 * Get one from `queue.workflow(name, options)`.
 *
 * @example
 * ```ts
 * const run = await queue
 *   .workflow('process-upload', { tags: ['upload'] })
 *   .add('fetch', fetchWorker, { url })
 *   .add('thumb', thumbWorker, { size: 200 }, { deps: ['fetch'] })
 *   .add('ocr', ocrWorker, {}, { deps: ['fetch'] })
 *   .add('notify', notifyWorker, { to }, { deps: ['thumb', 'ocr'] })
 *   .insert();
 * ```
 */
export class WorkflowBuilder {
  readonly #steps: PlannedStep[] = [];

  /** @internal Built by `queue.workflow()`. */
  constructor(
    readonly name: string,
    private readonly options: WorkflowOptions,
    private readonly write: WorkflowInsert,
  ) {}

  /** The names of the steps added so far, in order. */
  get steps(): readonly string[] {
    return this.#steps.map((s) => s.name);
  }

  /**
   * Adds a step: a job of `worker` with `args` (checked by the worker's schema at insert), run
   * once every step named in `options.deps` completed. Returns the builder.
   */
  add<S extends ArgsSchema, R>(step: string, worker: Worker<S, R>, args: z.input<S>, options?: StepOptions): this;
  add(step: string, worker: string, args: unknown, options?: StepOptions): this;
  add(step: string, worker: Worker | string, args: unknown, options: StepOptions = {}): this {
    this.#steps.push({ name: checkStepName(step, 'A step name'), worker, args, options });
    return this;
  }

  /**
   * Writes the workflow, every step and every dependency in one statement. With `tx` (a `pg`
   * client inside BEGIN, or a postgres.js transaction) it is part of the host's transaction.
   * Throws a WorkflowError (unknown dependency, duplicate name, cycle, bad args: `step` names
   * the step) or an UnknownWorkerError, and writes nothing.
   */
  insert(options: { readonly tx?: unknown } = {}): Promise<InsertedWorkflow> {
    return this.write(this.name, this.options, this.#steps, options.tx);
  }
}
