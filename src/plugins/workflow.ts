// The Workflow plugin: the safety net under workflow release. The statement that completes a
// step releases its children, and the node that acked it settles failures and finishes the
// workflow right after; this sweep (leader only) finds what a crash between the two, a lost
// connection, or a row changed by hand left behind: held steps whose count of live dependencies
// is off (released or cancelled now, by their policies), and running workflows with no live step
// (finished now, with their event). It also forgets finished workflows whose steps were all pruned.
import { ConfigError } from '../definitions/errors.js';
import { internals } from './host.js';
import type { PluginContext, PluginOptions } from './plugin.js';
import { Plugin } from './plugin.js';

/**
 * Options of the {@link Workflow} plugin.
 *
 * @example
 * ```ts
 * new Workflow({ interval: 2_000, batchSize: 500 });
 * ```
 */
export interface WorkflowPluginOptions extends PluginOptions {
  /** Workflows settled per sweep statement. Default 1,000. */
  readonly batchSize?: number;
}

/**
 * Sweeps for workflow steps whose release or failure handling was lost, and for workflows whose
 * finish was, and settles them (leader only; every `interval`, default 5 s). Release does not
 * depend on it: it only repairs, so a cluster without it still runs workflows, and one with it
 * never leaves a step held for longer than a sweep after a crash.
 *
 * @example
 * ```ts
 * const queue = new Queue({ connection, workers, plugins: [new Lifeline(), new Workflow()] });
 * queue.on('workflow:complete', ({ workflow }) => log.info(`workflow ${workflow.name} #${workflow.id} done`));
 * ```
 */
export class Workflow extends Plugin {
  readonly name = 'workflow';
  readonly batchSize: number;

  constructor(options: WorkflowPluginOptions = {}) {
    super(options, 5_000);
    const batch = options.batchSize ?? 1_000;
    if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1 || batch > 100_000) {
      throw new ConfigError(`Workflow: batchSize must be an integer between 1 and 100000, got ${String(batch)}`);
    }
    this.batchSize = batch;
  }

  protected async tick(ctx: PluginContext): Promise<void> {
    const { engine, settleWorkflows } = internals(ctx);
    // Releases of wide fan-ins that an acking node did not get to apply (it died, lost its connection).
    for (;;) {
      const { rows } = await engine.applyReleases({ limit: this.batchSize });
      if (rows === 0 || ctx.signal.aborted) break;
    }
    for (;;) {
      const ids = await engine.unsettledWorkflows({ limit: this.batchSize });
      if (ids.length > 0) await settleWorkflows(ids);
      if (ids.length < this.batchSize || ctx.signal.aborted) break;
    }
    for (;;) {
      const forgotten = await engine.forgetWorkflows({ limit: this.batchSize });
      if (forgotten < this.batchSize || ctx.signal.aborted) break;
    }
  }
}
