// Tenant API keys, in the app's own table (`<schema>.api_keys`, next to docket's schema, never
// inside it). A key is `cpk_<id>_<secret>`: `id` names it in the admin API and logs, `secret` is
// 32 random bytes. Only the sha256 of the whole key is stored (a key has 256 bits of entropy, so
// a slow password hash would add nothing); the key itself is returned once, when created.
// Lookups are by hash (a unique index), so a request costs one indexed read; a found key is
// cached for CACHE_MS so a busy client costs none. Revoking clears this instance's cache at once;
// other instances stop accepting the key within CACHE_MS.
import { createHash, randomBytes } from 'node:crypto';
import type { PoolLike } from '../routes/common.js';

/** A key as the admin API shows it (never the key itself, except once at creation). */
export interface TenantKey {
  id: string;
  tenantId: string;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const KEY_RE = /^cpk_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

interface KeyRow {
  id: string;
  tenant_id: string;
  name: string;
  created_at: Date;
  revoked_at: Date | null;
}

const toKey = (r: KeyRow): TenantKey => ({ id: r.id, tenantId: r.tenant_id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at });
const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

export class TenantKeys {
  readonly #pool: PoolLike;
  readonly #table: string;
  readonly #schema: string;
  readonly #cache = new Map<string, { tenantId: string; keyId: string; until: number }>();
  /** Bumped by every revoke: a lookup that began before one must not refill the cache. */
  #revocations = 0;

  constructor(pool: PoolLike, schema = 'content_app') {
    if (!SCHEMA_RE.test(schema)) throw new Error(`tenant keys: invalid schema name ${JSON.stringify(schema)}`);
    this.#pool = pool;
    this.#schema = `"${schema}"`;
    this.#table = `"${schema}".api_keys`;
  }

  /** Creates the table when missing (idempotent; run at startup and by `npm run migrate`). */
  async migrate(): Promise<void> {
    await this.#pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
    await this.#pool.query(
      `CREATE TABLE IF NOT EXISTS ${this.#table} (
         id text PRIMARY KEY,
         tenant_id text NOT NULL,
         name text NOT NULL,
         key_hash bytea NOT NULL UNIQUE,
         created_at timestamptz NOT NULL DEFAULT now(),
         revoked_at timestamptz
       )`,
    );
    await this.#pool.query(`CREATE INDEX IF NOT EXISTS api_keys_tenant ON ${this.#table} (tenant_id, created_at)`);
  }

  /** A new key for `tenantId`: the returned `key` is the only time it is seen. */
  async create(tenantId: string, name: string): Promise<TenantKey & { key: string }> {
    const id = randomBytes(10).toString('hex').slice(0, 16);
    const key = `cpk_${id}_${randomBytes(32).toString('base64url')}`;
    const { rows } = await this.#pool.query<KeyRow & Record<string, unknown>>(
      `INSERT INTO ${this.#table} (id, tenant_id, name, key_hash) VALUES ($1, $2, $3, $4) RETURNING id, tenant_id, name, created_at, revoked_at`,
      [id, tenantId, name, digest(key)],
    );
    return { ...toKey(rows[0]!), key };
  }

  /** A tenant's keys, oldest first, revoked ones included. */
  async list(tenantId: string): Promise<TenantKey[]> {
    const { rows } = await this.#pool.query<KeyRow & Record<string, unknown>>(
      `SELECT id, tenant_id, name, created_at, revoked_at FROM ${this.#table} WHERE tenant_id = $1 ORDER BY created_at, id`,
      [tenantId],
    );
    return rows.map(toKey);
  }

  /** Revokes a key (idempotent); null when there is no such key. */
  async revoke(id: string): Promise<TenantKey | null> {
    const { rows } = await this.#pool.query<KeyRow & Record<string, unknown>>(
      `UPDATE ${this.#table} SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id, tenant_id, name, created_at, revoked_at`,
      [id],
    );
    this.#revocations++;
    for (const [hash, entry] of this.#cache) if (entry.keyId === id) this.#cache.delete(hash);
    return rows[0] === undefined ? null : toKey(rows[0]);
  }

  /** The tenant (and key id) of a presented key, or null when it is not a live key. */
  async resolve(key: string): Promise<{ tenantId: string; keyId: string } | null> {
    if (!KEY_RE.test(key)) return null;
    const hash = digest(key);
    const cacheKey = hash.toString('hex');
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined && cached.until > Date.now()) return { tenantId: cached.tenantId, keyId: cached.keyId };
    this.#cache.delete(cacheKey);
    const revocations = this.#revocations;
    const { rows } = await this.#pool.query<{ id: string; tenant_id: string }>(
      `SELECT id, tenant_id FROM ${this.#table} WHERE key_hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    if (row === undefined) return null;
    if (revocations !== this.#revocations) return { tenantId: row.tenant_id, keyId: row.id }; // read before a revoke: answer, but do not cache
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(cacheKey, { tenantId: row.tenant_id, keyId: row.id, until: Date.now() + CACHE_MS });
    return { tenantId: row.tenant_id, keyId: row.id };
  }
}
