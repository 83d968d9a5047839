// What a Queue does with workflows: inserts them (checked by plan.ts, written in one statement),
// reads, cancels and retries them, serves a running step's `results()` and `addSteps()`, and
// settles after acks: a batch that finished steps asks for their workflows' finish (and, for
// failures, for the failure policies down the graph), then emits `workflow:complete` or
// `workflow:fail`. Settling runs in the background, one pass at a time, merging what batches
// ask meanwhile; a pass that fails is left to the Workflow plugin's sweep.
import type { ResolvedConfig } from '../config/config.js';
import { WorkflowError } from '../definitions/errors.js';
import type { SafeEmitter } from '../definitions/events.js';
import { reportQueueError } from '../definitions/events.js';
import type { Job, JobState } from '../definitions/job.js';
import { FINAL_STATES, rowToJob } from '../definitions/job.js';
import type { NewStep, WorkflowOptions, WorkflowState } from '../definitions/workflow.js';
import type { InsertedWorkflow, WorkflowDetails, WorkflowSummary } from '../definitions/workflow-record.js';
import type { Engine } from '../engine/engine.js';
import { hintPayload } from '../engine/notice.js';
import type { WorkflowRow } from '../engine/types.js';
import type { PlannedStep } from '../definitions/planned-step.js';
import { checkStepName } from '../definitions/planned-step.js';
import { checkReason } from '../definitions/storable-text.js';
import { insertedJob } from '../engine/rows.js';
import { checkPolicy, checkWorkflowTags, planAddition, planWorkflow } from './plan.js';
import type { InsertCall, JobMiddleware } from '../definitions/middleware.js';
import { aroundInsert } from '../insert/insert-middleware.js';
import { copyMeta, encodeMeta } from '../insert/options.js';

/** What the workflow service needs from the queue around it. */
export interface WorkflowHooks {
  /** Throws when the queue can no longer reach the database. */
  assertUsable(): void;
  /** Jobs of `queue` were committed (outside a host transaction): wake whoever runs them. */
  committed(queue: string, scheduled: boolean): void;
  /** Steps that may be running were cancelled: check the attempts running here. */
  jobsTakenAway(): void;
}

/** A step whose ack landed, as the runtime reports it. */
export interface FinishedStep {
  readonly job: Job;
  readonly state: JobState;
}


/** The summary of a workflow row. */
export function workflowSummary(row: WorkflowRow): WorkflowSummary {
  return {
    id: row.id,
    name: row.name,
    tags: JSON.parse(row.tags) as string[],
    state: row.state as WorkflowState,
    insertedAt: new Date(Number(row.inserted_at)),
    finishedAt: row.finished_at === null ? null : new Date(Number(row.finished_at)),
  };
}

function checkId(id: unknown, what: string): string {
  const text = typeof id === 'bigint' || typeof id === 'number' ? String(id) : id;
  // A bigint: at most 2^63 - 1, or PostgreSQL would refuse it (a 500 where a caller erred).
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,18}$/.test(text) || BigInt(text) > 9_223_372_036_854_775_807n) {
    throw new WorkflowError(`${what}: a workflow id is a positive integer, got ${JSON.stringify(String(id))}`);
  }
  return text;
}

/**
 * Runs a settle again when PostgreSQL chose it as a deadlock's victim: a settle that cancels a
 * whole workflow locks rows an ack of that workflow may be waiting on. Each try is one
 * transaction, so nothing half-done stays.
 */
async function retryDeadlock<T>(run: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if ((error as { code?: unknown })?.code !== '40P01' || attempt >= tries) throw error;
    }
  }
}

