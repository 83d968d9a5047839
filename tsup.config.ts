import path from 'node:path';
import { defineConfig } from 'tsup';
import type { Options } from 'tsup';

// The `docket` CLI (dist/cli.js, package.json "bin") is a consumer of the public API: its
// imports of src/index.ts are left as imports of the package itself (`docket`, resolved through
// "exports" to the index bundle beside it), so it carries only its own code and shares the
// package's classes. Rewritten at resolve time because esbuild builds both formats as ESM first.
// `docket/dashboard` (src/dashboard) is such a consumer too, and so is `docket/opentelemetry`
// (src/opentelemetry), whose plugin must extend the app's docket's own Plugin class.
const cliImportsThePackage: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'cli-imports-the-package',
  setup(build) {
    const consumers = ['src/cli', 'src/dashboard', 'src/opentelemetry'].map((dir) => path.resolve(dir) + path.sep);
    const index = path.resolve('src/index.ts');
    build.onResolve({ filter: /index\.js$/ }, (args) =>
      consumers.some((dir) => args.importer.startsWith(dir)) && path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts')) === index ? { path: 'docket', external: true } : undefined,
    );
  },
};

// One bundle per format: ESM for `import`, CJS for `require`, each with its own .d.ts;
// `docket/testing` is a second entry (it holds no runtime code of the main one). The
// thread entry is a bundle of its own (dist/thread-entry.js and .cjs): the thread pool starts it
// by its path, next to the index bundle. `shims` gives the CJS build an `import.meta.url`, which
// the pool uses to find that file. `docket/prometheus` is an entry of its own too, so the main
// one never imports prom-client (an optional peer, left external like the others).
export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', prometheus: 'src/prometheus/index.ts', 'thread-entry': 'src/runtime/threads/thread-entry.ts', cli: 'src/cli/main.ts', dashboard: 'src/dashboard/index.ts', opentelemetry: 'src/opentelemetry/index.ts' },
  format: ['esm', 'cjs'],
  esbuildPlugins: [cliImportsThePackage],
  // stripInternal: members tagged `@internal` (the Queue's hooks for its admin base class,
  // constructors only docket calls) are left out of the published declarations.
  dts: { entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', prometheus: 'src/prometheus/index.ts', dashboard: 'src/dashboard/index.ts', opentelemetry: 'src/opentelemetry/index.ts' }, compilerOptions: { stripInternal: true } },
  shims: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
});
