// Trace context in a job's meta: the propagator writes its fields (`traceparent`, `tracestate`
// with the W3C propagator) as top-level string keys of the meta, and reads them back from the
// stored job. Only strings are read: meta is the app's too, and a key that happens to hold
// another JSON value is not trace context.
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/** Writes propagation fields into an insert call's meta. */
export const metaSetter: TextMapSetter<Record<string, unknown>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/** Reads propagation fields from a job's meta. */
export const metaGetter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  get(carrier, key) {
    const value = carrier[key];
    return typeof value === 'string' ? value : undefined;
  },
  keys(carrier) {
    return Object.keys(carrier);
  },
};
