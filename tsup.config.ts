import { defineConfig } from 'tsup';

// One bundle per format: ESM for `import`, CJS for `require`, each with its own .d.ts.
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
});
