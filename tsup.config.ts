import { defineConfig } from 'tsup';

// One bundle per format: ESM for `import`, CJS for `require`, each with its own .d.ts;
// `docket/testing` is a second entry (it holds no runtime code of the main one). The
// thread entry is a bundle of its own (dist/thread-entry.js and .cjs): the thread pool starts it
// by its path, next to the index bundle. `shims` gives the CJS build an `import.meta.url`, which
// the pool uses to find that file.
export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', 'thread-entry': 'src/runtime/threads/thread-entry.ts' },
  format: ['esm', 'cjs'],
  // stripInternal: members tagged `@internal` (the Queue's hooks for its admin base class,
  // constructors only docket calls) are left out of the published declarations.
  dts: { entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' }, compilerOptions: { stripInternal: true } },
  shims: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
});
