// The perform hook: a CONSUMER span `process <queue>` around each attempt on this node, a child
// of the producer span whose context the job's meta carries (or, with `linkOnly`, the root of a
// trace of its own), and linked to it either way, as the messaging conventions ask. The span is
// current while the worker runs, so the worker's own spans (HTTP calls, queries) are its
// children. Its status and attributes tell how the attempt ended; the attempt's metrics are
// recorded here too.
import type { Attributes, Context, Link, Span } from '@opentelemetry/api';
import { context, isSpanContextValid, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { AttemptOutcome, RunningJob } from '../index.js';
import * as attr from './attributes.js';
import { metaGetter } from './carrier.js';
import type { Telemetry } from './telemetry.js';

/** The `perform` middleware hook of the plugin. */
export function consumerHook(telemetry: Telemetry): (job: RunningJob, next: () => Promise<AttemptOutcome>) => Promise<AttemptOutcome> {
  return async (job, next) => {
    // From the root, not the active context: what is current where the fetch loop runs (the
    // span around the app's start-up, say) is no parent of the job.
    const extracted = telemetry.propagator.extract(ROOT_CONTEXT, job.meta, metaGetter);
    const producer = trace.getSpanContext(extracted);
    const fromProducer = producer !== undefined && isSpanContextValid(producer);
    const links: Link[] = fromProducer ? [{ context: producer }] : [];
    const parent: Context = fromProducer && !telemetry.options.linkOnly ? extracted : ROOT_CONTEXT;
    const span = telemetry.tracer.startSpan(`process ${job.queue}`, { kind: SpanKind.CONSUMER, attributes: spanAttributes(job, telemetry.options.captureArgs), links }, parent);
    const started = performance.now();
    let outcome: AttemptOutcome;
    try {
      outcome = await context.with(trace.setSpan(parent, span), next);
    } catch (error) {
      // next() never rejects by the contract; a middleware inside this one may still throw.
      outcome = { kind: 'error', error };
      finish(telemetry, job, span, outcome, started);
      throw error;
    }
    finish(telemetry, job, span, outcome, started);
    return outcome;
  };
}

function spanAttributes(job: RunningJob, captureArgs: boolean): Attributes {
  const attributes: Attributes = {
    [attr.MESSAGING_SYSTEM]: attr.SYSTEM,
    [attr.MESSAGING_OPERATION_NAME]: 'process',
    [attr.MESSAGING_OPERATION_TYPE]: 'process',
    [attr.MESSAGING_DESTINATION_NAME]: job.queue,
    [attr.MESSAGING_MESSAGE_ID]: job.id,
    [attr.DOCKET_WORKER]: job.worker,
    [attr.DOCKET_ATTEMPT]: job.attempt,
    [attr.DOCKET_MAX_ATTEMPTS]: job.maxAttempts,
  };
  if (job.workflow !== null) {
    attributes[attr.DOCKET_WORKFLOW_ID] = job.workflow.id;
    attributes[attr.DOCKET_WORKFLOW_STEP] = job.workflow.step;
  }
  if (captureArgs) attributes[attr.DOCKET_JOB_ARGS] = JSON.stringify(job.args) ?? 'null';
  return attributes;
}

/** The failure an outcome stands for (its `error.type`), or undefined when the attempt did not fail. */
function failureOf(outcome: AttemptOutcome): string | undefined {
  if (outcome.kind === 'error') return attr.errorType(outcome.error);
  if (outcome.kind === 'discard') return attr.DISCARD_EXCEPTION;
  return undefined;
}

// Ends the span with the outcome, and records the attempt's metrics.
function finish(telemetry: Telemetry, job: RunningJob, span: Span, outcome: AttemptOutcome, started: number): void {
  const seconds = (performance.now() - started) / 1000;
  span.setAttribute(attr.DOCKET_OUTCOME, outcome.kind);
  const failure = failureOf(outcome);
  switch (outcome.kind) {
    case 'error':
      span.recordException(outcome.error instanceof Error ? outcome.error : { name: failure, message: attr.errorMessage(outcome.error) });
      span.setStatus({ code: SpanStatusCode.ERROR, message: attr.errorMessage(outcome.error) });
      break;
    case 'discard':
      span.setAttribute(attr.DOCKET_OUTCOME_REASON, outcome.reason);
      span.recordException({ name: attr.DISCARD_EXCEPTION, message: outcome.reason });
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason });
      break;
    case 'cancel':
      span.setAttribute(attr.DOCKET_OUTCOME_REASON, outcome.reason);
      break;
    case 'snooze':
      span.setAttribute(attr.DOCKET_SNOOZE_DELAY, outcome.delay);
      break;
    case 'complete':
      break;
  }
  if (failure !== undefined) span.setAttribute(attr.ERROR_TYPE, failure);
  span.end();
  const common: Attributes = {
    [attr.MESSAGING_SYSTEM]: attr.SYSTEM,
    [attr.MESSAGING_DESTINATION_NAME]: job.queue,
    [attr.DOCKET_WORKER]: job.worker,
    [attr.DOCKET_OUTCOME]: outcome.kind,
  };
  const { processDuration, jobsFinished } = telemetry.instruments;
  processDuration.record(seconds, failure === undefined ? { ...common, [attr.MESSAGING_OPERATION_NAME]: 'process' } : { ...common, [attr.MESSAGING_OPERATION_NAME]: 'process', [attr.ERROR_TYPE]: failure });
  jobsFinished.add(1, common);
}
