// The options of the OpenTelemetry plugin, checked once in its constructor: a ConfigError naming
// the option, rather than a failure at the first insert or the first metric collection.
import type { MeterProvider, TextMapPropagator, TracerProvider } from '@opentelemetry/api';
import { ConfigError } from '../index.js';

/** Where the queue depth gauges are reported from. */
export type QueueDepthReporting = 'leader' | 'every-node' | false;

/**
 * Options of {@link OpenTelemetry}.
 *
 * @example
 * ```ts
 * new OpenTelemetry({ tracerProvider, meterProvider, captureArgs: false, queueDepth: 'leader' });
 * ```
 */
export interface OpenTelemetryOptions {
  /** Where spans go. Default: the global one (`trace.getTracerProvider()`), as the OTel SDK registers it. */
  readonly tracerProvider?: TracerProvider;
  /**
   * Where metrics go. Default: the global one (`metrics.getMeterProvider()`), read at the first
   * insert or start, so register the SDK before that.
   */
  readonly meterProvider?: MeterProvider;
  /**
   * How trace context is written to and read from a job's meta. Default: the global propagator
   * (`propagation`), W3C trace context with the Node SDK. Give one when the app sets none
   * globally, e.g. `new W3CTraceContextPropagator()` from `@opentelemetry/core`.
   */
  readonly propagator?: TextMapPropagator;
  /**
   * Put each job's args (as JSON) on its spans as `docket.job.args`. Default `false`: args are
   * the app's data (addresses, tokens...) and go to the tracing backend only when asked.
   */
  readonly captureArgs?: boolean;
  /**
   * Start each attempt's span in a trace of its own, linked to the span that inserted the job,
   * rather than as its child. Default `false`: an attempt joins the trace of the request that
   * enqueued it. Linking only keeps traces short when jobs are retried over hours or days.
   */
  readonly linkOnly?: boolean;
  /**
   * Which nodes report the queue depth gauges (they read `queue.queueStats()`, the same numbers
   * on every node): `'leader'` (default; one series per queue whichever node leads),
   * `'every-node'`, or `false` for none.
   */
  readonly queueDepth?: QueueDepthReporting;
  /**
   * How long (ms) one `queue.queueStats()` read serves the gauges. Default 1,000; `0` reads at
   * each collection. Never more than one read is in flight.
   */
  readonly statsCacheMs?: number;
}

/** The options with their defaults applied (the providers stay optional: read lazily). */
export interface ResolvedOptions {
  readonly tracerProvider: TracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly propagator: TextMapPropagator | undefined;
  readonly captureArgs: boolean;
  readonly linkOnly: boolean;
  readonly queueDepth: QueueDepthReporting;
  readonly statsCacheMs: number;
}

// Checked by shape, not instanceof: the app's SDK may be another copy than the API docket resolves.
function hasMethods(value: unknown, names: readonly string[]): boolean {
  if (value === null || typeof value !== 'object') return false;
  return names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}

function optionalBoolean(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new ConfigError(`OpenTelemetry: ${name} must be true or false, got ${String(value)}`);
  return value;
}

/** Applies the defaults; a ConfigError names the option that is wrong. */
export function resolveOptions(options: OpenTelemetryOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new ConfigError('OpenTelemetry: expected an options object');
  const { tracerProvider, meterProvider, propagator, queueDepth = 'leader', statsCacheMs = 1000 } = options;
  if (tracerProvider !== undefined && !hasMethods(tracerProvider, ['getTracer'])) {
    throw new ConfigError('OpenTelemetry: tracerProvider must be an OpenTelemetry TracerProvider (with getTracer)');
  }
  if (meterProvider !== undefined && !hasMethods(meterProvider, ['getMeter'])) {
    throw new ConfigError('OpenTelemetry: meterProvider must be an OpenTelemetry MeterProvider (with getMeter)');
  }
  if (propagator !== undefined && !hasMethods(propagator, ['inject', 'extract', 'fields'])) {
    throw new ConfigError('OpenTelemetry: propagator must be an OpenTelemetry TextMapPropagator (with inject, extract and fields)');
  }
  if (queueDepth !== 'leader' && queueDepth !== 'every-node' && queueDepth !== false) {
    throw new ConfigError(`OpenTelemetry: queueDepth must be 'leader', 'every-node' or false, got ${JSON.stringify(queueDepth)}`);
  }
  if (typeof statsCacheMs !== 'number' || !Number.isInteger(statsCacheMs) || statsCacheMs < 0 || statsCacheMs > 3_600_000) {
    throw new ConfigError(`OpenTelemetry: statsCacheMs must be a whole number of ms from 0 to 3,600,000, got ${String(statsCacheMs)}`);
  }
  return {
    tracerProvider,
    meterProvider,
    propagator,
    captureArgs: optionalBoolean(options.captureArgs, 'captureArgs'),
    linkOnly: optionalBoolean(options.linkOnly, 'linkOnly'),
    queueDepth,
    statsCacheMs,
  };
}
