// The layering of src/, checked by dependency-cruiser in `npm test` (test/layering.test.ts) and
// in CI (`npm run lint:deps`). Each rule says why it exists; when one is in your way, change the
// design or the rule (with its reason), never silence it. The layers, bottom up:
//   definitions/  worker, job, errors, events, logger: the vocabulary; imports nothing of docket
//   config/       Queue options, checked once
//   driver/       the two PostgreSQL clients behind one seam
//   engine/       every SQL statement and database operation (the only user of the driver)
//   insert/ runtime/ admin/ cluster/   the parts a Queue composes
//   workflow/     DAGs of jobs: built on insert's checks, wired to the runtime by the Queue
//   plugins/ cron/                      periodic work on top of those parts
//   queue.ts queue-api.ts index.ts testing/   the facade and the public surface
//   prometheus/   docket/prometheus, an entry of its own on top of the public surface
//   dashboard/    docket/dashboard, an entry of its own on top of the public surface
//   cli/          the `docket` command (dist/cli.js): a consumer of the public surface only
//   opentelemetry/ docket/opentelemetry, an entry of its own on top of the public surface
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle means two modules cannot be understood (or tested) apart: pull the shared part down a layer.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'definitions-are-leaves',
      severity: 'error',
      comment:
        'definitions/ (worker, job, errors, events, logger) is the vocabulary every layer speaks: if it imported a layer, every layer would depend on that one.',
      from: { path: '^src/definitions/' },
      to: { path: '^src/', pathNot: '^src/definitions/' },
    },
    {
      name: 'config-is-definitions',
      severity: 'error',
      comment:
        'config/ checks what users pass; it must not pull in the machinery that uses it (the Plugin type is only named, and the schema is quoted by the one quoting function).',
      from: { path: '^src/config/' },
      to: {
        path: '^src/',
        pathNot: ['^src/(definitions|config)/', '^src/engine/sql/identifier\\.ts$'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'config-types-only-from-plugin-contract',
      severity: 'error',
      comment: 'config/ may name the Plugin contract as a type, nothing else above it.',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: ['^src/(definitions|config)/', '^src/engine/sql/identifier\\.ts$', '^src/plugins/plugin\\.ts$'] },
    },
    {
      name: 'only-the-engine-touches-the-driver',
      severity: 'error',
      comment:
        'Every statement runs through the Engine, so both clients behave the same and SQL lives in one place: nothing above the engine may hold or import the driver.',
      from: { path: '^src/', pathNot: '^src/(engine|driver)/' },
      to: { path: '^src/driver/' },
    },
    {
      name: 'engine-knows-no-callers',
      severity: 'error',
      comment: 'The engine is a layer of database operations; it must not reach up into the parts that call it.',
      from: { path: '^src/engine/' },
      to: { path: '^src/', pathNot: '^src/(engine|driver|definitions|config)/' },
    },
    {
      name: 'job-path-never-imports-plugins',
      severity: 'error',
      comment:
        'Inserting, fetching, running and acking a job must work with no plugin present; plugins sit on top of the job path and are composed by the Queue.',
      from: { path: '^src/(runtime|insert|engine|admin|cluster|workflow)/' },
      to: { path: '^src/(plugins|cron)/' },
    },
    {
      name: 'parts-do-not-import-the-facade',
      severity: 'error',
      comment:
        'The Queue composes the parts and delegates to them; a part that imported the Queue (or its API type) would put the facade back into the job path.',
      from: { path: '^src/(runtime|insert|engine|admin|cluster|definitions|config|driver|workflow)/' },
      to: { path: '^src/(queue|queue-api|index)\\.ts$' },
    },
    {
      name: 'plugins-never-import-the-queue-class',
      severity: 'error',
      comment:
        'Plugins get a context (QueueApi, Engine operations), so they work with any Queue and never reach its internals.',
      from: { path: '^src/(plugins|cron)/' },
      to: { path: '^src/(queue|index)\\.ts$' },
    },
    {
      name: 'parts-stay-apart',
      severity: 'error',
      comment:
        'runtime, insert, admin and cluster talk through hooks the Queue wires, so each can be built and tested alone.',
      from: { path: '^src/(runtime|insert|admin|cluster)/' },
      // A part may import its own folder ($1: the folder the import is from).
      to: { path: '^src/(runtime|insert|admin|cluster)/', pathNot: '^src/$1/' },
    },
    {
      name: 'workflow-builds-on-insert-only',
      severity: 'error',
      comment:
        "workflow/ checks steps with insert's own validation (one set of rules for a job, alone or in a DAG) and reaches the runtime only through the hooks the Queue wires: it may import insert/, never runtime, admin or cluster.",
      from: { path: '^src/workflow/' },
      to: { path: '^src/(runtime|admin|cluster)/' },
    },
    {
      name: 'parts-do-not-import-workflow',
      severity: 'error',
      comment: 'Plain jobs must not depend on workflows: the parts talk to the workflow service through hooks the Queue wires.',
      from: { path: '^src/(runtime|insert|admin|cluster)/' },
      to: { path: '^src/workflow/' },
    },
    {
      name: 'entries-use-only-the-public-api',
      severity: 'error',
      comment:
        "cli/, dashboard/, opentelemetry/ and prometheus/ are what an app could write on docket's public API (src/index.ts), each an entry of its own: kept to it, they cannot lean on internals or break when those change, and the build leaves their runtime imports of the index as imports of the `docket` package (tsup.config.ts), so no entry holds a second copy of docket and `instanceof` holds across entries.",
      from: { path: '^src/(cli|dashboard|opentelemetry|prometheus)/' },
      to: { path: '^src/', pathNot: ['^src/$1/', '^src/index\\.ts$'] },
    },
    {
      name: 'prometheus-imports-only-types-of-docket',
      severity: 'error',
      comment:
        'docket/prometheus is bundled apart from the main entry: a runtime import of src/index.ts would put a second copy of docket (its classes, its errors) in dist/prometheus.js; it gets the running Queue from the app instead.',
      from: { path: '^src/prometheus/' },
      to: { path: '^src/index\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-prometheus-loads-prom-client',
      severity: 'error',
      comment:
        'prom-client is an optional peer dependency: the main entry (and everything it imports) must load without it, so only prometheus/ may import it, and nothing else may import prometheus/.',
      from: { path: '^src/', pathNot: '^src/prometheus/' },
      to: { path: ['(^|/)node_modules/prom-client/', '^src/prometheus/'] },
    },
    {
      name: 'nothing-imports-the-dashboard',
      severity: 'error',
      comment: 'docket/dashboard is an entry of its own (HTML, an HTTP handler): the library must never load it.',
      from: { path: '^src/', pathNot: '^src/dashboard/' },
      to: { path: '^src/dashboard/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'cli/ writes to stdout, reads the environment and loads pg: the library (and its other entries) must never depend on it.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-opentelemetry-loads-the-otel-api',
      severity: 'error',
      comment:
        '@opentelemetry/api is an optional peer dependency: the main entry (and everything it imports) must load without it, so only opentelemetry/ may import it, and nothing else may import opentelemetry/.',
      from: { path: '^src/', pathNot: '^src/opentelemetry/' },
      to: { path: ['(^|/)node_modules/@opentelemetry/', '^src/opentelemetry/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    // node_modules is not followed but stays in the graph: the rules that keep optional peers
    // (prom-client, @opentelemetry/api) out of the main entry match the imports that reach it.
    exclude: { path: '^dist/' },
  },
};
