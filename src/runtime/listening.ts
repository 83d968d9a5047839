// This node's LISTEN, kept honest. A LISTEN connection can stop hearing without any error: its
// socket half-open after a network fault (no RST, so no 'end'), or an UNLISTEN run on it. While
// subscribed, the node notifies itself on its channel every PROBE_INTERVAL and expects to hear
// that probe within PROBE_TIMEOUT; when it does not, it drops the subscription and listens anew,
// which catches up as any reconnect does. Polling keeps jobs moving meanwhile; this bounds how
// long wake-ups, cancels and pauses can go unheard. Probes are `{"probe":…}` payloads: other
// nodes read them as a notice about no queue, and ignore them.
//
// Some routes never deliver at all: behind a pooler in transaction mode (PgBouncer) the LISTEN
// runs on whichever server connection serves that one statement, and its notifications go
// nowhere. When SILENT_LIMIT subscriptions in a row connect and never hear a single probe (and
// no probe of this node was ever heard), the node says so once, drops LISTEN and relies on
// polling; every DEAF_RECHECK it quietly tries again, in case the route changed.
import type { Engine } from '../engine/engine.js';
import type { NoticeHandlers, NoticeSubscription } from '../engine/types.js';
import type { Logger } from '../definitions/logger.js';

/** How often a listening node probes its LISTEN (ms). */
export const PROBE_INTERVAL = 2_000;
/** How long a probe may take to come back before the LISTEN counts as lost (ms). */
export const PROBE_TIMEOUT = 1_500;
/** Subscriptions in a row that hear none of their probes before LISTEN counts as impossible here. */
export const SILENT_LIMIT = 3;
/** How often a node that gave up on LISTEN tries it again (ms). */
export const DEAF_RECHECK = 300_000;
/** How long a probe's NOTIFY may take to send before the probe is dropped, unjudged (ms). */
const SEND_CAP = 15_000;
const PROBE = '{"probe":';

/** A LISTEN subscription that notices when it stops hearing, and listens anew. */
export class Listening {
  #subscription: NoticeSubscription | undefined;
  #connected = false;
  #timer: NodeJS.Timeout | undefined;
  #pending: { payload: string; deadline: NodeJS.Timeout | undefined } | undefined;
  #sequence = 0;
  #stopped = false;
  /** The current subscription heard one of its probes. */
  #heard = false;
  /** Any subscription of this node ever did. */
  #everHeard = false;
  /** Subscriptions in a row lost without hearing any probe. */
  #silent = 0;
  /** LISTEN given up on: no subscription until the recheck timer. */
  #deaf = false;
  #recheck: NodeJS.Timeout | undefined;
  readonly #probePrefix: string;

  constructor(
    private readonly engine: Engine,
    nodeId: string,
    private readonly handlers: NoticeHandlers,
    private readonly logger: Pick<Logger, 'warn' | 'info'>,
    /** How long a node that gave up on LISTEN waits before trying again (tests shorten it). */
    private readonly deafRecheck = DEAF_RECHECK,
  ) {
    this.#probePrefix = `${PROBE}${JSON.stringify(`${nodeId}:${process.pid}`)}`;
  }

