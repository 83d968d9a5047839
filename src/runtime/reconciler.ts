// Keeps this node in line with the cluster's decisions when a notification is late or lost:
// re-reads queue controls (pause, scale) and checks that the attempts running here still own
// their rows (a job cancelled, discarded or deleted elsewhere must stop here too). Notifications
// trigger the same passes at once; the timer is the safety net.
import type { Engine } from '../engine/engine.js';
import type { QueueControlRow } from '../engine/types.js';

/** What the reconciler needs from the queue around it. */
export interface ReconcilerHooks {
  /** Attempts running here for at least `minAgeMs`, with their claims. */
  attempts(minAgeMs: number): { id: string; claim: string }[];
  /** The row of this attempt moved on: stop it. */
  abandon(id: string, claim: string, state: string | null): void;
  applyControls(rows: readonly QueueControlRow[]): void;
  onError(error: unknown, context: string): void;
}

/** Periodic and on-demand reconciliation passes. */
export class Reconciler {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #controls: Promise<void> | undefined;
  #controlsAgain = false;
  #checking: Promise<void> | undefined;
  #checkAgain = false;

  constructor(
    private readonly engine: Engine,
    private readonly interval: number,
    private readonly hooks: ReconcilerHooks,
  ) {}

  /** Reads the controls once (so a starting node obeys them before it fetches), then ticks. */
  async start(): Promise<void> {
    await this.reloadControls();
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all([this.#controls, this.#checking]);
  }

  /** Re-reads queue controls now (coalesced). */
  reloadControls(): Promise<void> {
    if (this.#controls !== undefined) {
      this.#controlsAgain = true;
      return this.#controls;
    }
    // Cleared in .finally, after the assignment: a pass that finishes without awaiting must
    // not leave a settled promise behind that every later call would return.
    this.#controls = (async () => {
      try {
        do {
          this.#controlsAgain = false;
          this.hooks.applyControls(await this.engine.queueControls());
        } while (this.#controlsAgain && !this.#stopped);
      } catch (error) {
        this.hooks.onError(error, 'reload queue controls');
      }
    })().finally(() => {
      this.#controls = undefined;
    });
    return this.#controls;
  }

  /** Checks attempts running for at least `minAgeMs` against their rows now (coalesced). */
  checkAttempts(minAgeMs = 0): Promise<void> {
    if (this.#checking !== undefined) {
      this.#checkAgain = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      try {
        let age = minAgeMs;
        do {
          this.#checkAgain = false;
          const attempts = this.hooks.attempts(age);
          age = 0;
          if (attempts.length === 0) continue;
          const moved = await this.engine.movedOn({ batchJson: JSON.stringify(attempts) });
          const claims = new Map(attempts.map((a) => [a.id, a.claim]));
          for (const { id, state } of moved) this.hooks.abandon(id, claims.get(id)!, state);
        } while (this.#checkAgain && !this.#stopped);
      } catch (error) {
        this.hooks.onError(error, 'check running jobs');
      }
    })().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  #tick(): void {
    if (this.#stopped) return;
    const jitter = 0.9 + Math.random() * 0.2;
    this.#timer = setTimeout(() => {
      // Only attempts older than one interval: younger ones were checked by a notification, or
      // are too short-lived to be worth a query at high throughput.
      void Promise.all([this.reloadControls(), this.checkAttempts(this.interval)]).then(() => this.#tick());
    }, this.interval * jitter);
  }
}
