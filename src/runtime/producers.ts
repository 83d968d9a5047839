// The producers of this node, one per queue it runs: created at start, woken by name, kept in
// line with the persisted queue controls (pause, scale), and stopped together.
//
// Controls reach a node three ways (the NOTIFY-triggered re-read, the periodic re-read, and the
// RETURNING of a change made on this node), and a re-read that started before a change committed
// can answer after this node applied that change. Each row carries a version that every change
// increments; an older version never overrides a newer one, so a node never briefly un-pauses
// (and claims jobs) on a stale read.
import type { ResolvedConfig } from '../config/config.js';
import type { QueueControlRow } from '../engine/types.js';
import type { Engine } from '../engine/engine.js';
import type { FetchedJob } from '../engine/types.js';
import { fetcherFor, isLimited } from './fetchers.js';
import type { ProducerHooks } from './producer.js';
import { Producer } from './producer.js';

/** This node's producers. */
export class Producers {
  readonly #byQueue = new Map<string, Producer>();
  /** The control version applied to each queue (0: none yet). */
  readonly #versions = new Map<string, number>();

  constructor(private readonly config: ResolvedConfig) {}

  /** Creates a producer per queue this node runs (concurrency 0: settings only, none). */
  create(engine: Engine, hooks: (queue: string) => ProducerHooks): void {
    for (const [queue, limit] of this.config.queues) {
      if (limit === 0) continue;
      const options = { queue, limit, pollInterval: this.config.pollInterval, limited: isLimited(this.config, queue) };
      this.#byQueue.set(queue, new Producer(fetcherFor(this.config, engine, queue), options, hooks(queue)));
    }
  }

  start(): void {
    for (const producer of this.#byQueue.values()) producer.start();
  }

  get queues(): string[] {
    return [...this.#byQueue.keys()];
  }

  wake(queues: readonly string[]): void {
    for (const queue of queues) this.#byQueue.get(queue)?.dispatch();
  }

  /** Applies every persisted control; a queue without a row runs unpaused at its own limit. */
  applyAll(rows: readonly QueueControlRow[]): void {
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const queue of this.#byQueue.keys()) this.apply(byName.get(queue) ?? { name: queue, paused: false, concurrency: null, version: 0 });
  }

  /** Applies one queue's control row, unless this node already applied a newer version. */
  apply(row: QueueControlRow): void {
    const producer = this.#byQueue.get(row.name);
    if (producer === undefined) return;
    // Equal versions apply: a row changed by hand (plain SQL, no version bump) is still obeyed.
    if (row.version < (this.#versions.get(row.name) ?? 0)) return;
    this.#versions.set(row.name, row.version);
    producer.setPaused(row.paused);
    producer.setLimit(row.concurrency ?? this.config.queues.get(row.name)!);
  }

  /** The limit of every configured queue on this node now. */
  limits(): ReadonlyMap<string, number> {
    return new Map([...this.config.queues].map(([name, limit]) => [name, this.#byQueue.get(name)?.limit ?? limit]));
  }

  /** Stops every producer; resolves with the claimed jobs that never started. */
  async stop(): Promise<FetchedJob[]> {
    return (await Promise.all([...this.#byQueue.values()].map((p) => p.stop()))).flat();
  }
}
