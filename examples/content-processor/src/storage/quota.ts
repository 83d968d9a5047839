// The per-tenant disk quota (TENANT_STORAGE_QUOTA bytes, 0 = none) over what a tenant keeps
// under `tenants/<t>/` (its jobs' files and its uploads; see usage.ts for how it is counted):
// - an upload that would take the tenant over the quota is refused with 413, saying the quota
//   and what is left (checked by routes/upload.ts before the upload is given to the tenant);
// - creating any job (POST /jobs/*, /jobs/batch, /workflows/media) while the tenant is at or over
//   its quota is refused with 429 (quotaGuard, a preHandler app.ts registers once).
// - a job that has written nothing yet writes nothing while its tenant is at or over its quota
//   (TenantStorage.write throws StorageQuotaError: the attempt fails and is retried later), so
//   work queued while under the quota cannot pile files up past it; a job that began writing
//   finishes its files.
import type { FastifyRequest } from 'fastify';
import { HttpError } from '../routes/common.js';
import type { Storage } from '../storage.js';
import { tenantFor } from '../tenancy/request-tenant.js';

/** Routes that create jobs: POST /jobs/<kind> (and /jobs/batch) and POST /workflows/media. */
const CREATES_JOBS = /^\/(jobs\/[a-z]+|workflows\/media)$/;

/** The 429 of a tenant at or over its quota. */
export function overQuota(tenant: string, quota: number, used: number): HttpError {
  return new HttpError(
    429,
    `Tenant ${tenant} is at its storage quota of ${quota} bytes (using ${used}): no new jobs until files are removed (finished jobs' files go when the jobs are pruned)`,
  );
}

/** The 413 of an upload that does not fit in what is left. */
export function uploadOverQuota(tenant: string, quota: number, used: number, bytes: number): HttpError {
  const left = Math.max(0, quota - used);
  const message = `the upload (${bytes} bytes) would take tenant ${tenant} over its storage quota of ${quota} bytes: ${left} bytes are left`;
  return new HttpError(413, `body.file: ${message}`, [{ path: 'body.file', message }]);
}

/** Refuses an upload of `bytes` for the tenant: 429 when it is already at its quota, 413 when the upload does not fit. */
export async function checkUploadQuota(storage: Storage, tenant: string, quota: number, bytes: number): Promise<void> {
  if (quota <= 0) return;
  const used = await storage.usage.bytes(tenant);
  if (used >= quota) throw overQuota(tenant, quota, used);
  if (used + bytes > quota) throw uploadOverQuota(tenant, quota, used, bytes);
}

/**
 * A preHandler for every route: on the routes that create jobs, 429 when a tenant the request
 * acts for is at or over its quota. `uploadBytes` is the size of the request's own upload,
 * already counted (and checked) by routes/upload.ts, so it does not count against itself.
 * Whatever tenantFor refuses is left to the route, which answers it the same way.
 */
export function quotaGuard(storage: Storage, quota: number, uploadBytes: (request: FastifyRequest) => number) {
  return async function storageQuota(request: FastifyRequest): Promise<void> {
    if (quota <= 0 || request.method !== 'POST' || !CREATES_JOBS.test(request.routeOptions.url ?? '')) return;
    const body = request.body as { tenantId?: unknown; jobs?: { args?: { tenantId?: unknown } }[] } | undefined;
    const tenants = new Set<string>();
    try {
      if (Array.isArray(body?.jobs)) body.jobs.forEach((item, i) => tenants.add(tenantFor(request, item?.args?.tenantId, `body.jobs.${i}.args.tenantId`)));
      else tenants.add(tenantFor(request, body?.tenantId));
    } catch (error) {
      if (error instanceof HttpError) return;
      throw error;
    }
    const own = uploadBytes(request);
    for (const tenant of tenants) {
      const used = (await storage.usage.bytes(tenant)) - own;
      if (used >= quota) throw overQuota(tenant, quota, used);
    }
  };
}
