// The insert hook: a PRODUCER span `send <queue>` around each insert call, a child of whatever
// span is current (the HTTP request that enqueues, say), whose context is written into the meta
// of every job the call inserts, so the attempts, on any node, join that trace. One span per
// call: `insertMany` is one send of a batch (`messaging.batch.message_count`), and so is a
// workflow's start (its steps; `docket.workflow.name`).
import type { Attributes, Span } from '@opentelemetry/api';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { InsertCall, Job } from '../index.js';
import * as attr from './attributes.js';
import { metaSetter } from './carrier.js';
import type { Telemetry } from './telemetry.js';

/** The `insert` middleware hook of the plugin. */
export function producerHook(telemetry: Telemetry): (call: InsertCall, next: () => Promise<readonly Job[]>) => Promise<readonly Job[]> {
  return async (call, next) => {
    const common: Attributes = {
      [attr.MESSAGING_SYSTEM]: attr.SYSTEM,
      [attr.MESSAGING_OPERATION_NAME]: 'send',
      [attr.MESSAGING_DESTINATION_NAME]: call.queue,
      [attr.DOCKET_WORKER]: call.worker,
    };
    const attributes: Attributes = { ...common, [attr.MESSAGING_OPERATION_TYPE]: 'send', [attr.DOCKET_IN_TRANSACTION]: call.inTransaction };
    // The conventions put a batch count only on spans of more than one message.
    if (call.count !== 1) attributes[attr.MESSAGING_BATCH_MESSAGE_COUNT] = call.count;
    if (call.workflow !== undefined) attributes[attr.DOCKET_WORKFLOW_NAME] = call.workflow;
    const parent = context.active();
    const span = telemetry.tracer.startSpan(`send ${call.queue}`, { kind: SpanKind.PRODUCER, attributes }, parent);
    const current = trace.setSpan(parent, span);
    const propagator = telemetry.propagator;
    // Meta copied from an older job may hold its trace context: this insert's replaces it, and
    // when there is none to write (no SDK, no propagator), none is left.
    for (const field of propagator.fields()) delete call.meta[field];
    propagator.inject(current, call.meta, metaSetter);
    const started = performance.now();
    let failure: string | undefined;
    try {
      const jobs = await context.with(current, next);
      describeJobs(span, jobs, telemetry.options.captureArgs);
      return jobs;
    } catch (error) {
      failure = attr.errorType(error);
      span.setAttribute(attr.ERROR_TYPE, failure);
      span.recordException(error instanceof Error ? error : attr.errorMessage(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: attr.errorMessage(error) });
      throw error;
    } finally {
      span.end();
      const metricAttributes = failure === undefined ? common : { ...common, [attr.ERROR_TYPE]: failure };
      const { sentMessages, sendDuration } = telemetry.instruments;
      sentMessages.add(call.count, metricAttributes);
      sendDuration.record((performance.now() - started) / 1000, metricAttributes);
    }
  };
}

// The conventions give a message id only to spans of one message.
function describeJobs(span: Span, jobs: readonly Job[], captureArgs: boolean): void {
  if (jobs.length !== 1) return;
  const [job] = jobs as [Job];
  span.setAttribute(attr.MESSAGING_MESSAGE_ID, job.id);
  if (captureArgs) span.setAttribute(attr.DOCKET_JOB_ARGS, JSON.stringify(job.args) ?? 'null');
}
