// graphile-worker 0.18 with the batching settings its performance page recommends
// (localQueue, completeJobBatchDelay / failJobBatchDelay 0).
import { Logger, makeWorkerUtils, run } from 'graphile-worker';

const LOCAL_QUEUE_SIZE = 500;

export const settings = {
  connection: 'connectionString; maxPoolSize = max(10, C + 2) for the runner (its docs\' rule), 10 for workerUtils (inserts)',
  worker: `run({ concurrency: C, pollInterval: 1000, noHandleSignals: true, taskList: { noop }, preset: { worker: { localQueue: { size: ${LOCAL_QUEUE_SIZE} }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } })`,
  insert: "workerUtils.addJob('noop', { i }) / workerUtils.addJobs([{ identifier: 'noop', payload: { i } }, ...])",
  retry: 'fixed by graphile: run_at + exp(attempts) s, so the first retry waits e^1 = 2.72 s (not configurable)',
  defaultsChanged: 'pollInterval 2000 → 1000 (same safety-net poll as the others); localQueue/batch delays from https://worker.graphile.org/docs/performance',
};

export async function createPeer({ url, concurrency = 10, poolMax = 10, perform }) {
  const errors = [];
  let failedLogs = 0;
  const logger = new Logger(() => (level, message) => {
    if (level !== 'error') return;
    // Mixed-workload failures are intended; count them, keep anything else.
    if (/fail once/.test(message)) failedLogs++;
    else if (errors.length < 20) errors.push(message.slice(0, 300));
  });
  const utils = await makeWorkerUtils({ connectionString: url, maxPoolSize: poolMax, logger });
  let runner;
  return {
    name: 'graphile',
    errors,
    schemas: ['graphile_worker'],
    hotTable: 'graphile_worker._private_jobs',
    unfinishedSql: 'select count(*)::int as n from graphile_worker._private_jobs',
    rowsSql: "select (payload->>'i')::int as i from graphile_worker._private_jobs",
    setup: () => utils.migrate(),
    insertOne: (i) => utils.addJob('noop', { i }),
    insertBatch: (is) => utils.addJobs(is.map((i) => ({ identifier: 'noop', payload: { i } }))),
    async start() {
      runner = await run({
        connectionString: url,
        concurrency,
        maxPoolSize: Math.max(10, concurrency + 2),
        pollInterval: 1000,
        noHandleSignals: true,
        logger,
        taskList: {
          noop: async (payload) => {
            perform(payload.i);
          },
        },
        preset: {
          worker: { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
        },
      });
      runner.promise.catch((e) => errors.push(`runner: ${e.message}`));
    },
    stop: async () => {
      if (runner) await runner.stop();
    },
    close: () => utils.release(),
  };
}
