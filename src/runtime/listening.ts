// This node's LISTEN, kept honest. A LISTEN connection can stop hearing without any error: its
// socket half-open after a network fault (no RST, so no 'end'), or an UNLISTEN run on it. While
// subscribed, the node notifies itself on its channel every PROBE_INTERVAL and expects to hear
// that probe within PROBE_TIMEOUT; when it does not, it drops the subscription and listens anew,
// which catches up as any reconnect does. Polling keeps jobs moving meanwhile; this bounds how
// long wake-ups, cancels and pauses can go unheard. Probes are `{"probe":…}` payloads: other
// nodes read them as a notice about no queue, and ignore them.
import type { Engine } from '../engine/engine.js';
import type { NoticeHandlers, NoticeSubscription } from '../engine/types.js';
import type { Logger } from '../definitions/logger.js';

/** How often a listening node probes its LISTEN (ms). */
export const PROBE_INTERVAL = 2_000;
/** How long a probe may take to come back before the LISTEN counts as lost (ms). */
export const PROBE_TIMEOUT = 1_500;
const PROBE = '{"probe":';

/** A LISTEN subscription that notices when it stops hearing, and listens anew. */
export class Listening {
  #subscription: NoticeSubscription | undefined;
  #connected = false;
  #timer: NodeJS.Timeout | undefined;
  #pending: { payload: string; deadline: NodeJS.Timeout } | undefined;
  #sequence = 0;
  #stopped = false;
  readonly #probePrefix: string;

  constructor(
    private readonly engine: Engine,
    nodeId: string,
    private readonly handlers: NoticeHandlers,
    private readonly logger: Pick<Logger, 'warn'>,
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
    if (this.#pending !== undefined) clearTimeout(this.#pending.deadline);
    this.#pending = undefined;
    await this.#subscription?.close();
    this.#subscription = undefined;
  }

  #subscribe(): void {
    this.#connected = false;
    this.#subscription = this.engine.listen({
      onNotice: (payload) => {
        if (payload.startsWith(PROBE)) {
          // Ours answers the pending probe; other nodes' probes are nothing to this node.
          if (payload === this.#pending?.payload) {
            clearTimeout(this.#pending.deadline);
            this.#pending = undefined;
          }
          return;
        }
        this.handlers.onNotice(payload);
      },
      onConnect: () => {
        this.#connected = true;
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
      const deadline = setTimeout(() => this.#lost(), PROBE_TIMEOUT);
      this.#pending = { payload, deadline };
      try {
        await this.engine.sendHint({ payload });
      } catch {
        // The database is unreachable: not this connection's fault, and no proof either way.
        clearTimeout(deadline);
        if (this.#pending?.payload === payload) this.#pending = undefined;
      }
    }
    this.#schedule();
  }

  #lost(): void {
    this.#pending = undefined;
    if (this.#stopped) return;
    this.logger.warn(`docket: LISTEN stopped hearing (its probe did not come back within ${PROBE_TIMEOUT} ms); listening anew`);
    const old = this.#subscription;
    this.#subscribe();
    // Closing a half-open connection can take its time; the new one does not wait for it.
    void old?.close().catch(() => {});
  }
}
