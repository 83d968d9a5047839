// Storage's part in the HTTP app, set up once by buildApp before the routes: the retention
// sweeper (app.storageSweeper; its queue listeners live from here on, its timer is started by
// server.ts, and closing the app stops it and waits for a running sweep) and the quota's
// preHandler on the routes that create jobs.
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../routes/common.js';
import { uploadOf } from '../routes/upload.js';
import { quotaGuard } from './quota.js';
import { StorageSweeper } from './sweeper.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Removes the files of deleted jobs and unused uploads (storage/sweeper.ts). */
    storageSweeper: StorageSweeper;
  }
}

export function setupStorage(app: FastifyInstance, deps: Pick<AppDeps, 'config' | 'queue' | 'workers' | 'storage'>): StorageSweeper {
  const { config, queue, workers, storage } = deps;
  const sweeper = new StorageSweeper({
    queue,
    storage,
    log: app.log,
    uploadWorkers: [workers.image.name, workers.mediaSource.name],
    intervalMs: config.storageSweepIntervalMs,
  });
  app.decorate('storageSweeper', sweeper);
  app.addHook('onClose', async () => sweeper.stop());
  app.addHook('preHandler', quotaGuard(storage, config.tenantStorageQuota, (request) => uploadOf(request)?.bytes ?? 0));
  return sweeper;
}
