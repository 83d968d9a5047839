// docket/opentelemetry on the real database, recorded by the OpenTelemetry SDK's in-memory
// exporter and a metric reader collected on demand: a trace runs from the span that inserted a
// job (an "HTTP request") to its attempt on another node (another Queue, with its own pool), the
// worker's own spans are children of the attempt's, failures show on the spans, insertMany is one
// send span, the metrics count what ran, and a Queue without the plugin writes no trace context.
import type { Attributes, SpanContext } from '@opentelemetry/api';
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, Plugin, Worker, WorkerResults } from '../../src/index.js';
import type { Queue } from '../../src/index.js';
import { METRIC_NAMES, OpenTelemetry } from '../../src/opentelemetry/index.js';
import { nextEvent, useSchema, waitFor } from '../support/queue.js';

const db = useSchema('otel');
const Args = z.object({ n: z.number(), fail: z.boolean().optional() });

/** A metric reader the test collects from when it wants the numbers. */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

// One tracing backend for every node (as a collector would be); metrics per node.
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const appTracer = tracerProvider.getTracer('app');
const propagator = new W3CTraceContextPropagator();
const contextManager = new AsyncLocalStorageContextManager();

function meterOfNode(): { meterProvider: MeterProvider; reader: CollectingReader } {
  const reader = new CollectingReader();
  return { meterProvider: new MeterProvider({ readers: [reader] }), reader };
}
const nodeAMetrics = meterOfNode();
const nodeBMetrics = meterOfNode();

const render = new Worker({
  name: 'otel-render',
  queue: 'otel-render',
  args: Args,
  // The worker's own span: current context is the attempt's span.
  perform: async (job) => {
    const span = appTracer.startSpan('render thumbnail');
    span.setAttribute('n', job.args.n);
    span.end();
    return { ok: job.args.n };
  },
});
const snoozedOnce = new Set<string>();
const outcomes = new Worker({
  name: 'otel-outcomes',
  queue: 'otel-outcomes',
  args: z.object({ then: z.enum(['throw', 'discard', 'cancel', 'snooze']) }),
  maxAttempts: 1,
  perform: async (job) => {
    if (job.args.then === 'throw') throw new TypeError('boom');
    if (job.args.then === 'discard') return WorkerResults.discard('bad input');
    if (job.args.then === 'snooze') {
      if (snoozedOnce.has(job.id)) return 'woke';
      snoozedOnce.add(job.id);
      return WorkerResults.snooze(10);
    }
    return WorkerResults.cancel('customer left');
  },
});
const metered = new Worker({
  name: 'otel-metered',
  queue: 'otel-metered',
  args: Args,
  maxAttempts: 1,
  perform: async (job) => {
    if (job.args.fail === true) throw new Error('metered failure');
    return job.args.n;
  },
});
/** A workflow step that adds two `otel-leaf` steps to its workflow. */
const fan = new Worker({
  name: 'otel-fan',
  queue: 'otel-wf',
  args: z.object({}),
  perform: async (job) => {
    await job.addSteps([0, 1].map((n) => ({ name: `leaf-${n}`, worker: 'otel-leaf', args: { n } })));
    return null;
  },
});
const leaf = new Worker({ name: 'otel-leaf', queue: 'otel-wf', args: Args, perform: async (job) => job.args.n });
const workers = [render, outcomes, metered, fan, leaf];

/** Node A inserts (an API process: never started); node B runs the jobs. */
let nodeA: Queue;
let nodeB: Queue;

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  nodeA = await db.queue({
    connection: db.url,
    workers,
    plugins: [new OpenTelemetry({ tracerProvider, meterProvider: nodeAMetrics.meterProvider, propagator })],
  });
  nodeB = await db.queue({
    connection: db.url,
    workers,
    queues: { 'otel-render': 3, 'otel-outcomes': 2, 'otel-metered': 2, 'otel-wf': 2 },
    plugins: [new OpenTelemetry({ tracerProvider, meterProvider: nodeBMetrics.meterProvider, propagator, queueDepth: 'every-node', statsCacheMs: 0 })],
  });
  await nodeB.start();
});

afterAll(() => {
  context.disable();
});

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();

function sendSpanOf(jobId: string): ReadableSpan | undefined {
  return spans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === jobId);
}

