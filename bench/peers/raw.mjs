// The raw baseline: the least code that is still a correct SKIP LOCKED queue, written for this
// benchmark. One table, one partial index; a batch claim with prefetch (refill when half the
// local buffer is gone); every outcome of one event-loop turn written by one statement; inserts
// followed (after their commit) by one coalesced NOTIFY; LISTEN plus a 1 s poll as the safety net.
//
// The same loop also runs two storage prototypes for docket (issue 12: measure before choosing),
// which differ only in what a finished job leaves behind (STORAGE below):
// - 'inplace' keeps the finished row in the table it was fetched from, as docket 0.1 does: the
//   ack is an UPDATE, and the table carries docket's fetch, running and finished indexes;
// - 'history' moves it at ack, in the same statement (DELETE ... RETURNING feeding an INSERT),
//   into a history table range-partitioned by finish time, so the fetched table stays small.
import pg from 'pg';

const RETRY_BY_ID = `UPDATE raw.jobs SET state = 0, run_at = now() + make_interval(secs => $3::float8)
WHERE id = ANY(ARRAY(SELECT id FROM v WHERE state = 0)) AND state = 1`;

/** What a finished job leaves: 'delete' (the raw baseline), 'inplace' or 'history'. */
const STORAGE = {
  delete: {
    schema: '',
    claimSet: '',
    done: `done AS (DELETE FROM raw.jobs j USING v WHERE j.id = v.id AND v.state = 2 AND j.state = 1)`,
    retry: `UPDATE raw.jobs j SET state = 0, run_at = now() + make_interval(secs => $3::float8)
FROM v WHERE j.id = v.id AND v.state = 0 AND j.state = 1`,
    unfinished: 'select count(*)::int as n from raw.jobs',
    rows: "select (payload->>'i')::int as i from raw.jobs",
  },
  inplace: {
    schema: `ALTER TABLE raw.jobs ADD COLUMN IF NOT EXISTS attempted_at timestamptz, ADD COLUMN IF NOT EXISTS finished_at timestamptz;
CREATE INDEX IF NOT EXISTS jobs_running ON raw.jobs (attempted_at) WHERE state = 1;
CREATE INDEX IF NOT EXISTS jobs_finished ON raw.jobs (state, finished_at) WHERE state = 2;`,
    claimSet: ', attempted_at = now()',
    // By primary key (id = ANY): with a running index present, a join on v is planned through
    // that partial index, whose dead entries (the table churns) every ack would walk again.
    done: `done AS (UPDATE raw.jobs SET state = 2, finished_at = now() WHERE id = ANY(ARRAY(SELECT id FROM v WHERE state = 2)) AND state = 1)`,
    retry: RETRY_BY_ID,
    unfinished: 'select count(*)::int as n from raw.jobs where state <> 2',
    rows: "select (payload->>'i')::int as i from raw.jobs",
  },
  history: {
    schema: `ALTER TABLE raw.jobs ADD COLUMN IF NOT EXISTS attempted_at timestamptz;
CREATE INDEX IF NOT EXISTS jobs_running ON raw.jobs (attempted_at) WHERE state = 1;
CREATE TABLE IF NOT EXISTS raw.done (
  id bigint NOT NULL, attempts integer NOT NULL, run_at timestamptz NOT NULL, payload jsonb NOT NULL,
  attempted_at timestamptz, finished_at timestamptz NOT NULL
) PARTITION BY RANGE (finished_at);
CREATE TABLE IF NOT EXISTS raw.done_now PARTITION OF raw.done FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
CREATE TABLE IF NOT EXISTS raw.done_default PARTITION OF raw.done DEFAULT;
CREATE INDEX IF NOT EXISTS done_id ON raw.done (id);
CREATE INDEX IF NOT EXISTS done_finished ON raw.done (finished_at);`,
    claimSet: ', attempted_at = now()',
    done: `moved AS (DELETE FROM raw.jobs WHERE id = ANY(ARRAY(SELECT id FROM v WHERE state = 2)) AND state = 1
        RETURNING id, attempts, run_at, payload, attempted_at),
      done AS (INSERT INTO raw.done (id, attempts, run_at, payload, attempted_at, finished_at)
        SELECT id, attempts, run_at, payload, attempted_at, now() FROM moved)`,
    retry: RETRY_BY_ID,
    unfinished: 'select count(*)::int as n from raw.jobs',
    rows: "select (payload->>'i')::int as i from raw.jobs union all select (payload->>'i')::int from raw.done",
  },
};

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

const fetchSql = (storage) => `
UPDATE raw.jobs SET state = 1, attempts = attempts + 1${storage.claimSet}
WHERE id = ANY(ARRAY(
  SELECT id FROM raw.jobs WHERE state = 0 AND run_at <= now()
  ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED))
RETURNING id, payload`;

// Outcomes of one turn: successes are deleted (a minimal queue keeps no history), failures go
// back to ready with a delay. One statement.
const ackSql = (storage) => `
WITH v AS (SELECT * FROM unnest($1::bigint[], $2::smallint[]) AS v(id, state)),
${storage.done}
${storage.retry}`;

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

export const createPeer = rawPeer('delete');

/** The raw loop with what a finished job leaves behind chosen by `kind` (see STORAGE). */
export function rawPeer(kind) {
  const storage = STORAGE[kind];
  const FETCH_SQL = fetchSql(storage);
  const ACK_SQL = ackSql(storage);
  return (options) => createRawPeer(options, kind, storage, FETCH_SQL, ACK_SQL);
}

async function createRawPeer({ url, concurrency = 10, poolMax = 10, retryDelayMs = 1000, perform }, kind, storage, FETCH_SQL, ACK_SQL) {
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
    name: kind === 'delete' ? 'raw' : `raw-${kind}`,
    errors,
    schemas: ['raw'],
    hotTable: 'raw.jobs',
    unfinishedSql: storage.unfinished,
    rowsSql: storage.rows,
    setup: () => pool.query(SCHEMA_SQL + storage.schema),
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
