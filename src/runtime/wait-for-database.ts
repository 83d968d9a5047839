// start() on a node whose database is not up yet (a restart, a container started before its
// database): the first step is retried while the database is unreachable, with a warning every
// WARN_EVERY, until it works, the wait runs out, or stop() is called. Anything else (a wrong
// password, an unmigrated schema) fails at once: waiting would not fix it.
import { ConfigError, QueueStateError } from '../definitions/errors.js';
import type { Logger } from '../definitions/logger.js';
import { isUnreachable, unreachableReason } from '../definitions/unreachable.js';

const WARN_EVERY = 10_000;
// Tries at most this far apart, so a node is running within a second or so of its database.
const MAX_PAUSE = 1_000;

/** Checks start()'s `waitForDatabase`: ms, Infinity by default. */
export function checkWait(value: unknown): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new ConfigError(`start() option "waitForDatabase" must be a number of ms >= 0, got ${String(value)}`);
  }
  return value;
}

/** Runs `step`, again while it fails because the database cannot be reached. */
export async function waitForDatabase<T>(
  step: () => Promise<T>,
  options: { waitMs: number; logger: Pick<Logger, 'warn'>; cancelled: () => boolean },
): Promise<T> {
  const since = performance.now();
  let warnedAt = -Infinity;
  let pause = 100;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      // stop() meanwhile (which may have ended the pool under this try): that is the answer.
      if (options.cancelled()) throw new QueueStateError('Queue stopped before it could start');
      const waited = performance.now() - since;
      if (!isUnreachable(error) || waited + pause > options.waitMs) throw error;
      if (waited - warnedAt >= WARN_EVERY) {
        warnedAt = waited;
        options.logger.warn(
          `docket: start() cannot reach the database (${unreachableReason(error)})${waited >= 1000 ? ` for ${Math.round(waited / 1000)} s` : ''}; it keeps trying`,
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, MAX_PAUSE);
    if (options.cancelled()) throw new QueueStateError('Queue stopped before it could start: the database was not reachable');
  }
}
