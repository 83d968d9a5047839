// Loads a driver package when docket first needs it. `pg` and `postgres` are optional peer
// dependencies: an app installs the one it connects with, so importing docket must import
// neither. The load is synchronous (the Queue constructor is) and resolves from this module's
// own location, in the ESM build too (tsup's shims give the CJS build its import.meta.url).
import { createRequire } from 'node:module';
import type pg from 'pg';
import type postgres from 'postgres';
import { ConfigError } from '../definitions/errors.js';

interface DriverPackages {
  pg: typeof pg;
  postgres: typeof postgres;
}

const requireHere = createRequire(import.meta.url);

/**
 * The `name` package, or a ConfigError naming it and its install command when it is not
 * installed. `purpose` completes "docket needs the "<name>" package ...".
 */
export function loadDriverPackage<N extends keyof DriverPackages>(name: N, purpose: string): DriverPackages[N] {
  try {
    return requireHere(name) as DriverPackages[N];
  } catch (error) {
    // Only the package itself missing: a broken install of it (one of its own dependencies
    // missing) keeps its own error.
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.startsWith(`Cannot find module '${name}'`)) {
      throw new ConfigError(`docket needs the "${name}" package ${purpose}: npm install ${name}`);
    }
    throw error;
  }
}
