// pg-boss 12.38. Concurrency C = localConcurrency C loops; each loop fetches a batch and runs its
// jobs one after another (so at most C jobs run at once), settling each job on its own
// (perJobResults) and refetching at once while batches come back full (burstWhenBatchFull).
// LISTEN/NOTIFY on (useListenNotify + queue notify), as its docs advise for latency.
import { PgBoss } from 'pg-boss';

const BATCH = 10;

export const settings = {
  connection: 'new PgBoss({ connectionString, max: 10 (its default), useListenNotify: true }); maintenance/supervision left at defaults',
  queue: "createQueue('bench', { notify: true, retryDelay: 1, retryBackoff: false }) (retryLimit default 2)",
  worker: `work('bench', { localConcurrency: C, batchSize: ${BATCH}, burstWhenBatchFull: true, perJobResults: true, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1 }, handler running the batch's jobs in sequence)`,
  insert: "boss.send('bench', { i }) / boss.insert('bench', [{ data: { i } }, ...])",
  retry: 'retryDelay: 1 s (integer seconds; 1 is the smallest non-zero delay)',
  defaultsChanged:
    'batchSize 1 → 10 with burstWhenBatchFull (with batchSize 1 each loop sleeps a polling interval after every job); pollingIntervalSeconds 2 → 1 and notifyPollingIntervalSeconds 30 → 1 (same safety-net poll as the others; retries are only found by polling)',
};

export async function createPeer({ url, concurrency = 10, poolMax = 10, perform }) {
  const errors = [];
  const warnings = {};
  const boss = new PgBoss({ connectionString: url, max: poolMax, useListenNotify: true });
  boss.on('error', (e) => errors.length < 20 && errors.push(String(e?.message ?? e).slice(0, 300)));
  boss.on('warning', (w) => (warnings[w?.type ?? 'unknown'] = (warnings[w?.type ?? 'unknown'] ?? 0) + 1));
  let started = false;
  return {
    name: 'pgboss',
    errors,
    warnings,
    schemas: ['pgboss'],
    unfinishedSql: "select count(*)::int as n from pgboss.job where state < 'completed'",
    rowsSql: "select (data->>'i')::int as i from pgboss.job where name = 'bench'",
    async setup() {
      if (!started) await boss.start();
      started = true;
      await boss.createQueue('bench', { notify: true, retryDelay: 1, retryBackoff: false }).catch((e) => {
        if (!/exist/i.test(e.message)) throw e;
      });
    },
    insertOne: (i) => boss.send('bench', { i }),
    insertBatch: (is) => boss.insert('bench', is.map((i) => ({ data: { i } }))),
    async start() {
      await boss.work(
        'bench',
        {
          localConcurrency: concurrency,
          batchSize: BATCH,
          burstWhenBatchFull: true,
          perJobResults: true,
          pollingIntervalSeconds: 1,
          notifyPollingIntervalSeconds: 1,
        },
        async (jobs) => {
          const results = [];
          for (const job of jobs) {
            try {
              perform(job.data.i);
              results.push({ id: job.id, status: 'completed' });
            } catch (e) {
              results.push({ id: job.id, status: 'failed', output: { message: e.message } });
            }
          }
          return results;
        },
      );
    },
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
    close: async () => {},
  };
}
