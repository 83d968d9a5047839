// Leader election by a lease row: every node tries to take or renew the 'leader' lease every
// `ttl / 4`; the database clock decides expiry. The holder demotes itself when it has not renewed
// for `ttl - ttl / 4` by its own monotonic clock (measured from when the last successful renewal
// was sent), so a partitioned leader steps down before its lease can pass to another node.
import type { Engine } from '../engine/engine.js';

/** What leadership tells the queue around it. */
export interface LeadershipHooks {
  elected(): void;
  lost(reason: string): void;
  onError(error: unknown): void;
}

const LEASE = 'leader';

/** Takes, keeps and releases the leader lease for one node. */
export class Leadership {
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #demoteTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #inflight: Promise<void> | undefined;
  /** The lease was taken by an attempt that returned after stop(): it must still be released. */
  #heldAfterStop = false;

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly ttl: number,
    private readonly hooks: LeadershipHooks,
  ) {}

  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Another node released the lease: try now rather than at the next renewal. */
  released(): void {
    if (!this.#stopped && !this.#leader) this.#schedule(0);
  }

  /** Stops trying; a leader steps down (hooks.lost) and releases the lease at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#demoteTimer);
    await this.#inflight;
    if (this.#leader || this.#heldAfterStop) {
      if (this.#leader) this.hooks.lost('stopped');
      this.#leader = false;
      this.#heldAfterStop = false;
      try {
        await this.engine.releaseLease({ name: LEASE, owner: this.nodeId });
      } catch (error) {
        // The lease then simply expires.
        this.hooks.onError(error);
      }
    }
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#attempt(), ms);
  }

  async #attempt(): Promise<void> {
    if (this.#stopped || this.#inflight !== undefined) return;
    const sentAt = performance.now();
    const renewEvery = Math.max(10, Math.floor(this.ttl / 4));
    this.#inflight = (async () => {
      try {
        const held = await this.engine.acquireLease({ name: LEASE, owner: this.nodeId, ttlMs: this.ttl });
        if (this.#stopped) {
          if (held) this.#heldAfterStop = true;
          return;
        }
        if (held) {
          // Held until sentAt + ttl by the database; step down a renewal period before that.
          clearTimeout(this.#demoteTimer);
          const validFor = this.ttl - renewEvery - (performance.now() - sentAt);
          this.#demoteTimer = setTimeout(() => this.#demote('lease not renewed in time'), Math.max(0, validFor));
          if (!this.#leader) {
            this.#leader = true;
            this.hooks.elected();
          }
        } else if (this.#leader) {
          this.#demote('another node holds the lease');
        }
      } catch (error) {
        this.hooks.onError(error);
      } finally {
        this.#inflight = undefined;
        if (!this.#stopped) this.#schedule(renewEvery);
      }
    })();
    await this.#inflight;
  }

  #demote(reason: string): void {
    clearTimeout(this.#demoteTimer);
    if (!this.#leader) return;
    this.#leader = false;
    this.hooks.lost(reason);
  }
}