async function processSpansOf(jobId: string, count = 1): Promise<ReadableSpan[]> {
  const found = (): ReadableSpan[] => spans().filter((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === jobId);
  await waitFor(() => found().length >= count, `${count} process span(s) of job ${jobId}`);
  return found();
}

/** `00-<trace id>-<span id>-<flags>` of a span context, as the W3C propagator writes it. */
function traceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags}`;
}

async function points(reader: MetricReader, name: string): Promise<DataPoint<number | Histogram>[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as DataPoint<number | Histogram>[]));
}

function pointWith(all: DataPoint<number | Histogram>[], attributes: Attributes): DataPoint<number | Histogram> | undefined {
  return all.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
}

describe('docket/opentelemetry', () => {
  it('is a Plugin that brings middleware and runs on every node', () => {
    const plugin = new OpenTelemetry();
    expect(plugin).toBeInstanceOf(Plugin);
    expect(plugin.scope).toBe('every-node');
    expect(typeof plugin.middleware.insert).toBe('function');
    expect(typeof plugin.middleware.perform).toBe('function');
  });

  it('runs one trace from the request that inserted a job to its attempt on another node', async () => {
    let request!: SpanContext;
    const inserted = await appTracer.startActiveSpan('GET /thumbnails', { kind: SpanKind.SERVER }, async (span) => {
      request = span.spanContext();
      try {
        return await nodeA.insert(render, { n: 7 });
      } finally {
        span.end();
      }
    });
    const send = sendSpanOf(inserted.id)!;
    expect(send, 'the send span').toBeDefined();
    expect(send.name).toBe('send otel-render');
    expect(send.spanContext().traceId).toBe(request.traceId);
    expect(send.parentSpanContext?.spanId).toBe(request.spanId);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'docket',
      'messaging.operation.name': 'send',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'otel-render',
      'messaging.message.id': inserted.id,
      'docket.worker': 'otel-render',
      'docket.in_transaction': false,
    });
    expect(send.attributes['messaging.batch.message_count']).toBeUndefined();
    // The trace context travels in the job's meta, as stored.
    expect(inserted.meta).toEqual({ traceparent: traceparent(send.spanContext()) });
    expect((await nodeB.getJob(inserted.id))!.meta).toEqual({ traceparent: traceparent(send.spanContext()) });

    const [process] = await processSpansOf(inserted.id);
    expect(process!.name).toBe('process otel-render');
    expect(process!.spanContext().traceId).toBe(request.traceId);
    expect(process!.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(process!.links.map((l) => l.context.spanId)).toEqual([send.spanContext().spanId]);
    expect(process!.attributes).toMatchObject({
      'messaging.system': 'docket',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'otel-render',
      'messaging.message.id': inserted.id,
      'docket.worker': 'otel-render',
      'docket.attempt': 1,
      'docket.max_attempts': 20,
      'docket.outcome': 'complete',
    });
    expect(process!.status.code).toBe(SpanStatusCode.UNSET);
    // Args stay out of spans unless asked for.
    expect(send.attributes['docket.job.args']).toBeUndefined();
    expect(process!.attributes['docket.job.args']).toBeUndefined();
    // It ran on the other node.
    await waitFor(async () => (await nodeA.getJob(inserted.id))!.state === 'completed', 'the job to complete');
    expect((await nodeA.getJob(inserted.id))!.attemptedBy).toBe(nodeB.nodeId);

    // The worker's own span is a child of the attempt's.
    await waitFor(() => spans().some((s) => s.name === 'render thumbnail' && s.attributes.n === 7), 'the worker span');
    const own = spans().find((s) => s.name === 'render thumbnail' && s.attributes.n === 7)!;
    expect(own.spanContext().traceId).toBe(request.traceId);
    expect(own.parentSpanContext?.spanId).toBe(process!.spanContext().spanId);
  });

  it('gives insertMany one send span with the batch count, parent of every attempt', async () => {
    const jobs = await appTracer.startActiveSpan('POST /batch', async (span) => {
      try {
        return await nodeA.insertMany(render, [{ n: 100 }, { n: 101 }, { n: 102 }]);
      } finally {
        span.end();
      }
    });
    const sends = spans().filter((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.batch.message_count'] === 3);
    expect(sends).toHaveLength(1);
    const [send] = sends as [ReadableSpan];
    expect(send.name).toBe('send otel-render');
    expect(send.attributes['messaging.message.id']).toBeUndefined();
    for (const job of jobs) {
      expect(job.meta).toEqual({ traceparent: traceparent(send.spanContext()) });
      const [process] = await processSpansOf(job.id);
      expect(process!.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
      expect(process!.spanContext().traceId).toBe(send.spanContext().traceId);
    }
  });

  it('gives a workflow start one send span, parent of every step, and steps added later join its trace', async () => {
    const run = await appTracer.startActiveSpan('POST /workflows', async (span) => {
      try {
        return await nodeA.workflow('otel-flow', { meta: { origin: 'test' } }).add('fan', fan, {}).add('after', leaf, { n: 9 }, { deps: ['fan'] }).insert();
      } finally {
        span.end();
      }
    });
    const sends = spans().filter((s) => s.kind === SpanKind.PRODUCER && s.attributes['docket.workflow.name'] === 'otel-flow');
    expect(sends).toHaveLength(1);
    const [send] = sends as [ReadableSpan];
    expect(send.name).toBe('send otel-wf');
    expect(send.attributes['messaging.batch.message_count']).toBe(2);
    const meta = { origin: 'test', traceparent: traceparent(send.spanContext()) };
    for (const step of Object.values(run.steps)) expect(step.meta).toEqual(meta);
    await waitFor(async () => (await nodeA.getWorkflow(run.id))?.state === 'completed', 'the workflow to complete');
    const stored = await nodeA.getWorkflow(run.id);
    expect(stored!.steps.map((s) => s.name).sort()).toEqual(['after', 'fan', 'leaf-0', 'leaf-1']);
    for (const { name, job } of stored!.steps) {
      // The added leaves carry the meta of the step that added them: the start's.
      expect(job.meta, name).toEqual(meta);
      const [process] = await processSpansOf(job.id);
      expect(process!.parentSpanContext?.spanId, name).toBe(send.spanContext().spanId);
      expect(process!.attributes['docket.workflow.step'], name).toBe(name);
    }
  });

  it('marks a thrown error and a discard as ERROR with an exception, and tells cancel and snooze apart', async () => {
    const [thrown, discarded, cancelled, snoozed] = await nodeA.insertMany(outcomes, [{ then: 'throw' }, { then: 'discard' }, { then: 'cancel' }, { then: 'snooze' }]);
    const send = spans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.destination.name'] === 'otel-outcomes')!;
    const [thrownSpan] = await processSpansOf(thrown!.id);
    expect(thrownSpan!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(thrownSpan!.attributes).toMatchObject({ 'docket.outcome': 'error', 'error.type': 'TypeError' });
    const exception = thrownSpan!.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).toMatchObject({ 'exception.type': 'TypeError', 'exception.message': 'boom' });
    expect(String(exception?.attributes?.['exception.stacktrace'])).toContain('TypeError: boom');

    const [discardedSpan] = await processSpansOf(discarded!.id);
    expect(discardedSpan!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad input' });
    expect(discardedSpan!.attributes).toMatchObject({ 'docket.outcome': 'discard', 'docket.outcome.reason': 'bad input', 'error.type': 'JobDiscarded' });
    expect(discardedSpan!.events.find((e) => e.name === 'exception')?.attributes).toMatchObject({ 'exception.type': 'JobDiscarded', 'exception.message': 'bad input' });

    const [cancelledSpan] = await processSpansOf(cancelled!.id);
    expect(cancelledSpan!.status.code).toBe(SpanStatusCode.UNSET);
    expect(cancelledSpan!.attributes).toMatchObject({ 'docket.outcome': 'cancel', 'docket.outcome.reason': 'customer left' });
    expect(cancelledSpan!.attributes['error.type']).toBeUndefined();
    expect(cancelledSpan!.events).toEqual([]);

    // A snoozed job runs again without using an attempt: two process spans, one trace.
    const snoozedSpans = await processSpansOf(snoozed!.id, 2);
    expect(snoozedSpans.map((s) => s.attributes['docket.outcome'])).toEqual(['snooze', 'complete']);
    expect(snoozedSpans[0]!.attributes['docket.snooze.delay_ms']).toBe(10);
    expect(snoozedSpans.map((s) => s.parentSpanContext?.spanId)).toEqual([send.spanContext().spanId, send.spanContext().spanId]);
  });

  it('marks a failed insert ERROR on its send span', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await expect(client.query('SELECT 1/0')).rejects.toThrow(/division by zero/);
      // The transaction is aborted: the insert's statement fails inside the middleware's next().
      await expect(nodeA.insert(render, { n: 13 }, { tx: client })).rejects.toThrow(/aborted/);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const failed = spans().filter((s) => s.kind === SpanKind.PRODUCER && s.attributes['docket.in_transaction'] === true);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed[0]!.attributes['error.type']).toBeTypeOf('string');
    expect(failed[0]!.events.map((e) => e.name)).toEqual(['exception']);
    const sent = await points(nodeAMetrics.reader, METRIC_NAMES.sentMessages);
    expect(pointWith(sent, { 'messaging.destination.name': 'otel-render', 'error.type': failed[0]!.attributes['error.type'] as string })?.value).toBe(1);
  });

  it('records sends, attempts by outcome, their durations, queue time and queue depth', async () => {
    const jobs = [
      ...(await nodeA.insertMany(metered, [{ n: 1 }, { n: 2 }, { n: 3 }])),
      await nodeA.insert(metered, { n: 4, fail: true }),
    ];
    await waitFor(async () => {
      const states = await Promise.all(jobs.map(async (j) => (await nodeA.getJob(j.id))!.state));
      return states.filter((s) => s === 'completed').length === 3 && states.includes('discarded');
    }, 'the metered jobs to finish');
    await processSpansOf(jobs[3]!.id);
    const queue = { 'messaging.system': 'docket', 'messaging.destination.name': 'otel-metered', 'docket.worker': 'otel-metered' };

    // Node A inserted them: 4 sent, in 2 insert calls.
    const sent = await points(nodeAMetrics.reader, METRIC_NAMES.sentMessages);
    const sentOk = sent.filter((p) => p.attributes['messaging.destination.name'] === 'otel-metered');
    expect(sentOk.map((p) => p.attributes['error.type'])).toEqual([undefined]);
    expect(sentOk[0]!.value).toBe(4);
    const sendDuration = pointWith(await points(nodeAMetrics.reader, METRIC_NAMES.sendDuration), { ...queue, 'messaging.operation.name': 'send' });
    expect((sendDuration?.value as Histogram).count).toBe(2);

    // Node B ran them.
    const finished = await points(nodeBMetrics.reader, METRIC_NAMES.jobsFinished);
    expect(pointWith(finished, { ...queue, 'docket.outcome': 'complete' })?.value).toBe(3);
    expect(pointWith(finished, { ...queue, 'docket.outcome': 'error' })?.value).toBe(1);
    const durations = await points(nodeBMetrics.reader, METRIC_NAMES.processDuration);
    const completeDuration = pointWith(durations, { ...queue, 'messaging.operation.name': 'process', 'docket.outcome': 'complete' })?.value as Histogram;
    expect(completeDuration.count).toBe(3);
    expect(completeDuration.sum).toBeGreaterThanOrEqual(0);
    expect((pointWith(durations, { ...queue, 'docket.outcome': 'error', 'error.type': 'Error' })?.value as Histogram).count).toBe(1);
    const queueTime = pointWith(await points(nodeBMetrics.reader, METRIC_NAMES.queueTime), queue)?.value as Histogram;
    expect(queueTime.count).toBe(4);
    expect(queueTime.min).toBeGreaterThanOrEqual(0);
    // Node A is not started: it follows no attempts and reports no depth.
    expect(await points(nodeAMetrics.reader, METRIC_NAMES.jobsFinished)).toEqual([]);
    expect(await points(nodeAMetrics.reader, METRIC_NAMES.queueJobs)).toEqual([]);

    // Queue depth: every state of the queue, from queueStats().
    const depth = await points(nodeBMetrics.reader, METRIC_NAMES.queueJobs);
    const ofQueue = depth.filter((p) => p.attributes['messaging.destination.name'] === 'otel-metered');
    expect(Object.fromEntries(ofQueue.map((p) => [p.attributes['docket.job.state'], p.value]))).toEqual({
      held: 0,
      available: 0,
      scheduled: 0,
      executing: 0,
      retryable: 0,
      completed: 3,
      discarded: 1,
      cancelled: 0,
    });
    const age = pointWith(await points(nodeBMetrics.reader, METRIC_NAMES.oldestAvailableAge), { 'messaging.destination.name': 'otel-metered' });
    expect(age?.value).toBe(0);
  });

  it('changes nothing for a Queue without the plugin: no trace context in meta, a root span for its attempt', async () => {
    const plain = await db.queue({ connection: db.url, workers });
    const before = spans().length;
    const job = await appTracer.startActiveSpan('GET /plain', async (span) => {
      try {
        return await plain.insert(render, { n: 55 }, { meta: { requestId: 'r-1' } });
      } finally {
        span.end();
      }
    });
    expect(job.meta).toEqual({ requestId: 'r-1' });
    expect((await plain.getJob(job.id))!.meta).toEqual({ requestId: 'r-1' });
    expect(spans().slice(before).filter((s) => s.kind === SpanKind.PRODUCER)).toEqual([]);
    // Node B still traces the attempt: a span of its own, without parent or link.
    const [process] = await processSpansOf(job.id);
    expect(process!.parentSpanContext).toBeUndefined();
    expect(process!.links).toEqual([]);
  });

  it('replaces trace context copied from another job, and keeps the rest of the meta', async () => {
    const stale = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', requestId: 'r-2' };
    const job = await appTracer.startActiveSpan('GET /again', async (span) => {
      try {
        return await nodeA.insert(render, { n: 56 }, { meta: stale });
      } finally {
        span.end();
      }
    });
    const send = sendSpanOf(job.id)!;
    expect(job.meta).toEqual({ requestId: 'r-2', traceparent: traceparent(send.spanContext()) });
  });

  it('with linkOnly, starts each attempt in a trace of its own, linked to the send span; captureArgs puts args on spans', async () => {
    const linked = new Worker({ name: 'otel-linked', queue: 'otel-linked', args: Args, perform: async (job) => job.args.n });
    const nodeC = await db.queue({
      connection: db.url,
      workers: [linked],
      queues: { 'otel-linked': 1 },
      plugins: [new OpenTelemetry({ tracerProvider, meterProvider: meterOfNode().meterProvider, propagator, linkOnly: true, captureArgs: true })],
    });
    await nodeC.start();
    const done = nextEvent(nodeC, 'job:complete');
    const job = await appTracer.startActiveSpan('GET /linked', async (span) => {
      try {
        return await nodeC.insert(linked, { n: 9 });
      } finally {
        span.end();
      }
    });
    await done;
    const send = sendSpanOf(job.id)!;
    const [process] = await processSpansOf(job.id);
    expect(process!.parentSpanContext).toBeUndefined();
    expect(process!.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(process!.links.map((l) => l.context)).toEqual([expect.objectContaining({ traceId: send.spanContext().traceId, spanId: send.spanContext().spanId })]);
    expect(send.attributes['docket.job.args']).toBe('{"n":9}');
    expect(process!.attributes['docket.job.args']).toBe('{"n":9}');
    await nodeC.stop();
  });

  it('uses the global tracer provider, meter provider and propagator by default', async () => {
    const globalExporter = new InMemorySpanExporter();
    const globalReader = new CollectingReader();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(globalExporter)] }));
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [globalReader] }));
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      // Created after the globals are registered, as an app does after starting its SDK.
      const queue = await db.queue({ connection: db.url, workers, plugins: [new OpenTelemetry()] });
      const job = await queue.insert(render, { n: 77 });
      const [send] = globalExporter.getFinishedSpans();
      expect(send?.name).toBe('send otel-render');
      expect(job.meta).toEqual({ traceparent: traceparent(send!.spanContext()) });
      const sent = await points(globalReader, METRIC_NAMES.sentMessages);
      expect(pointWith(sent, { 'messaging.destination.name': 'otel-render' })?.value).toBe(1);
    } finally {
      trace.disable();
      metrics.disable();
      propagation.disable();
    }
  });

  it('refuses bad options with a ConfigError naming the option', () => {
    expect(() => new OpenTelemetry({ queueDepth: 'sometimes' as never })).toThrow(ConfigError);
    expect(() => new OpenTelemetry({ queueDepth: 'sometimes' as never })).toThrow(/queueDepth/);
    expect(() => new OpenTelemetry({ statsCacheMs: -1 })).toThrow(/statsCacheMs/);
    expect(() => new OpenTelemetry({ tracerProvider: {} as never })).toThrow(/tracerProvider/);
    expect(() => new OpenTelemetry({ meterProvider: {} as never })).toThrow(/meterProvider/);
    expect(() => new OpenTelemetry({ propagator: {} as never })).toThrow(/propagator/);
    expect(() => new OpenTelemetry({ captureArgs: 'yes' as never })).toThrow(/captureArgs/);
  });
});
