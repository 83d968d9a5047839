// Wake-up hints for jobs inserted outside a host transaction. Those rows are committed when the
// INSERT returns, so the NOTIFY need not ride in the insert's own transaction: sending it there
// makes every insert commit queue on the database-wide notification lock through its WAL flush,
// which caps single-row inserts near one per fsync. Instead hints are merged and sent by one
// statement at a time: twenty concurrent inserts cost one or two NOTIFYs, not twenty.
import type { Engine } from '../engine/engine.js';
import { hintPayload } from '../engine/notice.js';

/** Merges insert hints and sends them as few NOTIFYs as possible. */
export class Hinter {
  #queues = new Set<string>();
  #scheduled = false;
  #busy = false;
  #sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: Engine,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues that got due jobs, and whether any job was scheduled for later. */
  add(queues: Iterable<string>, scheduled: boolean): void {
    for (const queue of queues) this.#queues.add(queue);
    this.#scheduled ||= scheduled;
    if (this.#busy) return;
    this.#busy = true;
    this.#sending = this.#send();
  }

  /** Resolves once no hint is being sent. */
  async idle(): Promise<void> {
    await this.#sending;
  }

  async #send(): Promise<void> {
    // Let the other inserts finishing in this turn add their queues first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queues.size > 0 || this.#scheduled) {
      const payload = hintPayload(this.#queues, this.#scheduled);
      this.#queues.clear();
      this.#scheduled = false;
      try {
        await this.engine.sendHint({ payload });
      } catch (error) {
        // Polling covers a lost hint; the jobs themselves are safely committed.
        this.onError(error);
      }
    }
    // Cleared in the same turn as the last check, so a hint added now starts a new send.
    this.#busy = false;
  }
}