/** Workflows of one Queue. */
export class Workflows {
  /** Workflows whose steps finished since the last pass, and the failed steps among them. */
  #finished = new Set<string>();
  #failed = new Map<string, string[]>();
  /** Whether a step completed since the last pass (it may have recorded wide fan-in releases). */
  #completed = false;
  #pass: Promise<void> | undefined;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly engine: Engine,
    private readonly emitter: SafeEmitter,
    private readonly hooks: WorkflowHooks,
  ) {
    this.#insertMiddleware = config.middleware.filter((m) => m.insert !== undefined);
  }

  readonly #insertMiddleware: readonly JobMiddleware[];

  /** Checks and writes a workflow (see WorkflowBuilder.insert). */
  async insert(name: string, options: WorkflowOptions, steps: readonly PlannedStep[], tx: unknown): Promise<InsertedWorkflow> {
    checkStepName(name, 'A workflow name');
    const where = `workflow "${name}"`;
    const tags = checkWorkflowTags(options?.tags, where);
    const policy = checkPolicy(options?.onDependencyFailure, where);
    const meta = options?.meta === undefined ? {} : copyMeta(options.meta, where);
    const metaJson = encodeMeta(meta, where);
    const plan = planWorkflow(this.config, steps, tags, policy);
    this.hooks.assertUsable();
    const scope = tx === undefined ? undefined : this.engine.hostScope(tx);
    const due = plan.steps.filter((s) => s.deps === 0);
    const notify =
      tx === undefined || due.length === 0 ? null : hintPayload(new Set(due.map((s) => s.queue)), due.some((s) => s.scheduled_at !== null || s.delay_ms > 0));
    const first = plan.steps[0]!;
    // One insert call for the whole workflow: one statement writes every step.
    const call: InsertCall = { worker: first.worker, queue: first.queue, count: plan.steps.length, workflow: name, inTransaction: tx !== undefined, meta };
    const { written, byStep: jobs, jobs: fresh } = await aroundInsert(this.#insertMiddleware, call, where, metaJson, async (stepMeta, stepMetaJson) => {
      const written = await this.engine.insertWorkflow({ name, tags, steps: plan.steps, edges: plan.edges, notify, metaJson: stepMetaJson, scope });
      const byStep: Record<string, Job> = {};
      plan.steps.forEach((row, i) => {
        const made = written.steps[i]!;
        byStep[row.step] = {
          ...insertedJob({ ...row, meta: stepMeta }, made.id, row.args, made.state as JobState, written.insertedAt, made.scheduledAt),
          workflow: { id: written.id, step: row.step },
        };
      });
      return { written, byStep, jobs: Object.values(byStep) };
    });
    const insertedAt = new Date(written.insertedAt);
    if (tx === undefined) {
      for (const job of fresh.filter((j) => j.state !== 'held')) this.hooks.committed(job.queue, job.state === 'scheduled');
    }
    if (this.emitter.listenerCount('job:insert') > 0) this.emitter.emit('job:insert', { jobs: fresh });
    return { id: written.id, name, tags, state: 'running', insertedAt, finishedAt: null, steps: jobs };
  }

  /** A workflow with every step, or null. */
  async get(id: unknown): Promise<WorkflowDetails | null> {
    const found = await this.engine.getWorkflow({ id: checkId(id, 'getWorkflow') });
    if (found === null) return null;
    const jobs = found.steps.map((row) => rowToJob(row));
    const names = new Map(jobs.map((j) => [j.id, j.workflow!.step]));
    const deps = new Map<string, string[]>();
    for (const e of found.edges) {
      const parent = names.get(e.parent);
      if (parent === undefined) continue;
      const list = deps.get(e.child);
      if (list === undefined) deps.set(e.child, [parent]);
      else list.push(parent);
    }
    return {
      ...workflowSummary(found.row),
      steps: jobs.map((job) => ({ name: job.workflow!.step, deps: deps.get(job.id) ?? [], job })),
    };
  }

  /** Cancels every unfinished step (running ones are aborted wherever they run); the workflow after. */
  async cancel(id: unknown, reason: string): Promise<WorkflowDetails | null> {
    const wid = checkId(id, 'cancelWorkflow');
    const text = checkReason(reason, 'cancelWorkflow');
    this.hooks.assertUsable();
    const done = await this.engine.cancelWorkflow({ id: wid, reason: text });
    if (done === null) return null;
    if (done.cancelled > 0) this.hooks.jobsTakenAway();
    if (done.row !== undefined) this.#emitEnd(done.row);
    return this.get(wid);
  }

  /** Retries the failed steps and brings back what they blocked; the workflow after. */
  async retry(id: unknown): Promise<WorkflowDetails | null> {
    const wid = checkId(id, 'retryWorkflow');
    this.hooks.assertUsable();
    const done = await this.engine.retryWorkflow({ id: wid });
    if (done === null) return null;
    // Recounted again after the commit, by a fresh snapshot: a parent whose ack was under way
    // during the retry (and could not see the revived step) is counted as finished now.
    const ended = await retryDeadlock(() => this.engine.settleWorkflow({ id: wid, failed: null }));
    if (ended !== undefined) this.#emitEnd(ended);
    const workflow = await this.get(wid);
    for (const step of done.retried > 0 ? (workflow?.steps ?? []) : []) {
      if (step.job.state === 'available' || step.job.state === 'scheduled') this.hooks.committed(step.job.queue, step.job.state === 'scheduled');
    }
    return workflow;
  }

  /** `job.results()` of a running step. */
  async results(job: Job): Promise<Readonly<Record<string, unknown>>> {
    if (job.workflow === null) throw new WorkflowError(`Job ${job.id} is not a workflow step: it has no dependencies to read results from`);
    return this.engine.stepResults({ id: job.id });
  }

  /** `job.addSteps()` of a running step (fenced by its claim). */
  async addSteps(job: Job, claim: string, steps: readonly NewStep[]): Promise<Job[]> {
    if (job.workflow === null) throw new WorkflowError(`Job ${job.id} is not a workflow step: it has no workflow to add steps to`);
    if (!Array.isArray(steps)) throw new WorkflowError('addSteps takes an array of steps');
    const planned: PlannedStep[] = steps.map((s) => {
      const { name, worker, args, dependents, ...options } = s ?? ({} as NewStep);
      return { name: checkStepName(name, 'A step name'), worker, args, options, dependents: dependents ?? [] };
    });
    if (planned.length === 0) return [];
    this.hooks.assertUsable();
    const rows = await this.engine.addSteps({ jobId: job.id, claim, plan: (graph) => planAddition(this.config, graph, planned) });
    const jobs = rows.map((row) => rowToJob(row));
    for (const added of jobs) if (added.state !== 'held') this.hooks.committed(added.queue, added.state === 'scheduled');
    if (jobs.length > 0 && this.emitter.listenerCount('job:insert') > 0) this.emitter.emit('job:insert', { jobs });
    return jobs;
  }

  /** Acks of these steps landed: settle their workflows (in the background). */
  stepsFinished(steps: readonly FinishedStep[]): void {
    for (const { job, state } of steps) {
      if (job.workflow === null || !FINAL_STATES.includes(state)) continue;
      this.#finished.add(job.workflow.id);
      if (state === 'completed') this.#completed = true;
      if (state === 'completed') continue;
      const failed = this.#failed.get(job.workflow.id);
      if (failed === undefined) this.#failed.set(job.workflow.id, [job.id]);
      else failed.push(job.id);
    }
    if (this.#finished.size > 0) this.#pass ??= this.#settle();
  }

  /** Settles workflows the sweep found (the Workflow plugin); emits their ends. */
  async sweep(ids: readonly string[]): Promise<number> {
    let ended = 0;
    for (const id of ids) {
      const row = await retryDeadlock(() => this.engine.settleWorkflow({ id, failed: null }));
      if (row !== undefined) {
        ended++;
        this.#emitEnd(row);
      }
    }
    return ended;
  }

  /** Resolves when no settling pass is running. */
  async idle(): Promise<void> {
    while (this.#pass !== undefined) await this.#pass;
  }

  async #settle(): Promise<void> {
    // Let the rest of this ack batch (reported in the same turn) join the pass.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#finished.size > 0) {
        const finished = [...this.#finished];
        const failed = this.#failed;
        const completed = this.#completed;
        this.#finished = new Set();
        this.#failed = new Map();
        this.#completed = false;
        try {
          // Completions of wide fan-ins' parents, recorded by the acks: counted on their children now.
          // (Bounded: under a steady stream the next pass, or the sweep, takes the rest.)
          for (let round = 0; completed && round < 10; round++) if ((await this.engine.applyReleases({ limit: 1_000 })).rows === 0) break;
          for (const [id, steps] of failed) {
            const row = await retryDeadlock(() => this.engine.settleWorkflow({ id, failed: steps }));
            if (row !== undefined) this.#emitEnd(row);
          }
          const plain = finished.filter((id) => !failed.has(id));
          for (const row of await this.engine.finishWorkflows({ ids: plain })) this.#emitEnd(row);
        } catch (error) {
          // The Workflow plugin's sweep finds what this pass could not settle.
          reportQueueError(this.emitter, this.config.logger, error, 'workflow');
        }
      }
    } finally {
      this.#pass = undefined;
    }
  }

  #emitEnd(row: WorkflowRow): void {
    const workflow = workflowSummary(row);
    if (workflow.state === 'completed') this.emitter.emit('workflow:complete', { workflow });
    else this.emitter.emit('workflow:fail', { workflow });
  }
}
