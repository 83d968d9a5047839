// The vocabulary of workflows (DAGs of jobs): a workflow's state, a step's options and its policy
// when a dependency fails, and the steps a running step may add. The stored record is in
// workflow-record.ts, the typed reading of results in step-result.ts; behaviour lives in insert/
// (building), runtime/ (release, events) and admin/ (reads, cancel, retry).

/**
 * A workflow's state: `running` while any step is unfinished; then `completed` (every step
 * completed), `failed` (a step ended discarded or cancelled) or `cancelled` (cancelWorkflow).
 *
 * @example
 * ```ts
 * const wf = await queue.getWorkflow(id);
 * if (wf?.state === 'failed') alert(wf.steps.filter((s) => s.job.state !== 'completed'));
 * ```
 */
export type WorkflowState = 'running' | 'completed' | 'failed' | 'cancelled';

/**
 * What happens to a step when one of its dependencies ends `discarded` or `cancelled`:
 * - `cancel` (default): the step is cancelled, and so are the steps waiting for it
 * - `ignore`: the dependency counts as satisfied; the step runs once the others completed
 * - `cancel-workflow`: every unfinished step of the workflow is cancelled, running ones included
 *
 * @example
 * ```ts
 * builder.add('report', report, {}, { deps: ['a', 'b'], onDependencyFailure: 'ignore' });
 * ```
 */
export type DependencyFailurePolicy = 'cancel' | 'ignore' | 'cancel-workflow';

/** The dependency failure policies, for validation. */
export const DEPENDENCY_FAILURE_POLICIES: readonly DependencyFailurePolicy[] = ['cancel', 'ignore', 'cancel-workflow'];

/**
 * Per-step options: the step's dependencies and its policy, plus the insert options a single
 * job takes (priority, delay or scheduledAt, maxAttempts, tags). A step with a delay becomes
 * `scheduled` when its dependencies complete, and runs when the delay (counted from insert) is over.
 *
 * @example
 * ```ts
 * builder.add('notify', notify, { to }, { deps: ['thumb', 'ocr'], priority: -1 });
 * ```
 */
export interface StepOptions {
  /** Names of steps (of the same workflow) that must complete before this one runs. */
  readonly deps?: readonly string[];
  /** When a dependency fails; default: the workflow's `onDependencyFailure`, else `cancel`. */
  readonly onDependencyFailure?: DependencyFailurePolicy;
  /** Shorthand for `onDependencyFailure: 'ignore'`. */
  readonly ignoreDependencyFailure?: boolean;
  readonly priority?: number;
  readonly scheduledAt?: Date;
  readonly delay?: number;
  readonly maxAttempts?: number;
  readonly tags?: readonly string[];
}

/**
 * Options of a whole workflow.
 *
 * @example
 * ```ts
 * queue.workflow('process-upload', { tags: ['upload'], onDependencyFailure: 'cancel-workflow' });
 * ```
 */
export interface WorkflowOptions {
  /** Stored on the workflow and added to every step's tags. */
  readonly tags?: readonly string[];
  /** The default policy of its steps (see {@link DependencyFailurePolicy}). Default `cancel`. */
  readonly onDependencyFailure?: DependencyFailurePolicy;
  /**
   * Stored with every step as `job.meta` (a JSON object, at most 64 KiB), like an insert's
   * `meta`; insert middleware (tracing) adds to it. Steps added later by `job.addSteps` carry
   * the meta of the step that adds them.
   */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/**
 * A step a running step adds to its own workflow (dynamic fan-out) with `job.addSteps`.
 * `dependents` names steps of the workflow, still waiting (`held`), that must now also wait
 * for this one: the usual fan-in is a step that depends on the running step and gains one
 * dependency per added step.
 *
 * @example
 * ```ts
 * await job.addSteps(pages.map((page, i) => ({ name: `page-${i}`, worker: ocrPage, args: { page }, dependents: ['merge'] })));
 * ```
 */
export interface NewStep extends StepOptions {
  /** Unique within the workflow. Adding a name that exists already (a retried attempt adding it again) is a no-op. */
  readonly name: string;
  /** The step's Worker (or its name). */
  readonly worker: { readonly name: string } | string;
  readonly args: unknown;
  /** Held steps of the workflow that must wait for this one too. */
  readonly dependents?: readonly string[];
}
