// The CLI from argv to exit code: finds the command named by the first words, parses its
// options strictly, checks them (exit 2 before anything connects), runs it against the
// database, and turns any error into a message on stderr and its exit code. Takes its streams
// and environment as arguments, so nothing here touches the process.
import type { OptionSpecs } from './args.js';
import { GLOBAL_OPTIONS, commandWords, parseCommandLine, stringValue } from './args.js';
import type { Command } from './command.js';
import { withQueue } from './connect.js';
import type { ExitCode } from './exit.js';
import { EXIT, UsageError, describeError, exitCodeOf } from './exit.js';
import { commandHelp, groupHelp, mainHelp } from './help.js';
import { jobCommands } from './jobs.js';
import { migrateStatusCommands } from './migrate-status.js';
import type { Stream } from './output.js';
import { Output, wantsColor } from './output.js';
import { queueCommands } from './queues.js';
import { scheduleCommands } from './schedules.js';
import { workflowCommands } from './workflows.js';

/** What the CLI reads and writes: the process's, or a test's. */
export interface Terminal {
  readonly stdout: Stream;
  readonly stderr: Stream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Every command, in the order `docket --help` lists them. */
export const COMMANDS: readonly Command[] = [...migrateStatusCommands, ...jobCommands, ...queueCommands, ...scheduleCommands, ...workflowCommands];

// Every option any command takes: the first pass reads the command words with these, so that
// an option's value is not taken for a word. (An option name has one type in every command.)
const ALL_OPTIONS: OptionSpecs = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options)) as OptionSpecs;

/** The command the words name, or the help and error to print when they name none. */
function find(words: readonly string[]): Command | { readonly help: string; readonly error?: string } {
  const command = COMMANDS.find((c) => c.words.every((w, i) => words[i] === w));
  if (command !== undefined) return command;
  const [group, sub] = words;
  if (group === undefined) return { help: mainHelp(COMMANDS), error: 'no command given' };
  if (COMMANDS.some((c) => c.words[0] === group)) {
    return { help: groupHelp(group, COMMANDS), ...(sub === undefined ? { error: `"docket ${group}" needs a command` } : { error: `unknown command "${group} ${sub}"` }) };
  }
  return { help: '', error: `unknown command "${group}" (see: docket --help)` };
}

async function dispatch(argv: readonly string[], terminal: Terminal, out: Output): Promise<ExitCode> {
  let { words, help } = commandWords(argv, ALL_OPTIONS);
  if (words[0] === 'help') {
    words = words.slice(1);
    help = true;
  }
  const found = find(words);
  if (!('words' in found)) {
    // `docket --help`, `docket jobs --help`: the help asked for; otherwise a usage error after it.
    if (help && found.help !== '') {
      out.line(found.help);
      return EXIT.ok;
    }
    if (found.help !== '') terminal.stderr.write(`${found.help}\n\n`);
    throw new UsageError(found.error ?? 'no command given');
  }
  const name = found.words.join(' ');
  if (help) {
    out.line(commandHelp(found));
    return EXIT.ok;
  }
  const { values, positionals } = parseCommandLine(argv, found.options, name, found.words.length);
  const [min, max] = found.arity;
  if (positionals.length < min || positionals.length > max) {
    const extra = positionals.length > max ? `unexpected argument "${positionals[max]}"` : 'missing argument';
    throw new UsageError(`${extra}: docket ${name}${found.args === undefined ? '' : ` ${found.args}`} (see: docket ${name} --help)`);
  }
  const run = found.prepare(values, positionals);
  const target = { url: stringValue(values, 'database-url') ?? terminal.env.DATABASE_URL, schema: stringValue(values, 'schema') };
  const json = values.json === true;
  return (await withQueue(target, (queue) => run({ queue, out, json, now: Date.now() }))) ?? EXIT.ok;
}

/**
 * Runs the CLI on `argv` (without node and the script) and resolves with its exit code; never
 * rejects: failures are written to `terminal.stderr`.
 */
export async function run(argv: readonly string[], terminal: Terminal): Promise<ExitCode> {
  const out = new Output(terminal.stdout, wantsColor(terminal.stdout, terminal.env));
  try {
    return await dispatch(argv, terminal, out);
  } catch (error) {
    terminal.stderr.write(`docket: ${describeError(error)}\n`);
    return exitCodeOf(error);
  }
}
