// Turns workflow steps into rows, checking everything before anything is written: step names
// (unique, well-formed), dependencies (known, no cycle), workers (known), args (each step's
// schema), options and policies. Used for a whole new workflow and for steps a running step
// adds to its own (against the workflow as it stands). Pure: no I/O.
import type { ResolvedConfig } from '../config/config.js';
import { UnknownWorkerError, WorkflowError } from '../definitions/errors.js';
import { FINAL_STATES } from '../definitions/job.js';
import type { PlannedStep } from '../definitions/planned-step.js';
import type { PartitionOptions } from '../definitions/worker.js';
import type { DependencyFailurePolicy, StepOptions } from '../definitions/workflow.js';
import { DEPENDENCY_FAILURE_POLICIES } from '../definitions/workflow.js';
import type { StepAddition, StepEdgeRow, StepInsertRow, WorkflowGraph } from '../engine/types.js';
import { partitionKey } from '../insert/keyed.js';
import { buildBatch, checkTags, parseArgs } from '../insert/options.js';

/**
 * A step waiting for more steps than this is a wide fan-in: its parents' acks do not update it
 * (they would queue on its row, one commit at a time) but record releases applied right after.
 */
export const WIDE_FAN_IN = 32;

/** Most steps one workflow (or one addSteps call) may carry. */
export const MAX_STEPS = 100_000;

function policyOf(options: StepOptions, fallback: DependencyFailurePolicy, step: string): DependencyFailurePolicy {
  if (options.ignoreDependencyFailure !== undefined && typeof options.ignoreDependencyFailure !== 'boolean') {
    throw new WorkflowError(`Step "${step}": ignoreDependencyFailure must be a boolean`, step);
  }
  const policy = options.onDependencyFailure ?? (options.ignoreDependencyFailure === true ? 'ignore' : fallback);
  if (!DEPENDENCY_FAILURE_POLICIES.includes(policy)) {
    throw new WorkflowError(`Step "${step}": onDependencyFailure must be one of ${DEPENDENCY_FAILURE_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`, step);
  }
  if (options.ignoreDependencyFailure === true && policy !== 'ignore') {
    throw new WorkflowError(`Step "${step}": ignoreDependencyFailure contradicts onDependencyFailure "${policy}"`, step);
  }
  return policy;
}

