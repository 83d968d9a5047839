// The typed reading of a dependency's result inside a workflow step, by the worker that made it.
import { WorkflowError } from './errors.js';
import type { Worker } from './worker.js';

/**
 * The result type a worker declares with its `result` schema (`unknown` when it declares none).
 *
 * @example
 * ```ts
 * type Fetched = WorkerOutput<typeof fetchWorker>; // { path: string; bytes: number }
 * ```
 */
export type WorkerOutput<W> = W extends Worker<infer _S, infer R> ? R : unknown;

/**
 * Reads one dependency's result from `await job.results()`, typed (and, when the worker declares
 * a `result` schema, checked) by the worker that produced it. Throws a {@link WorkflowError}
 * naming the step when it has no result there (not a dependency, or did not complete).
 *
 * @example
 * ```ts
 * perform: async (job) => {
 *   const fetched = stepResult(await job.results(), 'fetch', fetchWorker); // typed by fetchWorker's result schema
 *   return makeThumbnail(fetched.path);
 * }
 * ```
 */
export function stepResult<W extends Worker>(results: Readonly<Record<string, unknown>>, step: string, worker: W): WorkerOutput<W> {
  if (!Object.prototype.hasOwnProperty.call(results, step)) {
    throw new WorkflowError(`No result of step "${step}": it is not a completed dependency of this step (have: ${Object.keys(results).join(', ') || 'none'})`);
  }
  const value = results[step];
  if (worker.result === undefined) return value as WorkerOutput<W>;
  const parsed = worker.result.safeParse(value);
  if (!parsed.success) {
    throw new WorkflowError(`The result of step "${step}" does not match the result schema of worker "${worker.name}": ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data as WorkerOutput<W>;
}
