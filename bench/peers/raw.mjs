// The raw baseline: the least code that is still a correct SKIP LOCKED queue, written for this
// benchmark. One table, one partial index; a batch claim with prefetch (refill when half the
// local buffer is gone); every outcome of one event-loop turn written by one statement; inserts
// followed (after their commit) by one coalesced NOTIFY; LISTEN plus a 1 s poll as the safety net.
import pg from 'pg';

const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.jobs (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  state    smallint    NOT NULL DEFAULT 0,  -- 0 ready, 1 running (done jobs are deleted)
  attempts integer     NOT NULL DEFAULT 0,
  run_at   timestamptz NOT NULL DEFAULT now(),
  payload  jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON raw.jobs (run_at, id) WHERE state = 0;`;

const FETCH_SQL = `
UPDATE raw.jobs SET state = 1, attempts = attempts + 1
WHERE id = ANY(ARRAY(
  SELECT id FROM raw.jobs WHERE state = 0 AND run_at <= now()
  ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED))
RETURNING id, payload`;

// Outcomes of one turn: successes are deleted (a minimal queue keeps no history), failures go
// back to ready with a delay. One statement.
const ACK_SQL = `
WITH v AS (SELECT * FROM unnest($1::bigint[], $2::smallint[]) AS v(id, state)),
done AS (DELETE FROM raw.jobs j USING v WHERE j.id = v.id AND v.state = 2 AND j.state = 1)
UPDATE raw.jobs j SET state = 0, run_at = now() + make_interval(secs => $3::float8)
FROM v WHERE j.id = v.id AND v.state = 0 AND j.state = 1`;

const CHANNEL = 'raw_jobs';
// Prefetch buffer: like graphile's localQueue (500), large enough that a claim round trip is
// amortised over many no-op jobs.
const BUFFER = 1000;

export const settings = {
  connection: 'pg.Pool max 10 + one LISTEN client',
  worker: `C runners fed from a local buffer of up to ${BUFFER} claimed jobs, refilled (one claim of ${BUFFER} − buffered jobs) when half of it is left`,
  insert: "INSERT ... VALUES ($1) / INSERT ... SELECT FROM jsonb_array_elements($1), then one NOTIFY after commit, coalesced (one in flight per process)",
  retry: 'run_at = now() + 1 s, and a timer to fetch then',
};

export async function createPeer({ url, concurrency = 10, poolMax = 10, retryDelayMs = 1000, perform }) {
  const errors = [];
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  pool.on('error', (e) => errors.push(`pool: ${e.message}`));
  const note = (e) => errors.length < 20 && errors.push(String(e?.message ?? e));

  // --- inserts: NOTIFY after the insert committed, never in its transaction; coalesced ---
  let notifying = null;
  let notifyAgain = false;
  function notify() {
    if (notifying) {
      notifyAgain = true;
      return;
    }
    notifyAgain = false;
    notifying = pool
      .query(`SELECT pg_notify('${CHANNEL}', '')`)
      .catch(note)
      .finally(() => {
        notifying = null;
        if (notifyAgain) notify();
      });
  }

  // --- workers ---
  const C = concurrency;
  const buffer = [];
  let running = 0;
  let fetching = false;
  let fetchAgain = false;
  let stopped = true;
  let idleWaiters = [];
  let listener;
  let pollTimer;
  const retryTimers = new Set();
  const inflight = new Set();
  const acks = { ids: [], states: [] };
  let ackScheduled = false;

  function track(promise) {
    inflight.add(promise);
    promise.finally(() => inflight.delete(promise));
    return promise;
  }

  function flushAcks() {
    ackScheduled = false;
    if (acks.ids.length === 0) return;
    const ids = acks.ids.splice(0);
    const states = acks.states.splice(0);
    const hadRetry = states.includes(0);
    track(
      pool.query(ACK_SQL, [ids, states, retryDelayMs / 1000]).then(
        () => {
          if (hadRetry && !stopped) {
            const t = setTimeout(() => {
              retryTimers.delete(t);
              dispatch();
            }, retryDelayMs + 5);
            retryTimers.add(t);
          }
        },
        (e) => {
          note(e);
          acks.ids.push(...ids); // keep the outcomes; retry next turn
          acks.states.push(...states);
          scheduleAck();
        },
      ),
    );
  }
  function scheduleAck() {
    if (ackScheduled) return;
    ackScheduled = true;
    setImmediate(flushAcks);
  }

  function dispatch() {
    if (stopped) return;
    if (fetching) {
      fetchAgain = true;
      return;
    }
    if (buffer.length > BUFFER / 2) return;
    fetching = true;
    fetchAgain = false;
    track(
      pool.query(FETCH_SQL, [BUFFER - buffer.length]).then(
        ({ rows }) => {
          fetching = false;
          for (const row of rows) buffer.push(row);
          for (const wake of idleWaiters.splice(0, rows.length)) wake();
          if (rows.length > 0 || fetchAgain) dispatch();
        },
        (e) => {
          fetching = false;
          note(e);
          setTimeout(dispatch, 100);
        },
      ),
    );
  }

  async function runner() {
    while (!stopped) {
      const job = buffer.shift();
      if (job === undefined) {
        dispatch();
        await new Promise((resolve) => idleWaiters.push(resolve));
        continue;
      }
      if (buffer.length <= BUFFER / 2) dispatch();
      running++;
      let state = 2;
      try {
        await perform(job.payload.i);
      } catch {
        state = 0;
      }
      running--;
      acks.ids.push(job.id);
      acks.states.push(state);
      scheduleAck();
    }
  }
  const runners = [];

  return {
    name: 'raw',
    errors,
    schemas: ['raw'],
    unfinishedSql: 'select count(*)::int as n from raw.jobs',
    rowsSql: "select (payload->>'i')::int as i from raw.jobs",
    setup: () => pool.query(SCHEMA_SQL),
    async insertOne(i) {
      await pool.query('INSERT INTO raw.jobs (payload) VALUES ($1)', [JSON.stringify({ i })]);
      notify();
    },
    async insertBatch(is) {
      await pool.query('INSERT INTO raw.jobs (payload) SELECT value FROM jsonb_array_elements($1::jsonb)', [
        JSON.stringify(is.map((i) => ({ i }))),
      ]);
      notify();
    },
    async start() {
      stopped = false;
      listener = new pg.Client({ connectionString: url });
      listener.on('error', note);
      await listener.connect();
      listener.on('notification', () => dispatch());
      await listener.query(`LISTEN ${CHANNEL}`);
      const poll = () => {
        pollTimer = setTimeout(() => {
          dispatch();
          poll();
        }, 1000);
      };
      poll();
      for (let k = 0; k < C; k++) runners.push(runner());
      dispatch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(pollTimer);
      for (const t of retryTimers) clearTimeout(t);
      for (const wake of idleWaiters.splice(0)) wake();
      await Promise.all(runners);
      // Jobs claimed but never started go back to ready.
      const unstarted = buffer.splice(0).map((j) => j.id);
      flushAcks();
      while (inflight.size > 0) await Promise.all([...inflight]);
      flushAcks();
      while (inflight.size > 0) await Promise.all([...inflight]);
      if (unstarted.length) await pool.query('UPDATE raw.jobs SET state = 0, attempts = attempts - 1 WHERE id = ANY($1)', [unstarted]);
      await listener?.end().catch(() => {});
    },
    async close() {
      while (notifying) await notifying;
      await pool.end();
    },
  };
}
