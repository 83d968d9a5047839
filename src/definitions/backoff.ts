// The capped exponential delay every retry loop uses: driver reconnects, fetch, ack and stage
// retries. Jittered, so nodes that lost the database together do not come back in lockstep.
/** The exponential reconnect delay shared by the drivers and the runtime: 100 ms doubling to `cap`. */
export function backoffDelay(failures: number, cap = 5_000): number {
  const base = Math.min(cap, 100 * 2 ** Math.min(failures, 16));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
