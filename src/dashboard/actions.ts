// The dashboard's actions (POST only; the handler checks CSRF and origin before any runs): retry,
// cancel and discard a job; pause, resume and scale a queue. Each maps to one public Queue method
// and answers with the job or queue as it is afterwards; each is logged at info level.
import type { Logger, QueueApi, QueueStats } from '../index.js';
import type { Route } from './api.js';
import { HttpError } from './http.js';
import { checkId, checkQueue, reasonOf, scaleLimitOf } from './params.js';

const JOB_ACTIONS = new Set(['retry', 'cancel', 'discard']);
const QUEUE_ACTIONS = new Set(['pause', 'resume', 'scale']);

function post(run: Route['run']): Route {
  return { method: 'POST', run };
}

async function statsOf(queue: QueueApi, name: string): Promise<QueueStats | undefined> {
  return (await queue.queueStats()).find((q) => q.name === name);
}

/** The action route for `segments` (the path after `api/`), or undefined when there is none. */
export function actionRoute(queue: QueueApi, logger: Logger, segments: readonly string[]): Route | undefined {
  if (segments.length !== 3) return undefined;
  const [kind, target, action] = segments as [string, string, string];
  if (kind === 'jobs' && JOB_ACTIONS.has(action)) {
    return post(async ({ body }) => {
      const id = checkId(target, 'job id');
      const input = await body();
      const job =
        action === 'retry'
          ? await queue.retry(id)
          : action === 'cancel'
            ? await queue.cancel(id, reasonOf(input, 'cancelled from the dashboard'))
            : await queue.discard(id, reasonOf(input, 'discarded from the dashboard'));
      if (job === null) throw new HttpError(404, `No job ${id}`);
      logger.info(`docket dashboard: ${action} job ${id}`, { jobId: id, action, state: job.state });
      return { job };
    });
  }
  if (kind === 'queues' && QUEUE_ACTIONS.has(action)) {
    return post(async ({ body }) => {
      const name = checkQueue(target);
      const input = await body();
      const limit = action === 'scale' ? scaleLimitOf(input) : undefined;
      // Only queues docket knows of: a typo must not create a control row for a queue nobody runs.
      if ((await statsOf(queue, name)) === undefined) throw new HttpError(404, `No queue ${JSON.stringify(name)}`);
      if (action === 'pause') await queue.pauseQueue(name);
      else if (action === 'resume') await queue.resumeQueue(name);
      else await queue.scaleQueue(name, limit ?? null);
      logger.info(`docket dashboard: ${action} queue ${name}`, { queue: name, action, ...(action === 'scale' ? { limit } : {}) });
      return { queue: await statsOf(queue, name) };
    });
  }
  return undefined;
}
