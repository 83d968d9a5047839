// Lifeline: rescues jobs whose node died. A job `executing` on a node whose heartbeat is older
// than `staleAfter` goes back to `retryable` (or `discarded` once its attempts are used up); a
// job attempted by a node with no row at all (an old version, a row already forgotten) is
// rescued once its attempt is older than `rescueAfter`. Jobs of live nodes are never touched,
// however long they run. Leader only.
import { ConfigError } from '../definitions/errors.js';
import { internals } from './host.js';
import type { PluginContext, PluginOptions } from './plugin.js';
import { Plugin } from './plugin.js';

/**
 * Options of {@link Lifeline}.
 *
 * @example
 * ```ts
 * new Lifeline({ staleAfter: 5_000, rescueAfter: 30 * 60_000, interval: 2_000 });
 * ```
 */
export interface LifelineOptions extends PluginOptions {
  /** A node whose last heartbeat is older than this (ms) is dead. Default 5,000 (heartbeats are every second). */
  readonly staleAfter?: number;
  /** Jobs of nodes that left no heartbeat row are rescued after this long (ms). Default 30 minutes. */
  readonly rescueAfter?: number;
  /** Jobs rescued per statement. Default 1,000. */
  readonly batchSize?: number;
}

function ms(value: unknown, min: number, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 30 * 86_400_000) {
    throw new ConfigError(`Lifeline: ${where} must be a whole number of ms >= ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * Rescues the jobs of nodes that stopped heartbeating (crashed, killed, partitioned away).
 * Rescue takes at most `staleAfter` + `interval` after a node's last beat (7 s by default).
 *
 * @example
 * ```ts
 * const queue = new Queue({ connection, workers, plugins: [new Lifeline()] });
 * queue.on('job:rescue', ({ job }) => log.warn(`rescued job ${job.id} from ${job.attemptedBy}`));
 * ```
 */
export class Lifeline extends Plugin {
  readonly name = 'lifeline';
  readonly staleAfter: number;
  readonly rescueAfter: number;
  readonly batchSize: number;

  constructor(options: LifelineOptions = {}) {
    super(options, 2_000);
    this.staleAfter = ms(options.staleAfter ?? 5_000, 100, 'staleAfter');
    this.rescueAfter = ms(options.rescueAfter ?? 30 * 60_000, 1_000, 'rescueAfter');
    this.batchSize = ms(options.batchSize ?? 1_000, 1, 'batchSize');
  }

  protected async tick(ctx: PluginContext): Promise<void> {
    const { engine, emit } = internals(ctx);
    for (;;) {
      const jobs = await engine.rescueJobs({ staleAfterMs: this.staleAfter, rescueAfterMs: this.rescueAfter, limit: this.batchSize });
      for (const job of jobs) emit('job:rescue', { job });
      if (jobs.length < this.batchSize || ctx.signal.aborted) break;
    }
    // Nodes silent for long and running nothing are forgotten (their row is no longer evidence).
    await engine.forgetNodes({ silentForMs: Math.max(this.staleAfter * 10, 60_000) });
  }
}
