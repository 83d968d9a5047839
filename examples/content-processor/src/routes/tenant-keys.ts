// Admin routes for tenant API keys (behind the admin key, like every /admin route):
//   POST   /admin/tenants/:tenantId/keys   creates a key; the answer is the only time it is shown
//   GET    /admin/tenants/:tenantId/keys   lists a tenant's keys (ids, names, dates; never the key)
//   DELETE /admin/keys/:keyId              revokes a key (requests with it answer 401 from then on)
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AdminAccess } from '../auth.js';
import { requireApiKey } from '../auth.js';
import { tenantId } from '../jobs/schemas.js';
import type { TenantKey, TenantKeys } from '../tenancy/tenant-keys.js';
import type { RouteOptions } from './common.js';
import { errors, notFound } from './common.js';

const keyView = z
  .object({ id: z.string(), tenantId: z.string(), name: z.string(), createdAt: z.string(), revokedAt: z.string().nullable() })
  .describe('A tenant API key (without the key)');
const view = (k: TenantKey) => ({ id: k.id, tenantId: k.tenantId, name: k.name, createdAt: k.createdAt.toISOString(), revokedAt: k.revokedAt?.toISOString() ?? null });

const tenantParams = z.object({ tenantId });
const keyParams = z.object({ keyId: z.string().regex(/^[a-z0-9]{16}$/, 'must be a key id (16 lowercase letters and digits)') });

export const tenantKeyRoutes: FastifyPluginAsyncZod<RouteOptions & { access: AdminAccess; tenants: TenantKeys }> = async (app, options) => {
  const { tenants } = options;
  app.addHook('onRequest', requireApiKey(options.access));
  const secured = { security: [{ apiKey: [] }], tags: ['admin'] };

  app.post(
    '/admin/tenants/:tenantId/keys',
    {
      schema: {
        ...secured,
        summary: 'Create an API key for a tenant (shown once, in this answer)',
        params: tenantParams,
        body: z.strictObject({ name: z.string().trim().min(1).max(100).describe('What the key is for, e.g. "billing service"') }).nullish(),
        response: { 201: keyView.extend({ key: z.string().describe('The key: store it now, it is not shown again') }), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const created = await tenants.create(request.params.tenantId, request.body?.name ?? 'default');
      request.log.info({ tenantId: created.tenantId, keyId: created.id }, 'tenant API key created');
      return reply.code(201).header('cache-control', 'no-store').send({ ...view(created), key: created.key });
    },
  );

  app.get(
    '/admin/tenants/:tenantId/keys',
    {
      schema: { ...secured, summary: "A tenant's API keys (never the keys themselves)", params: tenantParams, response: { 200: z.object({ keys: z.array(keyView) }), ...errors(400, 401, 403) } },
    },
    async (request) => ({ keys: (await tenants.list(request.params.tenantId)).map(view) }),
  );

  app.delete(
    '/admin/keys/:keyId',
    { schema: { ...secured, summary: 'Revoke an API key', params: keyParams, response: { 200: keyView, ...errors(400, 401, 403, 404) } } },
    async (request) => {
      const revoked = await tenants.revoke(request.params.keyId);
      if (revoked === null) throw notFound(`No API key ${request.params.keyId}`);
      request.log.info({ tenantId: revoked.tenantId, keyId: revoked.id }, 'tenant API key revoked');
      return view(revoked);
    },
  );
};
