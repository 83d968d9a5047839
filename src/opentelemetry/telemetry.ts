// What the plugin's hooks share: the tracer, the instruments and the propagator, each taken from
// the configured provider, or the global one, when first needed. Lazily, because the global meter
// provider is not a proxy: a meter taken before the app registers its SDK would stay a no-op.
import type { Meter, TextMapPropagator, Tracer } from '@opentelemetry/api';
import { metrics, propagation, trace } from '@opentelemetry/api';
import type { Instruments } from './instruments.js';
import { createInstruments } from './instruments.js';
import type { ResolvedOptions } from './options.js';

/** The instrumentation scope of docket's spans and metrics. */
export const SCOPE = 'docket';

/** The tracer, meter and propagator of one plugin, created on first use. */
export class Telemetry {
  readonly options: ResolvedOptions;
  #tracer: Tracer | undefined;
  #meter: Meter | undefined;
  #instruments: Instruments | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
  }

  get tracer(): Tracer {
    return (this.#tracer ??= (this.options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE));
  }

  get meter(): Meter {
    return (this.#meter ??= (this.options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE));
  }

  get instruments(): Instruments {
    return (this.#instruments ??= createInstruments(this.meter));
  }

  get propagator(): TextMapPropagator {
    return this.options.propagator ?? propagation;
  }
}
