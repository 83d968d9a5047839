/**
 * `docket/opentelemetry`: traces and metrics through the app's OpenTelemetry SDK (the
 * {@link OpenTelemetry} plugin and the names of its metrics).
 *
 * @module docket/opentelemetry
 */
// docket/opentelemetry: an entry of its own so that the main one never imports
// @opentelemetry/api (an optional peer dependency). It is built on docket's public API only
// (src/index.ts); the build leaves that import as an import of the `docket` package, so the
// Plugin class it extends is the app's docket's own.
export { OpenTelemetry } from './open-telemetry.js';
export type { OpenTelemetryOptions, QueueDepthReporting } from './options.js';
export { METRIC_NAMES } from './instruments.js';
