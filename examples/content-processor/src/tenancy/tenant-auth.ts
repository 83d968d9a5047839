// The onRequest hook of every tenant route (jobs, files, events, workflows): who is asking.
// - A tenant API key (x-api-key, or Authorization: Bearer): the request acts for its tenant;
//   an unknown or revoked key is a 401.
// - The admin API key: an operator, who sees every tenant's jobs and names the tenant when
//   creating one (as development mode does).
// - No key: a 401, except in development mode (INSECURE_DEV=true), where the request acts for
//   the tenant its body names, so the README's curl commands work without keys.
// It runs before the body is read, so an unauthenticated client cannot make the server parse anything.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminAccess } from '../auth.js';
import { AuthError, keyMatches, presentedKey } from '../auth.js';
import type { TenantKeys } from './tenant-keys.js';
import { setKeyTenant, setOperator } from './request-tenant.js';

export function tenantAuth(options: { tenants: TenantKeys; access: AdminAccess; devMode: boolean }) {
  const { tenants, access, devMode } = options;
  return async function checkTenantKey(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const key = presentedKey(request.headers);
    if (key === undefined) {
      if (devMode) return;
      reply.header('www-authenticate', 'Bearer realm="tenant"');
      throw new AuthError(401, "A tenant API key is required: send it in the x-api-key header (or Authorization: Bearer <key>); an admin creates one with POST /admin/tenants/<tenantId>/keys");
    }
    if (access.mode === 'key' && keyMatches(key, access.hash)) return setOperator(request);
    const found = await tenants.resolve(key);
    if (found === null) {
      reply.header('www-authenticate', 'Bearer realm="tenant", error="invalid_token"');
      throw new AuthError(401, 'The API key is not valid (unknown or revoked)');
    }
    setKeyTenant(request, found.tenantId);
  };
}
