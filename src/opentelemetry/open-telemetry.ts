// The OpenTelemetry plugin: traces and metrics for a Queue through the app's OpenTelemetry SDK.
// Its middleware (collected when the Queue is constructed, so a Queue that only inserts is
// traced too) does the spans and the send/attempt metrics; started on every node, it follows
// `job:start` for the queue time and observes the queue depth gauges, until the queue stops.
import type { JobMiddleware, PluginContext, QueueEvents } from '../index.js';
import { Plugin } from '../index.js';
import * as attr from './attributes.js';
import { consumerHook } from './consumer.js';
import type { OpenTelemetryOptions } from './options.js';
import { resolveOptions } from './options.js';
import { producerHook } from './producer.js';
import { observeQueueDepth } from './queue-depth.js';
import { Telemetry } from './telemetry.js';

/**
 * Traces and metrics for docket, following OpenTelemetry's messaging semantic conventions
 * (`messaging.system` is `docket`, a queue is the destination, a job the message). Needs
 * `@opentelemetry/api` installed (an optional peer dependency of docket) and an SDK registered
 * by the app; give one instance to one Queue.
 *
 * Spans:
 * - `send <queue>` (PRODUCER) around each insert call (`insert`, `insertMany`, a cron tick; not
 *   yet a workflow's steps), a child of the current span; its context is stored in the jobs' meta
 *   (`traceparent`, `tracestate`). Attributes: `messaging.system`, `messaging.operation.name`
 *   and `messaging.operation.type` (`send`), `messaging.destination.name` (queue),
 *   `messaging.message.id` (job id, for one job), `messaging.batch.message_count` (for
 *   `insertMany` of other than one job), `docket.worker`, `docket.in_transaction`; on failure
 *   `error.type`, an exception event and status ERROR.
 * - `process <queue>` (CONSUMER) around each attempt, on whichever node runs it: a child of the
 *   `send` span (or only linked to it, with `linkOnly`) and linked to it, current while the
 *   worker runs, so the worker's spans are its children (not for `thread` workers: the worker
 *   runs in another thread, which has its own context). Attributes: `messaging.system`,
 *   `messaging.operation.name` and `messaging.operation.type` (`process`),
 *   `messaging.destination.name`, `messaging.message.id`, `docket.worker`, `docket.attempt`,
 *   `docket.max_attempts`, `docket.outcome` (`complete`, `error`, `snooze`, `cancel`,
 *   `discard`), `docket.outcome.reason` (cancel, discard), `docket.snooze.delay_ms`,
 *   `docket.workflow.id` and `docket.workflow.step` for a workflow step. An error or a discard
 *   sets status ERROR, `error.type` and an exception event.
 * - With `captureArgs: true`, both carry `docket.job.args` (JSON); never by default.
 *
 * Metrics: see {@link METRIC_NAMES}: `messaging.client.sent.messages`,
 * `messaging.client.operation.duration`, `messaging.process.duration`, `docket.jobs.finished`,
 * `docket.job.queue_time`, `docket.queue.jobs` and `docket.queue.oldest_available_age`. The
 * insert metrics work on any Queue; the others once the queue is started on this node.
 *
 * @example
 * ```ts
 * import { NodeSDK } from '@opentelemetry/sdk-node';
 * import { Queue } from 'docket';
 * import { OpenTelemetry } from 'docket/opentelemetry';
 *
 * new NodeSDK({ serviceName: 'api' }).start(); // registers the global providers and propagator
 * const queue = new Queue({ connection, workers, plugins: [new OpenTelemetry()] });
 * ```
 */
export class OpenTelemetry extends Plugin {
  readonly name = 'opentelemetry';
  override readonly scope = 'every-node';
  /** The spans and the send/attempt metrics, run by the Queue around inserts and attempts. */
  override readonly middleware: JobMiddleware;
  readonly #telemetry: Telemetry;
  #detach: (() => void) | undefined;

  constructor(options: OpenTelemetryOptions = {}) {
    // Nothing is periodic (the gauges are read when the app's reader collects): the base
    // class's timer only ticks once a day, doing nothing.
    super({ interval: 86_400_000 });
    this.#telemetry = new Telemetry(resolveOptions(options));
    this.middleware = { name: 'opentelemetry', insert: producerHook(this.#telemetry), perform: consumerHook(this.#telemetry) };
  }

  protected async tick(): Promise<void> {}

  /** Starts following this node's `job:start` events and observing the queue depth gauges. */
  override start(ctx: PluginContext): void {
    if (this.started) return;
    super.start(ctx);
    const telemetry = this.#telemetry;
    const onStart: QueueEvents['job:start'] = ({ job, queueTime }) => {
      telemetry.instruments.queueTime.record(Math.max(0, queueTime) / 1000, {
        [attr.MESSAGING_SYSTEM]: attr.SYSTEM,
        [attr.MESSAGING_DESTINATION_NAME]: job.queue,
        [attr.DOCKET_WORKER]: job.worker,
      });
    };
    ctx.queue.on('job:start', onStart);
    const stopObserving = observeQueueDepth(telemetry, ctx);
    this.#detach = () => {
      ctx.queue.off('job:start', onStart);
      stopObserving();
    };
  }

  /** Stops following the events and observing the gauges. Idempotent. */
  override async stop(): Promise<void> {
    this.#detach?.();
    this.#detach = undefined;
    await super.stop();
  }
}
