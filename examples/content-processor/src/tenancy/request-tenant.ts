// Which tenant a request acts for. With tenant API keys (the normal mode) it is the tenant of
// the key the request presented, resolved once in an onRequest hook (see tenant-auth.ts) before
// any body is read; a `tenantId` in a body may only repeat it. In development mode
// (INSECURE_DEV=true) a request without a key acts for the tenant its body names, so the
// README's curl commands work without keys.
import type { FastifyRequest } from 'fastify';
import type { Job, Queue } from 'docket';
import { TENANT_TAG_PREFIX, tenantId as tenantIdSchema } from '../jobs/schemas.js';
import { badRequest, notFound } from '../routes/common.js';

const keyTenants = new WeakMap<FastifyRequest, string>();

/** Records the tenant of the request's API key (called by the auth hook). */
export function setKeyTenant(request: FastifyRequest, tenant: string): void {
  keyTenants.set(request, tenant);
}

const operators = new WeakSet<FastifyRequest>();

/** Marks a request made with the admin key (called by the auth hook). */
export function setOperator(request: FastifyRequest): void {
  operators.add(request);
}

/**
 * Whose allowance a request uses (e.g. of event streams): its key's tenant, the operator's (the
 * admin key), or in development mode without a key, the tenant of what it asks for.
 */
export function callerOf(request: FastifyRequest, fallbackTenant: string | null): string {
  return keyTenant(request) ?? (operators.has(request) ? '(operator)' : (fallbackTenant ?? ''));
}

/** The tenant of the request's API key; undefined when the request came without one (development mode). */
export function keyTenant(request: FastifyRequest): string | undefined {
  return keyTenants.get(request);
}

/**
 * The tenant a request acts for: its key's, or (development mode, or the admin key acting as an
 * operator) the one its body names at `field`. A body naming another tenant than the key's is
 * a 400 naming the field.
 */
export function tenantFor(request: FastifyRequest, bodyTenant: unknown, field = 'body.tenantId'): string {
  const fromKey = keyTenant(request);
  if (fromKey !== undefined) {
    if (bodyTenant !== undefined && bodyTenant !== fromKey) throw badRequest(field, "is not your API key's tenant (leave it out: the key decides)");
    return fromKey;
  }
  if (bodyTenant === undefined) throw badRequest(field, 'required without a tenant API key (development mode or the admin key): name the tenant');
  const parsed = tenantIdSchema.safeParse(bodyTenant);
  if (!parsed.success) throw badRequest(field, parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

/** `args` with the request's tenant (see tenantFor) as its `tenantId`. */
export function withTenant<A extends { tenantId?: string | undefined }>(request: FastifyRequest, args: A, field = 'body.tenantId'): A & { tenantId: string } {
  return { ...args, tenantId: tenantFor(request, args.tenantId, field) };
}

/** The tenant a job belongs to: its `tenant:<id>` tag (every job and workflow step the API creates has one). */
export function tenantOfJob(job: Pick<Job, 'tags'>): string | null {
  const tag = job.tags.find((t) => t.startsWith(TENANT_TAG_PREFIX));
  return tag === undefined ? null : tag.slice(TENANT_TAG_PREFIX.length);
}

/**
 * A job the request may see: 404 when there is no such job or it is another tenant's (the same
 * answer, so ids of other tenants' jobs cannot be probed). Development mode without a key sees every job.
 */
export async function visibleJob(queue: Pick<Queue, 'getJob'>, request: FastifyRequest, id: string): Promise<Job> {
  const job = await queue.getJob(id);
  const tenant = keyTenant(request);
  if (job === null || (tenant !== undefined && tenantOfJob(job) !== tenant)) throw notFound(`No job ${id}`);
  return job;
}
