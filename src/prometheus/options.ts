// The options of docket/prometheus, checked once: a clear error naming the option rather than a
// prom-client message at the first scrape.
import type { OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';
import type { QueueApi } from '../index.js';

/**
 * A prom-client registry of either exposition format.
 *
 * @example
 * ```ts
 * const registry: PrometheusRegistry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE);
 * ```
 */
export type PrometheusRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/**
 * Options of {@link createPrometheusMetrics}.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * createPrometheusMetrics({ queue, registry, prefix: 'docket_', statsCacheMs: 5_000 });
 * ```
 */
export interface PrometheusMetricsOptions {
  /** The Queue whose figures and events are measured (a started one, or one used for admin calls only). */
  readonly queue: QueueApi;
  /**
   * The registry the metrics are registered in. Required: nothing is registered in
   * prom-client's global registry unless it is the one passed here.
   */
  readonly registry: PrometheusRegistry;
  /** Prepended to every metric name, e.g. `'docket_'`. Default `''`. */
  readonly prefix?: string;
  /**
   * How long (ms) one `queue.queueStats()` read serves scrapes. Default 1,000; `0` reads at each
   * scrape. Never more than one read is in flight, whatever the number of scrapers.
   */
  readonly statsCacheMs?: number;
  /**
   * Buckets (seconds, increasing) of `job_duration_seconds` and `job_queue_time_seconds`.
   * Default {@link DEFAULT_JOB_BUCKETS}.
   */
  readonly buckets?: readonly number[];
}

/**
 * The default histogram buckets, in seconds: 10 ms to 10 minutes.
 *
 * @example
 * ```ts
 * createPrometheusMetrics({ queue, registry, buckets: [...DEFAULT_JOB_BUCKETS, 1800, 3600] });
 * ```
 */
export const DEFAULT_JOB_BUCKETS: readonly number[] = Object.freeze([0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]);

/** The options with their defaults applied. */
export interface ResolvedOptions {
  readonly queue: QueueApi;
  readonly registry: PrometheusRegistry;
  readonly prefix: string;
  readonly statsCacheMs: number;
  readonly buckets: number[];
}

// Checked by shape, not instanceof: the app's prom-client may be another copy than the one
// docket resolves, and a Queue may come from another bundle of docket.
function hasMethods(value: unknown, names: readonly string[]): boolean {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  return names.every((name) => typeof record[name] === 'function');
}

/** Applies the defaults; throws a TypeError or RangeError naming the option that is wrong. */
export function resolveOptions(options: PrometheusMetricsOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('docket/prometheus: expected an options object { queue, registry }');
  const { queue, registry, prefix = '', statsCacheMs = 1000, buckets = DEFAULT_JOB_BUCKETS } = options;
  if (!hasMethods(queue, ['on', 'off', 'queueStats'])) throw new TypeError('docket/prometheus: `queue` must be a docket Queue');
  if (!hasMethods(registry, ['registerMetric', 'removeSingleMetric', 'getSingleMetric', 'metrics'])) {
    throw new TypeError('docket/prometheus: `registry` must be a prom-client Registry (pass `register` for the global one)');
  }
  if (typeof prefix !== 'string' || (prefix !== '' && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))) {
    throw new TypeError(`docket/prometheus: \`prefix\` must be a valid start of a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${JSON.stringify(prefix)}`);
  }
  if (typeof statsCacheMs !== 'number' || !Number.isFinite(statsCacheMs) || statsCacheMs < 0) {
    throw new RangeError(`docket/prometheus: \`statsCacheMs\` must be a finite number of ms >= 0, got ${String(statsCacheMs)}`);
  }
  const increasing = Array.isArray(buckets) && buckets.length > 0 && buckets.every((b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > buckets[i - 1]!));
  if (!increasing) throw new RangeError('docket/prometheus: `buckets` must be a non-empty list of increasing positive numbers of seconds');
  return { queue, registry, prefix, statsCacheMs, buckets: [...buckets] };
}
