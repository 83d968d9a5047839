// Every docket code sample of the guides (```ts blocks of docs/guides/*.md) type-checks against
// the real API in src/: each block is compiled as a module of its own, `docket` and its
// subpaths (testing, opentelemetry, prometheus, dashboard) mapped to src/, with the few names
// the guides use without defining them declared below (PRELUDE); a block whose first line is a file name (`// workers.ts`) can be
// imported by the guide's other blocks. Blocks showing another library's code start with a
// comment naming it (`// graphile-worker`, `// pg-boss`, `// BullMQ`) and are skipped. A planted
// wrong sample is checked with them, so a checker that checks nothing cannot pass unnoticed.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const guidesDir = path.join(root, 'docs', 'guides');
// Inside the repository (gitignored), so that zod, pg and postgres resolve from node_modules.
const work = path.join(root, '.cache', `docs-samples-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PEER_LABEL = /^\/\/ (graphile-worker|pg-boss|BullMQ)\b/;
const FILE_LABEL = /^\/\/ ([a-z0-9-]+\.ts)\n/;

// Names the guides use in fragments without defining them: globals, and the modules
// './queue.js' and './workers.js' for guides that import them without showing them (a guide's own
// `// queue.ts` or `// workers.ts` block replaces the default).
const PRELUDE = `
import type pg from 'pg';
import type postgres from 'postgres';
import type { Queue } from 'docket';
declare global {
  var pool: pg.Pool;
  var sql: postgres.Sql;
  var queue: Queue;
  var email: string;
  var userId: string;
  function renderPdf(id: string, signal?: AbortSignal): Promise<{ pages: number }>;
}
export {};
`;
const DEFAULT_MODULES: Readonly<Record<string, string>> = {
  'queue.ts': `import type { Queue } from 'docket';\nexport declare const queue: Queue;\n`,
  'workers.ts': `import { z } from 'zod';
import { Worker } from 'docket';
const stub = { perform: async () => null };
export const sendWelcome = new Worker({ name: 'send-welcome', args: z.object({ email: z.string().email() }), ...stub });
export const sendDigest = new Worker({ name: 'send-digest', args: z.object({ userId: z.string() }), ...stub });
export const syncAccount = new Worker({ name: 'sync-account', args: z.object({ accountId: z.number().int() }), ...stub });
export const resize = new Worker({ name: 'resize', queue: 'images', args: z.object({ url: z.string().url(), width: z.number().int() }), ...stub });
`,
};

interface Sample {
  readonly guide: string;
  /** 1-based line of the block's first code line in the guide. */
  readonly line: number;
  readonly code: string;
}

function samplesOf(guide: string, text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    const code = lines.slice(start, end).join('\n');
    if (!PEER_LABEL.test(code)) samples.push({ guide, line: start + 1, code });
    i = end;
  }
  return samples;
}

/** Type-checks the samples; returns one readable line per error, naming the guide and line. */
function check(samples: readonly Sample[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'prelude.ts'), PRELUDE);
  const files = samples.map((sample, n) => {
    // A block whose first line names its file (`// workers.ts`) is written under that name, in a
    // folder of its guide, so that the guide's other blocks can import it ('./workers.js').
    const named = FILE_LABEL.exec(sample.code)?.[1];
    const folder = path.join(dir, sample.guide.replace(/\.md$/, ''));
    if (!existsSync(folder)) {
      mkdirSync(folder, { recursive: true });
      for (const [name, text] of Object.entries(DEFAULT_MODULES)) writeFileSync(path.join(folder, name), text);
    }
    const file = path.join(folder, named ?? `sample-${n}.ts`);
    // `export {}` keeps each block a module (own scope, top-level await) even without imports.
    writeFileSync(file, `${sample.code}\nexport {};\n`);
    return file;
  });
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    paths: {
      docket: [path.join(root, 'src', 'index.ts')],
      'docket/testing': [path.join(root, 'src', 'testing', 'index.ts')],
      'docket/opentelemetry': [path.join(root, 'src', 'opentelemetry', 'index.ts')],
      'docket/prometheus': [path.join(root, 'src', 'prometheus', 'index.ts')],
      'docket/dashboard': [path.join(root, 'src', 'dashboard', 'index.ts')],
    },
  };
  const program = ts.createProgram([path.join(dir, 'prelude.ts'), ...new Set(files)], options);
  const errors: string[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const file = diagnostic.file?.fileName;
    // src/ is `tsc`'s to check; here only what the samples do with it counts.
    if (file === undefined || !path.resolve(file).startsWith(dir)) continue;
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const index = files.indexOf(path.resolve(file));
    const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const where = index === -1 ? path.relative(dir, file) : `${samples[index]!.guide}:${samples[index]!.line + line}`;
    errors.push(`${where}: ${message}`);
  }
  return errors;
}

// One program for the planted sample and the guides' (a program costs seconds; one is enough).
const PLANTED: Sample = {
  guide: 'planted.md',
  line: 10,
  code: "import { Worker } from 'docket';\nconst w: Worker = new Worker({ name: 'x' });\nawait queue.insert(w, {}, { priority: 'high' });",
};
let found: string[] = [];
let checked = 0;
beforeAll(() => {
  const samples = readdirSync(guidesDir)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .flatMap((f) => samplesOf(f, readFileSync(path.join(guidesDir, f), 'utf8')));
  checked = samples.length;
  found = check([PLANTED, ...samples], work);
}, 300_000); // a TypeScript program over src/ and the samples: CPU-bound, several times slower on a loaded 2-core machine

it('a wrong sample fails, naming its guide and line', () => {
  expect(found.some((e) => e.startsWith('planted.md:11:') && /args|perform/.test(e))).toBe(true);
  expect(found.some((e) => e.startsWith('planted.md:12:') && /priority|string/.test(e))).toBe(true);
});

it('every docket sample of the guides type-checks against src/', () => {
  expect(checked).toBeGreaterThan(30);
  expect(found.filter((e) => !e.startsWith('planted.md:'))).toEqual([]);
});
