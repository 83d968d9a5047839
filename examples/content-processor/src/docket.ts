// The docket side of the app: one Queue (schema "content") with the five workers, the queue
// limits of the config, and the plugins every node runs (Lifeline rescues jobs of dead nodes,
// Pruner deletes old finished jobs, Cron enqueues schedules created at runtime through
// queue.schedules). Images and documents are partitioned per tenant (at most
// TENANT_CONCURRENCY running per tenant, cluster-wide), so one tenant's flood cannot starve the
// others; webhooks may get a cluster-wide start rate (WEBHOOK_RATE_LIMIT per minute).
//
// The media workflow's steps (workflows/media-workflow.ts) are workers too: fetch-media-source,
// resize-media, render-contact-sheet and notify-media. The Workflow plugin repairs, on the
// leader, any step release or workflow finish a crash lost; workflow ends are logged here.
import type pg from 'pg';
import type { Logger, QueueSettings } from 'docket';
import { Cron, Lifeline, Pruner, Queue, Workflow } from 'docket';
import type { AppConfig } from './config.js';
import type { Storage } from './storage.js';
import type { WorkerDeps } from './workers/common.js';
import { createContactSheetWorker } from './workers/contact-sheet.js';
import { createDocumentWorker } from './workers/document.js';
import { createEmailWorker } from './workers/email.js';
import { createExportWorker } from './workers/export.js';
import { createImageWorker } from './workers/image.js';
import { createMediaNotifyWorker } from './workers/media-notify.js';
import { createMediaResizeWorker } from './workers/media-resize.js';
import { createMediaSourceWorker } from './workers/media-source.js';
import { createWebhookWorker } from './workers/webhook.js';

export interface CreateDocketOptions {
  /** Where docket and the workers log (see pinoLogger). Default: nowhere. */
  logger?: Logger;
  /** Schema of docket's tables. Default 'content' (tests use their own). */
  schema?: string;
  /** docket's testing mode, for test suites (jobs run on drain()). */
  testing?: 'manual' | 'inline';
  /** Queue options passed through (e.g. nodeId, pollInterval, heartbeatInterval in tests). */
  nodeId?: string;
}

/** The same names as the worker names' kinds; B's routes use these keys. */
export interface Workers {
  image: ReturnType<typeof createImageWorker>;
  document: ReturnType<typeof createDocumentWorker>;
  email: ReturnType<typeof createEmailWorker>['worker'];
  webhook: ReturnType<typeof createWebhookWorker>;
  exporter: ReturnType<typeof createExportWorker>;
  /** The media workflow's steps. */
  mediaSource: ReturnType<typeof createMediaSourceWorker>;
  mediaResize: ReturnType<typeof createMediaResizeWorker>;
  contactSheet: ReturnType<typeof createContactSheetWorker>;
  mediaNotify: ReturnType<typeof createMediaNotifyWorker>;
}

export function createDocket(config: AppConfig, connection: string | pg.Pool, storage: Storage, options: CreateDocketOptions = {}): { queue: Queue; workers: Workers } {
  const logger = options.logger ?? silent;
  let queue: Queue | undefined;
  const deps: WorkerDeps = {
    config,
    storage,
    logger,
    queue: () => {
      if (!queue) throw new Error('the Queue is not created yet');
      return queue;
    },
  };
  const email = createEmailWorker(deps);
  const webhook = createWebhookWorker(deps);
  const mediaSource = createMediaSourceWorker(deps);
  const mediaResize = createMediaResizeWorker(deps, mediaSource);
  const contactSheet = createContactSheetWorker(deps, mediaSource);
  const workers: Workers = {
    image: createImageWorker(deps),
    document: createDocumentWorker(deps),
    email: email.worker,
    webhook,
    exporter: createExportWorker(deps),
    mediaSource,
    mediaResize,
    contactSheet,
    mediaNotify: createMediaNotifyWorker(deps, { resize: mediaResize, contactSheet, webhook, email: email.worker }),
  };

  const queues: Record<string, number | QueueSettings> = { ...config.queues };
  if (config.webhookRateLimit) queues.webhooks = { concurrency: config.queues.webhooks, rateLimit: config.webhookRateLimit };

  queue = new Queue({
    connection,
    schema: options.schema ?? 'content',
    queues,
    workers: Object.values(workers),
    logger,
    plugins: [new Lifeline({ rescueAfter: config.lifelineRescueAfterMs }), new Pruner({ maxAge: config.prunerMaxAgeMs }), new Cron({ jobs: [] }), new Workflow()],
    // Every instance announces its jobs' updates, so /jobs/:id/events works on any of them.
    jobEvents: true,
    ...(options.testing === undefined ? {} : { testing: options.testing }),
    ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
  });
  queue.once('queue:stop', () => email.close());
  queue.on('workflow:complete', ({ workflow }) => logger.info('workflow completed', { workflowId: workflow.id, workflow: workflow.name, tags: workflow.tags }));
  queue.on('workflow:fail', ({ workflow }) => logger.warn(`workflow ${workflow.state}`, { workflowId: workflow.id, workflow: workflow.name, tags: workflow.tags }));
  return { queue, workers };
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** The part of a pino logger (e.g. fastify's app.log) that docket's Logger maps onto. */
export interface PinoLike {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Adapts pino (object first) to docket's Logger (message first). */
export function pinoLogger(log: PinoLike): Logger {
  return {
    debug: (message, meta) => log.debug(meta ?? {}, message),
    info: (message, meta) => log.info(meta ?? {}, message),
    warn: (message, meta) => log.warn(meta ?? {}, message),
    error: (message, meta) => log.error(meta ?? {}, message),
  };
}