/** Checks a workflow-level default policy. */
export function checkPolicy(policy: unknown, where: string): DependencyFailurePolicy {
  if (policy === undefined) return 'cancel';
  if (!DEPENDENCY_FAILURE_POLICIES.includes(policy as DependencyFailurePolicy)) {
    throw new WorkflowError(`${where}: onDependencyFailure must be one of ${DEPENDENCY_FAILURE_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
  }
  return policy as DependencyFailurePolicy;
}

/** Checks a workflow's tags (stored on the workflow, added to every step's). */
export function checkWorkflowTags(tags: unknown, where: string): string[] {
  return asWorkflowError(undefined, () => checkTags(tags, where));
}

// Runs a check of insert's; its error (bad args, options, partition key) becomes a WorkflowError
// naming the step, with the original as its cause.
function asWorkflowError<T>(step: string | undefined, check: () => T): T {
  try {
    return check();
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    throw new WorkflowError(step === undefined ? message : `Step "${step}": ${message}`, step, { cause: error });
  }
}

// One step's row: its args parsed by its worker's schema and its options checked, by the very
// checks a single insert runs.
function stepRow(config: ResolvedConfig, step: PlannedStep, i: number, tags: readonly string[], deps: number, kids: number): StepInsertRow {
  const name = typeof step.worker === 'string' ? step.worker : step.worker?.name;
  const worker = config.workers.get(name as string);
  if (worker === undefined) throw new UnknownWorkerError(String(name), [...config.workers.keys()]);
  const options = step.options ?? {};
  if ((options as { unique?: unknown }).unique !== undefined) {
    throw new WorkflowError(`Step "${step.name}": workflow steps take no unique option (the workflow is the unit inserted once)`, step.name);
  }
  const partition = (worker.partition ?? config.queueSettings.get(worker.queue)?.partition) as PartitionOptions | undefined;
  const { args, batch, pkey } = asWorkflowError(step.name, () => {
    const parsed = parseArgs(worker, step.args);
    return {
      args: parsed,
      batch: buildBatch(worker, [parsed], { ...options, tags: [...tags, ...(options.tags ?? [])] }, { maxBytes: config.maxArgsBytes, indexed: false }),
      pkey: partition === undefined ? null : partitionKey(partition, parsed, `step "${step.name}"`),
    };
  });
  return {
    i,
    step: step.name,
    queue: batch.queue,
    worker: batch.worker,
    args,
    tags: batch.tags,
    priority: batch.priority,
    max_attempts: batch.max_attempts,
    scheduled_at: batch.scheduled_at,
    delay_ms: batch.delay_ms,
    pkey,
    plimit: pkey === null ? null : partition!.limit,
    deps,
    kids,
  };
}

function depsOf(step: PlannedStep): string[] {
  const deps = step.options?.deps ?? [];
  if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) {
    throw new WorkflowError(`Step "${step.name}": deps must be an array of step names`, step.name);
  }
  if (new Set(deps).size !== deps.length) throw new WorkflowError(`Step "${step.name}" lists a dependency twice`, step.name);
  if (deps.includes(step.name)) throw new WorkflowError(`Step "${step.name}" depends on itself`, step.name);
  return deps as string[];
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

// Throws when `edges` (child → its parents) has a cycle, naming a step on it.
function assertAcyclic(parents: ReadonlyMap<string, readonly string[]>): void {
  const state = new Map<string, 1 | 2>(); // 1: on the path, 2: done
  for (const start of parents.keys()) {
    if (state.has(start)) continue;
    // Iterative depth-first walk: a 50,000-step chain must not overflow the stack.
    const stack: [string, number][] = [[start, 0]];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = (parents.get(top[0]) ?? [])[top[1]++];
      if (next === undefined) {
        state.set(top[0], 2);
        stack.pop();
      } else if (state.get(next) === 1) {
        const path = [...stack.map(([n]) => n).slice(stack.findIndex(([n]) => n === next)), next];
        throw new WorkflowError(`The steps form a cycle: ${path.join(' → ')} (each waits for the next)`, next);
      } else if (!state.has(next)) {
        state.set(next, 1);
        stack.push([next, 0]);
      }
    }
  }
}

/** The rows of a new workflow: every step and edge, checked. */
export function planWorkflow(
  config: ResolvedConfig,
  steps: readonly PlannedStep[],
  tags: readonly string[],
  policy: DependencyFailurePolicy,
): { steps: StepInsertRow[]; edges: StepEdgeRow[] } {
  if (steps.length === 0) throw new WorkflowError('A workflow needs at least one step');
  if (steps.length > MAX_STEPS) throw new WorkflowError(`A workflow has at most ${MAX_STEPS} steps, got ${steps.length}`);
  const names = new Set<string>();
  for (const step of steps) {
    if (names.has(step.name)) throw new WorkflowError(`Two steps are named "${step.name}"`, step.name);
    names.add(step.name);
  }
  const parents = new Map<string, string[]>();
  const edges: StepEdgeRow[] = [];
  for (const step of steps) {
    const deps = depsOf(step);
    for (const dep of deps) {
      if (!names.has(dep)) throw new WorkflowError(`Step "${step.name}" depends on "${dep}", which is not a step of this workflow`, step.name);
    }
    const f = policyOf(step.options ?? {}, policy, step.name);
    const w = deps.length > WIDE_FAN_IN;
    for (const dep of deps) edges.push({ p: dep, c: step.name, f, w });
    parents.set(step.name, deps);
  }
  assertAcyclic(parents);
  const kids = new Map<string, number>();
  for (const e of edges) kids.set(e.p, (kids.get(e.p) ?? 0) + 1);
  return { steps: steps.map((step, i) => stepRow(config, step, i, tags, parents.get(step.name)!.length, kids.get(step.name) ?? 0)), edges };
}

/**
 * The rows of steps added to a running workflow `graph`: names that exist already are skipped
 * (a retried attempt adding them again); dependencies may name existing steps (a live one
 * counts, a completed one does not, a failed one refuses the step unless it ignores failures),
 * and each dependent must be a held step.
 */
export function planAddition(config: ResolvedConfig, graph: WorkflowGraph, added: readonly PlannedStep[]): StepAddition {
  if (added.length > MAX_STEPS) throw new WorkflowError(`addSteps takes at most ${MAX_STEPS} steps, got ${added.length}`);
  const existing = new Map(graph.steps.map((s) => [s.step, s]));
  const byId = new Map(graph.steps.map((s) => [s.id, s.step]));
  const fresh = added.filter((s) => !existing.has(s.name));
  const names = new Set<string>();
  for (const step of fresh) {
    if (names.has(step.name)) throw new WorkflowError(`Two added steps are named "${step.name}"`, step.name);
    names.add(step.name);
  }
  const parents = new Map<string, string[]>();
  for (const e of graph.edges) {
    const child = byId.get(e.child);
    const parent = byId.get(e.parent);
    if (child !== undefined && parent !== undefined) push(parents, child, parent);
  }
  // Per held dependent: its policy (that of its existing edges) and how many added steps name it.
  const policyOfChild = new Map<string, string>();
  for (const e of graph.edges) if (!policyOfChild.has(e.child)) policyOfChild.set(e.child, e.policy);
  const namedBy = new Map<string, number>();
  for (const s of fresh) for (const d of new Set(Array.isArray(s.dependents) ? s.dependents : [])) namedBy.set(d, (namedBy.get(d) ?? 0) + 1);
  const edges: StepEdgeRow[] = [];
  const grow = new Map<string, number>();
  const rows: StepInsertRow[] = [];
  const ref = (name: string): string => (names.has(name) ? `#${name}` : existing.get(name)!.id);
  fresh.forEach((step, i) => {
    const deps = depsOf(step);
    const f = policyOf(step.options ?? {}, 'cancel', step.name);
    let live = 0;
    for (const dep of deps) {
      const old = existing.get(dep);
      if (old === undefined && !names.has(dep)) {
        throw new WorkflowError(`Step "${step.name}" depends on "${dep}", which is not a step of this workflow`, step.name);
      }
      if (old !== undefined && !FINAL_STATES.includes(old.state) && old.state !== 'held' && old.id !== graph.callerId) {
        // Its ack could be running now, reading the edges as they were before this commit: the
        // new step would never be released. The caller cannot finish before this returns, and a
        // held step cannot finish before it runs.
        throw new WorkflowError(
          `Step "${step.name}" depends on "${dep}", which is ${old.state}: an added step may depend on new steps, held steps, finished steps or the step adding it`,
          step.name,
        );
      }
      if (old === undefined || !FINAL_STATES.includes(old.state)) live++;
      else if (old.state !== 'completed' && f !== 'ignore') {
        throw new WorkflowError(`Step "${step.name}" depends on "${dep}", which ended ${old.state}`, step.name);
      }
      edges.push({ p: ref(dep), c: `#${step.name}`, f, w: deps.length > WIDE_FAN_IN });
    }
    for (const dep of deps) push(parents, step.name, dep);
    const dependents = step.dependents ?? [];
    if (!Array.isArray(dependents) || dependents.some((d) => typeof d !== 'string')) {
      throw new WorkflowError(`Step "${step.name}": dependents must be an array of step names`, step.name);
    }
    for (const dependent of dependents) {
      const target = existing.get(dependent);
      if (target === undefined) {
        throw new WorkflowError(`Step "${step.name}": dependent "${dependent}" is not an existing step of this workflow`, step.name);
      }
      if (target.state !== 'held') {
        throw new WorkflowError(`Step "${step.name}": dependent "${dependent}" is ${target.state}, not held: a step that was released cannot gain dependencies`, step.name);
      }
      // The dependent's own policy applies to its new dependency; the edge is wide when this
      // call alone gives it many (the usual dynamic fan-in: one page per step).
      const many = (namedBy.get(dependent) ?? 0) > WIDE_FAN_IN;
      edges.push({ p: `#${step.name}`, c: target.id, f: policyOfChild.get(target.id) ?? 'cancel', w: many });
      grow.set(target.id, (grow.get(target.id) ?? 0) + 1);
      push(parents, dependent, step.name);
    }
    rows.push(stepRow(config, step, i, [], live, 0));
  });
  assertAcyclic(parents);
  const kids = new Map<string, number>();
  for (const e of edges) kids.set(e.p, (kids.get(e.p) ?? 0) + 1);
  return {
    steps: rows.map((row) => ({ ...row, kids: kids.get(`#${row.step}`) ?? 0 })),
    edges,
    grow: [...grow].map(([id, n]) => ({ id, n })),
  };
}
