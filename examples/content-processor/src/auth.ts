// The admin API key check. A client sends the key in `x-api-key` (or `Authorization: Bearer
// <key>`; the dashboard also takes it as the password of `Authorization: Basic`, which a browser
// asks for and then sends with every request of the page). The key is hashed with sha256 and
// compared to config.adminApiKeyHash with crypto.timingSafeEqual, so neither the key nor how much
// of it matched leaks through timing. No key: 401. A wrong key: 403 (the dashboard: 401).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from './config.js';

/** sha256 of a key, as lowercase hex (what ADMIN_API_KEY_HASH holds). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** How the admin routes are exposed, from the configuration. */
export type AdminAccess =
  | { readonly mode: 'key'; readonly hash: Buffer }
  | { readonly mode: 'open' } // INSECURE_DEV without a key: open, with a loud warning
  | { readonly mode: 'disabled' }; // no key and not INSECURE_DEV: the routes are not registered

export function adminAccess(config: Pick<AppConfig, 'adminApiKeyHash' | 'insecureDev'>): AdminAccess {
  if (config.adminApiKeyHash !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(config.adminApiKeyHash)) throw new Error('adminApiKeyHash must be 64 hex digits (sha256)');
    return { mode: 'key', hash: Buffer.from(config.adminApiKeyHash, 'hex') };
  }
  return config.insecureDev ? { mode: 'open' } : { mode: 'disabled' };
}

/**
 * The key request headers present, or undefined. `basic` lets the password of `Authorization:
 * Basic` count (the dashboard, whose browser sends what its login prompt took).
 */
export function presentedKey(headers: IncomingHttpHeaders, options: { basic?: boolean } = {}): string | undefined {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match) return match[1];
    const basic = options.basic ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth) : null;
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const password = decoded.slice(decoded.indexOf(':') + 1);
      if (decoded.includes(':') && password.length > 0) return password;
    }
  }
  return undefined;
}

/** Whether `key` hashes to `hash`, in constant time. */
export function keyMatches(key: string, hash: Buffer): boolean {
  const digest = createHash('sha256').update(key, 'utf8').digest();
  return digest.length === hash.length && timingSafeEqual(digest, hash);
}

/** An error the app's error handler turns into a 401 or 403 response. */
export class AuthError extends Error {
  readonly statusCode: 401 | 403;
  constructor(statusCode: 401 | 403, message: string) {
    super(message);
    this.name = 'AuthError';
    this.statusCode = statusCode;
  }
}

/**
 * An onRequest hook enforcing the key (a no-op when access is open). Runs before the body is
 * read, so an unauthenticated client cannot make the server parse anything.
 */
export function requireApiKey(access: AdminAccess) {
  return async function checkApiKey(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (access.mode !== 'key') return;
    const key = presentedKey(request.headers);
    if (key === undefined) {
      reply.header('www-authenticate', 'Bearer realm="admin"');
      throw new AuthError(401, 'An admin API key is required: send it in the x-api-key header (or Authorization: Bearer <key>)');
    }
    if (!keyMatches(key, access.hash)) throw new AuthError(403, 'The admin API key is not valid');
  };
}
