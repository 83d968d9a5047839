// Reading what a prom-client registry exposes, for the docket/prometheus tests: the text
// format parsed into samples, one sample looked up by its exact labels, and counters of the
// queue's events and listeners.
import type { Registry } from 'prom-client';
import type { Queue, QueueEventName } from '../../src/index.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the text exposition format (the sample lines; comments skipped). */
export function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

export async function scrape(registry: Registry): Promise<Sample[]> {
  return parse(await registry.metrics());
}

/** Counts the events that end a job (complete, discard, cancel) on `queue`. */
export function endings(queue: Queue): { readonly count: () => number } {
  let n = 0;
  for (const event of ['job:complete', 'job:discard', 'job:cancel'] as const) queue.on(event, () => n++);
  return { count: () => n };
}

/** The events docket/prometheus listens to. */
export const EVENTS: QueueEventName[] = ['job:complete', 'job:error', 'job:discard', 'job:cancel', 'job:snooze', 'workflow:complete', 'workflow:fail'];
/** How many listeners each of EVENTS has. */
export const listenerCounts = (queue: Queue): number[] => EVENTS.map((e) => queue.listenerCount(e));
