// How many bytes each tenant keeps on disk, for the per-tenant quota (TENANT_STORAGE_QUOTA).
// Computed by walking `tenants/<t>/`, cached for a few seconds per tenant, and kept current
// locally: a write or an upload adds its bytes to the cached figure, a removal drops the figure
// so the next read walks again. An expired figure is still answered while a walk in the
// background refreshes it: a tenant with many files (20,000 folders take ~1.5 s to walk) never
// makes a request wait for the walk, only its first read and the first after a removal do.
//
// The figure is approximate across instances: another instance's writes and removals show up
// here only when the cache expires (USAGE_TTL_MS), and two uploads checked at the same moment
// may together pass the quota a little. That is the point of a quota here (keep one tenant
// from filling the disk), not an exact accounting.
import { folderBytes } from './files.js';

/** How long a walked figure is trusted. */
export const USAGE_TTL_MS = 5_000;

interface Entry {
  bytes: number;
  at: number;
}

export class TenantUsage {
  readonly #cache = new Map<string, Entry>();
  readonly #walking = new Map<string, Promise<number>>();
  /** Bumped by every removal, so a walk that began before it does not store a stale figure. */
  readonly #generation = new Map<string, number>();

  /** `dirOf(tenant)`: the tenant's folder; `isPlain(tenant)`: whether it is a real folder (not a link). */
  constructor(
    private readonly dirOf: (tenant: string) => string,
    private readonly isPlain: (tenant: string) => Promise<boolean>,
  ) {}

  /** Bytes under the tenant's folder (cached briefly; concurrent reads share one walk). */
  async bytes(tenant: string): Promise<number> {
    const cached = this.#cache.get(tenant);
    if (cached !== undefined && Date.now() - cached.at < USAGE_TTL_MS) return cached.bytes;
    const running = this.#walking.get(tenant) ?? this.#walk(tenant);
    // Expired: answer the last figure (kept current by local writes); the walk refreshes it.
    if (cached !== undefined) {
      running.catch(() => undefined);
      return cached.bytes;
    }
    return running;
  }

  #walk(tenant: string): Promise<number> {
    const generation = this.#generation.get(tenant) ?? 0;
    const walk = (async () => {
      const bytes = (await this.isPlain(tenant)) ? await folderBytes(this.dirOf(tenant)) : 0;
      if ((this.#generation.get(tenant) ?? 0) === generation) this.#cache.set(tenant, { bytes, at: Date.now() });
      return bytes;
    })().finally(() => this.#walking.delete(tenant));
    this.#walking.set(tenant, walk);
    return walk;
  }

  /** Bytes were written for the tenant. */
  added(tenant: string, bytes: number): void {
    const cached = this.#cache.get(tenant);
    if (cached !== undefined) cached.bytes += bytes;
  }

  /** Files of the tenant were removed (or changed in a way not counted): walk again next time. */
  changed(tenant: string): void {
    this.#cache.delete(tenant);
    this.#generation.set(tenant, (this.#generation.get(tenant) ?? 0) + 1);
  }
}
