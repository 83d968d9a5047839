// Child processes that report on stdout, one JSON object per line (the fixtures under
// test/fixtures): spawned with tsx from the repo root, their reports collected as they come.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A running fixture and what it reported so far. */
export interface ReportingChild {
  readonly child: ChildProcess;
  /** Every line it printed, parsed (a line that is not JSON becomes { event: 'unparsed', line }). */
  readonly events: Record<string, unknown>[];
  /** Its stderr so far, for assertion messages. */
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `fixture` (a path from the repo root) with `env` added to this process's environment. */
export function spawnReporter(fixture: string, env: Record<string, string>, stdin: 'pipe' | 'ignore' = 'ignore'): ReportingChild {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'unparsed', line });
    }
  });
  // 'close', not 'exit': 'exit' can come before the last lines of stdout are read (a child
  // that prints `stopped` and exits at once), 'close' comes after its stdio has ended.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, events, stderr: () => stderr, exited };
}
