// The SQL shipped in the build is generated from migrations/*.sql; this fails when they drift.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
// @ts-expect-error - plain ESM script without types
import { renderBundledMigrations } from '../../scripts/gen-migrations.mjs';

it('src/engine/migrate/bundled.ts matches migrations/*.sql (run `node scripts/gen-migrations.mjs`)', () => {
  const onDisk = readFileSync(new URL('../../src/engine/migrate/bundled.ts', import.meta.url), 'utf8');
  expect(onDisk).toBe((renderBundledMigrations as () => string)());
});