  start(): void {
    this.#stopped = false;
    this.#subscribe();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#recheck);
    if (this.#pending !== undefined) clearTimeout(this.#pending.deadline);
    this.#pending = undefined;
    await this.#subscription?.close();
    this.#subscription = undefined;
  }

  #subscribe(): void {
    this.#connected = false;
    this.#heard = false;
    this.#subscription = this.engine.listen({
      onNotice: (payload) => {
        if (payload.startsWith(PROBE)) {
          // Other nodes' probes are nothing to this node.
          if (!payload.startsWith(this.#probePrefix)) return;
          // One of ours, even a late one (sent on an earlier subscription, on a slow moment):
          // the route delivers.
          this.#everHeard = true;
          this.#silent = 0;
          if (this.#deaf) {
            this.#deaf = false;
            this.logger.info('docket: LISTEN delivers notifications again; wake-ups are instant again');
            // Heard on a subscription being closed (a late probe): listen anew now, not at the recheck.
            if (this.#subscription === undefined && !this.#stopped) {
              clearTimeout(this.#recheck);
              this.#subscribe();
            }
          }
          if (payload === this.#pending?.payload) {
            clearTimeout(this.#pending.deadline);
            this.#pending = undefined;
            this.#heard = true;
          }
          return;
        }
        this.handlers.onNotice(payload);
      },
      onConnect: () => {
        this.#connected = true;
        // A probe sent before this (re)connect says nothing about the new connection.
        if (this.#pending !== undefined) {
          clearTimeout(this.#pending.deadline);
          this.#pending = undefined;
        }
        this.handlers.onConnect();
      },
      onError: (error) => this.handlers.onError(error),
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#probe(), PROBE_INTERVAL);
  }

  async #probe(): Promise<void> {
    // Only a connected subscription is probed: one still connecting has its own retries.
    if (this.#connected && this.#pending === undefined) {
      const payload = `${this.#probePrefix},"n":${++this.#sequence}}`;
      const pending: { payload: string; deadline: NodeJS.Timeout | undefined } = { payload, deadline: undefined };
      this.#pending = pending;
      // A send that never settles (a pool waiting for a connection) must not stop the probing.
      const stuck = setTimeout(() => {
        if (this.#pending === pending && pending.deadline === undefined) this.#pending = undefined;
      }, SEND_CAP);
      try {
        await this.engine.sendHint({ payload });
        // The clock starts once the NOTIFY is committed: a pool busy with other work delays
        // the send, which says nothing about the LISTEN connection. (It may already be heard.)
        if (this.#pending === pending) pending.deadline = setTimeout(() => this.#lost(), PROBE_TIMEOUT);
      } catch {
        // The database is unreachable: not this connection's fault, and no proof either way.
        if (this.#pending === pending) this.#pending = undefined;
      } finally {
        clearTimeout(stuck);
      }
    }
    this.#schedule();
  }

  #lost(): void {
    this.#pending = undefined;
    if (this.#stopped) return;
    const old = this.#subscription;
    this.#subscription = undefined;
    // Closing a half-open connection can take its time; a new one does not wait for it.
    void old?.close().catch(() => {});
    this.#silent = this.#heard ? 0 : this.#silent + 1;
    // Only a route that never delivered is given up on: one that did is lost (stalls, a
    // restart, a half-open socket) and listened on anew, however often.
    if (!this.#everHeard && this.#silent >= SILENT_LIMIT) {
      this.#giveUp();
      return;
    }
    // A route that never delivered stays quiet until it is given up on (one warning then).
    if (this.#everHeard) {
      this.logger.warn(`docket: LISTEN stopped hearing (its probe did not come back within ${PROBE_TIMEOUT} ms); listening anew`);
    }
    this.#subscribe();
  }

  #giveUp(): void {
    this.#connected = false;
    // Once per process: deafness ends only by hearing a probe, after which it is never given up on.
    if (!this.#deaf) {
      this.logger.warn(
        `docket: LISTEN delivers nothing on this connection (${SILENT_LIMIT} subscriptions in a row heard none of their own probes): ` +
          'a connection pooler in transaction mode, such as PgBouncer? docket relies on polling (pollInterval) instead; ' +
          'give the Queue a listenConnection that reaches PostgreSQL directly for instant wake-ups ' +
          '(and behind such a pooler, create a postgres.js client with max_pipeline: 0: PgBouncer loses pipelined replies)',
      );
    }
    this.#deaf = true;
    clearTimeout(this.#recheck);
    this.#recheck = setTimeout(() => {
      if (this.#stopped) return;
      // One more silent subscription and the node is back to polling, without a word.
      this.#silent = SILENT_LIMIT - 1;
      this.#subscribe();
    }, this.deafRecheck);
  }
}
