// What a CLI command is: its words, its help, its options and arguments, and how it runs. A
// command first checks its command line (`prepare`, which throws UsageError before anything
// connects), then runs against a Queue. Command groups (jobs.ts, queues.ts...) export lists of
// these; run.ts dispatches to them.
import type { Queue } from '../index.js';
import type { OptionSpecs, Values } from './args.js';
import type { ExitCode } from './exit.js';
import type { Output } from './output.js';

/** What a prepared command gets to run. */
export interface RunContext {
  readonly queue: Queue;
  readonly out: Output;
  /** `--json` was given. */
  readonly json: boolean;
  /** When the command started (ms since the epoch), for relative times. */
  readonly now: number;
}

/** A checked command line, ready to run; resolves with the exit code (default 0). */
export type Action = (ctx: RunContext) => Promise<ExitCode | void>;

/** One command, e.g. `jobs list`. */
export interface Command {
  /** The words that name it: `['jobs', 'list']`. */
  readonly words: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** Its arguments in the usage line, e.g. `<id>`. */
  readonly args?: string;
  /** How many arguments it takes: [min, max]. */
  readonly arity: readonly [number, number];
  /** Its own options (the global ones are added). */
  readonly options: OptionSpecs;
  /** More help: examples, what the output is. */
  readonly details?: string;
  /** Checks the command line; throws UsageError naming the problem. */
  prepare(values: Values, args: readonly string[]): Action;
}
